// Host entry points of cuda/optim.cu, callable from plain C++ (the binding):
// no CUDA types appear here, the stream travels as an opaque pointer. Tensor
// lists are host arrays of device pointers; coefficients come from
// csrc/bind/optim_checks.h, as on the CPU.
#pragma once

#include <cstdint>

#include "common/optim_rules.h"
#include "common/optim_tensor.h"

namespace pk {
namespace cuda_ops {

template <class T>
void sgd_step(const OptimTensor<T>* tensors, int64_t n, const SgdCoeffs<T>& c, void* stream);
template <class T>
void adam_step(const OptimTensor<T>* tensors, int64_t n, const AdamCoeffs<T>& c, void* stream);
template <class T>
void rmsprop_step(const OptimTensor<T>* tensors, int64_t n, const RmspropCoeffs<T>& c,
                  void* stream);
template <class T>
void adagrad_step(const OptimTensor<T>* tensors, int64_t n, const AdagradCoeffs<T>& c,
                  void* stream);

// float64 elements of device workspace global_norm and clip_grad_norm need for
// tensors of these sizes: the result, then one partial sum per chunk.
int64_t norm_workspace_size(const int64_t* sizes, int64_t n);

// workspace[0] <- L2 norm of all elements of the n tensors.
template <class T>
void global_norm(const T* const* data, const int64_t* sizes, int64_t n, double* workspace,
                 void* stream);

// global_norm, then every element times max_norm / (workspace[0] + eps) when
// that factor is below 1, computed on the device (no host round trip).
template <class T>
void clip_grad_norm(T* const* data, const int64_t* sizes, int64_t n, double* workspace,
                    double max_norm, double eps, void* stream);

}  // namespace cuda_ops
}  // namespace pk
