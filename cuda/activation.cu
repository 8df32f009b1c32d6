// Elementwise activations on the GPU, forward and backward, float and double:
// y = act(x), grad_x = grad_y * act'(x), with the formulas of
// csrc/common/activation.h (torch.nn.functional semantics; see that header).
//
// Kernels, simplest to fastest:
//   1. act_forward_kernel / act_backward_kernel, scalar: a grid-stride loop,
//      one element per iteration; used when a pointer is not 16-byte aligned.
//   2. the same kernels with `vec` set: each iteration moves one 16-byte
//      vector (float4 / double2) per array, so a warp issues 512-byte
//      coalesced transactions; the n % width tail is done by the first threads
//      of the grid one element each. The activation is a template parameter,
//      so each kernel holds one formula's registers (no switch per element).
//   3. prelu: blocks take rows of x (one channel each) and their threads walk
//      the row; prelu_weight_grad_kernel gives one block per channel, summing
//      x * grad_y over x <= 0 in double with a fixed thread stride and a
//      shared-memory tree, so the weight gradient does not depend on
//      scheduling (no float atomics).
//
// Napkin math (float, n elements): forward moves 8n bytes (read x, write y),
// backward 12n (read grad_y and x, write grad_x). For n = 16M on H100 (~3 TB/s
// HBM3) that is ~45 us and ~67 us; the heaviest formula (GELU: one exp, one
// erfc, ~40 flops) needs ~0.7 GFLOP, well under 1 ms of FP32 throughput even
// in double for erfc, so every activation is memory-bound and the goal is
// full-width coalesced accesses and enough bytes in flight.
#include "pk_cuda.h"

#include <cstdint>
#include <utility>

#include "activation.h"

namespace pk {
namespace {

constexpr int kThreads = 256;

// A 16-byte vector of T and its lanes by (unrolled, hence constant) index:
// named members rather than a reinterpret_cast, which can leave the vector
// in local memory.
template <class T>
struct Vec16;
template <>
struct Vec16<float> {
    using type = float4;
    static constexpr int width = 4;
    static __device__ __forceinline__ float get(const float4& v, int k) {
        return k == 0 ? v.x : k == 1 ? v.y : k == 2 ? v.z : v.w;
    }
    static __device__ __forceinline__ void set(float4& v, int k, float a) {
        if (k == 0) v.x = a;
        else if (k == 1) v.y = a;
        else if (k == 2) v.z = a;
        else v.w = a;
    }
};
template <>
struct Vec16<double> {
    using type = double2;
    static constexpr int width = 2;
    static __device__ __forceinline__ double get(const double2& v, int k) { return k == 0 ? v.x : v.y; }
    static __device__ __forceinline__ void set(double2& v, int k, double a) {
        if (k == 0) v.x = a;
        else v.y = a;
    }
};

template <class T, Act A>
__global__ void __launch_bounds__(kThreads)
act_forward_kernel(const T* __restrict__ x, T* __restrict__ y, long long n, ActParams<T> p,
                   bool vec) {
    const long long tid = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    if (vec) {
        using V = typename Vec16<T>::type;
        constexpr int W = Vec16<T>::width;
        const long long nv = n / W;
        const V* xv = reinterpret_cast<const V*>(x);
        V* yv = reinterpret_cast<V*>(y);
        for (long long i = tid; i < nv; i += stride) {
            V v = xv[i];
#pragma unroll
            for (int k = 0; k < W; ++k) Vec16<T>::set(v, k, act_forward(A, Vec16<T>::get(v, k), p));
            yv[i] = v;
        }
        const long long i = nv * W + tid;  // the tail: fewer than W elements
        if (i < n) y[i] = act_forward(A, x[i], p);
        return;
    }
    for (long long i = tid; i < n; i += stride) y[i] = act_forward(A, x[i], p);
}

template <class T, Act A>
__global__ void __launch_bounds__(kThreads)
act_backward_kernel(const T* __restrict__ g, const T* __restrict__ x, T* __restrict__ gx,
                    long long n, ActParams<T> p, bool vec) {
    const long long tid = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
    if (vec) {
        using V = typename Vec16<T>::type;
        constexpr int W = Vec16<T>::width;
        const long long nv = n / W;
        const V* gv = reinterpret_cast<const V*>(g);
        const V* xv = reinterpret_cast<const V*>(x);
        V* outv = reinterpret_cast<V*>(gx);
        for (long long i = tid; i < nv; i += stride) {
            V a = gv[i];
            V b = xv[i];
            // float: not unrolled. The lanes' values live across the slow-path
            // subroutine ptxas emits for IEEE division, and four unrolled float
            // lanes spill around that call (silu); two double lanes do not.
            if (W == 4) {
#pragma unroll 1
                for (int k = 0; k < W; ++k)
                    Vec16<T>::set(a, k, act_backward(A, Vec16<T>::get(a, k), Vec16<T>::get(b, k), p));
            } else {
#pragma unroll
                for (int k = 0; k < W; ++k)
                    Vec16<T>::set(a, k, act_backward(A, Vec16<T>::get(a, k), Vec16<T>::get(b, k), p));
            }
            outv[i] = a;
        }
        const long long i = nv * W + tid;
        if (i < n) gx[i] = act_backward(A, g[i], x[i], p);
        return;
    }
    for (long long i = tid; i < n; i += stride) gx[i] = act_backward(A, g[i], x[i], p);
}

// prelu, x viewed as rows of `inner` elements, row r using weight[r % channels].
// Blocks take rows in a grid-stride loop and their threads walk a row, so the
// channel is updated once per row without 64-bit division (whose called
// subroutine would spill registers).
template <class T>
__global__ void __launch_bounds__(kThreads)
prelu_forward_kernel(const T* __restrict__ x, T* __restrict__ y, const T* __restrict__ w,
                     long long rows, long long inner, unsigned channels, ActParams<T> p) {
    unsigned c = blockIdx.x % channels;
    const unsigned c_step = gridDim.x % channels;
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        p.negative_slope = w[c];
        const long long base = r * inner;
        for (long long k = threadIdx.x; k < inner; k += kThreads)
            y[base + k] = act_forward(Act::prelu, x[base + k], p);
        c += c_step;
        if (c >= channels) c -= channels;
    }
}

template <class T>
__global__ void __launch_bounds__(kThreads)
prelu_backward_kernel(const T* __restrict__ g, const T* __restrict__ x, T* __restrict__ gx,
                      const T* __restrict__ w, long long rows, long long inner, unsigned channels,
                      ActParams<T> p) {
    unsigned c = blockIdx.x % channels;
    const unsigned c_step = gridDim.x % channels;
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        p.negative_slope = w[c];
        const long long base = r * inner;
        for (long long k = threadIdx.x; k < inner; k += kThreads)
            gx[base + k] = act_backward(Act::prelu, g[base + k], x[base + k], p);
        c += c_step;
        if (c >= channels) c -= channels;
    }
}

