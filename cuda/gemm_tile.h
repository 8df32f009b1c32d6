// The tiled GEMM kernel template shared by cuda/matmul.cu (plain GEMM) and
// cuda/linear.cu (GEMM with a bias + activation epilogue, GEMM with row sums):
//   C[m, n] = epilogue( sum_k op(A)[m, k] op(B)[k, n] ), row-major, op = identity
//   or transpose (read in place), float and double.
// The design, the version ladder and the napkin math are in cuda/matmul.cu's
// header; this file holds the machinery:
//   - TileConfig: block tile BM x BN x BK, thread tile TM x TN, 256 threads;
//   - TileLoader: one operand's BK-slice, global -> registers -> shared memory,
//     128-bit vectors along the operand's contiguous dimension (VEC) or guarded
//     scalars, stored k-major in shared memory ([BK][R + PAD]) so the inner
//     product reads contiguous fragments;
//   - gemm_kernel: double-buffered main loop (one __syncthreads per slice),
//     then the epilogue type's store: DirectEpi (alpha, beta; vector stores),
//     RowSumEpi (DirectEpi + sums of the rows of op(A), computed while A's
//     slices pass through shared memory) or a staged epilogue (the tile goes
//     through shared memory so that a per-element function, e.g. an activation
//     chosen at run time, appears once in the code, with coalesced stores).
//   - launch_gemm: grid, grouped block order, alignment test for VEC.
#pragma once

#include "pk_cuda.h"

#include <cstdint>
#include <stdexcept>
#include <type_traits>

namespace pk {
namespace gemm_tile {

// ------------------------------------------------------------------ configurations

template <class T, int BM_, int BN_, int BK_, int TM_, int TN_>
struct TileConfig {
    using type = T;
    static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
    static constexpr int THREADS = (BM / TM) * (BN / TN);
    // Two resident blocks per SM (16 warps) to hide load and barrier latency:
    // at most 128 registers per thread.
    static constexpr int MIN_BLOCKS = 2;
    static constexpr int VW = 16 / static_cast<int>(sizeof(T));  // elements per 128-bit vector
    // A row of k-major shared memory is padded by one vector: the transposed
    // stores of k-contiguous operands then fall in distinct banks, and every
    // row still starts 16-byte aligned.
    static constexpr int PAD = VW;
    static constexpr int LDA_S = BM + PAD;
    static constexpr int LDB_S = BN + PAD;
    static constexpr int SMEM = 2 * BK * (LDA_S + LDB_S);  // elements, both buffers
    static_assert(THREADS == 256, "the kernels are written for 256-thread blocks");
    static_assert(TM % 2 == 0 && TN % 2 == 0, "thread tiles are two halves");
    static_assert(SMEM * sizeof(T) <= 48 * 1024, "static shared memory above 48 KiB");
};

// Large tiles for big problems (arithmetic intensity), small tiles when the
// large ones would leave SMs idle.
template <class T>
struct LargeTile;
template <>
struct LargeTile<float> : TileConfig<float, 128, 128, 8, 8, 8> {};
template <>
struct LargeTile<double> : TileConfig<double, 128, 64, 8, 8, 4> {};
template <class T>
struct SmallTile : TileConfig<T, 64, 64, 16, 4, 4> {};

// ------------------------------------------------------------------ vectors

// W consecutive elements moved as 16- or 8-byte vectors (p aligned to that),
// to and from a register array by constant indices (named lanes, no
// reinterpret_cast of the registers, which could put them in local memory).
template <class T, int W>
struct Vec;
template <>
struct Vec<float, 4> {
    static __device__ __forceinline__ void load(const float* p, float* r) {
        const float4 v = *reinterpret_cast<const float4*>(p);
        r[0] = v.x; r[1] = v.y; r[2] = v.z; r[3] = v.w;
    }
    static __device__ __forceinline__ void store(float* p, const float* r) {
        *reinterpret_cast<float4*>(p) = make_float4(r[0], r[1], r[2], r[3]);
    }
};
template <>
struct Vec<float, 2> {
    static __device__ __forceinline__ void load(const float* p, float* r) {
        const float2 v = *reinterpret_cast<const float2*>(p);
        r[0] = v.x; r[1] = v.y;
    }
    static __device__ __forceinline__ void store(float* p, const float* r) {
        *reinterpret_cast<float2*>(p) = make_float2(r[0], r[1]);
    }
};
template <>
struct Vec<double, 2> {
    static __device__ __forceinline__ void load(const double* p, double* r) {
        const double2 v = *reinterpret_cast<const double2*>(p);
        r[0] = v.x; r[1] = v.y;
    }
    static __device__ __forceinline__ void store(double* p, const double* r) {
        *reinterpret_cast<double2*>(p) = make_double2(r[0], r[1]);
    }
};
template <>
struct Vec<double, 4> {
    static __device__ __forceinline__ void load(const double* p, double* r) {
        Vec<double, 2>::load(p, r);
        Vec<double, 2>::load(p + 2, r + 2);
    }
    static __device__ __forceinline__ void store(double* p, const double* r) {
        Vec<double, 2>::store(p, r);
        Vec<double, 2>::store(p + 2, r + 2);
    }
};

// ------------------------------------------------------------------ operand tiles

// One operand's R x BK slice of op(X) (R = BM for A, BN for B), staged as
// s[kk][r] with row stride LDS. K_CONTIG: element (r, kk) of op(X) is at
// x[r * ld + kk] (A not transposed, B transposed); otherwise at x[kk * ld + r].
// Each thread moves N vectors of VW elements along the contiguous dimension;
// consecutive threads take consecutive vectors, so a warp reads whole
// 128-byte lines. Out-of-range elements are zero (edge tiles).
template <class Cfg, int R, int LDS, bool K_CONTIG, bool VEC>
struct TileLoader {
    using T = typename Cfg::type;
    static constexpr int VW = Cfg::VW;
    static constexpr int BK = Cfg::BK;
    static constexpr int PER_LINE = K_CONTIG ? BK / VW : R / VW;  // vectors per contiguous line
    static constexpr int N = R * BK / VW / Cfg::THREADS;
    static_assert(N >= 1 && R * BK == N * VW * Cfg::THREADS, "tile does not split into vectors");

