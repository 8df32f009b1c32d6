// Splitting rows among OpenMP threads for the row-wise CPU kernels. Each row's
// result depends only on that row, so the split cannot change any value; small
// problems stay on the calling thread, where thread start-up would dominate.
#pragma once

#include <cstdint>

#include "runtime/threads.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pk {

template <class F>
void parallel_rows(int64_t rows, int64_t row_len, F&& fn) {
    constexpr int64_t kMinWorkPerThread = 1 << 15;  // elements
    const int64_t work = rows * (row_len > 0 ? row_len : 1);
    int threads = pk::num_threads();
    if (work / kMinWorkPerThread < threads) threads = static_cast<int>(work / kMinWorkPerThread);
    if (threads <= 1 || rows < 2) {
        fn(int64_t{0}, rows);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        const int t = 0, nt = 1;
#endif
        const int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
        if (r0 < r1) fn(r0, r1);
    }
}

}  // namespace pk
