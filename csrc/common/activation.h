// Elementwise activations and their derivatives, float and double: the one
// place these formulas live. CPU loops (csrc/activation*.cpp), the GEMM
// epilogue (Linear = GEMM + bias + activation) and CUDA kernels
// (cuda/activation.cu) all call these functions.
//
// Semantics follow torch.nn.functional (PyTorch 2.x CPU kernels,
// aten/src/ATen/native/cpu/Activation.cpp and UnaryOpsKernel.cpp):
//   identity     y = x
//   sigmoid      y = 1 / (1 + e^-x)                    dy = y (1 - y)
//   tanh         y = tanh x                            dy = 1 - y^2
//   relu         y = x <= 0 ? 0 : x                    dy = x <= 0 ? 0 : 1   (0 at x = 0)
//   leaky_relu   y = x > 0 ? x : s x                   dy = x > 0 ? 1 : s    (s = negative_slope)
//   prelu        leaky_relu with s = weight[channel]   (grad of weight: sum of x g where x <= 0)
//   elu          y = x > 0 ? x : a (e^x - 1)           dy = x > 0 ? 1 : a e^x
//   selu         y = S elu(x, A), S = 1.0507..., A = 1.6732...
//   celu         y = x > 0 ? x : a (e^(x/a) - 1)       dy = x > 0 ? 1 : e^(x/a)
//   gelu         y = x Phi(x) = x/2 (1 + erf(x/sqrt2)) dy = Phi(x) + x phi(x)
//   gelu tanh    y = x/2 (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3)
//   silu         y = x sigmoid(x)                      dy = s (1 + x (1 - s))
//   softplus     y = b x > t ? x : log(1 + e^(b x)) / b    dy = b x > t ? 1 : sigmoid(b x)
//   mish         y = x tanh(softplus(x))               dy = tsp + x sigmoid(x) (1 - tsp^2)
//   hardtanh     y = clamp(x, lo, hi)                  dy = lo < x < hi ? 1 : 0 (open interval)
//   softsign     y = x / (1 + |x|)                     dy = 1 / (1 + |x|)^2
//   gaussian     y = e^(-x^2)                          dy = -2 x e^(-x^2)
//   gcu          y = x cos x                           dy = cos x - x sin x
//   binary_step  y = x >= 0 ? 1 : 0 (NaN stays NaN)    dy = 0
// NaN inputs give NaN outputs for every activation (the comparisons above are
// written so that NaN takes the branch that returns x or a function of x).
//
// Departures from PyTorch's literal expressions, all equal to them in exact
// arithmetic and more accurate in float (PyTorch's are accurate in absolute
// terms; these also in relative terms, which the tests measure in ulps):
//   - sigmoid, silu and their derivatives use e^-|x| (no overflow; 1 - s is
//     computed as e / (1 + e) rather than by subtraction), tanh's derivative
//     is 4 e / (1 + e)^2 with e = e^(-2|x|);
//   - gelu uses Phi(x) = erfc(-x/sqrt2)/2 (float computed in double), gelu
//     tanh uses x sigmoid(2u); e^(-x^2) and e^(-x^2/2) split x^2 with an FMA;
//   - softplus is evaluated as max(z, 0) + log1p(e^-|z|) (z = b x) and its
//     derivative as sigmoid(z), so a threshold above ~88 (float) no longer
//     overflows to inf / NaN;
//   - mish uses tanh(log1p(e^x)) = n / (n + 2), n = e^x (e^x + 2), which is
//     1 to rounding for x > 20.
//
// Backward: grad_x = act_backward(a, g, x, p). For relu, hardtanh, leaky_relu,
// prelu and binary_step the gradient is selected (g or 0 / g s), not
// multiplied, as PyTorch does, so an infinite g where the slope is 0 gives 0.
//
// Derivative from the output y instead of x (for a fused forward that keeps
// only y): act_grad_from_output(a, y, p) is valid when
// act_has_output_grad(a) is true, namely identity, sigmoid, tanh, relu,
// leaky_relu (s >= 0), elu/celu (alpha > 0), selu, hardtanh, softsign and
// binary_step. Every other activation needs x.
//
// References: https://pytorch.org/docs/stable/nn.functional.html#non-linear-activation-functions
// GELU: Hendrycks & Gimpel 2016; SELU: Klambauer et al. 2017; Mish: Misra 2019;
// GCU: Noel et al. 2021.
#pragma once

