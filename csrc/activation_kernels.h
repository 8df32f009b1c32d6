// The per-ISA float32 activation kernels (activation_avx512.cpp,
// activation_avx2.cpp), called by activation.cpp on one contiguous chunk.
// Each returns false, writing nothing, for an activation it does not
// vectorise; the caller then runs the scalar formulas of common/activation.h.
#pragma once

#include <cstdint>

#include "common/activation.h"

namespace pk {

bool activation_forward_avx512(Act a, const ActParams<float>& p, const float* x, float* y,
                               int64_t n);
bool activation_backward_avx512(Act a, const ActParams<float>& p, const float* g,
                                const float* x, float* gx, int64_t n);
bool activation_forward_avx2(Act a, const ActParams<float>& p, const float* x, float* y,
                             int64_t n);
bool activation_backward_avx2(Act a, const ActParams<float>& p, const float* g, const float* x,
                              float* gx, int64_t n);

}  // namespace pk
