// Fused softmax cross-entropy on the GPU: loss and gradient w.r.t. the logits
// in the same kernel, one pass over each row (PyTorch:
// torch.nn.functional.cross_entropy + backward; formulas in
// csrc/common/cross_entropy.h):
//   lse = m + log s (online max-and-sum), p_j = exp(z_j - m) / s
//   index target:  grad_j = g (p_j [(1-eps) w_y + eps W/C] - (1-eps) w_y [j==y] - eps/C w_j)
//   prob target:   grad_j = g (p_j T - w_j t'_j)
// Kernels, in launch order:
//   1. label_stats_kernel (class_targets.h), one block: checks labels, sums the
//      "mean" denominator and W in a fixed order (index targets only);
//   2. ce_index_rows / ce_prob_rows: one warp per row for C <= 1024, one block
//      of 512 threads per row above; pass 1 reads the row once for the online
//      (max, sum) (probability targets first sum T = sum w t' over the target
//      row in a loop of their own: fused into pass 1, the block version
//      spilled on sm_80), a shuffle/shared reduction combines the lanes,
//      pass 2 re-reads the row from cache and
//      writes the gradient while summing the row loss; the group's lane 0
//      writes the row loss (float64) to row_loss;
//   3. ordered_sum_kernel, one block: row losses -> total, fixed order.
// No float atomics anywhere: the loss is bitwise reproducible.
//
// Napkin math (H100, ~3.3 TB/s): 4096 x 1000 float logits in (16 MB) and the
// gradient out (16 MB) -> ~10 us of DRAM traffic; the kernel's second read of
// each row hits L1/L2 (4 KiB per row). The label pass reads 32 KB of labels
// with one block (~5 us of latency-bound work; it could be folded into the row
// kernel for "sum"/"none" where no denominator is needed).
#include "pk_cuda.h"

#include "class_targets.h"
#include "common/cross_entropy.h"
#include "common/softmax.h"
#include "cross_entropy.h"
#include "device_scalars.h"
#include "row_reduce.h"

