// Fused Linear on the GPU (torch.nn.functional.linear followed by an
// activation, and its gradients), float and double:
//   forward   z = x W^T + b,  y = act(z)         x (N, in), W (out, in), b (out)
//   backward  g' = grad_y * act'(z)  (or act' from y where the formula allows)
//             grad_x = g' W,  grad_W = g'^T x,  grad_b = sum over rows of g'
// Activation formulas: csrc/common/activation.h (PyTorch semantics).
//
// Kernels (the GEMM machinery is gemm_tile.h; design and napkin math in
// cuda/matmul.cu):
//   1. forward: the tiled GEMM with a staged epilogue. When the last k-slice
//      is done, the block's accumulators pass through shared memory in chunks
//      of rows; every thread then takes consecutive elements of a chunk, adds
//      the bias, stores z if asked and y = act(z). The activation, chosen at
//      run time, thus appears once in the kernel (a switch on a block-uniform
//      value, no divergence) instead of once per accumulator, and the stores
//      are coalesced; the output is written once and never re-read.
//   2. backward: one elementwise pass g' = grad_y * act'(.) into a
//      stream-ordered scratch buffer (skipped for identity), then
//      grad_x = g' W (plain GEMM), and grad_W = g'^T x by the GEMM with
//      RowSumEpi: its first column of blocks also sums the rows of g'^T as
//      they pass through shared memory, which is grad_b: no extra read of g',
//      no atomics, a fixed summation order (k ascending). When grad_W is not
//      wanted (or in = 0), a column-sum kernel (one thread per column, rows in
//      order) gives grad_b.
//
// Napkin math, float, N = 4096, in = out = 4096: the forward is the 137
// GFLOP GEMM (~2.3 ms at H100 FP32 peak) plus an epilogue of 16.7M
// activations reading 16 KiB of bias per block row: below 1% extra for cheap
// activations, a few % for erfc/sincos ones. Backward: two GEMMs (4.6 ms at
// peak) plus the derivative pass, 3 x 64 MiB of traffic (~0.06 ms at
// 3.35 TB/s).
#include "pk_cuda.h"

#include <cstdint>
#include <vector>

#include "common/activation.h"
#include "gemm_tile.h"
#include "linear.h"
#include "matmul.h"

namespace pk {
namespace {

constexpr int kThreads = 256;

// Bias, pre-activation copy and activation, per element of the output tile.
template <class T>
struct LinearEpi {
    static constexpr bool kStaged = true;
    static constexpr bool kRowSums = false;
    const T* bias;  // may be null
    T* pre;         // may be null; same layout as the output
    Act act;
    ActParams<T> params;

    __device__ __forceinline__ void operator()(T v, int row, int col, T* c, long long ldc) const {
        if (bias) v += bias[col];
        const long long at = static_cast<long long>(row) * ldc + col;
        if (pre) pre[at] = v;
        c[at] = act_forward(act, v, params);
    }
};

// g' = grad_y * act'(s), s = z or (from_output) y; grid-stride, one element
// per iteration (a memory-bound pass; the switch is uniform across the grid).
template <class T>
__global__ void __launch_bounds__(kThreads)
act_derivative_kernel(const T* __restrict__ g, const T* __restrict__ s, T* __restrict__ out,
                      long long n, Act act, ActParams<T> p, bool from_output) {
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += stride)
        out[i] = from_output ? act_backward_from_output(act, g[i], s[i], p)
                             : act_backward(act, g[i], s[i], p);
}

// out[j] = sum_i g[i, j], rows in order: one thread per column, so a warp
// reads 32 consecutive columns of a row at a time.
template <class T>
__global__ void __launch_bounds__(kThreads)
column_sums_kernel(const T* __restrict__ g, long long rows, long long cols, T* __restrict__ out) {
    const long long j = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    T sum = T(0);
    for (long long i = 0; i < rows; ++i) sum += g[i * cols + j];
    out[j] = sum;
}

// Scratch memory in stream order (freed after the kernels queued before the
// destructor have run); host memory under the emulator.
template <class T>
class DeviceBuffer {
public:
    DeviceBuffer(size_t count, void* stream) : stream_(static_cast<cudaStream_t>(stream)) {
#if defined(__CUDACC__)
        check_cuda(cudaMallocAsync(reinterpret_cast<void**>(&ptr_), sizeof(T) * count, stream_),
                   "cudaMallocAsync");
#else
        host_.resize(count);
        ptr_ = host_.data();
#endif
    }
    ~DeviceBuffer() {
#if defined(__CUDACC__)
        cudaFreeAsync(ptr_, stream_);
#endif
    }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    T* get() const { return ptr_; }

private:
    cudaStream_t stream_;
    T* ptr_ = nullptr;
#if !defined(__CUDACC__)
    std::vector<T> host_;
#endif
};

unsigned grid_for(long long items) {
    const long long blocks = (items + kThreads - 1) / kThreads;
    return static_cast<unsigned>(blocks < 8192 ? (blocks > 0 ? blocks : 1) : 8192);
}

}  // namespace

