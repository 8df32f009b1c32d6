// Per-element update rules of the fused optimizers (SGD, Adam/AdamW, RMSprop,
// Adagrad): the one place each formula lives. CPU chunk loops (csrc/optim_loops.h)
// and CUDA kernels (cuda/optim.cu) call these on every element; everything
// that is the same for all elements of a step (bias corrections, decayed
// learning rates, 1 - beta) is computed once on the host into a *Coeffs struct.
//
// Formulas follow the pseudo-code of the torch.optim documentation (SGD, Adam,
// AdamW, RMSprop, Adagrad) and the arithmetic of torch/optim/*.py's
// single-tensor path, in its order of operations:
//   g <- -g if maximize;  g <- g + wd * p (L2 weight decay)
//   SGD      b <- g (first step) | mu * b + (1 - dampening) * g
//            g <- g + mu * b (nesterov) | b;          p <- p - lr * g
//   Adam     p <- p * (1 - lr * wd) (AdamW, instead of the L2 term)
//            m <- beta1 * m + (1 - beta1) * g;  v <- beta2 * v + (1 - beta2) * g^2
//            vmax <- max(vmax, v) (amsgrad: v^ = vmax, else v^ = v)
//            p <- p - lr / (1 - beta1^t) * m / (sqrt(v^) / sqrt(1 - beta2^t) + eps)
//   RMSprop  s <- alpha * s + (1 - alpha) * g^2
//            a <- alpha * a + (1 - alpha) * g, d <- sqrt(s - a^2) + eps (centered)
//                                     | d <- sqrt(s) + eps
//            b <- mu * b + g / d, p <- p - lr * b (momentum) | p <- p - lr * g / d
//   Adagrad  s <- s + g^2;  p <- p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)
// (torch's code writes the first moments as exp_avg.lerp_(grad, 1 - beta1), the
// same value up to rounding; we keep the documented form, which needs no
// branch on the weight.)
// Weight decay is skipped when wd == 0 (not multiplied by zero) so that an
// infinite parameter does not turn its update into NaN, as in PyTorch.
//
// Option flags are plain members of the coefficient structs: they are the same
// for every element, so loops see loop-invariant branches (which the compiler
// hoists or turns into selects), and only the line that differs branches.
//
// The functions live in an unnamed namespace: csrc/optim_avx512.cpp and
// csrc/optim_avx2.cpp include this header under their own -m flags, and
// internal linkage keeps the linker from merging an AVX-512 copy of an inline
// function into the baseline path. The coefficient structs hold no code and are
// shared by name between those files.
#pragma once

#include <cmath>

#include "hd.h"

namespace pk {

template <class T>
struct SgdCoeffs {
    T lr, momentum, one_minus_dampening, weight_decay;
    bool nesterov, maximize;
    bool first_step;  // the momentum buffer is set to the gradient, not decayed
};

template <class T>
struct AdamCoeffs {
    T beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay;
    T step_size;      // lr / (1 - beta1^t)
    T bc2_sqrt;       // sqrt(1 - beta2^t)
    T decay;          // 1 - lr * weight_decay (AdamW)
    bool decoupled, amsgrad, maximize;
};

template <class T>
struct RmspropCoeffs {
    T lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
    bool centered, maximize;
};

template <class T>
struct AdagradCoeffs {
    T clr;  // lr / (1 + (t - 1) * lr_decay)
    T eps, weight_decay;
    bool maximize;
};

namespace {

#if !defined(__CUDACC__)
using std::sqrt;
#endif

// torch.maximum: NaN in either argument gives NaN.
template <class T>
PK_HD inline T optim_max(T a, T b) {
    return (a > b || a != a) ? a : b;
}

// The gradient the rules see: negated when maximizing, plus wd * p for L2
// weight decay.
template <class T>
PK_HD inline T optim_grad(T g, T p, bool maximize, T weight_decay) {
    if (maximize) g = -g;
    if (weight_decay != T(0)) g = g + weight_decay * p;
    return g;
}

// ---------------------------------------------------------------- SGD


// buf is only read or written when momentum != 0.
template <class T>
PK_HD inline void sgd_update(T& p, T g, T& buf, const SgdCoeffs<T>& c) {
    g = optim_grad(g, p, c.maximize, c.weight_decay);
    if (c.momentum != T(0)) {
        const T b = c.first_step ? g : c.momentum * buf + c.one_minus_dampening * g;
        buf = b;
        g = c.nesterov ? g + c.momentum * b : b;
    }
    p = p - c.lr * g;
}

// ---------------------------------------------------------------- Adam / AdamW


// vmax is only read or written when amsgrad is set.
template <class T>
PK_HD inline void adam_update(T& p, T g, T& m, T& v, T& vmax, const AdamCoeffs<T>& c) {
    if (c.maximize) g = -g;
    if (c.weight_decay != T(0)) {
        if (c.decoupled) p = p * c.decay;
        else g = g + c.weight_decay * p;
    }
    const T m1 = c.beta1 * m + c.one_minus_beta1 * g;
    T v1 = c.beta2 * v + c.one_minus_beta2 * (g * g);
    m = m1;
    v = v1;
    if (c.amsgrad) {
        v1 = optim_max(vmax, v1);
        vmax = v1;
    }
    const T denom = sqrt(v1) / c.bc2_sqrt + c.eps;
    p = p - c.step_size * (m1 / denom);
}

// ---------------------------------------------------------------- RMSprop


// buf is only used when momentum > 0, grad_avg only when centered.
template <class T>
PK_HD inline void rmsprop_update(T& p, T g, T& square_avg, T& buf, T& grad_avg,
                                 const RmspropCoeffs<T>& c) {
    g = optim_grad(g, p, c.maximize, c.weight_decay);
    const T s = c.alpha * square_avg + c.one_minus_alpha * (g * g);
    square_avg = s;
    T var = s;
    if (c.centered) {
        const T a = c.alpha * grad_avg + c.one_minus_alpha * g;
        grad_avg = a;
        var = s - a * a;
    }
    const T d = sqrt(var) + c.eps;
    if (c.momentum > T(0)) {
        const T b = c.momentum * buf + g / d;
        buf = b;
        p = p - c.lr * b;
    } else {
        p = p - c.lr * (g / d);
    }
}

// ---------------------------------------------------------------- Adagrad


template <class T>
PK_HD inline void adagrad_update(T& p, T g, T& state_sum, const AdagradCoeffs<T>& c) {
    g = optim_grad(g, p, c.maximize, c.weight_decay);
    const T s = state_sum + g * g;
    state_sum = s;
    p = p - c.clr * (g / (sqrt(s) + c.eps));
}

}  // namespace
}  // namespace pk
