// The fused-optimizer chunk loops of optim_loops.h compiled for AVX2 + FMA:
// 8 floats / 4 doubles per instruction.
#include "optim_loops.h"

namespace pk {

OptimKernels<float> optim_kernels_f32_avx2() { return optim_kernel_table<float>(); }
OptimKernels<double> optim_kernels_f64_avx2() { return optim_kernel_table<double>(); }

}  // namespace pk