namespace cuda_ops {

template <class T>
void linear_forward(Act act, const ActParams<T>& p, const T* x, const T* w, const T* bias, T* y,
                    T* pre, int64_t batch, int64_t in_f, int64_t out_f, void* stream, int tile) {
    const auto t = static_cast<gemm_tile::Tile>(tile);
    if (!bias && !pre && act == Act::identity) {
        gemm<T>(false, true, batch, out_f, in_f, T(1), x, in_f, w, in_f, T(0), y, out_f, stream,
                tile);
        return;
    }
    LinearEpi<T> epi{bias, pre, act, p};
    gemm_tile::launch_gemm<T, false, true>(batch, out_f, in_f, x, in_f, w, in_f, y, out_f, epi, t,
                                           stream);
}

template <class T>
void linear_backward(Act act, const ActParams<T>& p, const T* g, const T* x, const T* w,
                     const T* saved, bool saved_is_output, T* gx, T* gw, T* gb, int64_t batch,
                     int64_t in_f, int64_t out_f, void* stream, int tile) {
    const auto t = static_cast<gemm_tile::Tile>(tile);
    const int64_t n = batch * out_f;
    const cudaStream_t s = static_cast<cudaStream_t>(stream);
    const T* gp = g;
    DeviceBuffer<T> scratch(act != Act::identity && n > 0 ? static_cast<size_t>(n) : 0, stream);
    if (act != Act::identity && n > 0) {
        launch(act_derivative_kernel<T>, dim3(grid_for(n)), dim3(kThreads), 0, s, g, saved,
               scratch.get(), static_cast<long long>(n), act, p, saved_is_output);
        gp = scratch.get();
    }
    if (gx)
        gemm<T>(false, false, batch, in_f, out_f, T(1), gp, out_f, w, in_f, T(0), gx, in_f, stream,
                tile);
    const bool sums_in_gemm = gw && gb && in_f > 0;
    if (gw) {
        if (sums_in_gemm) {
            gemm_tile::RowSumEpi<T> epi;
            epi.vec_c = gemm_tile::vector_c(gw, in_f);
            epi.row_sums = gb;
            gemm_tile::launch_gemm<T, true, false>(out_f, in_f, batch, gp, out_f, x, in_f, gw,
                                                   in_f, epi, t, stream);
        } else {
            gemm<T>(true, false, out_f, in_f, batch, T(1), gp, out_f, x, in_f, T(0), gw, in_f,
                    stream, tile);
        }
    }
    if (gb && !sums_in_gemm && out_f > 0)
        launch(column_sums_kernel<T>, dim3(static_cast<unsigned>((out_f + kThreads - 1) / kThreads)),
               dim3(kThreads), 0, s, gp, static_cast<long long>(batch),
               static_cast<long long>(out_f), gb);
}

template void linear_forward<float>(Act, const ActParams<float>&, const float*, const float*,
                                    const float*, float*, float*, int64_t, int64_t, int64_t, void*, int);
template void linear_forward<double>(Act, const ActParams<double>&, const double*, const double*,
                                     const double*, double*, double*, int64_t, int64_t, int64_t,
                                     void*, int);
template void linear_backward<float>(Act, const ActParams<float>&, const float*, const float*,
                                     const float*, const float*, bool, float*, float*, float*,
                                     int64_t, int64_t, int64_t, void*, int);
template void linear_backward<double>(Act, const ActParams<double>&, const double*, const double*,
                                      const double*, const double*, bool, double*, double*,
                                      double*, int64_t, int64_t, int64_t, void*, int);

}  // namespace cuda_ops
}  // namespace pk
