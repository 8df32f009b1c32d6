// Straightforward blocked GEMM: the row-major contract of gemm.h with a loop
// order (i, p, j) that streams rows of op(B) and C.
#include "gemm.h"

#include <algorithm>
#include <vector>

#include "../runtime/threads.h"

namespace pk {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
          const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
    if (m == 0 || n == 0) return;
#pragma omp parallel for schedule(static) num_threads(num_threads())
    for (int64_t i = 0; i < m; ++i) {
        std::vector<T> acc(static_cast<size_t>(n), T(0));
        for (int64_t p = 0; p < k; ++p) {
            const T a_ip = trans_a ? a[p * lda + i] : a[i * lda + p];
            if (trans_b) {
                for (int64_t j = 0; j < n; ++j) acc[j] += a_ip * b[j * ldb + p];
            } else {
                const T* b_row = b + p * ldb;
                for (int64_t j = 0; j < n; ++j) acc[j] += a_ip * b_row[j];
            }
        }
        T* c_row = c + i * ldc;
        for (int64_t j = 0; j < n; ++j)
            c_row[j] = beta == T(0) ? alpha * acc[j] : alpha * acc[j] + beta * c_row[j];
    }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);

}  // namespace pk
