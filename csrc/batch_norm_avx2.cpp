// The batch norm loops of batch_norm_loops.h compiled for
// AVX2 + FMA (8 floats per vector).
#include "batch_norm_loops.h"

namespace pk {

BnKernels<float> batch_norm_kernels_f32_avx2() { return make_batch_norm_kernels<float>(); }
BnKernels<double> batch_norm_kernels_f64_avx2() { return make_batch_norm_kernels<double>(); }

}  // namespace pk