    T reg[N][VW];

    static __device__ __forceinline__ void slot(int tid, int i, int& r, int& kk) {
        const int v = tid + i * Cfg::THREADS;
        if (K_CONTIG) { r = v / PER_LINE; kk = (v % PER_LINE) * VW; }
        else          { kk = v / PER_LINE; r = (v % PER_LINE) * VW; }
    }

    __device__ __forceinline__ void fetch(const T* __restrict__ x, long long ld, int rows, int k,
                                          int r0, int k0, int tid) {
#pragma unroll
        for (int i = 0; i < N; ++i) {
            int r, kk;
            slot(tid, i, r, kk);
            const int gr = r0 + r;
            const int gk = k0 + kk;
            if (K_CONTIG) {
                const T* p = x + static_cast<long long>(gr) * ld + gk;
                if (VEC && gr < rows && gk + VW <= k) {
                    Vec<T, VW>::load(p, reg[i]);
                } else {
#pragma unroll
                    for (int q = 0; q < VW; ++q) reg[i][q] = gr < rows && gk + q < k ? p[q] : T(0);
                }
            } else {
                const T* p = x + static_cast<long long>(gk) * ld + gr;
                if (VEC && gk < k && gr + VW <= rows) {
                    Vec<T, VW>::load(p, reg[i]);
                } else {
#pragma unroll
                    for (int q = 0; q < VW; ++q) reg[i][q] = gk < k && gr + q < rows ? p[q] : T(0);
                }
            }
        }
    }