namespace pk {
namespace {

using cuda_ops::LossResult;

template <class T>
__device__ __forceinline__ T row_scale(const T* grad_loss, long long r, int reduction,
                                       const double* stats) {
    if (reduction == static_cast<int>(Reduction::none)) return grad_loss ? grad_loss[r] : T(1);
    if (reduction == static_cast<int>(Reduction::mean)) return static_cast<T>(stats[kInvDenom]);
    return T(1);
}

template <class T, class I, bool BLOCK>
__global__ void __launch_bounds__(BLOCK ? kRowBlockThreads : 32 * kRowsPerBlock)
ce_index_rows(const T* __restrict z, const I* __restrict target, const T* __restrict weight,
              const T* __restrict grad_loss, T* __restrict grad, double* __restrict row_loss,
              long long n, long long c, long long ignore_index, T eps, double eps_c,
              int reduction, const double* __restrict stats) {
    using G = RowGroup<BLOCK>;
    using std::log;
    const long long r = G::row();
    if (r >= n) return;
    const T* zr = z + r * c;
    T* gr = grad + r * c;
    const I y = target[r];
    const bool ignored = static_cast<long long>(y) == ignore_index;
    if (ignored || !label_ok(y, c)) {  // invalid labels were reported by label_stats_kernel
        const T fill = ignored ? T(0) : static_cast<T>(NAN);
        for (long long j = G::rank(); j < c; j += G::size()) gr[j] = fill;
        if (G::rank() == 0) row_loss[r] = ignored ? 0.0 : static_cast<double>(NAN);
        return;
    }
    MaxSum<T> ms = max_sum_identity<T>();
    for (long long j = G::rank(); j < c; j += G::size()) ms = max_sum_add(ms, zr[j]);
    ms = G::max_sum(ms);
    const double lse = static_cast<double>(ms.m) + log(static_cast<double>(ms.s));
    const T lse_t = static_cast<T>(lse);
    const T inv_s = T(1) / ms.s;
    const T w_y = weight ? weight[y] : T(1);
    const CeIndexCoef<T> k = ce_index_coef(w_y, static_cast<T>(stats[kWeightSum]), eps,
                                           static_cast<T>(eps_c), row_scale(grad_loss, r, reduction, stats));
    T smooth = 0;
    for (long long j = G::rank(); j < c; j += G::size()) {
        const T w_j = weight ? weight[j] : T(1);
        const T zj = zr[j];
        gr[j] = ce_index_grad(k, softmax_value(zj, ms.m, inv_s), w_j, j == static_cast<long long>(y));
        smooth += w_j * (lse_t - zj);
    }
    if (eps > T(0)) smooth = G::sum(smooth);
    if (G::rank() == 0)
        row_loss[r] = ce_index_loss(lse, zr[y], w_y, eps, eps_c, smooth);
}

template <class T, bool BLOCK>
__global__ void __launch_bounds__(BLOCK ? kRowBlockThreads : 32 * kRowsPerBlock)
ce_prob_rows(const T* __restrict z, const T* __restrict target, const T* __restrict weight,
             const T* __restrict grad_loss, T* __restrict grad, double* __restrict row_loss,
             long long n, long long c, T eps, T eps_c, int reduction, T inv_n) {
    using G = RowGroup<BLOCK>;
    using std::log;
    const long long r = G::row();
    if (r >= n) return;
    const T* zr = z + r * c;
    const T* tr = target + r * c;
    T* gr = grad + r * c;
    T t_sum = 0;
    for (long long j = G::rank(); j < c; j += G::size())
        t_sum += (weight ? weight[j] : T(1)) * smoothed_target(tr[j], eps, eps_c);
    t_sum = G::sum(t_sum);
    MaxSum<T> ms = max_sum_identity<T>();
    for (long long j = G::rank(); j < c; j += G::size()) ms = max_sum_add(ms, zr[j]);
    ms = G::max_sum(ms);
    const T lse = static_cast<T>(static_cast<double>(ms.m) + log(static_cast<double>(ms.s)));
    const T inv_s = T(1) / ms.s;
    T scale = T(1);
    if (reduction == static_cast<int>(Reduction::none)) scale = grad_loss ? grad_loss[r] : T(1);
    else if (reduction == static_cast<int>(Reduction::mean)) scale = inv_n;
    T loss = 0;
    for (long long j = G::rank(); j < c; j += G::size()) {
        const T wt = (weight ? weight[j] : T(1)) * smoothed_target(tr[j], eps, eps_c);
        const T zj = zr[j];
        gr[j] = ce_prob_grad(softmax_value(zj, ms.m, inv_s), wt, t_sum, scale);
        loss += wt * (lse - zj);
    }
    loss = G::sum(loss);
    if (G::rank() == 0) row_loss[r] = static_cast<double>(loss);
}

LossResult finish(DeviceScalars& sc, bool labels) {
    const double* s = sc.read();
    LossResult res;
    res.total = s[kTotal];
    if (labels) {
        res.denom = s[kDenom];
        res.bad_row = static_cast<int64_t>(s[kBadRow]);
        res.bad_label = static_cast<int64_t>(s[kBadLabel]);
    }
    return res;
}

}  // namespace

namespace cuda_ops {

template <class T, class I>
LossResult cross_entropy_index(const T* logits, const I* target, const T* weight,
                               const T* grad_loss, T* grad, double* row_loss, int64_t n,
                               int64_t c, int64_t ignore_index, double eps, int reduction,
                               void* stream) {
    auto s = static_cast<cudaStream_t>(stream);
    DeviceScalars sc(stream);
    launch(label_stats_kernel<T, I>, dim3(1), dim3(kSumThreads), 0, s, target, n, c, weight,
           ignore_index, true, sc.device());
    if (n > 0 && c > 0) {
        if (warp_per_row(c))
            launch(ce_index_rows<T, I, false>, row_grid(n, c), row_block(c), 0, s, logits, target,
                   weight, grad_loss, grad, row_loss, n, c, ignore_index, static_cast<T>(eps),
                   eps / static_cast<double>(c), reduction, sc.device());
        else
            launch(ce_index_rows<T, I, true>, row_grid(n, c), row_block(c), 0, s, logits, target,
                   weight, grad_loss, grad, row_loss, n, c, ignore_index, static_cast<T>(eps),
                   eps / static_cast<double>(c), reduction, sc.device());
    }
    launch(ordered_sum_kernel<double>, dim3(1), dim3(kSumThreads), 0, s, row_loss, n,
           sc.device() + kTotal);
    return finish(sc, true);
}

template <class T>
LossResult cross_entropy_prob(const T* logits, const T* target, const T* weight,
                              const T* grad_loss, T* grad, double* row_loss, int64_t n, int64_t c,
                              double eps, int reduction, void* stream) {
    auto s = static_cast<cudaStream_t>(stream);
    DeviceScalars sc(stream);
    const T inv_n = static_cast<T>(1.0 / static_cast<double>(n));
    const T eps_c = static_cast<T>(eps / static_cast<double>(c));
    if (n > 0 && c > 0) {
        if (warp_per_row(c))
            launch(ce_prob_rows<T, false>, row_grid(n, c), row_block(c), 0, s, logits, target,
                   weight, grad_loss, grad, row_loss, n, c, static_cast<T>(eps), eps_c, reduction, inv_n);
        else
            launch(ce_prob_rows<T, true>, row_grid(n, c), row_block(c), 0, s, logits, target,
                   weight, grad_loss, grad, row_loss, n, c, static_cast<T>(eps), eps_c, reduction, inv_n);
    }
    launch(ordered_sum_kernel<double>, dim3(1), dim3(kSumThreads), 0, s, row_loss, n,
           sc.device() + kTotal);
    LossResult res = finish(sc, false);
    res.denom = static_cast<double>(n);
    return res;
}

#define PK_CE_INDEX(T, I)                                                                        \
    template LossResult cross_entropy_index<T, I>(const T*, const I*, const T*, const T*, T*,   \
                                                  double*, int64_t, int64_t, int64_t, double,    \
                                                  int, void*);
PK_CE_INDEX(float, int64_t)
PK_CE_INDEX(float, int32_t)
PK_CE_INDEX(double, int64_t)
PK_CE_INDEX(double, int32_t)
#undef PK_CE_INDEX
template LossResult cross_entropy_prob<float>(const float*, const float*, const float*,
                                              const float*, float*, double*, int64_t, int64_t,
                                              double, int, void*);
template LossResult cross_entropy_prob<double>(const double*, const double*, const double*,
                                               const double*, double*, double*, int64_t, int64_t,
                                               double, int, void*);

}  // namespace cuda_ops
}  // namespace pk
