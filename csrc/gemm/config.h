// GEMM kernel table: per instruction set, the register tile (MR x NR), the cache
// blocking (MC, KC, NC) and the functions that pack and multiply. The portable
// driver (gemm.cpp) reads everything it needs from one GemmKernels entry, so a
// new CPU is supported by adding a table entry, not by touching the loops.
// Structure after BLIS (Van Zee & van de Geijn, "BLIS: A Framework for Rapidly
// Instantiating BLAS Functionality", ACM TOMS 2015).
//
// Micro-kernel contract (all `ukernel` functions):
//   C[0:mr, 0:nr] = alpha * (A~ * B~)[0:mr, 0:nr] + beta * C[0:mr, 0:nr]
//   * A~ is a packed micro-panel of op(A): kc groups of MR values, group p holds
//     op(A)[i0 + r, p0 + p] for r = 0..MR-1 (rows past the matrix are zero).
//   * B~ is a packed micro-panel of op(B): kc groups of NR values, group p holds
//     op(B)[p0 + p, j0 + c] for c = 0..NR-1 (columns past the matrix are zero).
//   * Both panels start on a 64-byte boundary; the kernel always computes the
//     full MR x NR product (zero padding makes that harmless) and stores only
//     the mr x nr corner, so edge tiles cost one partial store, not a slow path.
//   * C is row-major with row stride ldc; beta == 0 means C is not read.
//   * The k products of each element are summed in increasing p order, one
//     accumulator per element, so a result never depends on how the caller
//     split the matrix among threads.
//
// Direct micro-kernel (`ukernel_direct`), used without packing for small
// matrices: same tile and store, but A element (r, p) is a[r*a_rs + p*a_cs]
// and op(B) row p is b + p*ldb, contiguous over columns (read with masked loads
// past nr). Rows r >= mr are never read.
//
// Dot kernel (`dot`), for small matrices with op(A) = A and op(B) = B^T, where
// both operands are contiguous along k: C[r, c] = alpha * sum_p a[r*lda + p] *
// b[c*ldb + p] + beta * C[r, c] on a DOT_MR x DOT_NR tile (mr, nr corner).
#pragma once

#include <cstdint>

namespace pk {

template <class T>
struct GemmKernels {
    using Ukernel = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, T alpha,
                             T beta, int mr, int nr);
    using UkernelDirect = void (*)(int64_t k, const T* a, int64_t a_rs, int64_t a_cs, const T* b,
                                   int64_t ldb, T* c, int64_t ldc, T alpha, T beta, int mr,
                                   int nr);
    using Dot = void (*)(int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
                         int64_t ldc, T alpha, T beta, int mr, int nr);
    // Packs op(A)[i0:i0+mc, p0:p0+kc] into ceil(mc/MR) micro-panels (see contract).
    using PackA = void (*)(bool trans, const T* a, int64_t lda, int64_t i0, int64_t mc,
                           int64_t p0, int64_t kc, T* dst);
    // Packs op(B)[p0:p0+kc, j0:j0+nc] into ceil(nc/NR) micro-panels.
    using PackB = void (*)(bool trans, const T* b, int64_t ldb, int64_t p0, int64_t kc,
                           int64_t j0, int64_t nc, T* dst);

    const char* name;   // e.g. "sgemm_avx512_12x32"
    int mr, nr;         // register tile
    int mc, kc, nc;     // cache blocks: A~ block MC x KC, B~ block KC x NC (L2)
    int dot_mr, dot_nr; // dot kernel tile
    Ukernel ukernel;
    UkernelDirect ukernel_direct;
    Dot dot;
    PackA pack_a;
    PackB pack_b;
};

// One table entry per instruction set; the AVX-512 and AVX2 entries live in
// translation units built with those instruction sets and must only be called
// when the CPU has them.
const GemmKernels<float>& sgemm_kernels_avx512();
const GemmKernels<double>& dgemm_kernels_avx512();
const GemmKernels<float>& sgemm_kernels_avx2();
const GemmKernels<double>& dgemm_kernels_avx2();
const GemmKernels<float>& sgemm_kernels_generic();
const GemmKernels<double>& dgemm_kernels_generic();

// A loop of independent FMAs on registers only, `iters` iterations on the
// calling thread; returns the number of floating-point operations done (and
// keeps the result alive). Used to measure this machine's peak.
double fma_loop_avx512(int64_t iters);
double fma_loop_avx2(int64_t iters);
double fma_loop_generic(int64_t iters);

}  // namespace pk
