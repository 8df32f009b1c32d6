// Batch normalisation on the GPU, forward and backward, with the per-channel
// formulas of csrc/common/batch_norm.h (as torch.nn.functional.batch_norm):
//   training   mean, biased var over (N, spatial) per channel; running stats
//              updated with the unbiased var; y = (x - mean) invstd w + b
//   backward   grad_b = sum dy, grad_w = sum dy x_hat,
//              dx = w invstd (dy - sum dy / n - x_hat sum(dy x_hat) / n)   (training)
//              dx = w invstd dy                                           (evaluation)
//
// x is (N, C, S). Reductions run in two levels with a fixed order (no atomics):
//   1. partial kernels: block (g, c) reduces group g of channel c's N*S values
//      into global workspace. Layout S == 1 ("rows"): a 32 x 8 block covers 32
//      consecutive channels (coalesced across a warp) and strides rows by 8;
//      S > 1 ("segments"): a 256-thread block covers one channel, threads
//      stride the channel's values. Each thread keeps Welford moments in
//      double (bn_merge_moments with one value), the block merges its threads'
//      moments in a fixed tree in shared memory.
//   2. finalize kernels: one thread per channel merges the G group partials
//      in group order and writes the statistics, running-stat updates,
//      parameter gradients, and the per-channel coefficients of the
//      elementwise pass.
//   3. elementwise kernels: a 2-D grid over (run, position): a run is a row of
//      C values (S == 1) or one channel's S contiguous values; no division per
//      element.
// G = clamp(ceil(N*S / 4096), 1, 64) depends on the shape only, so results do
// not depend on the GPU's scheduling.
//
// Napkin math (H100 ~3 TB/s, float32 64x64x32x32 = 4M values, 16 MiB):
// forward reads x twice and writes y once (48 MiB, ~17 us); backward reads x
// and dy twice and writes dx (80 MiB, ~28 us). Per-thread Welford costs one
// double division per value (~4M / (132 SMs * 32 FP64 div-lanes)), which is
// of the same order as the memory time: acceptable for a first version; the
// CPU's in-cache two-pass pieces would remove it.
#include "pk_cuda.h"

#include "batch_norm.h"
#include "common/batch_norm.h"