// grad_weight[c] = sum over x <= 0 in channel c of x * grad_y (all elements
// when channels == 1). One block per channel; thread t walks rows o = 0, 1, ...
// of its channel and their elements t, t + kThreads, ... in that order, then a
// fixed tree adds the threads: the result does not depend on scheduling.
template <class T>
__global__ void __launch_bounds__(kThreads)
prelu_weight_grad_kernel(const T* __restrict__ g, const T* __restrict__ x, T* __restrict__ gw,
                         long long outer, long long channels, long long inner) {
    __shared__ double partial[kThreads];
    const long long c = blockIdx.x;
    double s = 0.0;
    for (long long o = 0; o < outer; ++o) {
        const long long base = (o * channels + c) * inner;
        for (long long k = threadIdx.x; k < inner; k += kThreads) {
            const T xi = x[base + k];
            s += xi > T(0) ? 0.0 : static_cast<double>(xi) * static_cast<double>(g[base + k]);
        }
    }
    partial[threadIdx.x] = s;
    __syncthreads();
    for (int half = kThreads / 2; half > 0; half /= 2) {
        if (static_cast<int>(threadIdx.x) < half) partial[threadIdx.x] += partial[threadIdx.x + half];
        __syncthreads();
    }
    if (threadIdx.x == 0) gw[c] = static_cast<T>(partial[0]);
}

// ------------------------------------------------------------------ launchers

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <class T>
unsigned grid_for(long long items) {
    // Enough blocks to fill any current GPU several times over; the grid-stride
    // loop covers the rest.
    const long long blocks = (items + kThreads - 1) / kThreads;
    return static_cast<unsigned>(blocks < 8192 ? (blocks > 0 ? blocks : 1) : 8192);
}