    __device__ __forceinline__ void stage(T* s, int tid) const {
#pragma unroll
        for (int i = 0; i < N; ++i) {
            int r, kk;
            slot(tid, i, r, kk);
            if (K_CONTIG) {
#pragma unroll
                for (int q = 0; q < VW; ++q) s[(kk + q) * LDS + r] = reg[i][q];
            } else {
                Vec<T, VW>::store(s + kk * LDS + r, reg[i]);
            }
        }
    }
};

// ------------------------------------------------------------------ epilogues

// C = alpha * acc + beta * C (C not read when beta == 0). vec_c: C and ldc
// allow 16/8-byte vector accesses of a thread's TN/2 contiguous columns.
template <class T>
struct DirectEpi {
    static constexpr bool kStaged = false;
    static constexpr bool kRowSums = false;
    T alpha = T(1);
    T beta = T(0);
    bool vec_c = false;
};

// DirectEpi, and row_sums[i] = sum_k op(A)[i, k] (written by the blocks of the
// first column of tiles, summed in k order: deterministic, no atomics).
template <class T>
struct RowSumEpi : DirectEpi<T> {
    static constexpr bool kRowSums = true;
    T* row_sums = nullptr;
};

// A staged epilogue provides
//   static constexpr bool kStaged = true, kRowSums = false;
//   __device__ void operator()(T v, int row, int col, T* c, long long ldc) const;
// called once per element of C in range, with consecutive threads on
// consecutive columns.

// ------------------------------------------------------------------ the kernel

// Row of the block tile held by a thread's accumulator row i (and likewise
// columns): two halves TM/2 apart by BM/2, so that a warp's fragment reads
// are 16-byte vectors and its stores cover contiguous runs.
template <int TM, int BM>
__device__ __forceinline__ int frag_offset(int t, int i) {
    return i < TM / 2 ? t * (TM / 2) + i : BM / 2 + t * (TM / 2) + (i - TM / 2);
}

template <class T, int W>
__device__ __forceinline__ void store_direct(const DirectEpi<T>& e, T* p, const T* acc, int valid) {
    T v[W];
#pragma unroll
    for (int j = 0; j < W; ++j) v[j] = e.alpha * acc[j];
    if (e.vec_c && valid >= W) {
        if (e.beta != T(0)) {
            T old[W];
            Vec<T, W>::load(p, old);
#pragma unroll
            for (int j = 0; j < W; ++j) v[j] += e.beta * old[j];
        }
        Vec<T, W>::store(p, v);
    } else {
#pragma unroll
        for (int j = 0; j < W; ++j)
            if (j < valid) p[j] = e.beta == T(0) ? v[j] : v[j] + e.beta * p[j];
    }
}

template <class Cfg, bool TA, bool TB, bool VEC, class Epi>
__global__ void __launch_bounds__(Cfg::THREADS, Cfg::MIN_BLOCKS)
gemm_kernel(int m, int n, int k, const typename Cfg::type* __restrict__ a, long long lda,
            const typename Cfg::type* __restrict__ b, long long ldb,
            typename Cfg::type* __restrict__ c, long long ldc, int tiles_m, Epi epi) {
    using T = typename Cfg::type;
    constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, TM = Cfg::TM, TN = Cfg::TN;
    constexpr int LDA_S = Cfg::LDA_S, LDB_S = Cfg::LDB_S;
    __shared__ __align__(16) T smem[Cfg::SMEM];
    T* const as = smem;                   // [2][BK][LDA_S]
    T* const bs = smem + 2 * BK * LDA_S;  // [2][BK][LDB_S]

    // Grouped order: runs of kGroup tile rows walk the tile columns together,
    // so the blocks in flight share A's and B's panels in L2.
    constexpr int kGroup = 8;
    const int bid = blockIdx.x;
    const int tiles_n = (n + BN - 1) / BN;
    const int per_group = kGroup * tiles_n;
    const int first_m = (bid / per_group) * kGroup;
    const int group_rows = min(tiles_m - first_m, kGroup);
    const int in_group = bid % per_group;
    const int tile_m = first_m + in_group % group_rows;
    const int tile_n = in_group / group_rows;
    const int m0 = tile_m * BM;
    const int n0 = tile_n * BN;

    const int tid = threadIdx.x;
    const int tx = tid % (BN / TN);
    const int ty = tid / (BN / TN);

    TileLoader<Cfg, BM, LDA_S, !TA, VEC> la;
    TileLoader<Cfg, BN, LDB_S, TB, VEC> lb;
    // op(A) is m x k: its row index runs over m. op(B) is k x n, staged as
    // its transpose's rows: index over n.
    auto fetch = [&](int k0) {
        la.fetch(a, lda, m, k, m0, k0, tid);
        lb.fetch(b, ldb, n, k, n0, k0, tid);
    };

    T acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = T(0);
    // Row sums: in the first column of tiles, thread t < BM sums row t of
    // op(A) over each slice in shared memory (one register, k ascending).
    static_assert(!Epi::kRowSums || BM <= Cfg::THREADS, "one thread per row of the tile");
    T row_sum = T(0);
    const bool sums_here = Epi::kRowSums && tile_n == 0 && tid < BM;

    const int slices = (k + BK - 1) / BK;
    if (slices > 0) {
        fetch(0);
        la.stage(as, tid);
        lb.stage(bs, tid);
    }
    __syncthreads();
    for (int s = 0; s < slices; ++s) {
        const int buf = s & 1;
        if (s + 1 < slices) fetch((s + 1) * BK);
        const T* a_s = as + buf * BK * LDA_S;
        const T* b_s = bs + buf * BK * LDB_S;
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            T af[TM], bf[TN];
            Vec<T, TM / 2>::load(a_s + kk * LDA_S + ty * (TM / 2), af);
            Vec<T, TM / 2>::load(a_s + kk * LDA_S + BM / 2 + ty * (TM / 2), af + TM / 2);
            Vec<T, TN / 2>::load(b_s + kk * LDB_S + tx * (TN / 2), bf);
            Vec<T, TN / 2>::load(b_s + kk * LDB_S + BN / 2 + tx * (TN / 2), bf + TN / 2);
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] += af[i] * bf[j];
        }
        if (Epi::kRowSums && sums_here) {
#pragma unroll
            for (int kk = 0; kk < BK; ++kk) row_sum += a_s[kk * LDA_S + tid];
        }
        // The other buffer was last read in slice s - 1, which every thread
        // finished before the barrier that ended it.
        if (s + 1 < slices) {
            la.stage(as + (buf ^ 1) * BK * LDA_S, tid);
            lb.stage(bs + (buf ^ 1) * BK * LDB_S, tid);
        }
        __syncthreads();
    }