#include <cmath>

#include "hd.h"

namespace pk {

enum class Act : int {
    identity,
    sigmoid,
    tanh,
    relu,
    leaky_relu,
    prelu,
    elu,
    selu,
    celu,
    gelu,
    silu,
    softplus,
    mish,
    hardtanh,
    softsign,
    gaussian,
    gcu,
    binary_step,
};

constexpr int kActCount = static_cast<int>(Act::binary_step) + 1;

// Parameters of every activation, in the element type (PyTorch converts its
// double Scalars to the tensor's type before computing). Unused fields are
// ignored. prelu reads its per-channel weight through negative_slope.
template <class T>
struct ActParams {
    T negative_slope = T(0.01);  // leaky_relu; prelu: the channel's weight
    T alpha = T(1);              // elu, celu
    T beta = T(1);               // softplus
    T threshold = T(20);         // softplus
    T min_val = T(-1);           // hardtanh
    T max_val = T(1);            // hardtanh
    bool gelu_tanh = false;      // gelu(approximate="tanh")
};

namespace act {

// SELU constants, Klambauer et al. 2017 (as in PyTorch).
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSqrt1_2 = 0.70710678118654752440084436210485;      // 1/sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267793994605993438;   // 1/sqrt(2 pi)
constexpr double kSqrt2OverPi = 0.79788456080286535587989211986876;  // sqrt(2/pi)
constexpr double kGeluKappa = 0.044715;

// sigmoid(x) and 1 - sigmoid(x) = sigmoid(-x), both to full relative
// accuracy: with e = e^-|x| (never overflows), they are 1 / (1 + e) and
// e / (1 + e) in the order the sign of x gives.
template <class T>
PK_HD inline T sigmoid(T x) {
    const T e = std::exp(-std::fabs(x));
    const T r = T(1) / (T(1) + e);
    return x >= T(0) ? r : e * r;
}

template <class T>
PK_HD inline T sigmoid_complement(T x) {
    const T e = std::exp(-std::fabs(x));
    const T r = T(1) / (T(1) + e);
    return x >= T(0) ? e * r : r;
}

// Both at once, for one exp and one division.
template <class T>
PK_HD inline void sigmoid_pair(T x, T* s, T* sc) {
    const T e = std::exp(-std::fabs(x));
    const T r = T(1) / (T(1) + e);
    const T er = e * r;
    *s = x >= T(0) ? r : er;
    *sc = x >= T(0) ? er : r;
}

// e^(-c x^2) with x^2 split into its rounded value p and the exact error of
// that rounding (an FMA): e^(-c p) (1 - c err). Keeps the relative accuracy
// where c x^2 is large, which e^(-c * (x * x)) loses.
template <class T>
PK_HD inline T exp_neg_sq(T x, T c) {
    const T p = x * x;
    const T err = p - p == T(0) ? std::fma(x, x, -p) : T(0);  // 0 when x * x overflows
    return std::exp(-c * p) * (T(1) - c * err);
}

// Standard normal CDF Phi(x) = erfc(-x / sqrt2) / 2. erfc keeps the left
// tail accurate where 1 + erf(x / sqrt2) cancels; float is evaluated in
// double because rounding x / sqrt2 to float alone costs up to ~100 ulp in
// the tail.
template <class T>
PK_HD inline T normal_cdf(T x) {
    if (sizeof(T) < sizeof(double))
        return static_cast<T>(0.5 * std::erfc(static_cast<double>(x) * -kSqrt1_2));
    return T(0.5) * std::erfc(x * T(-kSqrt1_2));
}

// ---------------------------------------------------------------- forward

template <class T>
PK_HD inline T relu(T x) {
    return x <= T(0) ? T(0) : x;
}

template <class T>
PK_HD inline T leaky_relu(T x, T slope) {
    return x > T(0) ? x : x * slope;
}

template <class T>
PK_HD inline T elu(T x, T alpha) {
    return x > T(0) || x != x ? x : alpha * std::expm1(x);
}

template <class T>
PK_HD inline T selu(T x) {
    return T(kSeluScale) * (x > T(0) || x != x ? x : T(kSeluAlpha) * std::expm1(x));
}

template <class T>
PK_HD inline T celu(T x, T alpha) {
    return x > T(0) || x != x ? x : alpha * std::expm1(x / alpha);
}

template <class T>
PK_HD inline T gelu_erf(T x) {
    return x * normal_cdf(x);
}

// 0.5 x (1 + tanh u) = x sigmoid(2 u): no cancellation in the left tail.
template <class T>
PK_HD inline T gelu_tanh(T x) {
    const T u = T(kSqrt2OverPi) * (x + T(kGeluKappa) * x * x * x);
    return x * sigmoid(T(2) * u);
}

template <class T>
PK_HD inline T silu(T x) {
    return x * sigmoid(x);
}

template <class T>
PK_HD inline T softplus(T x, T beta, T threshold) {
    const T z = x * beta;
    if (z > threshold) return x;
    // log(1 + e^z) without overflow: max(z, 0) + log1p(e^-|z|).
    return ((z > T(0) ? z : T(0)) + std::log1p(std::exp(-std::fabs(z)))) / beta;
}

// tanh(softplus(x)) = n / (n + 2) with n = e^x (e^x + 2); 1 to rounding for x > 20.
template <class T>
PK_HD inline T tanh_softplus(T x) {
    if (x > T(20)) return T(1);
    const T e = std::exp(x);
    const T n = e * (e + T(2));
    return n / (n + T(2));
}

template <class T>
PK_HD inline T mish(T x) {
    return x * tanh_softplus(x);
}

template <class T>
PK_HD inline T hardtanh(T x, T lo, T hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

template <class T>
PK_HD inline T softsign(T x) {
    return x / (T(1) + std::fabs(x));
}

template <class T>
PK_HD inline T gaussian(T x) {
    return exp_neg_sq(x, T(1));
}

// cos x and sin x for gcu. The host uses libm (exact argument reduction).
// Device code avoids cos/sin, whose Payne-Hanek slow path needs a
// local-memory stack frame in every kernel that contains it: x / pi is
// formed in double as a double-double product (an FMA recovers the rounding
// error of x * (1/pi)_hi), its even integer part removed exactly, and
// sincospi finishes. The phase error is about 1e-16 |x| rad: float inputs keep
// full accuracy up to |x| ~ 2^20, double inputs lose relative accuracy in cos
// as |x| grows (as any reduction with a 106-bit pi does beyond ~2^50).
template <class T>
PK_HD inline void cos_sin(T x, T* c, T* s) {
#if defined(__CUDA_ARCH__)
    constexpr double kInvPiHi = 0.31830988618379069;      // 1/pi rounded to double
    constexpr double kInvPiLo = -1.9678676675182486e-17;  // 1/pi - kInvPiHi
    const double xd = static_cast<double>(x);
    double hi = xd * kInvPiHi;
    const double lo = std::fma(xd, kInvPiHi, -hi) + xd * kInvPiLo;
    hi -= 2.0 * std::rint(0.5 * hi);  // exact: cos, sin have period 2 in x / pi
    double sd, cd;
    sincospi(hi + lo, &sd, &cd);
    *c = static_cast<T>(cd);
    *s = static_cast<T>(sd);
#else
    *c = std::cos(x);
    *s = std::sin(x);
#endif
}

template <class T>
PK_HD inline T gcu(T x) {
    T c, s;
    cos_sin(x, &c, &s);
    return x * c;
}

template <class T>
PK_HD inline T binary_step(T x) {
    return x >= T(0) ? T(1) : (x != x ? x : T(0));
}

// ---------------------------------------------------------------- derivatives dy/dx from x

// s (1 - s) = e / (1 + e)^2 with e = e^-|x|: accurate where s saturates.
template <class T>
PK_HD inline T sigmoid_grad(T x) {
    const T e = std::exp(-std::fabs(x));
    const T r = T(1) / (T(1) + e);
    return e * r * r;
}

// 1 - tanh^2 x = 4 e / (1 + e)^2 with e = e^(-2|x|): accurate where tanh saturates.
template <class T>
PK_HD inline T tanh_grad(T x) {
    const T e = std::exp(T(-2) * std::fabs(x));
    const T r = T(1) / (T(1) + e);
    return T(4) * e * r * r;
}

template <class T>
PK_HD inline T elu_grad(T x, T alpha) {
    return x > T(0) || x != x ? T(1) : alpha * std::exp(x);
}

template <class T>
PK_HD inline T selu_grad(T x) {
    return x > T(0) || x != x ? T(kSeluScale) : T(kSeluScale * kSeluAlpha) * std::exp(x);
}

template <class T>
PK_HD inline T celu_grad(T x, T alpha) {
    return x > T(0) || x != x ? T(1) : std::exp(x / alpha);
}

template <class T>
PK_HD inline T gelu_erf_grad(T x) {
    const T pdf = T(kInvSqrt2Pi) * exp_neg_sq(x, T(0.5));
    return normal_cdf(x) + x * pdf;
}

template <class T>
PK_HD inline T gelu_tanh_grad(T x) {
    // Beyond |x| = 1e4 the derivative is 0 or 1 to rounding; clamping finite x
    // keeps x^3 finite so 0 * inf cannot appear. inf and NaN give NaN, as in
    // PyTorch (x - x is 0 only for finite x).
    if (x - x == T(0)) x = x > T(1e4) ? T(1e4) : (x < T(-1e4) ? T(-1e4) : x);
    const T x2 = x * x;
    const T u2 = T(2 * kSqrt2OverPi) * (x + T(kGeluKappa) * x2 * x);
    const T du = T(kSqrt2OverPi) * (T(1) + T(3 * kGeluKappa) * x2);
    // (1 + t) / 2 = s and (1 - t^2) / 2 = 2 s (1 - s), s = sigmoid(2 u).
    T s, sc;
    sigmoid_pair(u2, &s, &sc);
    return s + T(2) * x * s * sc * du;
}

template <class T>
PK_HD inline T silu_grad(T x) {
    T s, sc;
    sigmoid_pair(x, &s, &sc);
    return s * (T(1) + x * sc);
}

template <class T>
PK_HD inline T softplus_grad(T x, T beta, T threshold) {
    const T z = x * beta;
    return z > threshold ? T(1) : sigmoid(z);
}

// 1 - tsp^2 = (1 - tsp)(1 + tsp) with 1 - tsp = 2 / (n + 2): no cancellation
// where tsp is close to 1.
template <class T>
PK_HD inline T mish_grad(T x) {
    if (x > T(20)) return T(1) + x * sigmoid(x) * T(0);  // tsp = 1 to rounding; keeps NaN rules
    const T e = std::exp(x);
    const T n = e * (e + T(2));
    const T d = T(1) / (n + T(2));
    const T tsp = n * d;
    return tsp + x * sigmoid(x) * (T(2) * d * (T(1) + tsp));
}

template <class T>
PK_HD inline T softsign_grad(T x) {
    const T d = T(1) + std::fabs(x);
    return T(1) / (d * d);
}

template <class T>
PK_HD inline T gaussian_grad(T x) {
    // x e^(-x^2) before the factor -2: (-2 x) overflows for |x| > max / 2,
    // and inf * 0 would be NaN where the derivative is 0.
    return T(-2) * (x * exp_neg_sq(x, T(1)));
}

template <class T>
PK_HD inline T gcu_grad(T x) {
    T c, s;
    cos_sin(x, &c, &s);
    return c - x * s;
}

}  // namespace act

// ---------------------------------------------------------------- dispatch

template <class T>
PK_HD inline T act_forward(Act a, T x, const ActParams<T>& p) {
    switch (a) {
        case Act::identity: return x;
        case Act::sigmoid: return act::sigmoid(x);
        case Act::tanh: return std::tanh(x);
        case Act::relu: return act::relu(x);
        case Act::leaky_relu:
        case Act::prelu: return act::leaky_relu(x, p.negative_slope);
        case Act::elu: return act::elu(x, p.alpha);
        case Act::selu: return act::selu(x);
        case Act::celu: return act::celu(x, p.alpha);
        case Act::gelu: return p.gelu_tanh ? act::gelu_tanh(x) : act::gelu_erf(x);
        case Act::silu: return act::silu(x);
        case Act::softplus: return act::softplus(x, p.beta, p.threshold);
        case Act::mish: return act::mish(x);
        case Act::hardtanh: return act::hardtanh(x, p.min_val, p.max_val);
        case Act::softsign: return act::softsign(x);
        case Act::gaussian: return act::gaussian(x);
        case Act::gcu: return act::gcu(x);
        case Act::binary_step: return act::binary_step(x);
    }
    return x;
}

// dy/dx at x. For relu / hardtanh / binary_step this is the 0-or-1 slope;
// use act_backward to apply it to a gradient the way PyTorch does.
template <class T>
PK_HD inline T act_grad(Act a, T x, const ActParams<T>& p) {
    switch (a) {
        case Act::identity: return T(1);
        case Act::sigmoid: return act::sigmoid_grad(x);
        case Act::tanh: return act::tanh_grad(x);
        case Act::relu: return x <= T(0) ? T(0) : T(1);
        case Act::leaky_relu:
        case Act::prelu: return x > T(0) ? T(1) : p.negative_slope;
        case Act::elu: return act::elu_grad(x, p.alpha);
        case Act::selu: return act::selu_grad(x);
        case Act::celu: return act::celu_grad(x, p.alpha);
        case Act::gelu: return p.gelu_tanh ? act::gelu_tanh_grad(x) : act::gelu_erf_grad(x);
        case Act::silu: return act::silu_grad(x);
        case Act::softplus: return act::softplus_grad(x, p.beta, p.threshold);
        case Act::mish: return act::mish_grad(x);
        case Act::hardtanh: return x <= p.min_val || x >= p.max_val ? T(0) : T(1);
        case Act::softsign: return act::softsign_grad(x);
        case Act::gaussian: return act::gaussian_grad(x);
        case Act::gcu: return act::gcu_grad(x);
        case Act::binary_step: return T(0);
    }
    return T(1);
}

// grad_x for upstream gradient g at input x.
template <class T>
PK_HD inline T act_backward(Act a, T g, T x, const ActParams<T>& p) {
    switch (a) {
        case Act::identity: return g;
        case Act::relu: return x <= T(0) ? T(0) : g;
        case Act::leaky_relu:
        case Act::prelu: return x > T(0) ? g : g * p.negative_slope;
        case Act::hardtanh: return x <= p.min_val || x >= p.max_val ? T(0) : g;
        case Act::binary_step: return T(0);
        default: return g * act_grad(a, x, p);
    }
}

// Whether dy/dx can be computed from y alone (see the header comment).
template <class T>
PK_HD inline bool act_has_output_grad(Act a, const ActParams<T>& p) {
    switch (a) {
        case Act::identity:
        case Act::sigmoid:
        case Act::tanh:
        case Act::relu:
        case Act::selu:
        case Act::hardtanh:
        case Act::softsign:
        case Act::binary_step: return true;
        case Act::leaky_relu: return p.negative_slope >= T(0);
        case Act::elu:
        case Act::celu: return p.alpha > T(0);
        default: return false;
    }
}

// grad_x for upstream gradient g from the output y; only where
// act_has_output_grad(a, p). Same results as act_backward up to rounding.
template <class T>
PK_HD inline T act_backward_from_output(Act a, T g, T y, const ActParams<T>& p) {
    switch (a) {
        case Act::identity: return g;
        case Act::sigmoid: return g * (y * (T(1) - y));
        case Act::tanh: return g * (T(1) - y * y);
        case Act::relu: return y <= T(0) ? T(0) : g;
        // y > 0 exactly when x > 0 for a nonnegative slope (y = -0 when x = -0).
        case Act::leaky_relu: return y > T(0) ? g : g * p.negative_slope;
        // x <= 0: y = a (e^x - 1) so a e^x = y + a; celu: e^(x/a) = y/a + 1.
        case Act::elu: return y > T(0) || y != y ? g : g * (y + p.alpha);
        case Act::celu: return y > T(0) || y != y ? g : g * (y / p.alpha + T(1));
        case Act::selu:
            return y > T(0) || y != y ? g * T(act::kSeluScale)
                                      : g * (y + T(act::kSeluScale * act::kSeluAlpha));
        // y is in the open interval exactly when x is (clamp is monotone).
        case Act::hardtanh: return y <= p.min_val || y >= p.max_val ? T(0) : g;
        // 1 / (1 + |x|) = 1 - |y|.
        case Act::softsign: {
            const T d = T(1) - std::fabs(y);
            return g * (d * d);
        }
        case Act::binary_step: return T(0);
        default: return g * y;  // not reached when act_has_output_grad holds
    }
}

template <class T>
PK_HD inline T act_grad_from_output(Act a, T y, const ActParams<T>& p) {
    return act_backward_from_output(a, T(1), y, p);
}

}  // namespace pk
