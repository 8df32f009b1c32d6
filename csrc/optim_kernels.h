// The chunk kernels of the fused optimizers, as a table of function pointers
// per instruction set (csrc/optim_loops.h instantiated by csrc/optim.cpp for
// baseline x86-64, csrc/optim_avx2.cpp and csrc/optim_avx512.cpp). The driver
// in csrc/optim.cpp splits every tensor of a list into fixed-size chunks and
// hands (tensor, chunk) pairs to OpenMP threads; a kernel updates elements
// [begin, end) of one tensor in a single pass.
#pragma once

#include <cstdint>

#include "common/optim_rules.h"

namespace pk {

// One tensor of a list: the parameter, its gradient and up to three state
// tensors of the same size (which ones depends on the optimizer; unused
// entries are null).
template <class T>
struct OptimTensor {
    T* param;
    const T* grad;
    T* state[3];
    int64_t size;
};

template <class T>
struct OptimKernels {
    // state: momentum_buffer (null when momentum == 0)
    void (*sgd)(const OptimTensor<T>& t, int64_t begin, int64_t end, const SgdCoeffs<T>& c);
    // state: exp_avg, exp_avg_sq, max_exp_avg_sq (null unless amsgrad)
    void (*adam)(const OptimTensor<T>& t, int64_t begin, int64_t end, const AdamCoeffs<T>& c);
    // state: square_avg, momentum_buffer (null unless momentum > 0),
    //        grad_avg (null unless centered)
    void (*rmsprop)(const OptimTensor<T>& t, int64_t begin, int64_t end,
                    const RmspropCoeffs<T>& c);
    // state: state_sum
    void (*adagrad)(const OptimTensor<T>& t, int64_t begin, int64_t end,
                    const AdagradCoeffs<T>& c);
    // sum of x[i]^2 in double, in an order fixed by n alone
    double (*sum_squares)(const T* x, int64_t n);
    void (*scale)(T* x, int64_t n, T s);
};

OptimKernels<float> optim_kernels_f32_generic();
OptimKernels<double> optim_kernels_f64_generic();
OptimKernels<float> optim_kernels_f32_avx2();
OptimKernels<double> optim_kernels_f64_avx2();
OptimKernels<float> optim_kernels_f32_avx512();
OptimKernels<double> optim_kernels_f64_avx512();

}  // namespace pk
