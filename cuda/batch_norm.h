// Host entry points of cuda/batch_norm.cu, callable from plain C++ (the
// binding): no CUDA types appear here, the stream travels as an opaque pointer.
// x is (n, c, s) with s the product of the spatial sizes. Optional pointers
// (weight, bias, running statistics, parameter gradients) may be null.
#pragma once

#include <cstdint>

namespace pk {
namespace cuda_ops {

// Doubles of device workspace the kernels need for x of this shape (block
// partials and per-channel coefficients); the caller allocates it.
int64_t batch_norm_workspace_doubles(int64_t n, int64_t c, int64_t s);

template <class T>
void batch_norm_forward(const T* x, const T* weight, const T* bias, T* running_mean,
                        T* running_var, T* y, double* save_mean, double* save_invstd, int64_t n,
                        int64_t c, int64_t s, bool training, double momentum, double eps,
                        double* workspace, void* stream);

template <class T>
void batch_norm_backward(const T* grad_y, const T* x, const T* weight, const double* save_mean,
                         const double* save_invstd, T* grad_x, T* grad_weight, T* grad_bias,
                         int64_t n, int64_t c, int64_t s, bool batch_stats, double* workspace,
                         void* stream);

}  // namespace cuda_ops
}  // namespace pk
