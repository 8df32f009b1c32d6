// One tensor of a fused optimizer step, as the CPU loops (csrc/optim_loops.h)
// and the CUDA kernels (cuda/optim.cu) address it: the parameter, its gradient
// and up to three state tensors of the same size. Which states an optimizer
// uses, in order:
//   SGD      momentum_buffer (null when momentum == 0)
//   Adam     exp_avg, exp_avg_sq, max_exp_avg_sq (null unless amsgrad)
//   RMSprop  square_avg, momentum_buffer (null unless momentum > 0),
//            grad_avg (null unless centered)
//   Adagrad  state_sum
#pragma once

#include <cstdint>

namespace pk {

template <class T>
struct OptimTensor {
    T* param;
    const T* grad;
    T* state[3];
    int64_t size;
};

}  // namespace pk
