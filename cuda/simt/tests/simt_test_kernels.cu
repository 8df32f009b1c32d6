// Kernels exercising the SIMT emulator, compiled as host C++ against it.
#include "pk_cuda.h"

#include <chrono>
#include <thread>

#include "simt_test_kernels.h"

namespace {

constexpr int kReduceThreads = 256;

template <bool Sync>
__global__ void block_reduce_kernel(const float* in, float* out) {
    __shared__ float partial[kReduceThreads];
    const unsigned int t = threadIdx.x;
    partial[t] = in[blockIdx.x * blockDim.x + t];
    if (Sync) __syncthreads();
    for (unsigned int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (t < stride) partial[t] += partial[t + stride];
        if (Sync) __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = partial[0];
}

template <class T>
__global__ void shuffle_kernel(int op, const T* in, T* out, int arg, int width) {
    const unsigned int t = threadIdx.x;
    const T v = in[t];
    const unsigned int full = 0xffffffffu;
    T r{};
    switch (op) {
        case simt_test::kShfl: r = __shfl_sync(full, v, arg, width); break;
        case simt_test::kShflUp: r = __shfl_up_sync(full, v, static_cast<unsigned int>(arg), width); break;
        case simt_test::kShflDown: r = __shfl_down_sync(full, v, static_cast<unsigned int>(arg), width); break;
        case simt_test::kShflXor: r = __shfl_xor_sync(full, v, arg, width); break;
        case simt_test::kBallot: r = static_cast<T>(__ballot_sync(full, v != T{})); break;
    }
    out[t] = r;
}

constexpr int kIsolationThreads = 128;

__global__ void shared_isolation_kernel(int* errors, int* os_threads) {
    __shared__ int tags[kIsolationThreads];
    int* dyn = pk::dynamic_shared<int>();
    const int t = static_cast<int>(threadIdx.x);
    const int n = static_cast<int>(blockDim.x);
    const int tag = static_cast<int>(blockIdx.x) * 1000 + t;
    tags[t] = tag;
    dyn[t] = -tag;
    int bad = 0;
    for (int round = 0; round < 20; ++round) {
        __syncthreads();
        const int other = (t + round + 1) % n;
        const int expect = static_cast<int>(blockIdx.x) * 1000 + other;
        bad += tags[other] != expect;
        bad += dyn[other] != -expect;
        // Give other OS threads time to run their blocks meanwhile.
        if (t == 0 && round % 5 == 0) std::this_thread::yield();
    }
    if (bad) atomicAdd(&errors[blockIdx.x], bad);
    if (t == 0) os_threads[blockIdx.x] = simt::os_thread_index();
}

__global__ void record_os_threads_kernel(int* os_threads) {
    if (threadIdx.x == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        os_threads[blockIdx.x] = simt::os_thread_index();
    }
    __syncthreads();
}

__global__ void atomics_kernel(float* fsum, double* dsum, int* isum, unsigned long long* usum,
                               int* imax, unsigned int* umax, int* imin) {
    const int id = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    atomicAdd(fsum, 1.0f);
    atomicAdd(dsum, 0.5);
    atomicAdd(isum, 1);
    atomicAdd(usum, 1ull);
    atomicMax(imax, id);
    atomicMax(umax, static_cast<unsigned int>(id) * 3u);
    atomicMin(imin, -id);
}

__global__ void read_uninitialised_kernel(float* fout, int* iout) {
    const unsigned int t = threadIdx.x;
    fout[t] = pk::dynamic_shared<float>()[t];
    iout[t] = pk::dynamic_shared<int>()[blockDim.x + t];
}

__global__ void syncthreads_reductions_kernel(int k, int returning, int* out3) {
    const int t = static_cast<int>(threadIdx.x);
    if (t >= returning) return;
    const int p = t % k == 0;
    const int count = __syncthreads_count(p);
    const int all = __syncthreads_and(p);
    const int any = __syncthreads_or(p);
    if (t == 0) {
        out3[0] = count;
        out3[1] = all;
        out3[2] = any;
    }
}

__global__ void coordinates_kernel(std::int64_t* out) {
    const unsigned int block_linear = blockIdx.x + gridDim.x * blockIdx.y;
    const unsigned int threads = blockDim.x * blockDim.y * blockDim.z;
    const unsigned int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    out[block_linear * threads + t] = threadIdx.x + 100 * threadIdx.y + 10000 * threadIdx.z +
                                      1000000ll * blockIdx.x + 100000000ll * blockIdx.y;
}

__global__ void noop_kernel() {}

__global__ void deadlock_kernel(int* out) {
    // Lanes 0-15 wait at the block barrier while lanes 16-31 of the same warp
    // wait for them at a full-warp shuffle: neither can proceed.
    const unsigned int t = threadIdx.x;
    if (t < 16)
        __syncthreads();
    else
        out[t] = __shfl_sync(0xffffffffu, static_cast<int>(t), 0);
}

__global__ void throwing_kernel() {
    __syncthreads();
    if (blockIdx.x == 3 && threadIdx.x == 5) __trap();
    __syncthreads();
}

__global__ void mixed_warp_ops_kernel(int* out) {
    const unsigned int t = threadIdx.x;
    if (t % 2)
        out[t] = __shfl_sync(0xffffffffu, static_cast<int>(t), 0);
    else
        out[t] = static_cast<int>(__ballot_sync(0xffffffffu, 1));
}

__global__ void barrier_benchmark_kernel(int iterations, int mode, float* sink) {
    float acc = static_cast<float>(threadIdx.x);
    if (mode == 0) {
        for (int i = 0; i < iterations; ++i) __syncthreads();
    } else {
        for (int i = 0; i < iterations; ++i) acc += __shfl_xor_sync(0xffffffffu, acc, 1);
    }
    if (threadIdx.x == 0) sink[blockIdx.x] = acc;
}

}  // namespace

namespace simt_test {

void set_num_threads(int n) { simt::set_num_threads(n); }
int get_num_threads() { return simt::get_num_threads(); }

void block_reduce(const float* in, float* out, int blocks, bool with_barriers) {
    if (with_barriers)
        pk::launch(block_reduce_kernel<true>, dim3(blocks), dim3(kReduceThreads), 0, nullptr, in, out);
    else
        pk::launch(block_reduce_kernel<false>, dim3(blocks), dim3(kReduceThreads), 0, nullptr, in, out);
}

void shuffle(int op, int type_code, const void* in, void* out, int threads, int arg, int width) {
    switch (type_code) {
        case 0:
            pk::launch(shuffle_kernel<int>, dim3(1), dim3(threads), 0, nullptr, op,
                       static_cast<const int*>(in), static_cast<int*>(out), arg, width);
            break;
        case 1:
            pk::launch(shuffle_kernel<float>, dim3(1), dim3(threads), 0, nullptr, op,
                       static_cast<const float*>(in), static_cast<float*>(out), arg, width);
            break;
        case 2:
            pk::launch(shuffle_kernel<double>, dim3(1), dim3(threads), 0, nullptr, op,
                       static_cast<const double*>(in), static_cast<double*>(out), arg, width);
            break;
        default:
            pk::launch(shuffle_kernel<long long>, dim3(1), dim3(threads), 0, nullptr, op,
                       static_cast<const long long*>(in), static_cast<long long*>(out), arg, width);
            break;
    }
}

void shared_isolation(int blocks, int* errors, int* os_threads) {
    pk::launch(shared_isolation_kernel, dim3(blocks), dim3(kIsolationThreads),
               kIsolationThreads * sizeof(int), nullptr, errors, os_threads);
}

void record_os_threads(int blocks, int* os_threads) {
    pk::launch(record_os_threads_kernel, dim3(blocks), dim3(64), 0, nullptr, os_threads);
}

void atomics(int blocks, int threads, float* fsum, double* dsum, int* isum, unsigned long long* usum,
             int* imax, unsigned int* umax, int* imin) {
    pk::launch(atomics_kernel, dim3(blocks), dim3(threads), 0, nullptr, fsum, dsum, isum, usum, imax,
               umax, imin);
}

void read_uninitialised(int threads, float* fout, int* iout) {
    pk::launch(read_uninitialised_kernel, dim3(1), dim3(threads), 2 * threads * sizeof(float), nullptr,
               fout, iout);
}

void syncthreads_reductions(int threads, int k, int returning, int* out3) {
    pk::launch(syncthreads_reductions_kernel, dim3(1), dim3(threads), 0, nullptr, k, returning, out3);
}

void coordinates(int gx, int gy, int bx, int by, int bz, std::int64_t* out) {
    pk::launch(coordinates_kernel, dim3(gx, gy), dim3(bx, by, bz), 0, nullptr, out);
}

void failing_launch(int which) {
    int scratch[64] = {};
    switch (which) {
        case 0: pk::launch(noop_kernel, dim3(1), dim3(1025), 0, nullptr); break;
        case 1: pk::launch(deadlock_kernel, dim3(2), dim3(64), 0, nullptr, scratch); break;
        case 2: pk::launch(throwing_kernel, dim3(16), dim3(64), 0, nullptr); break;
        case 3: pk::launch(mixed_warp_ops_kernel, dim3(1), dim3(32), 0, nullptr, scratch); break;
        case 4: pk::launch(noop_kernel, dim3(1), dim3(32), 228 * 1024, nullptr); break;
    }
}

double barrier_benchmark(int blocks, int threads, int iterations, int mode) {
    std::vector<float> sink(static_cast<std::size_t>(blocks));
    const auto start = std::chrono::steady_clock::now();
    pk::launch(barrier_benchmark_kernel, dim3(blocks), dim3(threads), 0, nullptr, iterations, mode,
               sink.data());
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace simt_test
