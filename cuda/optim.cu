// Fused multi-tensor optimizer steps on the GPU (torch.optim.SGD, Adam, AdamW,
// RMSprop, Adagrad with fused=True semantics), and the global L2 norm /
// gradient clipping of torch.nn.utils.clip_grad_norm_.
//
// Addressing (after apex's multi_tensor_apply): up to kMaxTensors tensors per
// launch travel in the kernel's argument struct (their parameter, gradient and
// state pointers, sizes, and the index of each tensor's first chunk); every
// tensor is cut into chunks of kChunk elements and block b updates chunk b,
// finding its tensor by scanning the chunk offsets. A list of up to
// kMaxTensors tensors is therefore one launch whatever their sizes; longer
// lists take one launch per kMaxTensors tensors. The per-element math is
// common/optim_rules.h, shared with the CPU; bias corrections and decayed
// learning rates are computed once on the host (csrc/bind/optim_checks.h).
//
// Inside a chunk each thread handles kIlp elements per round, kThreads apart
// (coalesced), loading all of them before computing so that kIlp independent
// loads per array are in flight.
//
// Napkin math (H100 SXM, ~3.35 TB/s HBM3): an Adam step moves 28 bytes per
// float32 parameter (param, m, v read and written, grad read) for ~10 flops,
// so it is purely memory-bound: 16M parameters = 470 MB, ~140 us at peak. To
// cover ~1 us of DRAM latency at that rate ~3.3 MB must be in flight, 25 KB
// per SM: 256 threads x 4 elements x 4 arrays x 4 B = 16 KB per block, with
// several blocks per SM. The argument struct (48 tensors x 52 B + scalars,
// about 2.6 KB) stays under the 4 KB kernel parameter limit.
//
// Norms: two deterministic passes, no atomics. Block b writes the float64 sum
// of squares of chunk b (per-thread sums in a fixed order, then a fixed
// shuffle tree and warp-order sum) to partials[b]; one block then adds the
// partials (a fixed strided split and the same tree) and writes the square
// root. The result depends on the tensor sizes alone. Clipping reads that
// norm on the device and scales in a third launch, with no host round trip.
#include "pk_cuda.h"

#include <climits>
#include <stdexcept>

#include "common/optim_rules.h"
#include "optim.h"

