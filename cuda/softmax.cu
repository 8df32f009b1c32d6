// Softmax / log-softmax along rows, forward and backward, on the GPU
// (PyTorch: torch.softmax, torch.log_softmax and their backward; formulas in
// csrc/common/softmax.h):
//   y = exp(x - m) / s,  log y = x - m - log s,  (m, s) = online max-and-sum
//   grad_x = y (grad_y - sum grad_y y)  |  grad_x = grad_y - exp(y) sum grad_y
//
// Versions, simplest first, both single-pass over global memory for the
// reduction:
//   1. one warp per row (rows of at most 1024): each lane keeps an online
//      (max, sum) pair over its strided elements, 5 shuffle steps combine the
//      32 pairs, then the lanes write their outputs re-reading the row (which
//      is in L1/L2: 4 KiB for 1024 floats);
//   2. one block of 512 threads per row for longer rows: the same, with the
//      warps' pairs combined through shared memory.
// Lanes read consecutive addresses, so every load and store is coalesced.
//
// Napkin math (H100, ~3.3 TB/s HBM3): 4096 x 1000 floats = 16 MB in + 16 MB
// out -> ~10 us at bandwidth; the exps (4M, one MUFU op each plus the
// occasional rescale) are ~1 us of the SFUs, so the kernel is memory-bound and
// should reach 2.5-3 TB/s. The backward reads two arrays and writes one: 48 MB.
#include "pk_cuda.h"

#include "common/softmax.h"
#include "row_reduce.h"
#include "softmax.h"

namespace pk {
namespace {

template <class T, bool BLOCK>
__global__ void __launch_bounds__(BLOCK ? kRowBlockThreads : 32 * kRowsPerBlock)
softmax_rows(const T* __restrict x, T* __restrict y, long long rows, long long n, bool log_out) {
    using G = RowGroup<BLOCK>;
    using std::log;
    const long long r = G::row();
    if (r >= rows) return;  // a whole warp (or block) at once
    const T* xr = x + r * n;
    T* yr = y + r * n;
    MaxSum<T> ms = max_sum_identity<T>();
    for (long long j = G::rank(); j < n; j += G::size()) ms = max_sum_add(ms, xr[j]);
    ms = G::max_sum(ms);
    if (log_out) {
        const T log_s = log(ms.s);
        for (long long j = G::rank(); j < n; j += G::size()) yr[j] = log_softmax_value(xr[j], ms.m, log_s);
    } else {
        const T inv_s = T(1) / ms.s;
        for (long long j = G::rank(); j < n; j += G::size()) yr[j] = softmax_value(xr[j], ms.m, inv_s);
    }
}

template <class T, bool BLOCK>
__global__ void __launch_bounds__(BLOCK ? kRowBlockThreads : 32 * kRowsPerBlock)
softmax_backward_rows(const T* __restrict gy, const T* __restrict y, T* __restrict gx,
                      long long rows, long long n, bool log_in) {
    using G = RowGroup<BLOCK>;
    using std::exp;
    const long long r = G::row();
    if (r >= rows) return;
    const T* gr = gy + r * n;
    const T* yr = y + r * n;
    T* out = gx + r * n;
    T acc = 0;  // sum gy (log) or sum gy * y
    for (long long j = G::rank(); j < n; j += G::size()) acc += log_in ? gr[j] : gr[j] * yr[j];
    acc = G::sum(acc);
    for (long long j = G::rank(); j < n; j += G::size())
        out[j] = log_in ? log_softmax_grad(gr[j], exp(yr[j]), acc) : softmax_grad(gr[j], yr[j], acc);
}

}  // namespace

namespace cuda_ops {

template <class T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t n, bool log, void* stream) {
    if (rows == 0 || n == 0) return;
    auto s = static_cast<cudaStream_t>(stream);
    if (warp_per_row(n))
        launch(softmax_rows<T, false>, row_grid(rows, n), row_block(n), 0, s, x, y, rows, n, log);
    else
        launch(softmax_rows<T, true>, row_grid(rows, n), row_block(n), 0, s, x, y, rows, n, log);
}

template <class T>
void softmax_backward(const T* grad_y, const T* y, T* grad_x, int64_t rows, int64_t n, bool log,
                      void* stream) {
    if (rows == 0 || n == 0) return;
    auto s = static_cast<cudaStream_t>(stream);
    if (warp_per_row(n))
        launch(softmax_backward_rows<T, false>, row_grid(rows, n), row_block(n), 0, s, grad_y, y,
               grad_x, rows, n, log);
    else
        launch(softmax_backward_rows<T, true>, row_grid(rows, n), row_block(n), 0, s, grad_y, y,
               grad_x, rows, n, log);
}

template void softmax_forward<float>(const float*, float*, int64_t, int64_t, bool, void*);
template void softmax_forward<double>(const double*, double*, int64_t, int64_t, bool, void*);
template void softmax_backward<float>(const float*, const float*, float*, int64_t, int64_t, bool,
                                      void*);
template void softmax_backward<double>(const double*, const double*, double*, int64_t, int64_t,
                                       bool, void*);

}  // namespace cuda_ops
}  // namespace pk