    if constexpr (Epi::kStaged) {
        // The tile passes through shared memory (free now: the loop ended with
        // a barrier) in chunks of CR rows; every thread then applies the
        // epilogue to consecutive elements of the chunk.
        constexpr int CR0 = Cfg::SMEM / BN < BM ? Cfg::SMEM / BN : BM;
        constexpr int CR = CR0 >= 64 ? 64 : CR0 >= 32 ? 32 : 16;
        static_assert(BM % CR == 0 && CR * BN <= Cfg::SMEM, "staging chunk");
#pragma unroll
        for (int p = 0; p < BM / CR; ++p) {
            if (p > 0) __syncthreads();
#pragma unroll
            for (int i = 0; i < TM; ++i) {
                const int r = frag_offset<TM, BM>(ty, i) - p * CR;
                if (r >= 0 && r < CR) {
                    Vec<T, TN / 2>::store(smem + r * BN + tx * (TN / 2), acc[i]);
                    Vec<T, TN / 2>::store(smem + r * BN + BN / 2 + tx * (TN / 2), acc[i] + TN / 2);
                }
            }
            __syncthreads();
            const int rows = min(CR, m - m0 - p * CR);
            const int cols = min(BN, n - n0);
#pragma unroll 1
            for (int e = tid; e < CR * BN; e += Cfg::THREADS) {
                const int r = e / BN;
                const int col = e % BN;
                if (r < rows && col < cols) epi(smem[e], m0 + p * CR + r, n0 + col, c, ldc);
            }
        }
    } else {
#pragma unroll
        for (int i = 0; i < TM; ++i) {
            const int row = m0 + frag_offset<TM, BM>(ty, i);
            if (row >= m) continue;
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int col = n0 + h * (BN / 2) + tx * (TN / 2);
                if (col < n)
                    store_direct<T, TN / 2>(epi, c + static_cast<long long>(row) * ldc + col,
                                            acc[i] + h * (TN / 2), n - col);
            }
        }
        if constexpr (Epi::kRowSums) {
            if (sums_here && m0 + tid < m) epi.row_sums[m0 + tid] = row_sum;
        }
    }
}

