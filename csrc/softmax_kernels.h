// The CPU row kernels of softmax, log-softmax and softmax cross-entropy, one
// table per instruction set (softmax.cpp: baseline x86-64, softmax_avx2.cpp,
// softmax_avx512.cpp: the same loops of softmax_rows.h compiled with wider
// vectors), chosen at run time by pk::simd_path(). Every kernel handles rows
// [r0, r1) of a row-major (rows, C) array, and each row's result depends only
// on that row, so the callers may split rows among threads freely.
#pragma once

#include <cstdint>

namespace pk {

// Fused softmax cross-entropy over rows with class-index targets.
template <class T, class I>
struct CeIndexRows {
    const T* logits;        // (N, C)
    const I* target;        // (N,), validated: in [0, C) or ignore_index
    const T* weight;        // (C,) or null
    const T* grad_loss;     // (N,) upstream gradient for reduction "none", or null
    T* grad;                // (N, C) out: gradient of the reduced loss
    double* row_loss;       // (N,) out: weighted row loss, before the reduction
    int64_t n_classes;
    int64_t ignore_index;
    T eps;                  // label smoothing
    T eps_c;                // eps / C
    T weight_sum;           // sum_c weight_c (C without weights)
    T scale;                // gradient scale of every row: 1/denominator or 1
};

// Fused softmax cross-entropy over rows with class-probability targets.
template <class T>
struct CeProbRows {
    const T* logits;     // (N, C)
    const T* target;     // (N, C)
    const T* weight;     // (C,) or null
    const T* grad_loss;  // (N,) or null
    T* grad;
    double* row_loss;
    int64_t n_classes;
    T eps;
    T eps_c;  // eps / C
    T scale;
};

template <class T>
struct SoftmaxRowKernels {
    void (*forward)(const T* x, T* y, int64_t r0, int64_t r1, int64_t n, bool log);
    void (*backward)(const T* grad_y, const T* y, T* grad_x, int64_t r0, int64_t r1, int64_t n,
                     bool log);
    void (*ce_index_i64)(const CeIndexRows<T, int64_t>& a, int64_t r0, int64_t r1);
    void (*ce_index_i32)(const CeIndexRows<T, int32_t>& a, int64_t r0, int64_t r1);
    void (*ce_prob)(const CeProbRows<T>& a, int64_t r0, int64_t r1);
};

SoftmaxRowKernels<float> softmax_kernels_f32_generic();
SoftmaxRowKernels<double> softmax_kernels_f64_generic();
SoftmaxRowKernels<float> softmax_kernels_f32_avx2();
SoftmaxRowKernels<double> softmax_kernels_f64_avx2();
SoftmaxRowKernels<float> softmax_kernels_f32_avx512();
SoftmaxRowKernels<double> softmax_kernels_f64_avx512();

// The table for the SIMD path in use.
template <class T>
const SoftmaxRowKernels<T>& softmax_kernels();

}  // namespace pk
