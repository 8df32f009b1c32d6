// Class-index targets on the device: one single-block pass that checks every
// label (in [0, C), or equal to ignore_index when the loss has one), sums the
// "mean" denominator sum_{non-ignored n} w[y_n] and the class-weight total
// W = sum_c w_c, each in a fixed order (float64, thread-strided partials, then
// block_sum). Row kernels read these from device memory, so no host round trip
// separates the passes; the host reads them back once, with the loss, and
// raises for an invalid label. Row kernels still check their own label and
// never index with an invalid one.
//
// Scalars (DeviceScalars slots): 0 denominator, 1 W, 2 first invalid row (-1:
// none), 3 its label, 4 the summed row losses, 5 1 / denominator.
#pragma once

#include "pk_cuda.h"

#include "row_reduce.h"

namespace pk {

enum ScalarSlot { kDenom = 0, kWeightSum = 1, kBadRow = 2, kBadLabel = 3, kTotal = 4, kInvDenom = 5 };

template <class I>
__device__ __forceinline__ bool label_ok(I y, long long c) {
    return y >= 0 && static_cast<long long>(y) < c;
}

template <class T, class I>
__global__ void __launch_bounds__(kSumThreads)
label_stats_kernel(const I* __restrict target, long long n, long long c, const T* __restrict weight,
                   long long ignore_index, bool has_ignore, double* __restrict stats) {
    double denom = 0;
    long long bad = n;
    for (long long r = threadIdx.x; r < n; r += blockDim.x) {
        const I y = target[r];
        if (has_ignore && static_cast<long long>(y) == ignore_index) continue;
        if (!label_ok(y, c)) {
            bad = bad < r ? bad : r;
            continue;
        }
        denom += weight ? static_cast<double>(weight[y]) : 1.0;
    }
    double w_sum = 0;
    for (long long j = threadIdx.x; j < c; j += blockDim.x) w_sum += weight ? static_cast<double>(weight[j]) : 1.0;
    denom = block_sum(denom);
    w_sum = block_sum(w_sum);
    bad = block_min(bad);
    if (threadIdx.x == 0) {
        stats[kDenom] = denom;
        stats[kInvDenom] = 1.0 / denom;  // once here: row kernels multiply
        stats[kWeightSum] = w_sum;
        stats[kBadRow] = bad < n ? static_cast<double>(bad) : -1.0;
        stats[kBadLabel] = bad < n ? static_cast<double>(target[bad]) : 0.0;
    }
}

}  // namespace pk