template <class T, Act A>
void launch_forward(const ActParams<T>& p, const cuda_ops::ActivationShape& s, const T* x,
                    const T* w, T* y, cudaStream_t stream) {
    if (A == Act::prelu) {
        const long long rows = s.outer * s.channels;
        launch(prelu_forward_kernel<T>, dim3(static_cast<unsigned>(rows < 65536 ? rows : 65536)),
               dim3(kThreads), 0, stream, x, y, w, rows, static_cast<long long>(s.inner),
               static_cast<unsigned>(s.channels), p);
        return;
    }
    const bool vec = aligned16(x) && aligned16(y);
    const long long items = vec ? s.n / Vec16<T>::width + Vec16<T>::width : s.n;
    launch(act_forward_kernel<T, A>, dim3(grid_for<T>(items)), dim3(kThreads), 0, stream, x, y,
           static_cast<long long>(s.n), p, vec);
}

template <class T, Act A>
void launch_backward(const ActParams<T>& p, const cuda_ops::ActivationShape& s, const T* g,
                     const T* x, const T* w, T* gx, cudaStream_t stream) {
    if (A == Act::prelu) {
        const long long rows = s.outer * s.channels;
        launch(prelu_backward_kernel<T>, dim3(static_cast<unsigned>(rows < 65536 ? rows : 65536)),
               dim3(kThreads), 0, stream, g, x, gx, w, rows, static_cast<long long>(s.inner),
               static_cast<unsigned>(s.channels), p);
        return;
    }
    const bool vec = aligned16(g) && aligned16(x) && aligned16(gx);
    const long long items = vec ? s.n / Vec16<T>::width + Vec16<T>::width : s.n;
    launch(act_backward_kernel<T, A>, dim3(grid_for<T>(items)), dim3(kThreads), 0, stream, g, x,
           gx, static_cast<long long>(s.n), p, vec);
}

// One instantiation per activation, picked once per call.
template <class T, int... I>
void forward_dispatch(Act a, const ActParams<T>& p, const cuda_ops::ActivationShape& s,
                      const T* x, const T* w, T* y, cudaStream_t stream,
                      std::integer_sequence<int, I...>) {
    ((static_cast<int>(a) == I ? launch_forward<T, static_cast<Act>(I)>(p, s, x, w, y, stream)
                               : void()),
     ...);
}

template <class T, int... I>
void backward_dispatch(Act a, const ActParams<T>& p, const cuda_ops::ActivationShape& s,
                       const T* g, const T* x, const T* w, T* gx, cudaStream_t stream,
                       std::integer_sequence<int, I...>) {
    ((static_cast<int>(a) == I
          ? launch_backward<T, static_cast<Act>(I)>(p, s, g, x, w, gx, stream)
          : void()),
     ...);
}

}  // namespace

namespace cuda_ops {

template <class T>
void activation_forward(Act a, const ActParams<T>& p, const ActivationShape& s, const T* x,
                        const T* weight, T* y, void* stream) {
    if (s.n == 0) return;
    forward_dispatch<T>(a, p, s, x, weight, y, static_cast<cudaStream_t>(stream),
                        std::make_integer_sequence<int, kActCount>{});
}

template <class T>
void activation_backward(Act a, const ActParams<T>& p, const ActivationShape& s, const T* g,
                         const T* x, const T* weight, T* gx, T* gw, void* stream) {
    const cudaStream_t st = static_cast<cudaStream_t>(stream);
    if (s.n > 0)
        backward_dispatch<T>(a, p, s, g, x, weight, gx, st,
                             std::make_integer_sequence<int, kActCount>{});
    if (a == Act::prelu)  // also when n == 0: the gradient is then 0
        launch(prelu_weight_grad_kernel<T>, dim3(static_cast<unsigned>(s.channels)),
               dim3(kThreads), 0, st, g, x, gw, static_cast<long long>(s.outer),
               static_cast<long long>(s.channels), static_cast<long long>(s.inner));
}

template void activation_forward<float>(Act, const ActParams<float>&, const ActivationShape&,
                                        const float*, const float*, float*, void*);
template void activation_forward<double>(Act, const ActParams<double>&, const ActivationShape&,
                                         const double*, const double*, double*, void*);
template void activation_backward<float>(Act, const ActParams<float>&, const ActivationShape&,
                                         const float*, const float*, const float*, float*,
                                         float*, void*);
template void activation_backward<double>(Act, const ActParams<double>&, const ActivationShape&,
                                          const double*, const double*, const double*, double*,
                                          double*, void*);

}  // namespace cuda_ops
}  // namespace pk
