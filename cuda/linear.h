// Host entry points of cuda/linear.cu, callable from plain C++ (the binding):
// no CUDA types, the stream travels as an opaque pointer.
#pragma once

#include <cstdint>

#include "common/activation.h"

namespace pk {
namespace cuda_ops {

// y = act(x W^T + b): x (batch, in_f), W (out_f, in_f), b (out_f) or null, y
// and pre (batch, out_f); pre, if not null, receives x W^T + b.
template <class T>
void linear_forward(Act act, const ActParams<T>& p, const T* x, const T* w, const T* bias, T* y,
                    T* pre, int64_t batch, int64_t in_f, int64_t out_f, void* stream,
                    int tile = 0);

// g' = grad_y * act'(saved) (saved = z, or y when saved_is_output);
// gx = g' W, gw = g'^T x, gb = column sums of g'. Any output may be null.
// tile: as for gemm (matmul.h), for every GEMM of the call.
template <class T>
void linear_backward(Act act, const ActParams<T>& p, const T* g, const T* x, const T* w,
                     const T* saved, bool saved_is_output, T* gx, T* gw, T* gb, int64_t batch,
                     int64_t in_f, int64_t out_f, void* stream, int tile = 0);

}  // namespace cuda_ops
}  // namespace pk
