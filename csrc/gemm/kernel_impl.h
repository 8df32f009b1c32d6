// Micro-kernels and packing routines, written once over a small vector type
// `VT` (W lanes of T: zero, load, masked load, broadcast, fma, store, reduce)
// and instantiated by each instruction-set file (kernels_avx512.cpp,
// kernels_avx2.cpp, kernels_generic.cpp) with its own intrinsics. The contract
// every kernel here follows is written in config.h.
//
// Everything is in an unnamed namespace on purpose: each including file is
// compiled with different -m flags, and internal linkage keeps the linker from
// merging an AVX-512 copy of some inline function into code that must run on a
// CPU without AVX-512. For the same reason this header includes nothing but
// <cstdint> and uses no standard-library templates.
#pragma once

#include <cstdint>

namespace pk {
namespace {

template <class I>
inline I min_of(I a, I b) { return a < b ? a : b; }

// ---------------------------------------------------------------- micro-kernels

// Packed micro-kernel: MR rows (broadcast from A~) x NV vectors of W columns
// (loaded from B~), MR*NV accumulators held in registers for the whole kc loop.
template <class VT, int MR, int NV>
inline void ukernel_packed(int64_t kc, const typename VT::T* __restrict a,
                           const typename VT::T* __restrict b, typename VT::T* c, int64_t ldc,
                           typename VT::T alpha, typename VT::T beta, int mr, int nr) {
    using T = typename VT::T;
    using V = typename VT::V;
    constexpr int W = VT::W;
    constexpr int NR = NV * W;
    V acc[MR][NV];
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = VT::zero();

    // C is read (beta != 0) or written only after the k loop: start fetching
    // its lines now, so the stores do not wait on the L2 / L3.
    constexpr int kLine = 64 / static_cast<int>(sizeof(T));
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r) {
        if (r >= mr) break;
#pragma GCC unroll 8
        for (int l = 0; l < (NR + kLine - 1) / kLine; ++l)
            __builtin_prefetch(c + r * ldc + l * kLine, 1, 3);
    }

#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; ++p) {
        V bv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) bv[v] = VT::load(b + v * W);
#pragma GCC unroll 32
        for (int r = 0; r < MR; ++r) {
            const V ar = VT::bcast(a + r);
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[r][v] = VT::fma(ar, bv[v], acc[r][v]);
        }
        a += MR;
        b += NR;
    }

    const V va = VT::set1(alpha);
    const V vb = VT::set1(beta);
    if (mr == MR && nr == NR) {
#pragma GCC unroll 32
        for (int r = 0; r < MR; ++r) {
            T* cr = c + r * ldc;
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) {
                V x = VT::mul(acc[r][v], va);
                if (beta != T(0)) x = VT::fma(VT::load(cr + v * W), vb, x);
                VT::store(cr + v * W, x);
            }
        }
        return;
    }
    typename VT::M mask[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) mask[v] = VT::mask(nr - v * W);
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r) {
        if (r >= mr) break;
        T* cr = c + r * ldc;
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
            V x = VT::mul(acc[r][v], va);
            if (beta != T(0)) x = VT::fma(VT::load_mask(cr + v * W, mask[v]), vb, x);
            VT::store_mask(cr + v * W, x, mask[v]);
        }
    }
}

// Direct micro-kernel on unpacked operands, for exactly MRT rows (the caller
// picks the instantiation for mr, so no row past the matrix is touched).
template <class VT, int MRT, int NV>
inline void ukernel_direct_rows(int64_t k, const typename VT::T* a, int64_t a_rs, int64_t a_cs,
                                const typename VT::T* b, int64_t ldb, typename VT::T* c,
                                int64_t ldc, typename VT::T alpha, typename VT::T beta, int nr) {
    using T = typename VT::T;
    using V = typename VT::V;
    constexpr int W = VT::W;
    typename VT::M mask[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) mask[v] = VT::mask(nr - v * W);
    V acc[MRT][NV];
#pragma GCC unroll 32
    for (int r = 0; r < MRT; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = VT::zero();

    const bool full = nr == NV * W;
#pragma GCC unroll 2
    for (int64_t p = 0; p < k; ++p) {
        V bv[NV];
        const T* bp = b + p * ldb;
        if (full) {
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) bv[v] = VT::load(bp + v * W);
        } else {
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) bv[v] = VT::load_mask(bp + v * W, mask[v]);
        }
        const T* ap = a + p * a_cs;
#pragma GCC unroll 32
        for (int r = 0; r < MRT; ++r) {
            const V ar = VT::bcast(ap + r * a_rs);
#pragma GCC unroll 8
            for (int v = 0; v < NV; ++v) acc[r][v] = VT::fma(ar, bv[v], acc[r][v]);
        }
    }

    const V va = VT::set1(alpha);
    const V vb = VT::set1(beta);
    // x * 1 == x exactly: short k makes the scaling a visible share here.
    const bool scale = alpha != T(1);
