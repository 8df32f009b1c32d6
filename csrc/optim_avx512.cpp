// The fused-optimizer chunk loops of optim_loops.h compiled for AVX-512
// (-mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma): 16 floats / 8 doubles
// per instruction, masked tails, vector sqrt and divide.
#include "optim_loops.h"

namespace pk {

OptimKernels<float> optim_kernels_f32_avx512() { return optim_kernel_table<float>(); }
OptimKernels<double> optim_kernels_f64_avx512() { return optim_kernel_table<double>(); }

}  // namespace pk
