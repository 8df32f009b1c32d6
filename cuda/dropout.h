// Host entry points of cuda/dropout.cu, callable from plain C++ (the binding):
// no CUDA types appear here, the stream travels as an opaque pointer.
#pragma once

#include <cstdint>

namespace pk {
namespace cuda_ops {

// y = x * mask * scale, mask[i] = Philox keep bit of element i (common/philox.h).
template <class T>
void dropout(const T* x, T* y, uint8_t* mask, int64_t n, uint32_t threshold, T scale,
             uint64_t seed, uint64_t offset, void* stream);

void dropout_mask(uint8_t* mask, int64_t n, uint32_t threshold, uint64_t seed, uint64_t offset,
                  void* stream);

// grad_x = grad_y * mask * scale.
template <class T>
void dropout_backward(const T* grad_y, const uint8_t* mask, T* grad_x, int64_t n, T scale,
                      void* stream);

}  // namespace cuda_ops
}  // namespace pk