#pragma GCC unroll 32
    for (int r = 0; r < MRT; ++r) {
        T* cr = c + r * ldc;
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
            V x = scale ? VT::mul(acc[r][v], va) : acc[r][v];
            if (beta != T(0)) x = VT::fma(VT::load_mask(cr + v * W, mask[v]), vb, x);
            VT::store_mask(cr + v * W, x, mask[v]);
        }
    }
}

// Picks the instantiation for (mr, nr): one compiled loop per possible row
// count and per number of vectors nr needs, so narrow matrices (n = 10, say)
// do not pay for fully masked vectors.
template <class VT, int MR, int NV>
inline void ukernel_direct(int64_t k, const typename VT::T* a, int64_t a_rs, int64_t a_cs,
                           const typename VT::T* b, int64_t ldb, typename VT::T* c, int64_t ldc,
                           typename VT::T alpha, typename VT::T beta, int mr, int nr) {
    if constexpr (NV > 1) {
        if (nr <= (NV - 1) * VT::W) {
            ukernel_direct<VT, MR, NV - 1>(k, a, a_rs, a_cs, b, ldb, c, ldc, alpha, beta, mr, nr);
            return;
        }
    }
    if constexpr (MR > 1) {
        if (mr < MR) {
            ukernel_direct<VT, MR - 1, NV>(k, a, a_rs, a_cs, b, ldb, c, ldc, alpha, beta, mr, nr);
            return;
        }
    }
    ukernel_direct_rows<VT, MR, NV>(k, a, a_rs, a_cs, b, ldb, c, ldc, alpha, beta, nr);
}

// Dot kernel: DMR x DNR dot products of rows contiguous along k, vectorised
// along k, reduced across lanes once at the end, four accumulators per
// shuffle network (the lane sums dominate when k is a few hundred). Rows/columns past
// (mr, nr) reuse row/column 0 (valid memory) and are not stored.
template <class VT, int DMR, int DNR>
inline void dot_tile(int64_t k, const typename VT::T* a, int64_t lda, const typename VT::T* b,
                       int64_t ldb, typename VT::T* c, int64_t ldc, typename VT::T alpha,
                       typename VT::T beta, int mr, int nr) {
    using T = typename VT::T;
    using V = typename VT::V;
    constexpr int W = VT::W;
    const T* ar[DMR];
    const T* br[DNR];
#pragma GCC unroll 16
    for (int r = 0; r < DMR; ++r) ar[r] = a + (r < mr ? r : 0) * lda;
#pragma GCC unroll 16
    for (int j = 0; j < DNR; ++j) br[j] = b + (j < nr ? j : 0) * ldb;
    V acc[DMR][DNR];
#pragma GCC unroll 16
    for (int r = 0; r < DMR; ++r)
#pragma GCC unroll 16
        for (int j = 0; j < DNR; ++j) acc[r][j] = VT::zero();

    int64_t p = 0;
    for (; p + W <= k; p += W) {
        V bv[DNR];
#pragma GCC unroll 16
        for (int j = 0; j < DNR; ++j) bv[j] = VT::load(br[j] + p);
#pragma GCC unroll 16
        for (int r = 0; r < DMR; ++r) {
            const V av = VT::load(ar[r] + p);
#pragma GCC unroll 16
            for (int j = 0; j < DNR; ++j) acc[r][j] = VT::fma(av, bv[j], acc[r][j]);
        }
    }
    if (p < k) {
        const typename VT::M m = VT::mask(k - p);
        V bv[DNR];
#pragma GCC unroll 16
        for (int j = 0; j < DNR; ++j) bv[j] = VT::load_mask(br[j] + p, m);
#pragma GCC unroll 16
        for (int r = 0; r < DMR; ++r) {
            const V av = VT::load_mask(ar[r] + p, m);
#pragma GCC unroll 16
            for (int j = 0; j < DNR; ++j) acc[r][j] = VT::fma(av, bv[j], acc[r][j]);
        }
    }
    static_assert(DNR % 4 == 0 || DNR == 2, "the lane sums are taken four accumulators at a time");
#pragma GCC unroll 16
    for (int r = 0; r < DMR; ++r) {
        if (r >= mr) break;
        T sums[DNR < 4 ? 4 : DNR];
        if constexpr (DNR == 2) {
            // Each lane sum depends on its own accumulator only, so a pair
            // sums exactly as in a tile of four.
            VT::reduce4(acc[r][0], acc[r][1], acc[r][0], acc[r][1], sums);
        } else {
#pragma GCC unroll 4
            for (int j = 0; j < DNR; j += 4)
                VT::reduce4(acc[r][j], acc[r][j + 1], acc[r][j + 2], acc[r][j + 3], sums + j);
        }
#pragma GCC unroll 16
        for (int j = 0; j < DNR; ++j) {
            if (j >= nr) break;
            T* cij = c + r * ldc + j;
            const T x = alpha * sums[j];
            *cij = beta == T(0) ? x : x + beta * *cij;
        }
    }
}

