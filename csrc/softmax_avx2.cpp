// The softmax / cross-entropy row loops of softmax_rows.h compiled for
// AVX2 + FMA (8 floats per vector).
#include "softmax_rows.h"

namespace pk {

SoftmaxRowKernels<float> softmax_kernels_f32_avx2() { return make_softmax_kernels<float>(); }
SoftmaxRowKernels<double> softmax_kernels_f64_avx2() { return make_softmax_kernels<double>(); }

}  // namespace pk
