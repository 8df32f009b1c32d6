// The CPU loops of batch norm (csrc/batch_norm.cpp), one table per
// instruction set: batch_norm.cpp (baseline x86-64), batch_norm_avx2.cpp and
// batch_norm_avx512.cpp compile the same loops of batch_norm_loops.h, chosen at
// run time by pk::simd_path().
//
// "rows" loops work on a (rows, w) block of an (N, C) row-major array: row r
// of the block starts at p + r * ld; per-channel arrays are already offset to
// the block's first channel. "seg" loops work on one contiguous run of a
// single channel's values (layout (N, C, S), S > 1).
#pragma once

#include <cstdint>

#include "common/batch_norm.h"

namespace pk {

template <class T>
struct BnKernels {
    // Moments (mean, M2) of every channel over nrows rows with count nrows:
    // blocks of block_rows rows, each reduced twice while it is in cache
    // (sum -> block mean -> sum of squared deviations), merged in block order.
    // s and q: scratch of w doubles each.
    void (*rows_moments)(const T* x, int64_t ld, int64_t w, int64_t nrows, int64_t block_rows,
                         double* mean, double* m2, double* s, double* q);
    // sa += sum over the rows of dy, sb += sum of dy * (x - mean) (in double).
    void (*rows_grad_sums)(const T* x, const T* dy, int64_t ld, int64_t w, int64_t nrows,
                           const T* hi, const T* lo, double* sa, double* sb);
    // y = bn_forward_elem(x) with per-channel coefficients.
    void (*rows_normalise)(const T* x, T* y, int64_t ld, int64_t w, int64_t nrows, const T* hi,
                           const T* lo, const T* scale, const T* shift);
    // dx = bn_backward_elem (batch_stats) or bn_backward_elem_eval.
    void (*rows_backward)(const T* x, const T* dy, T* dx, int64_t ld, int64_t w, int64_t nrows,
                          const T* hi, const T* lo, const T* a, const T* b, const T* c,
                          bool batch_stats);
    // Mean and M2 of one run (two passes over it).
    void (*seg_moments)(const T* p, int64_t len, double* mean, double* m2);
    void (*seg_grad_sums)(const T* x, const T* dy, int64_t len, BnCentre<T> m, double* sa,
                          double* sb);
    void (*seg_normalise)(const T* x, T* y, int64_t len, BnForward<T> f);
    void (*seg_backward)(const T* x, const T* dy, T* dx, int64_t len, BnBackward<T> g,
                         bool batch_stats);
};

BnKernels<float> batch_norm_kernels_f32_generic();
BnKernels<double> batch_norm_kernels_f64_generic();
BnKernels<float> batch_norm_kernels_f32_avx2();
BnKernels<double> batch_norm_kernels_f64_avx2();
BnKernels<float> batch_norm_kernels_f32_avx512();
BnKernels<double> batch_norm_kernels_f64_avx512();

}  // namespace pk
