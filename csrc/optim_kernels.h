// The chunk kernels of the fused optimizers, as a table of function pointers
// per instruction set (csrc/optim_loops.h instantiated by csrc/optim.cpp for
// baseline x86-64, csrc/optim_avx2.cpp and csrc/optim_avx512.cpp). The driver
// in csrc/optim.cpp splits every tensor of a list into fixed-size chunks and
// hands (tensor, chunk) pairs to OpenMP threads; a kernel updates elements
// [begin, end) of one tensor in a single pass.
#pragma once

#include <cstdint>

#include "common/optim_rules.h"
#include "common/optim_tensor.h"

namespace pk {

template <class T>
struct OptimKernels {
    // states as listed in common/optim_tensor.h
    void (*sgd)(const OptimTensor<T>& t, int64_t begin, int64_t end, const SgdCoeffs<T>& c);
    void (*adam)(const OptimTensor<T>& t, int64_t begin, int64_t end, const AdamCoeffs<T>& c);
    void (*rmsprop)(const OptimTensor<T>& t, int64_t begin, int64_t end,
                    const RmspropCoeffs<T>& c);
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
