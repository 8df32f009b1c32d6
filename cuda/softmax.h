// Host entry points of cuda/softmax.cu (no CUDA types; the stream is a void*).
#pragma once

#include <cstdint>

namespace pk {
namespace cuda_ops {

// y = softmax(x) or log_softmax(x) along rows of length n (rows x n, row-major).
template <class T>
void softmax_forward(const T* x, T* y, int64_t rows, int64_t n, bool log, void* stream);

// grad_x of softmax (log: log_softmax) from its output y and grad_y.
template <class T>
void softmax_backward(const T* grad_y, const T* y, T* grad_x, int64_t rows, int64_t n, bool log,
                      void* stream);

}  // namespace cuda_ops
}  // namespace pk
