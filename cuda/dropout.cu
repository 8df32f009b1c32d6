// Inverted dropout on the GPU: mask[i] = (u_i >= p), y[i] = x[i] * mask[i] / (1 - p),
// with u_i from Philox4x32-10 on (seed, offset + i / 4), word i % 4: the same
// function (csrc/common/philox.h) as the CPU loops, so masks are bit-identical
// on cpu, cuda and cuda-emu. As torch.nn.functional.dropout(x, p, training=True)
// up to the generator.
//
// Kernels, simplest first:
//   1. dropout_fwd: one thread per Philox block (4 consecutive elements): one
//      10-round Philox call, 4 loads, 4 stores of y and 4 bytes of mask;
//      grid-stride loop so any n fits a bounded grid.
//   2. dropout_mask_only: the same without x and y.
//   3. dropout_bwd: one thread per element, grad_x = grad_y * mask * scale.
// The keep test is an integer compare against threshold = ceil(p * 2^24),
// computed once on the host.
//
// Napkin math (H100, ~3 TB/s): forward moves 9 bytes per float32 element
// (x, y, mask), 4M elements = 38 MB -> ~13 us; Philox costs 20 32-bit
// multiplies (mul.lo + mul.hi) per 4 elements, ~5 integer ops per element,
// far below the memory time. Backward: 9 bytes per element as well.
#include "pk_cuda.h"

#include "common/philox.h"
#include "dropout.h"

namespace pk {
namespace {

constexpr int THREADS = 256;
constexpr long long MAX_BLOCKS = 4096;  // grid-stride beyond this

inline unsigned grid_for(long long items) {
    const long long blocks = (items + THREADS - 1) / THREADS;
    return static_cast<unsigned>(blocks < MAX_BLOCKS ? blocks : MAX_BLOCKS);
}

template <class T>
__global__ void __launch_bounds__(THREADS)
dropout_fwd(const T* __restrict__ x, T* __restrict__ y, uint8_t* __restrict__ mask, long long n,
            uint32_t threshold, T scale, unsigned long long seed, unsigned long long offset) {
    const long long blocks = (n + 3) / 4;
    for (long long b = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; b < blocks;
         b += static_cast<long long>(gridDim.x) * blockDim.x) {
        const Philox4 r = philox_block(seed, offset + static_cast<unsigned long long>(b));
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const long long i = 4 * b + j;
            if (i < n) {
                const uint8_t keep = dropout_keep(r.w[j], threshold);
                mask[i] = keep;
                // x * 0 for dropped values: inf and NaN give NaN, as PyTorch.
                y[i] = x[i] * (keep ? scale : T(0));
            }
        }
    }
}

__global__ void __launch_bounds__(THREADS)
dropout_mask_only(uint8_t* __restrict__ mask, long long n, uint32_t threshold,
                  unsigned long long seed, unsigned long long offset) {
    const long long blocks = (n + 3) / 4;
    for (long long b = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; b < blocks;
         b += static_cast<long long>(gridDim.x) * blockDim.x) {
        const Philox4 r = philox_block(seed, offset + static_cast<unsigned long long>(b));
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            const long long i = 4 * b + j;
            if (i < n) mask[i] = dropout_keep(r.w[j], threshold);
        }
    }
}

template <class T>
__global__ void __launch_bounds__(THREADS)
dropout_bwd(const T* __restrict__ gy, const uint8_t* __restrict__ mask, T* __restrict__ gx,
            long long n, T scale) {
    for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
         i += static_cast<long long>(gridDim.x) * blockDim.x)
        gx[i] = gy[i] * (mask[i] ? scale : T(0));
}

}  // namespace

namespace cuda_ops {

template <class T>
void dropout(const T* x, T* y, uint8_t* mask, int64_t n, uint32_t threshold, T scale,
             uint64_t seed, uint64_t offset, void* stream) {
    if (n == 0) return;
    launch(dropout_fwd<T>, dim3(grid_for((n + 3) / 4)), dim3(THREADS), 0,
           static_cast<cudaStream_t>(stream), x, y, mask, static_cast<long long>(n), threshold,
           scale, static_cast<unsigned long long>(seed), static_cast<unsigned long long>(offset));
}

void dropout_mask(uint8_t* mask, int64_t n, uint32_t threshold, uint64_t seed, uint64_t offset,
                  void* stream) {
    if (n == 0) return;
    launch(dropout_mask_only, dim3(grid_for((n + 3) / 4)), dim3(THREADS), 0,
           static_cast<cudaStream_t>(stream), mask, static_cast<long long>(n), threshold,
           static_cast<unsigned long long>(seed), static_cast<unsigned long long>(offset));
}

template <class T>
void dropout_backward(const T* grad_y, const uint8_t* mask, T* grad_x, int64_t n, T scale,
                      void* stream) {
    if (n == 0) return;
    launch(dropout_bwd<T>, dim3(grid_for(n)), dim3(THREADS), 0, static_cast<cudaStream_t>(stream),
           grad_y, mask, grad_x, static_cast<long long>(n), scale);
}

template void dropout<float>(const float*, float*, uint8_t*, int64_t, uint32_t, float, uint64_t,
                             uint64_t, void*);
template void dropout<double>(const double*, double*, uint8_t*, int64_t, uint32_t, double,
                              uint64_t, uint64_t, void*);
template void dropout_backward<float>(const float*, const uint8_t*, float*, int64_t, float, void*);
template void dropout_backward<double>(const double*, const uint8_t*, double*, int64_t, double,
                                       void*);

}  // namespace cuda_ops
}  // namespace pk