// ------------------------------------------------------------------ host side

enum class Tile { automatic, large, small };

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Large tiles when they alone give about a full wave of blocks on an H100
// (132 SMs); otherwise the small tile's 4x as many blocks keep more SMs busy.
template <class T>
Tile choose_tile(int64_t m, int64_t n) {
    using L = LargeTile<T>;
    const int64_t large_blocks = ((m + L::BM - 1) / L::BM) * ((n + L::BN - 1) / L::BN);
    return large_blocks >= 128 ? Tile::large : Tile::small;
}

template <class Cfg, bool TA, bool TB, class Epi>
void launch_cfg(int64_t m, int64_t n, int64_t k, const typename Cfg::type* a, int64_t lda,
                const typename Cfg::type* b, int64_t ldb, typename Cfg::type* c, int64_t ldc,
                const Epi& epi, void* stream) {
    constexpr int VW = Cfg::VW;
    const int64_t tiles_m = (m + Cfg::BM - 1) / Cfg::BM;
    const int64_t tiles_n = (n + Cfg::BN - 1) / Cfg::BN;
    if (tiles_m * tiles_n > INT32_MAX)
        throw std::invalid_argument("matmul: too many output tiles for one launch");
    // Vector loads need every vector of the contiguous dimension aligned:
    // the base pointer to 16 bytes and the row stride a multiple of the width.
    const bool vec = aligned16(a) && lda % VW == 0 && aligned16(b) && ldb % VW == 0;
    const dim3 grid(static_cast<unsigned>(tiles_m * tiles_n));
    auto args = [&](auto kernel) {
        launch(kernel, grid, dim3(Cfg::THREADS), 0, static_cast<cudaStream_t>(stream),
               static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), a,
               static_cast<long long>(lda), b, static_cast<long long>(ldb), c,
               static_cast<long long>(ldc), static_cast<int>(tiles_m), epi);
    };
    if (vec) args(gemm_kernel<Cfg, TA, TB, true, Epi>);
    else args(gemm_kernel<Cfg, TA, TB, false, Epi>);
}

// C (m x n, row stride ldc) = epilogue(op(A) op(B)); the tile size is chosen
// from the shape unless `tile` names one.
template <class T, bool TA, bool TB, class Epi>
void launch_gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
                 int64_t ldb, T* c, int64_t ldc, const Epi& epi, Tile tile, void* stream) {
    if (m == 0 || n == 0) return;
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX)
        throw std::invalid_argument("matmul: dimensions must be below 2^31");
    if (tile == Tile::automatic) tile = choose_tile<T>(m, n);
    if (tile == Tile::large)
        launch_cfg<LargeTile<T>, TA, TB>(m, n, k, a, lda, b, ldb, c, ldc, epi, stream);
    else
        launch_cfg<SmallTile<T>, TA, TB>(m, n, k, a, lda, b, ldb, c, ldc, epi, stream);
}

// Whether C's rows allow vector stores of a thread's TN/2 columns (8 or 16 bytes).
template <class T>
bool vector_c(const T* c, int64_t ldc) {
    return aligned16(c) && ldc % (16 / static_cast<int64_t>(sizeof(T))) == 0;
}

}  // namespace gemm_tile
}  // namespace pk
