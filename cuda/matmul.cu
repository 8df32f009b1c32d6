// GEMM on the GPU, row-major: C[m, n] = alpha * sum_k op(A)[m, k] op(B)[k, n] + beta * C[m, n]
// (beta == 0: C is not read), op = identity or transpose, float and double.
//
// Shared-memory block tiling with register tiling (the classic SGEMM ladder:
// see e.g. Volkov & Demmel 2008, and the CUTLASS "threadblock tile / thread
// tile" decomposition):
//   - a block of 256 threads owns a BM x BN = 64 x 64 tile of C;
//   - K is walked in BK = 16 slices; each slice of op(A) and op(B) is staged in
//     shared memory, stored k-major so the inner product reads rows;
//   - two shared buffers: while the block multiplies slice s, each thread has
//     already fetched slice s+1 into registers, so global latency overlaps math
//     and only one __syncthreads per slice is needed;
//   - each thread accumulates a 4 x 4 micro-tile in registers, at rows
//     ty + 16 i and columns tx + 16 j so that a warp's shared reads hit distinct
//     banks and its global stores to C are coalesced.
// Loads are mapped so that consecutive threads read consecutive addresses for
// every transpose combination; tiles at the matrix edges are zero-filled.
//
// Napkin math (float, per block and slice): 2 * 64 * 64 * 16 = 131k flops for
// 2 * 64 * 16 * 4 B = 8 KiB staged, i.e. 16 flops per shared byte loaded from
// global memory: compute-bound on H100 from a few hundred cubed upward.
#include "pk_cuda.h"

#include "matmul.h"

namespace pk {
namespace {

constexpr int BM = 64;
constexpr int BN = 64;
constexpr int BK = 16;
constexpr int TM = 4;
constexpr int TN = 4;
constexpr int THREADS = (BM / TM) * (BN / TN);  // 256
constexpr int A_LOADS = BM * BK / THREADS;       // elements of A per thread per slice
constexpr int B_LOADS = BN * BK / THREADS;

// Element (row, col) of op(X) where op(X) is rows x cols; ld is X's row stride.
template <class T, bool TRANS>
__device__ __forceinline__ T load_op(const T* x, long long ld, int row, int col, int rows, int cols) {
    if (row >= rows || col >= cols) return T(0);
    return TRANS ? x[static_cast<long long>(col) * ld + row] : x[static_cast<long long>(row) * ld + col];
}

// Which (m, k) of the A slice thread `tid` fetches in load `i`: consecutive
// threads walk the direction that is contiguous in memory.
template <bool TRANS_A>
__device__ __forceinline__ void a_slot(int tid, int i, int& mm, int& kk) {
    const int idx = tid + i * THREADS;
    if (TRANS_A) { kk = idx / BM; mm = idx % BM; }   // A stored k x m
    else         { mm = idx / BK; kk = idx % BK; }   // A stored m x k
}

template <bool TRANS_B>
__device__ __forceinline__ void b_slot(int tid, int i, int& kk, int& nn) {
    const int idx = tid + i * THREADS;
    if (TRANS_B) { nn = idx / BK; kk = idx % BK; }   // B stored n x k
    else         { kk = idx / BN; nn = idx % BN; }   // B stored k x n
}

template <class T, bool TRANS_A, bool TRANS_B>
__global__ void __launch_bounds__(THREADS)
gemm_tiled(int m, int n, int k, T alpha, const T* __restrict__ a, long long lda,
           const T* __restrict__ b, long long ldb, T beta, T* __restrict__ c, long long ldc) {
    __shared__ T as[2][BK][BM];
    __shared__ T bs[2][BK][BN];

    const int tid = threadIdx.x;
    const int tx = tid % (BN / TN);
    const int ty = tid / (BN / TN);
    const int m0 = blockIdx.y * BM;
    const int n0 = blockIdx.x * BN;

    T a_next[A_LOADS];
    T b_next[B_LOADS];
    auto fetch = [&](int k0) {
        for (int i = 0; i < A_LOADS; ++i) {
            int mm, kk;
            a_slot<TRANS_A>(tid, i, mm, kk);
            a_next[i] = load_op<T, TRANS_A>(a, lda, m0 + mm, k0 + kk, m, k);
        }
        for (int i = 0; i < B_LOADS; ++i) {
            int kk, nn;
            b_slot<TRANS_B>(tid, i, kk, nn);
            b_next[i] = load_op<T, TRANS_B>(b, ldb, k0 + kk, n0 + nn, k, n);
        }
    };
    auto stage = [&](int buf) {
        for (int i = 0; i < A_LOADS; ++i) {
            int mm, kk;
            a_slot<TRANS_A>(tid, i, mm, kk);
            as[buf][kk][mm] = a_next[i];
        }
        for (int i = 0; i < B_LOADS; ++i) {
            int kk, nn;
            b_slot<TRANS_B>(tid, i, kk, nn);
            bs[buf][kk][nn] = b_next[i];
        }
    };

    T acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = T(0);

    const int slices = (k + BK - 1) / BK;
    if (slices > 0) {
        fetch(0);
        stage(0);
    }
    __syncthreads();
    for (int s = 0; s < slices; ++s) {
        const int buf = s & 1;
        if (s + 1 < slices) fetch((s + 1) * BK);
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            T a_frag[TM], b_frag[TN];
#pragma unroll
            for (int i = 0; i < TM; ++i) a_frag[i] = as[buf][kk][ty + i * (BM / TM)];
#pragma unroll
            for (int j = 0; j < TN; ++j) b_frag[j] = bs[buf][kk][tx + j * (BN / TN)];
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] += a_frag[i] * b_frag[j];
        }
        // The other buffer was last read in slice s - 1, which every thread
        // finished before the barrier that ended it.
        if (s + 1 < slices) stage(buf ^ 1);
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int row = m0 + ty + i * (BM / TM);
        if (row >= m) continue;
#pragma unroll
        for (int j = 0; j < TN; ++j) {
            const int col = n0 + tx + j * (BN / TN);
            if (col >= n) continue;
            T* dst = c + static_cast<long long>(row) * ldc + col;
            *dst = beta == T(0) ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *dst;
        }
    }
}

template <class T, bool TRANS_A, bool TRANS_B>
void launch_gemm(int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
                 int64_t ldb, T beta, T* c, int64_t ldc, void* stream) {
    const dim3 grid(static_cast<unsigned>((n + BN - 1) / BN), static_cast<unsigned>((m + BM - 1) / BM));
    launch(gemm_tiled<T, TRANS_A, TRANS_B>, grid, dim3(THREADS), 0, static_cast<cudaStream_t>(stream),
           static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a,
           static_cast<long long>(lda), b, static_cast<long long>(ldb), beta, c,
           static_cast<long long>(ldc));
}

}  // namespace

namespace cuda_ops {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc, void* stream) {
    if (m == 0 || n == 0) return;
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX)
        throw std::invalid_argument("matmul: dimensions must be below 2^31");
    if (trans_a) {
        if (trans_b) launch_gemm<T, true, true>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, stream);
        else launch_gemm<T, true, false>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, stream);
    } else {
        if (trans_b) launch_gemm<T, false, true>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, stream);
        else launch_gemm<T, false, false>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, stream);
    }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t, void*);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t, void*);

}  // namespace cuda_ops
}  // namespace pk