namespace pk {
namespace {

constexpr int kThreads = 256;
constexpr int kIlp = 4;
constexpr int kChunk = kThreads * kIlp * 4;  // 4096 elements: 4 rounds per thread
constexpr int kMaxTensors = 48;
constexpr int kMaxNormTensors = 96;

// ---------------------------------------------------------------- addressing

template <class T>
struct StepBatch {
    T* param[kMaxTensors];
    const T* grad[kMaxTensors];
    T* state[3][kMaxTensors];
    long long size[kMaxTensors];
    int chunk_begin[kMaxTensors + 1];  // first chunk of each tensor
    int n;
};

template <class T>
struct NormBatch {
    T* data[kMaxNormTensors];
    long long size[kMaxNormTensors];
    int chunk_begin[kMaxNormTensors + 1];
    int n;
    int partial_offset;  // where this launch's chunks start in the partials
};

// The tensor that owns `chunk`: the last one whose first chunk is <= chunk.
// The same for every thread of the block, read from the argument struct.
__device__ __forceinline__ int tensor_of(const int* chunk_begin, int n, int chunk) {
    int t = 0;
    while (t + 1 < n && chunk_begin[t + 1] <= chunk) ++t;
    return t;
}

// ---------------------------------------------------------------- rules
// Which states a rule reads and writes (bit k: state k) is a compile-time
// constant, so absent states are never loaded.

template <class T, bool MOMENTUM>
struct SgdRule {
    static constexpr unsigned kStates = MOMENTUM ? 1u : 0u;
    SgdCoeffs<T> c;
    __device__ __forceinline__ void operator()(T& p, T g, T& s0, T&, T&) const {
        sgd_update(p, g, s0, c);
    }
};

template <class T, bool AMSGRAD>
struct AdamRule {
    static constexpr unsigned kStates = AMSGRAD ? 7u : 3u;
    AdamCoeffs<T> c;
    __device__ __forceinline__ void operator()(T& p, T g, T& s0, T& s1, T& s2) const {
        adam_update(p, g, s0, s1, s2, c);
    }
};

template <class T, bool MOMENTUM, bool CENTERED>
struct RmspropRule {
    static constexpr unsigned kStates = 1u | (MOMENTUM ? 2u : 0u) | (CENTERED ? 4u : 0u);
    RmspropCoeffs<T> c;
    __device__ __forceinline__ void operator()(T& p, T g, T& s0, T& s1, T& s2) const {
        rmsprop_update(p, g, s0, s1, s2, c);
    }
};

template <class T>
struct AdagradRule {
    static constexpr unsigned kStates = 1u;
    AdagradCoeffs<T> c;
    __device__ __forceinline__ void operator()(T& p, T g, T& s0, T&, T&) const {
        adagrad_update(p, g, s0, c);
    }
};

// ---------------------------------------------------------------- kernels

template <class T, class Rule>
__global__ void __launch_bounds__(kThreads) multi_tensor_step(StepBatch<T> batch, Rule rule) {
    constexpr unsigned S = Rule::kStates;
    const int chunk = static_cast<int>(blockIdx.x);
    const int t = tensor_of(batch.chunk_begin, batch.n, chunk);
    const long long base = static_cast<long long>(chunk - batch.chunk_begin[t]) * kChunk;
    const long long left = batch.size[t] - base;
    const int n = left < kChunk ? static_cast<int>(left) : kChunk;
    T* __restrict__ p = batch.param[t] + base;
    const T* __restrict__ g = batch.grad[t] + base;
    T* __restrict__ s0 = (S & 1u) ? batch.state[0][t] + base : nullptr;
    T* __restrict__ s1 = (S & 2u) ? batch.state[1][t] + base : nullptr;
    T* __restrict__ s2 = (S & 4u) ? batch.state[2][t] + base : nullptr;

    for (int i0 = static_cast<int>(threadIdx.x); i0 < n; i0 += kThreads * kIlp) {
        T pv[kIlp], gv[kIlp], v0[kIlp], v1[kIlp], v2[kIlp];
#pragma unroll
        for (int k = 0; k < kIlp; ++k) {
            const int i = i0 + k * kThreads;
            const bool in = i < n;
            pv[k] = in ? p[i] : T(0);
            gv[k] = in ? g[i] : T(0);
            v0[k] = (S & 1u) && in ? s0[i] : T(0);
            v1[k] = (S & 2u) && in ? s1[i] : T(0);
            v2[k] = (S & 4u) && in ? s2[i] : T(0);
        }
#pragma unroll
        for (int k = 0; k < kIlp; ++k) rule(pv[k], gv[k], v0[k], v1[k], v2[k]);
#pragma unroll
        for (int k = 0; k < kIlp; ++k) {
            const int i = i0 + k * kThreads;
            if (i >= n) continue;
            p[i] = pv[k];
            if (S & 1u) s0[i] = v0[k];
            if (S & 2u) s1[i] = v1[k];
            if (S & 4u) s2[i] = v2[k];
        }
    }
}

// Sum of v over the block, valid in thread 0: a fixed shuffle tree in each
// warp, then the warps' sums in warp order.
__device__ __forceinline__ double block_sum(double v) {
    __shared__ double warp_sums[kThreads / 32];
    for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
    const int lane = static_cast<int>(threadIdx.x) % 32;
    const int warp = static_cast<int>(threadIdx.x) / 32;
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    double total = 0;
    if (threadIdx.x == 0)
        for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
    return total;
}

template <class T>
__global__ void __launch_bounds__(kThreads) norm_partials(NormBatch<T> batch, double* partials) {
    const int chunk = static_cast<int>(blockIdx.x);
    const int t = tensor_of(batch.chunk_begin, batch.n, chunk);
    const long long base = static_cast<long long>(chunk - batch.chunk_begin[t]) * kChunk;
    const long long left = batch.size[t] - base;
    const int n = left < kChunk ? static_cast<int>(left) : kChunk;
    const T* __restrict__ x = batch.data[t] + base;
    double acc[kIlp] = {};
#pragma unroll
    for (int k = 0; k < kIlp; ++k) acc[k] = 0.0;
    for (int i0 = static_cast<int>(threadIdx.x); i0 < n; i0 += kThreads * kIlp) {
#pragma unroll
        for (int k = 0; k < kIlp; ++k) {
            const int i = i0 + k * kThreads;
            const double v = i < n ? static_cast<double>(x[i]) : 0.0;
            acc[k] += v * v;
        }
    }
    const double s = block_sum((acc[0] + acc[1]) + (acc[2] + acc[3]));
    if (threadIdx.x == 0) partials[batch.partial_offset + chunk] = s;
}

// One block: result[0] <- sqrt(sum of partials[0..count)).
__global__ void __launch_bounds__(kThreads) norm_finish(const double* partials, int count,
                                                        double* result) {
    double acc = 0;
    for (int i = static_cast<int>(threadIdx.x); i < count; i += kThreads) acc += partials[i];
    const double total = block_sum(acc);
    if (threadIdx.x == 0) result[0] = sqrt(total);
}

// x <- x * max_norm / (norm + eps) when that factor is below 1 (or NaN), as
// torch.nn.utils.clip_grad_norm_; every block reads the norm itself.
template <class T>
__global__ void __launch_bounds__(kThreads) clip_scale(NormBatch<T> batch, const double* norm,
                                                       double max_norm, double eps) {
    const double coef = max_norm / (norm[0] + eps);
    if (coef >= 1.0) return;
    const T s = static_cast<T>(coef);
    const int chunk = static_cast<int>(blockIdx.x);
    const int t = tensor_of(batch.chunk_begin, batch.n, chunk);
    const long long base = static_cast<long long>(chunk - batch.chunk_begin[t]) * kChunk;
    const long long left = batch.size[t] - base;
    const int n = left < kChunk ? static_cast<int>(left) : kChunk;
    T* __restrict__ x = batch.data[t] + base;
    for (int i = static_cast<int>(threadIdx.x); i < n; i += kThreads) x[i] = x[i] * s;
}

// ---------------------------------------------------------------- launchers

cudaStream_t as_stream(void* s) { return static_cast<cudaStream_t>(s); }

int chunks_of(int64_t size) {
    const int64_t c = (size + kChunk - 1) / kChunk;
    if (c > INT_MAX) throw std::invalid_argument("optimizer step: a tensor of more than 2^31 chunks of 4096 elements");
    return static_cast<int>(c);
}

// Packs the tensors into batches of kMaxTensors (skipping empty ones) and
// launches one multi_tensor_step per batch.
template <class T, class Rule>
void launch_steps(const OptimTensor<T>* tensors, int64_t n, const Rule& rule, void* stream) {
    StepBatch<T> batch{};
    int chunks = 0;
    auto flush = [&] {
        batch.chunk_begin[batch.n] = chunks;
        launch(multi_tensor_step<T, Rule>, dim3(static_cast<unsigned>(chunks)), dim3(kThreads), 0,
               as_stream(stream), batch, rule);
        batch.n = 0;
        chunks = 0;
    };
    for (int64_t i = 0; i < n; ++i) {
        const OptimTensor<T>& ts = tensors[i];
        if (ts.size == 0) continue;
        const int c = chunks_of(ts.size);
        if (batch.n > 0 && chunks > INT_MAX - c) flush();
        const int j = batch.n++;
        batch.param[j] = ts.param;
        batch.grad[j] = ts.grad;
        for (int k = 0; k < 3; ++k) batch.state[k][j] = ts.state[k];
        batch.size[j] = ts.size;
        batch.chunk_begin[j] = chunks;
        chunks += c;
        if (batch.n == kMaxTensors) flush();
    }
    if (batch.n > 0) flush();
}

// Calls launch_one(batch, chunks) for batches of kMaxNormTensors non-empty
// tensors; batch.partial_offset counts the chunks of earlier batches.
template <class T, class F>
void for_norm_batches(T* const* data, const int64_t* sizes, int64_t n, F launch_one) {
    NormBatch<T> batch{};
    int chunks = 0, offset = 0;
    auto flush = [&] {
        batch.chunk_begin[batch.n] = chunks;
        batch.partial_offset = offset;
        launch_one(batch, chunks);
        offset += chunks;
        batch.n = 0;
        chunks = 0;
    };
    for (int64_t i = 0; i < n; ++i) {
        if (sizes[i] == 0) continue;
        const int c = chunks_of(sizes[i]);
        if (batch.n > 0 && chunks > INT_MAX - c) flush();
        const int j = batch.n++;
        batch.data[j] = data[i];
        batch.size[j] = sizes[i];
        batch.chunk_begin[j] = chunks;
        chunks += c;
        if (batch.n == kMaxNormTensors) flush();
    }
    if (batch.n > 0) flush();
}

template <class T>
void norm_into(T* const* data, const int64_t* sizes, int64_t n, double* workspace, void* stream) {
    double* partials = workspace + 1;
    int total_chunks = 0;
    for_norm_batches<T>(data, sizes, n, [&](const NormBatch<T>& batch, int chunks) {
        launch(norm_partials<T>, dim3(static_cast<unsigned>(chunks)), dim3(kThreads), 0,
               as_stream(stream), batch, partials);
        total_chunks += chunks;
    });
    launch(norm_finish, dim3(1), dim3(kThreads), 0, as_stream(stream),
           static_cast<const double*>(partials), total_chunks, workspace);
}

}  // namespace

namespace cuda_ops {

template <class T>
void sgd_step(const OptimTensor<T>* tensors, int64_t n, const SgdCoeffs<T>& c, void* stream) {
    if (c.momentum != T(0)) launch_steps(tensors, n, SgdRule<T, true>{c}, stream);
    else launch_steps(tensors, n, SgdRule<T, false>{c}, stream);
}

template <class T>
void adam_step(const OptimTensor<T>* tensors, int64_t n, const AdamCoeffs<T>& c, void* stream) {
    if (c.amsgrad) launch_steps(tensors, n, AdamRule<T, true>{c}, stream);
    else launch_steps(tensors, n, AdamRule<T, false>{c}, stream);
}

template <class T>
void rmsprop_step(const OptimTensor<T>* tensors, int64_t n, const RmspropCoeffs<T>& c,
                  void* stream) {
    const bool momentum = c.momentum > T(0);
    if (momentum && c.centered) launch_steps(tensors, n, RmspropRule<T, true, true>{c}, stream);
    else if (momentum) launch_steps(tensors, n, RmspropRule<T, true, false>{c}, stream);
    else if (c.centered) launch_steps(tensors, n, RmspropRule<T, false, true>{c}, stream);
    else launch_steps(tensors, n, RmspropRule<T, false, false>{c}, stream);
}

template <class T>
void adagrad_step(const OptimTensor<T>* tensors, int64_t n, const AdagradCoeffs<T>& c,
                  void* stream) {
    launch_steps(tensors, n, AdagradRule<T>{c}, stream);
}

int64_t norm_workspace_size(const int64_t* sizes, int64_t n) {
    int64_t total = 1;
    for (int64_t i = 0; i < n; ++i) total += (sizes[i] + kChunk - 1) / kChunk;
    return total;
}

template <class T>
void global_norm(const T* const* data, const int64_t* sizes, int64_t n, double* workspace,
                 void* stream) {
    // The norm kernels only read; one batch type serves both uses.
    norm_into<T>(const_cast<T* const*>(data), sizes, n, workspace, stream);
}

template <class T>
void clip_grad_norm(T* const* data, const int64_t* sizes, int64_t n, double* workspace,
                    double max_norm, double eps, void* stream) {
    norm_into<T>(data, sizes, n, workspace, stream);
    for_norm_batches<T>(data, sizes, n, [&](const NormBatch<T>& batch, int chunks) {
        launch(clip_scale<T>, dim3(static_cast<unsigned>(chunks)), dim3(kThreads), 0,
               as_stream(stream), batch, static_cast<const double*>(workspace), max_norm, eps);
    });
}

#define PK_OPTIM_INSTANTIATE(T)                                                                   \
    template void sgd_step<T>(const OptimTensor<T>*, int64_t, const SgdCoeffs<T>&, void*);        \
    template void adam_step<T>(const OptimTensor<T>*, int64_t, const AdamCoeffs<T>&, void*);      \
    template void rmsprop_step<T>(const OptimTensor<T>*, int64_t, const RmspropCoeffs<T>&, void*); \
    template void adagrad_step<T>(const OptimTensor<T>*, int64_t, const AdagradCoeffs<T>&, void*); \
    template void global_norm<T>(const T* const*, const int64_t*, int64_t, double*, void*);       \
    template void clip_grad_norm<T>(T* const*, const int64_t*, int64_t, double*, double, double,  \
                                    void*);
PK_OPTIM_INSTANTIATE(float)
PK_OPTIM_INSTANTIATE(double)
#undef PK_OPTIM_INSTANTIATE

}  // namespace cuda_ops
}  // namespace pk
