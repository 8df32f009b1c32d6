// Elementwise and margin losses with their gradients, shared by the CPU loops
// and the CUDA kernels (PyTorch: torch.nn.MSELoss, L1Loss, NLLLoss,
// MultiMarginLoss). g is the gradient scale of the element or row: 1/n for
// "mean", 1 for "sum", the upstream gradient for "none".
//   mse:  l = (x - t)^2,   dl/dx = 2 (x - t)
//   l1:   l = |x - t|,     dl/dx = sign(x - t)  (0 at x == t, as torch.sign)
//   nll:  l = -w_y x_y,    dl/dx_j = -w_y [j == y]
//   multi-margin (aten MultiMarginCriterion.cpp; the weight multiplies after
//   the power, as the implementation does):
//     z_i = margin - x_y + x_i,  l = sum_{i != y} w_y max(0, z_i)^p / C
//     dl/dx_i = w_y p max(0, z_i)^(p-1) / C  (i != y),  dl/dx_y = -sum_{i != y} dl/dx_i
#pragma once

#include "hd.h"

namespace pk {

// Elementwise losses are reduced in chunks of this many elements: one float64
// partial sum per chunk, then the partials in chunk order. The chunking is
// fixed, so the result does not depend on threads (CPU) or blocks (CUDA).
constexpr long long kLossChunk = 4096;

template <class T>
PK_HD inline T mse_value(T x, T t) {
    const T d = x - t;
    return d * d;
}

template <class T>
PK_HD inline T mse_grad(T x, T t, T g) {
    return T(2) * (x - t) * g;
}

template <class T>
PK_HD inline T l1_value(T x, T t) {
    const T d = x - t;
    return d < T(0) ? -d : d;
}

template <class T>
PK_HD inline T l1_grad(T x, T t, T g) {
    const T d = x - t;
    return d > T(0) ? g : d < T(0) ? -g : d == T(0) ? T(0) : d;  // sign; NaN stays NaN
}

// The hinge term of class i (i != y) and its derivative w.r.t. x_i, both
// before the w_y / C factor. A NaN z (a NaN logit) stays NaN, as
// numpy.maximum(z, 0) keeps it; PyTorch's z > 0 test would drop it, hiding
// the NaN from the loss.
template <class T>
PK_HD inline T margin_term(T z, int p) {
    return z > T(0) ? (p == 1 ? z : z * z) : z == z ? T(0) : z;
}

template <class T>
PK_HD inline T margin_term_grad(T z, int p) {
    return z > T(0) ? (p == 1 ? T(1) : T(2) * z) : z == z ? T(0) : z;
}

}  // namespace pk
