// Deterministic reductions for the row-wise kernels (softmax, cross-entropy,
// losses): a fixed butterfly of warp shuffles, then, for a block, one partial
// per warp in shared memory reduced by warp 0 in warp order. No atomics, so
// every sum has the same order on every run and every GPU.
//
// A row is owned by a "group": one warp (blockDim (32, ROWS), row =
// blockIdx.x * ROWS + threadIdx.y) for short rows, or one block (blockDim
// (THREADS), row = blockIdx.x) for long ones.
#pragma once

#include "pk_cuda.h"

#include "common/softmax.h"

namespace pk {

constexpr unsigned kFullMask = 0xffffffffu;

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFullMask, v, o);
    return v;
}

template <class T>
__device__ __forceinline__ MaxSum<T> warp_max_sum(MaxSum<T> v) {
    for (int o = 16; o > 0; o >>= 1) {
        const MaxSum<T> other{__shfl_xor_sync(kFullMask, v.m, o), __shfl_xor_sync(kFullMask, v.s, o)};
        v = max_sum_combine(v, other);
    }
    return v;
}

// Sum over a block of at most 1024 threads (blockDim.y == blockDim.z == 1);
// every thread gets the result. Safe to call repeatedly.
template <class T>
__device__ __forceinline__ T block_sum(T v) {
    __shared__ T partial[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int warps = (blockDim.x + 31) / 32;
    v = warp_sum(v);
    __syncthreads();  // an earlier call may still be reading partial
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : T(0);
    return warp_sum(v);
}

template <class T>
__device__ __forceinline__ MaxSum<T> block_max_sum(MaxSum<T> v) {
    __shared__ T pm[32];
    __shared__ T ps[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int warps = (blockDim.x + 31) / 32;
    v = warp_max_sum(v);
    __syncthreads();
    if (lane == 0) {
        pm[warp] = v.m;
        ps[warp] = v.s;
    }
    __syncthreads();
    v = lane < warps ? MaxSum<T>{pm[lane], ps[lane]} : max_sum_identity<T>();
    return warp_max_sum(v);
}

__device__ __forceinline__ long long block_min(long long v) {
    __shared__ long long partial[32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int warps = (blockDim.x + 31) / 32;
    for (int o = 16; o > 0; o >>= 1) {
        const long long other = __shfl_xor_sync(kFullMask, v, o);
        v = other < v ? other : v;
    }
    __syncthreads();
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : partial[0];
    for (int o = 16; o > 0; o >>= 1) {
        const long long other = __shfl_xor_sync(kFullMask, v, o);
        v = other < v ? other : v;
    }
    return v;
}

// The threads that share one row.
template <bool BLOCK>
struct RowGroup {
    __device__ static long long row() {
        return BLOCK ? static_cast<long long>(blockIdx.x)
                     : static_cast<long long>(blockIdx.x) * blockDim.y + threadIdx.y;
    }
    __device__ static int rank() { return threadIdx.x; }
    __device__ static int size() { return BLOCK ? blockDim.x : 32; }
    template <class T>
    __device__ static T sum(T v) { return BLOCK ? block_sum(v) : warp_sum(v); }
    template <class T>
    __device__ static MaxSum<T> max_sum(MaxSum<T> v) {
        return BLOCK ? block_max_sum(v) : warp_max_sum(v);
    }
};

// Launch shapes: a warp per row up to kWarpRowMax columns (each lane then
// holds at most 32 elements of its row in flight), a block per row above.
constexpr long long kWarpRowMax = 1024;
constexpr int kRowsPerBlock = 8;     // warps per block in warp-per-row mode
constexpr int kRowBlockThreads = 512;

inline bool warp_per_row(long long n_cols) { return n_cols <= kWarpRowMax; }
inline dim3 row_grid(long long rows, long long n_cols) {
    return warp_per_row(n_cols) ? dim3(static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock))
                                : dim3(static_cast<unsigned>(rows));
}
inline dim3 row_block(long long n_cols) {
    return warp_per_row(n_cols) ? dim3(32, kRowsPerBlock) : dim3(kRowBlockThreads);
}

// Single-block, fixed-order sum of v[0, n) into *out (the reductions of row
// losses and chunk partials to the scalar loss). Launch with 1 block of
// kSumThreads threads.
// (A template so that every .cu including this header may instantiate it.)
constexpr int kSumThreads = 1024;

template <class T>
__global__ void __launch_bounds__(kSumThreads)
ordered_sum_kernel(const T* __restrict v, long long n, T* __restrict out) {
    T s = 0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) s += v[i];
    s = block_sum(s);
    if (threadIdx.x == 0) *out = s;
}

}  // namespace pk