namespace pk {
namespace {

constexpr int TX = 32;
constexpr int TY = 8;
constexpr int THREADS = TX * TY;
constexpr long long MAX_GRID_Y = 1024;

inline int groups_for(long long count) {
    long long g = (count + 4095) / 4096;
    return static_cast<int>(g < 1 ? 1 : g > 64 ? 64 : g);
}

// ---------------------------------------------------------------- level 1

// Moments of a block's threads, merged in a fixed tree; the result lands in
// slot 0. n, mean, m2 are shared arrays of THREADS entries.
__device__ __forceinline__ void merge_tree(double* n, double* mean, double* m2, int t) {
    for (int stride = THREADS / 2; stride > 0; stride >>= 1) {
        __syncthreads();
        if (t < stride) bn_merge_moments(n[t], mean[t], m2[t], n[t + stride], mean[t + stride],
                                         m2[t + stride]);
    }
    __syncthreads();
}

__device__ __forceinline__ void sum_tree(double* a, double* b, int t) {
    for (int stride = THREADS / 2; stride > 0; stride >>= 1) {
        __syncthreads();
        if (t < stride) {
            a[t] += a[t + stride];
            b[t] += b[t + stride];
        }
    }
    __syncthreads();
}

// The value range of group g of a channel with `count` values.
__device__ __forceinline__ void group_range(long long count, int groups, int g, long long& j0,
                                            long long& j1) {
    const long long per = (count + groups - 1) / groups;
    j0 = g * per;
    j1 = j0 + per < count ? j0 + per : count;
}

// Workspace partial k of (group g, channel c).
__device__ __forceinline__ double& part(double* ws, int k, int groups, int g, long long C,
                                        long long c) {
    return ws[(static_cast<long long>(k) * groups + g) * C + c];
}

template <class T>
__global__ void __launch_bounds__(THREADS)
moments_rows(const T* __restrict__ x, long long N, long long C, int groups, double* ws) {
    __shared__ double sn[THREADS], smean[THREADS], sm2[THREADS];
    const int tx = threadIdx.x, ty = threadIdx.y, t = ty * TX + tx;
    const long long c = static_cast<long long>(blockIdx.x) * TX + tx;
    const int g = blockIdx.y;
    long long r0, r1;
    group_range(N, groups, g, r0, r1);
    double n = 0.0, mean = 0.0, m2 = 0.0;
    if (c < C)
        for (long long r = r0 + ty; r < r1; r += TY)
            bn_merge_moments(n, mean, m2, 1.0, static_cast<double>(x[r * C + c]), 0.0);
    sn[t] = n;
    smean[t] = mean;
    sm2[t] = m2;
    __syncthreads();
    if (ty == 0 && c < C) {
        for (int k = 1; k < TY; ++k)
            bn_merge_moments(n, mean, m2, sn[k * TX + tx], smean[k * TX + tx], sm2[k * TX + tx]);
        part(ws, 0, groups, g, C, c) = n;
        part(ws, 1, groups, g, C, c) = mean;
        part(ws, 2, groups, g, C, c) = m2;
    }
}

// Walks the values j0 + t, j0 + t + THREADS, ... < j1 of channel c, calling
// f(index into x); (n, s) advance without a division per value.
template <class F>
__device__ __forceinline__ void walk_channel(long long j0, long long j1, int t, long long C,
                                             long long S, long long c, F f) {
    long long j = j0 + t;
    if (j >= j1) return;
    long long n = j / S, s = j % S;
    const long long dn = THREADS / S, ds = THREADS % S;
    for (; j < j1; j += THREADS) {
        f((n * C + c) * S + s);
        n += dn;
        s += ds;
        if (s >= S) {
            s -= S;
            ++n;
        }
    }
}

template <class T>
__global__ void __launch_bounds__(THREADS)
moments_segments(const T* __restrict__ x, long long N, long long C, long long S, int groups,
                 double* ws) {
    __shared__ double sn[THREADS], smean[THREADS], sm2[THREADS];
    const int t = threadIdx.y * TX + threadIdx.x;
    const long long c = blockIdx.x;
    const int g = blockIdx.y;
    long long j0, j1;
    group_range(N * S, groups, g, j0, j1);
    double n = 0.0, mean = 0.0, m2 = 0.0;
    walk_channel(j0, j1, t, C, S, c, [&](long long i) {
        bn_merge_moments(n, mean, m2, 1.0, static_cast<double>(x[i]), 0.0);
    });
    sn[t] = n;
    smean[t] = mean;
    sm2[t] = m2;
    merge_tree(sn, smean, sm2, t);
    if (t == 0) {
        part(ws, 0, groups, g, C, c) = sn[0];
        part(ws, 1, groups, g, C, c) = smean[0];
        part(ws, 2, groups, g, C, c) = sm2[0];
    }
}

// sum(dy) and sum(dy (x - mean)) partials.
template <class T>
__global__ void __launch_bounds__(THREADS)
grad_sums_rows(const T* __restrict__ x, const T* __restrict__ dy, const double* __restrict__ mean,
               long long N, long long C, int groups, double* ws) {
    __shared__ double sa[THREADS], sb[THREADS];
    const int tx = threadIdx.x, ty = threadIdx.y, t = ty * TX + tx;
    const long long c = static_cast<long long>(blockIdx.x) * TX + tx;
    const int g = blockIdx.y;
    long long r0, r1;
    group_range(N, groups, g, r0, r1);
    double a = 0.0, b = 0.0;
    if (c < C) {
        const BnCentre<T> m = bn_split_mean<T>(mean[c]);
        for (long long r = r0 + ty; r < r1; r += TY) {
            const double gv = static_cast<double>(dy[r * C + c]);
            a += gv;
            b += gv * static_cast<double>(bn_centred(x[r * C + c], m));
        }
    }
    sa[t] = a;
    sb[t] = b;
    __syncthreads();
    if (ty == 0 && c < C) {
        for (int k = 1; k < TY; ++k) {
            a += sa[k * TX + tx];
            b += sb[k * TX + tx];
        }
        part(ws, 0, groups, g, C, c) = a;
        part(ws, 1, groups, g, C, c) = b;
    }
}

template <class T>
__global__ void __launch_bounds__(THREADS)
grad_sums_segments(const T* __restrict__ x, const T* __restrict__ dy,
                   const double* __restrict__ mean, long long N, long long C, long long S,
                   int groups, double* ws) {
    __shared__ double sa[THREADS], sb[THREADS];
    const int t = threadIdx.y * TX + threadIdx.x;
    const long long c = blockIdx.x;
    const int g = blockIdx.y;
    long long j0, j1;
    group_range(N * S, groups, g, j0, j1);
    const BnCentre<T> m = bn_split_mean<T>(mean[c]);
    double a = 0.0, b = 0.0;
    walk_channel(j0, j1, t, C, S, c, [&](long long i) {
        const double gv = static_cast<double>(dy[i]);
        a += gv;
        b += gv * static_cast<double>(bn_centred(x[i], m));
    });
    sa[t] = a;
    sb[t] = b;
    sum_tree(sa, sb, t);
    if (t == 0) {
        part(ws, 0, groups, g, C, c) = sa[0];
        part(ws, 1, groups, g, C, c) = sb[0];
    }
}

// ---------------------------------------------------------------- level 2

// Coefficient arrays of the elementwise pass live after the partials.
template <class T>
__device__ __forceinline__ T* coef_array(double* ws, int groups, long long C, int k) {
    return reinterpret_cast<T*>(ws + 3LL * groups * C) + k * C;
}

template <class T>
__global__ void __launch_bounds__(128)
finalize_forward(const T* __restrict__ weight, const T* __restrict__ bias, T* running_mean,
                 T* running_var, double* save_mean, double* save_invstd, long long C,
                 long long count, bool training, double momentum, double eps, int groups,
                 double* ws) {
    const long long c = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (c >= C) return;
    if (training) {
        double n = 0.0, mean = 0.0, m2 = 0.0;
        for (int g = 0; g < groups; ++g)
            bn_merge_moments(n, mean, m2, part(ws, 0, groups, g, C, c), part(ws, 1, groups, g, C, c),
                             part(ws, 2, groups, g, C, c));
        save_mean[c] = mean;
        save_invstd[c] = bn_invstd(n > 0.0 ? m2 / n : 0.0, eps);
        if (running_mean != nullptr && n > 0.0)
            bn_update_running(running_mean[c], running_var[c], mean, m2, n, momentum);
    } else {
        save_mean[c] = static_cast<double>(running_mean[c]);
        save_invstd[c] = bn_invstd(static_cast<double>(running_var[c]), eps);
    }
    (void)count;
    const BnForward<T> f = bn_forward_coefs<T>(
        save_mean[c], save_invstd[c], weight ? static_cast<double>(weight[c]) : 1.0,
        bias ? static_cast<double>(bias[c]) : 0.0);
    coef_array<T>(ws, groups, C, 0)[c] = f.mean.hi;
    coef_array<T>(ws, groups, C, 1)[c] = f.mean.lo;
    coef_array<T>(ws, groups, C, 2)[c] = f.scale;
    coef_array<T>(ws, groups, C, 3)[c] = f.shift;
}

template <class T>
__global__ void __launch_bounds__(128)
finalize_backward(const T* __restrict__ weight, const double* __restrict__ mean,
                  const double* __restrict__ invstd, T* grad_weight, T* grad_bias, long long C,
                  long long count, bool batch_stats, bool reduced, int groups, double* ws) {
    const long long c = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (c >= C) return;
    double s_dy = 0.0, s_dyx = 0.0;
    if (reduced)
        for (int g = 0; g < groups; ++g) {
            s_dy += part(ws, 0, groups, g, C, c);
            s_dyx += part(ws, 1, groups, g, C, c);
        }
    if (grad_weight != nullptr) grad_weight[c] = static_cast<T>(invstd[c] * s_dyx);
    if (grad_bias != nullptr) grad_bias[c] = static_cast<T>(s_dy);
    const BnBackward<T> k = bn_backward_coefs<T>(mean[c], invstd[c],
                                                 weight ? static_cast<double>(weight[c]) : 1.0,
                                                 s_dy, s_dyx, static_cast<double>(count),
                                                 batch_stats);
    coef_array<T>(ws, groups, C, 0)[c] = k.mean.hi;
    coef_array<T>(ws, groups, C, 1)[c] = k.mean.lo;
    coef_array<T>(ws, groups, C, 2)[c] = k.a;
    coef_array<T>(ws, groups, C, 3)[c] = k.b;
    coef_array<T>(ws, groups, C, 4)[c] = k.c;
}

// ---------------------------------------------------------------- level 3

// Runs: rows of C values (S == 1) or one channel's S values (S > 1).
template <class T>
__global__ void __launch_bounds__(THREADS)
normalize(const T* __restrict__ x, T* __restrict__ y, long long runs, long long len, long long C,
          bool rows, int groups, double* ws) {
    const T* hi = coef_array<T>(ws, groups, C, 0);
    const T* lo = coef_array<T>(ws, groups, C, 1);
    const T* scale = coef_array<T>(ws, groups, C, 2);
    const T* shift = coef_array<T>(ws, groups, C, 3);
    const int t = threadIdx.y * TX + threadIdx.x;
    for (long long run = blockIdx.y; run < runs; run += gridDim.y) {
        const long long run_c = run % C;
        for (long long k = static_cast<long long>(blockIdx.x) * THREADS + t; k < len;
             k += static_cast<long long>(gridDim.x) * THREADS) {
            const long long c = rows ? k : run_c;
            const long long i = run * len + k;
            y[i] = bn_forward_elem(x[i], BnForward<T>{{hi[c], lo[c]}, scale[c], shift[c]});
        }
    }
}

template <class T, bool BATCH_STATS>
__global__ void __launch_bounds__(THREADS)
backward_apply(const T* __restrict__ x, const T* __restrict__ dy, T* __restrict__ dx,
               long long runs, long long len, long long C, bool rows, int groups, double* ws) {
    const T* hi = coef_array<T>(ws, groups, C, 0);
    const T* lo = coef_array<T>(ws, groups, C, 1);
    const T* ca = coef_array<T>(ws, groups, C, 2);
    const T* cb = coef_array<T>(ws, groups, C, 3);
    const T* cc = coef_array<T>(ws, groups, C, 4);
    const int t = threadIdx.y * TX + threadIdx.x;
    for (long long run = blockIdx.y; run < runs; run += gridDim.y) {
        const long long run_c = run % C;
        for (long long k = static_cast<long long>(blockIdx.x) * THREADS + t; k < len;
             k += static_cast<long long>(gridDim.x) * THREADS) {
            const long long c = rows ? k : run_c;
            const long long i = run * len + k;
            const BnBackward<T> g{{hi[c], lo[c]}, ca[c], cb[c], cc[c]};
            dx[i] = BATCH_STATS ? bn_backward_elem(dy[i], x[i], g) : bn_backward_elem_eval(dy[i], g);
        }
    }
}

struct Shape {
    long long n, c, s;
    int groups;
    bool rows() const { return s == 1; }
    long long runs() const { return rows() ? n : n * c; }
    long long len() const { return rows() ? c : s; }
    dim3 partial_grid() const {
        return rows() ? dim3(static_cast<unsigned>((c + TX - 1) / TX), static_cast<unsigned>(groups))
                      : dim3(static_cast<unsigned>(c), static_cast<unsigned>(groups));
    }
    dim3 elementwise_grid() const {
        const long long gx = (len() + THREADS - 1) / THREADS;
        const long long gy = runs() < MAX_GRID_Y ? runs() : MAX_GRID_Y;
        return dim3(static_cast<unsigned>(gx < 64 ? gx : 64), static_cast<unsigned>(gy));
    }
    dim3 channel_grid() const { return dim3(static_cast<unsigned>((c + 127) / 128)); }
};

Shape make_shape(int64_t n, int64_t c, int64_t s) {
    if (c > 0x7fffffffLL) throw std::invalid_argument("batch_norm: more than 2^31 channels");
    return Shape{n, c, s, groups_for(n * s)};
}

}  // namespace

namespace cuda_ops {

int64_t batch_norm_workspace_doubles(int64_t n, int64_t c, int64_t s) {
    return (3LL * groups_for(n * s) + 5LL) * c;
}

template <class T>
void batch_norm_forward(const T* x, const T* weight, const T* bias, T* running_mean,
                        T* running_var, T* y, double* save_mean, double* save_invstd, int64_t n,
                        int64_t c, int64_t s, bool training, double momentum, double eps,
                        double* ws, void* stream) {
    if (c == 0) return;
    const Shape sh = make_shape(n, c, s);
    const cudaStream_t st = static_cast<cudaStream_t>(stream);
    if (training && n * s > 0) {
        if (sh.rows())
            launch(moments_rows<T>, sh.partial_grid(), dim3(TX, TY), 0, st, x, sh.n, sh.c,
                   sh.groups, ws);
        else
            launch(moments_segments<T>, sh.partial_grid(), dim3(TX, TY), 0, st, x, sh.n, sh.c,
                   sh.s, sh.groups, ws);
    } else if (training) {
        // Empty batch: zero moments, so the finalize pass leaves running stats alone.
        launch(moments_rows<T>, sh.partial_grid(), dim3(TX, TY), 0, st, x, 0LL, sh.c, sh.groups,
               ws);
    }
    launch(finalize_forward<T>, sh.channel_grid(), dim3(128), 0, st, weight, bias, running_mean,
           running_var, save_mean, save_invstd, sh.c, sh.n * sh.s, training, momentum, eps,
           sh.groups, ws);
    if (n * s > 0)
        launch(normalize<T>, sh.elementwise_grid(), dim3(TX, TY), 0, st, x, y, sh.runs(), sh.len(),
               sh.c, sh.rows(), sh.groups, ws);
}

template <class T>
void batch_norm_backward(const T* grad_y, const T* x, const T* weight, const double* save_mean,
                         const double* save_invstd, T* grad_x, T* grad_weight, T* grad_bias,
                         int64_t n, int64_t c, int64_t s, bool batch_stats, double* ws,
                         void* stream) {
    if (c == 0) return;
    const Shape sh = make_shape(n, c, s);
    const cudaStream_t st = static_cast<cudaStream_t>(stream);
    const bool reduce = (batch_stats || grad_weight != nullptr || grad_bias != nullptr);
    if (reduce) {
        if (sh.rows())
            launch(grad_sums_rows<T>, sh.partial_grid(), dim3(TX, TY), 0, st, x, grad_y, save_mean,
                   sh.n, sh.c, sh.groups, ws);
        else
            launch(grad_sums_segments<T>, sh.partial_grid(), dim3(TX, TY), 0, st, x, grad_y,
                   save_mean, sh.n, sh.c, sh.s, sh.groups, ws);
    }
    launch(finalize_backward<T>, sh.channel_grid(), dim3(128), 0, st, weight, save_mean,
           save_invstd, grad_weight, grad_bias, sh.c, sh.n * sh.s, batch_stats, reduce, sh.groups,
           ws);
    if (n * s == 0) return;
    if (batch_stats)
        launch(backward_apply<T, true>, sh.elementwise_grid(), dim3(TX, TY), 0, st, x, grad_y,
               grad_x, sh.runs(), sh.len(), sh.c, sh.rows(), sh.groups, ws);
    else
        launch(backward_apply<T, false>, sh.elementwise_grid(), dim3(TX, TY), 0, st, x, grad_y,
               grad_x, sh.runs(), sh.len(), sh.c, sh.rows(), sh.groups, ws);
}

template void batch_norm_forward<float>(const float*, const float*, const float*, float*, float*,
                                        float*, double*, double*, int64_t, int64_t, int64_t, bool,
                                        double, double, double*, void*);
template void batch_norm_forward<double>(const double*, const double*, const double*, double*,
                                         double*, double*, double*, double*, int64_t, int64_t,
                                         int64_t, bool, double, double, double*, void*);
template void batch_norm_backward<float>(const float*, const float*, const float*, const double*,
                                         const double*, float*, float*, float*, int64_t, int64_t,
                                         int64_t, bool, double*, void*);
template void batch_norm_backward<double>(const double*, const double*, const double*,
                                          const double*, const double*, double*, double*, double*,
                                          int64_t, int64_t, int64_t, bool, double*, void*);

}  // namespace cuda_ops
}  // namespace pk
