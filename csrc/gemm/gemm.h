// General matrix multiply on the CPU, row-major:
//   C[m, n] = alpha * sum_k op(A)[m, k] * op(B)[k, n] + beta * C[m, n]
// op(A) is A (m x k, row stride lda) or, when trans_a, the transpose of A stored
// k x m (row stride lda); likewise op(B) is k x n or B stored n x k.
// beta == 0 means C is not read (NaNs in C do not propagate), as in BLAS.
// Each element of C is summed in the same order whatever the number of threads.
#pragma once

#include <cstdint>

namespace pk {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
          const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace pk
