// nll_loss, multi-margin (hinge) loss, mse_loss and l1_loss on the GPU, loss
// and gradient w.r.t. the input in one kernel each (PyTorch: NLLLoss,
// MultiMarginLoss, MSELoss, L1Loss; formulas in csrc/common/losses.h).
//   - nll / hinge: labels checked and the "mean" denominator summed by
//     label_stats_kernel (class_targets.h); then one warp per row (C <= 1024)
//     or one block per row writes the gradient row and lane 0 the row loss;
//   - mse / l1: one block of 256 threads per chunk of kLossChunk elements
//     writes the gradient (and the elementwise losses for "none") and one
//     float64 partial per chunk;
//   - then ordered_sum_kernel (one block) adds the row losses / partials in a
//     fixed order: no atomics, reproducible to the bit.
// Napkin math: these are pure streaming kernels (mse at 4M floats: 32 MB read,
// 16 MB written, ~15 us at 3.3 TB/s); the two single-block passes cost a few
// microseconds of latency each.
#include "pk_cuda.h"

#include "class_targets.h"
#include "common/cross_entropy.h"
#include "common/losses.h"
#include "cross_entropy.h"
#include "device_scalars.h"
#include "row_reduce.h"

namespace pk {
namespace {

using cuda_ops::LossResult;

template <class T, class I, bool BLOCK>
__global__ void __launch_bounds__(BLOCK ? kRowBlockThreads : 32 * kRowsPerBlock)
nll_rows(const T* __restrict x, const I* __restrict target, const T* __restrict weight,
         const T* __restrict grad_loss, T* __restrict grad, double* __restrict row_loss,
         long long n, long long c, long long ignore_index, int reduction,
         const double* __restrict stats) {
    using G = RowGroup<BLOCK>;
    const long long r = G::row();
    if (r >= n) return;
    const I y = target[r];
    const bool ignored = static_cast<long long>(y) == ignore_index;
    const bool ok = !ignored && label_ok(y, c);
    T* gr = grad + r * c;
    T scale = T(1);
    if (reduction == static_cast<int>(Reduction::none)) scale = grad_loss ? grad_loss[r] : T(1);
    else if (reduction == static_cast<int>(Reduction::mean)) scale = static_cast<T>(stats[kInvDenom]);
    const T w_y = ok ? (weight ? weight[y] : T(1)) : T(0);
    const T fill = ignored || ok ? T(0) : static_cast<T>(NAN);
    for (long long j = G::rank(); j < c; j += G::size())
        gr[j] = ok && j == static_cast<long long>(y) ? -w_y * scale : fill;
    if (G::rank() == 0)
        row_loss[r] = ok ? -static_cast<double>(w_y) * x[r * c + y] : (ignored ? 0.0 : static_cast<double>(NAN));
}

template <class T, class I, bool BLOCK>
__global__ void __launch_bounds__(BLOCK ? kRowBlockThreads : 32 * kRowsPerBlock)
hinge_rows(const T* __restrict x, const I* __restrict target, const T* __restrict weight,
           const T* __restrict grad_loss, T* __restrict grad, double* __restrict row_loss,
           long long n, long long c, int p, T margin, int reduction, T inv_n, T inv_c) {
    using G = RowGroup<BLOCK>;
    const long long r = G::row();
    if (r >= n) return;
    const I y = target[r];
    T* gr = grad + r * c;
    if (!label_ok(y, c)) {  // reported by label_stats_kernel
        for (long long j = G::rank(); j < c; j += G::size()) gr[j] = static_cast<T>(NAN);
        if (G::rank() == 0) row_loss[r] = static_cast<double>(NAN);
        return;
    }
    const T* xr = x + r * c;
    const T x_y = xr[y];
    const T w_y = weight ? weight[y] : T(1);
    T scale = T(1);
    if (reduction == static_cast<int>(Reduction::none)) scale = grad_loss ? grad_loss[r] : T(1);
    else if (reduction == static_cast<int>(Reduction::mean)) scale = inv_n;
    const T gscale = scale * w_y * inv_c;
    T loss = 0, g_sum = 0;
    for (long long j = G::rank(); j < c; j += G::size()) {
        if (j == static_cast<long long>(y)) continue;  // written below, once the sum is known
        const T z = margin - x_y + xr[j];
        const T g = margin_term_grad(z, p) * gscale;
        loss += margin_term(z, p);
        gr[j] = g;
        g_sum += g;
    }
    loss = G::sum(loss);
    g_sum = G::sum(g_sum);
    if (G::rank() == 0) {
        gr[y] = -g_sum;
        row_loss[r] = static_cast<double>(loss) * static_cast<double>(w_y) * static_cast<double>(inv_c);
    }
}

constexpr int kChunkThreads = 256;

template <class T, bool L1>
__global__ void __launch_bounds__(kChunkThreads)
elementwise_chunks(const T* __restrict a, const T* __restrict b, const T* __restrict grad_loss,
                   T* __restrict grad, T* __restrict loss_out, double* __restrict partial,
                   long long size, T scale) {
    const long long i0 = static_cast<long long>(blockIdx.x) * kLossChunk;
    const long long i1 = i0 + kLossChunk < size ? i0 + kLossChunk : size;
    double s = 0;
    for (long long i = i0 + threadIdx.x; i < i1; i += blockDim.x) {
        const T g = grad_loss ? grad_loss[i] : scale;
        const T v = L1 ? l1_value(a[i], b[i]) : mse_value(a[i], b[i]);
        grad[i] = L1 ? l1_grad(a[i], b[i], g) : mse_grad(a[i], b[i], g);
        if (loss_out) loss_out[i] = v;
        s += static_cast<double>(v);
    }
    s = block_sum(s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

LossResult read_result(DeviceScalars& sc) {
    const double* s = sc.read();
    LossResult res;
    res.total = s[kTotal];
    res.denom = s[kDenom];
    res.bad_row = static_cast<int64_t>(s[kBadRow]);
    res.bad_label = static_cast<int64_t>(s[kBadLabel]);
    return res;
}

}  // namespace

namespace cuda_ops {

template <class T, class I>
LossResult nll_loss(const T* log_probs, const I* target, const T* weight, const T* grad_loss,
                    T* grad, double* row_loss, int64_t n, int64_t c, int64_t ignore_index,
                    int reduction, void* stream) {
    auto s = static_cast<cudaStream_t>(stream);
    DeviceScalars sc(stream);
    launch(label_stats_kernel<T, I>, dim3(1), dim3(kSumThreads), 0, s, target, n, c, weight,
           ignore_index, true, sc.device());
    if (n > 0 && c > 0) {
        if (warp_per_row(c))
            launch(nll_rows<T, I, false>, row_grid(n, c), row_block(c), 0, s, log_probs, target,
                   weight, grad_loss, grad, row_loss, n, c, ignore_index, reduction, sc.device());
        else
            launch(nll_rows<T, I, true>, row_grid(n, c), row_block(c), 0, s, log_probs, target,
                   weight, grad_loss, grad, row_loss, n, c, ignore_index, reduction, sc.device());
    }
    launch(ordered_sum_kernel<double>, dim3(1), dim3(kSumThreads), 0, s, row_loss, n,
           sc.device() + kTotal);
    return read_result(sc);
}

template <class T, class I>
LossResult hinge_loss(const T* input, const I* target, const T* weight, const T* grad_loss,
                      T* grad, double* row_loss, int64_t n, int64_t c, int p, double margin,
                      int reduction, void* stream) {
    auto s = static_cast<cudaStream_t>(stream);
    DeviceScalars sc(stream);
    launch(label_stats_kernel<T, I>, dim3(1), dim3(kSumThreads), 0, s, target, n, c, weight,
           int64_t{0}, false, sc.device());
    const T inv_n = static_cast<T>(1.0 / static_cast<double>(n));
    const T inv_c = static_cast<T>(1.0 / static_cast<double>(c));
    if (n > 0 && c > 0) {
        if (warp_per_row(c))
            launch(hinge_rows<T, I, false>, row_grid(n, c), row_block(c), 0, s, input, target,
                   weight, grad_loss, grad, row_loss, n, c, p, static_cast<T>(margin), reduction, inv_n, inv_c);
        else
            launch(hinge_rows<T, I, true>, row_grid(n, c), row_block(c), 0, s, input, target,
                   weight, grad_loss, grad, row_loss, n, c, p, static_cast<T>(margin), reduction, inv_n, inv_c);
    }
    launch(ordered_sum_kernel<double>, dim3(1), dim3(kSumThreads), 0, s, row_loss, n,
           sc.device() + kTotal);
    LossResult res = read_result(sc);
    res.denom = static_cast<double>(n);
    return res;
}

template <class T>
LossResult elementwise_loss(bool l1, const T* input, const T* target, const T* grad_loss, T* grad,
                            T* loss_out, double* partial, int64_t size, int reduction,
                            void* stream) {
    auto s = static_cast<cudaStream_t>(stream);
    DeviceScalars sc(stream);
    const long long chunks = (size + kLossChunk - 1) / kLossChunk;
    const T scale = static_cast<T>(
        reduction == static_cast<int>(Reduction::mean) ? 1.0 / static_cast<double>(size) : 1.0);
    if (chunks > 0) {
        if (l1)
            launch(elementwise_chunks<T, true>, dim3(static_cast<unsigned>(chunks)), dim3(kChunkThreads),
                   0, s, input, target, grad_loss, grad, loss_out, partial, size, scale);
        else
            launch(elementwise_chunks<T, false>, dim3(static_cast<unsigned>(chunks)), dim3(kChunkThreads),
                   0, s, input, target, grad_loss, grad, loss_out, partial, size, scale);
    }
    launch(ordered_sum_kernel<double>, dim3(1), dim3(kSumThreads), 0, s, partial, chunks,
           sc.device() + kTotal);
    LossResult res;
    res.total = sc.read()[kTotal];
    res.denom = static_cast<double>(size);
    return res;
}

#define PK_CLASS_LOSSES(T, I)                                                                  \
    template LossResult nll_loss<T, I>(const T*, const I*, const T*, const T*, T*, double*,   \
                                       int64_t, int64_t, int64_t, int, void*);                 \
    template LossResult hinge_loss<T, I>(const T*, const I*, const T*, const T*, T*, double*, \
                                         int64_t, int64_t, int, double, int, void*);
PK_CLASS_LOSSES(float, int64_t)
PK_CLASS_LOSSES(float, int32_t)
PK_CLASS_LOSSES(double, int64_t)
PK_CLASS_LOSSES(double, int32_t)
#undef PK_CLASS_LOSSES
template LossResult elementwise_loss<float>(bool, const float*, const float*, const float*, float*,
                                            float*, double*, int64_t, int, void*);
template LossResult elementwise_loss<double>(bool, const double*, const double*, const double*,
                                             double*, double*, double*, int64_t, int, void*);

}  // namespace cuda_ops
}  // namespace pk
