// Host entry points of cuda/activation.cu, callable from plain C++ (the
// binding): no CUDA types, the stream travels as an opaque pointer.
#pragma once

#include <cstdint>

#include "common/activation.h"

namespace pk {
namespace cuda_ops {

// prelu's per-channel layout (x viewed as (outer, channels, inner)); for every
// other activation weight is null and channels = 1.
struct ActivationShape {
    int64_t n = 0;
    int64_t outer = 1, channels = 1, inner = 1;
};

// y = act(x) elementwise (prelu: slope weight[channel]).
template <class T>
void activation_forward(Act a, const ActParams<T>& p, const ActivationShape& s, const T* x,
                        const T* weight, T* y, void* stream);

// grad_x = grad_y * act'(x); prelu also writes grad_weight (channels entries,
// or 1 for a shared weight), summed in a fixed order.
template <class T>
void activation_backward(Act a, const ActParams<T>& p, const ActivationShape& s, const T* g,
                         const T* x, const T* weight, T* gx, T* gw, void* stream);

}  // namespace cuda_ops
}  // namespace pk