// Dot kernel entry: a tile of at most two columns (the edge of n = 10, say)
// runs a half-width tile instead of computing two discarded columns.
template <class VT, int DMR, int DNR>
inline void dot_kernel(int64_t k, const typename VT::T* a, int64_t lda, const typename VT::T* b,
                       int64_t ldb, typename VT::T* c, int64_t ldc, typename VT::T alpha,
                       typename VT::T beta, int mr, int nr) {
    if constexpr (DNR == 4) {
        if (nr <= 2) {
            dot_tile<VT, DMR, 2>(k, a, lda, b, ldb, c, ldc, alpha, beta, mr, nr);
            return;
        }
    }
    dot_tile<VT, DMR, DNR>(k, a, lda, b, ldb, c, ldc, alpha, beta, mr, nr);
}

// ---------------------------------------------------------------- packing

// op(A)[i0:i0+mc, p0:p0+kc] -> micro-panels of MR rows (layout in config.h).
template <class T, int MR>
inline void pack_a(bool trans, const T* a, int64_t lda, int64_t i0, int64_t mc, int64_t p0,
                   int64_t kc, T* __restrict dst) {
    if (trans) {
        // op(A) = A^T: the MR values of one k index are contiguous in A.
        for (int64_t ip = 0; ip < mc; ip += MR) {
            const int rows = static_cast<int>(min_of<int64_t>(MR, mc - ip));
            const T* src = a + p0 * lda + i0 + ip;
            if (rows == MR) {
                for (int64_t p = 0; p < kc; ++p) {
#pragma GCC unroll 32
                    for (int r = 0; r < MR; ++r) dst[p * MR + r] = src[p * lda + r];
                }
            } else {
                for (int64_t p = 0; p < kc; ++p)
                    for (int r = 0; r < MR; ++r) dst[p * MR + r] = r < rows ? src[p * lda + r] : T(0);
            }
            dst += MR * kc;
        }
        return;
    }
    for (int64_t ip = 0; ip < mc; ip += MR) {
        const int rows = static_cast<int>(min_of<int64_t>(MR, mc - ip));
        // op(A) = A: each row is contiguous along k; interleave MR rows.
        const T* src = a + (i0 + ip) * lda + p0;
        if (rows == MR) {
            for (int64_t p = 0; p < kc; ++p) {
#pragma GCC unroll 32
                for (int r = 0; r < MR; ++r) dst[p * MR + r] = src[r * lda + p];
            }
        } else {
            for (int64_t p = 0; p < kc; ++p)
                for (int r = 0; r < MR; ++r) dst[p * MR + r] = r < rows ? src[r * lda + p] : T(0);
        }
        dst += MR * kc;
    }
}

// op(B)[p0:p0+kc, j0:j0+nc] -> micro-panels of NR columns.
template <class T, int NR>
inline void pack_b(bool trans, const T* b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0,
                   int64_t nc, T* __restrict dst) {
    for (int64_t jp = 0; jp < nc; jp += NR) {
        const int cols = static_cast<int>(min_of<int64_t>(NR, nc - jp));
        if (!trans) {
            const T* src = b + p0 * ldb + j0 + jp;
            if (cols == NR) {
                for (int64_t p = 0; p < kc; ++p) {
#pragma GCC unroll 64
                    for (int c = 0; c < NR; ++c) dst[p * NR + c] = src[p * ldb + c];
                }
            } else {
                for (int64_t p = 0; p < kc; ++p)
                    for (int c = 0; c < NR; ++c) dst[p * NR + c] = c < cols ? src[p * ldb + c] : T(0);
            }
        } else {
            // op(B) = B^T: column j of op(B) is row j of B, contiguous along k.
            const T* src = b + (j0 + jp) * ldb + p0;
            if (cols == NR) {
                for (int64_t p = 0; p < kc; ++p) {
#pragma GCC unroll 64
                    for (int c = 0; c < NR; ++c) dst[p * NR + c] = src[c * ldb + p];
                }
            } else {
                for (int64_t p = 0; p < kc; ++p)
                    for (int c = 0; c < NR; ++c) dst[p * NR + c] = c < cols ? src[c * ldb + p] : T(0);
            }
        }
        dst += NR * kc;
    }
}

// ---------------------------------------------------------------- peak

// 2*NACC independent FMA chains, enough to cover the FMA latency on two ports.
template <class VT, int NACC>
inline double fma_loop(int64_t iters) {
    using V = typename VT::V;
    using T = typename VT::T;
    V acc[NACC];
    const T one = T(1) - T(1e-7);
#pragma GCC unroll 32
    for (int i = 0; i < NACC; ++i) acc[i] = VT::set1(T(i));
    const V x = VT::set1(one), y = VT::set1(T(1e-7));
    for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 32
        for (int i = 0; i < NACC; ++i) acc[i] = VT::fma(acc[i], x, y);
    }
    V s = acc[0];
#pragma GCC unroll 32
    for (int i = 1; i < NACC; ++i) s = VT::fma(acc[i], x, s);
    volatile T sink = VT::reduce(s);
    (void)sink;
    return 2.0 * VT::W * NACC * static_cast<double>(iters);
}

}  // namespace
}  // namespace pk
