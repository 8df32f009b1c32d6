// GEMM with fused extras, for Linear = GEMM + bias + activation and its
// backward:
//  * an epilogue called once for every finished block of C (a row strip of
//    one micro-panel's rows by a thread's columns of the cache block), right
//    after the micro-kernels stored it (so it is still in L1/L2), with the
//    complete k sum: when k is split into KC blocks it runs only after the last.
//      fn(ctx, i0, j0, rows, cols, c, ldc): C[i0:i0+rows, j0:j0+cols] is final,
//      c points at C[i0, j0]. Blocks do not overlap; several threads call fn
//      on different blocks concurrently.
//  * row sums of op(A), a_row_sums[i] = sum_p op(A)[i, p] (alpha not applied),
//    taken from the packed A~ blocks while they are in L2, so op(A) is read
//    once for both (the bias gradient of Linear is the row sum of g^T while
//    grad_W = g^T x). Summed in p order, the same for any thread count.
#pragma once

#include <cstdint>

namespace pk {

template <class T>
struct GemmEpilogue {
    // Either may be null.
    void (*fn)(void* ctx, int64_t i0, int64_t j0, int64_t rows, int64_t cols, T* c,
               int64_t ldc) = nullptr;
    void* ctx = nullptr;
    T* a_row_sums = nullptr;  // m values
};

// As gemm() in gemm.h, plus what `epilogue` (may be null) asks for.
template <class T>
void gemm_ex(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
             int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc,
             const GemmEpilogue<T>* epilogue);

// Name of the register tile the blocked path uses now, e.g. "sgemm_avx512_12x32".
const char* gemm_kernel_name(bool is_double);

}  // namespace pk
