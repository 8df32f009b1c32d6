// SIMT emulator: lets CUDA kernel sources compile as host C++ and run on the
// CPU with CUDA's execution model (blocks of threads, barriers, warps).
//
// Each CUDA thread of a block is a cooperative fiber. A fiber runs until it
// reaches a barrier (__syncthreads*, __syncwarp, or a shuffle/vote, which is a
// barrier of its warp) or returns; then the next runnable fiber of the block
// runs. __syncthreads releases once every thread of the block that has not
// returned has arrived; a warp operation once every non-returned lane named in
// its mask has arrived. Warps are 32 consecutive linear thread ids (x fastest).
// A block runs start to finish on one OS thread; blocks run in parallel on a
// pool of OS threads. A state in which no fiber can make progress (a
// deadlock) and exceptions thrown by kernel code are reported by launch().
//
// Kernels may use only what is listed here:
//   qualifiers  __global__ __device__ __host__ PK_HD __forceinline__ __noinline__
//               __launch_bounds__(...) __align__(n) __restrict__
//               __shared__ (function-local or namespace scope, per block:
//               expands to `static thread_local`, and a block owns its OS
//               thread until it finishes; it is NOT cleared between blocks;
//               `extern __shared__` is not supported: use
//               pk::dynamic_shared<T>() / simt::dynamic_shared())
//   types       dim3 uint3 float2 float3 float4 double2 int2 int3 int4 uint2
//               uint4 longlong2, make_<type>(...), cudaStream_t
//   built-ins   threadIdx blockIdx blockDim gridDim warpSize
//   barriers    __syncthreads __syncthreads_count/_and/_or __syncwarp
//   warp ops    __shfl_sync __shfl_up_sync __shfl_down_sync __shfl_xor_sync
//               (any trivially copyable type of at most 8 bytes; `width`
//               segments as on the GPU), __ballot_sync __any_sync __all_sync
//               __activemask
//   atomics     atomicAdd (int, unsigned, long long, unsigned long long, float,
//               double), atomicSub atomicAnd atomicOr atomicXor atomicExch
//               atomicCAS atomicMax atomicMin (the four integer types),
//               atomicExch(float), atomicInc atomicDec (unsigned),
//               __threadfence __threadfence_block __threadfence_system
//   memory      __ldg
//   math        everything in <cmath>, rsqrtf rsqrt, __expf __exp10f __logf
//               __log2f __log10f __powf __sinf __cosf __tanf (exact here),
//               __fdividef __frcp_rn __fsqrt_rn __fadd_rn __fmul_rn __fmaf_rn
//               __fma_rn __saturatef, __float2int_rn/_rz/_rd/_ru
//               __int2float_rn, global min/max for any arithmetic types
//   bits        __float_as_int __float_as_uint __int_as_float __uint_as_float
//               __double_as_longlong __longlong_as_double __popc __popcll
//               __clz __clzll __ffs __ffsll __brev __umulhi __mulhi
//               __umul64hi __mul24 __umul24
//   misc        __trap() (throws; launch() re-throws), printf, assert
//
// Host side (namespace simt): launch, dynamic_shared, os_thread_index,
// set_num_threads, get_num_threads.
//
// Not emulated: a thread that spins waiting for another thread of its own
// block without a barrier hangs (fibers only switch at barriers); a stack
// overflow past a fiber's 256 KiB stack hits a guard page and crashes;
// static __shared__ memory is not poisoned (dynamic shared memory is, with
// 0xFF bytes: NaN as float, -1 as int).
#pragma once

// Standard headers that spell __attribute__((__noinline__)) must be read
// before __noinline__ becomes a macro below.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>

#define PK_HD
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static thread_local

typedef void* cudaStream_t;

#include "vector_types.h"
#include "device_functions.h"
#include "atomic_functions.h"
#include "sync_functions.h"

#define threadIdx (::simt::detail::current_thread->thread_idx)
#define blockIdx (::simt::detail::current_block->block_idx)
#define blockDim (::simt::detail::current_block->block_dim)
#define gridDim (::simt::detail::current_block->grid_dim)

[[noreturn]] inline void __trap() { throw std::runtime_error("kernel called __trap()"); }

namespace simt {

// Runs `body` once per CUDA thread of every block of `grid`. Throws
// std::runtime_error for an invalid configuration, a deadlock inside a block,
// or a launch from inside a kernel; re-throws the first exception thrown by
// kernel code (once all running blocks have stopped).
void launch(dim3 grid, dim3 block, std::size_t dyn_smem_bytes, std::function<void()> body);

// The current block's dynamic shared memory: 16-byte aligned, filled with
// 0xFF bytes when the block starts.
inline void* dynamic_shared() { return detail::current_block->dynamic_smem; }

// Index of the pool thread running the current block (0 outside a launch).
int os_thread_index();

// Size of the pool blocks run on; n <= 0 restores the default (OpenMP's).
void set_num_threads(int n);
int get_num_threads();

}  // namespace simt
