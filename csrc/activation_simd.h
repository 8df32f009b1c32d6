// float32 activations over SIMD vectors, written once with GCC/Clang vector
// extensions and instantiated per ISA by activation_avx512.cpp (16 lanes) and
// activation_avx2.cpp (8 lanes). Each ISA supplies an `Ops` struct:
//   V, VI                 float and int32 vectors of the same lane count
//   fma(a, b, c)          a * b + c, one rounding
//   round(x)              nearest integer (ties to even), as float
//   scale(p, n)           p * 2^n for integer-valued n in [-150, 129], correct
//                         for overflow (inf) and gradual underflow
//   any(m)                whether any lane of the comparison mask m is set
// The functions compute the formulas of common/activation.h (same branches,
// same NaN behaviour), replacing libm by polynomial approximations:
//   exp     Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, Cephes expf
//           polynomial for e^r - 1, then 2^n (about 1 ulp)
//   expm1   the same reduction: 2^n (e^r - 1) + (2^n - 1), exact for n = 0
//   log1p   on [0, 1] only (softplus): Cephes logf on 1 + u with the rounding
//           of 1 + u added back as (u - ((1 + u) - 1)) / (1 + u)
//   tanh    Cephes tanhf odd polynomial for |x| < 0.625, else
//           (1 - e) / (1 + e), e = e^(-2|x|)
//   Phi     standard normal CDF, for GELU: 0.5 erfc(|x|/sqrt2) =
//           0.5 e^(-x^2/2) t P(t), t = 1 / (1 + |x| / (2 sqrt2)), P a
//           degree 9 polynomial in t - 0.5769 fitted to erfcx(z) / t
//           (relative error 2.5e-8 in exact arithmetic, weighted least
//           squares) on z = |x|/sqrt2 in [0, 11]; beyond that the
//           exponential underflows. x^2 is split into its float value and the
//           exact rounding error (FMA) so the tail keeps its relative accuracy.
// gcu (cosine needs a long argument reduction) and prelu's per-channel slope
// are handled by the scalar loops in activation.cpp.
#pragma once

#include <cstdint>
#include <cstring>

#include "common/activation.h"

namespace pk {
namespace simd_act {

template <class Ops>
struct Math {
    using V = typename Ops::V;
    using VI = typename Ops::VI;
    static constexpr int W = sizeof(V) / sizeof(float);

    static V splat(float v) { return V{} + v; }

    static V vabs(V x) {
        VI b;
        std::memcpy(&b, &x, sizeof b);
        b &= 0x7fffffff;
        V r;
        std::memcpy(&r, &b, sizeof r);
        return r;
    }
    // |m| with the sign of s.
    static V copysign(V m, V s) {
        VI bm, bs;
        std::memcpy(&bm, &m, sizeof bm);
        std::memcpy(&bs, &s, sizeof bs);
        bm = (bm & 0x7fffffff) | (bs & static_cast<int32_t>(0x80000000u));
        V r;
        std::memcpy(&r, &bm, sizeof r);
        return r;
    }

    // e^r - 1 for |r| <= ln2/2 (Cephes expf coefficients).
    static V expm1_reduced(V r) {
        V p = splat(1.9875691500e-4f);
        p = Ops::fma(p, r, splat(1.3981999507e-3f));
        p = Ops::fma(p, r, splat(8.3334519073e-3f));
        p = Ops::fma(p, r, splat(4.1665795894e-2f));
        p = Ops::fma(p, r, splat(1.6666665459e-1f));
        p = Ops::fma(p, r, splat(5.0000001201e-1f));
        return Ops::fma(p, r * r, r);
    }

    // x = n ln2 + r with ln2 split in two so n ln2 is exact for |n| < 2^9.
    static V reduce(V x, V& n) {
        n = Ops::round(x * 1.44269504088896341f);
        V r = Ops::fma(n, splat(-0.693359375f), x);
        return Ops::fma(n, splat(2.12194440e-4f), r);
    }

    static V exp(V x) {
        // Clamping keeps n within scale()'s range; NaN fails both tests and stays.
        x = x > 89.0f ? splat(89.0f) : x;
        x = x < -104.0f ? splat(-104.0f) : x;
        V n;
        const V r = reduce(x, n);
        return Ops::scale(expm1_reduced(r) + 1.0f, n);
    }

    static V expm1(V x) {
        const V xc0 = x < -40.0f ? splat(-40.0f) : x;  // e^-40 - 1 rounds to -1
        const V xc = xc0 > 88.0f ? splat(88.0f) : xc0;
        V n;
        const V q = expm1_reduced(reduce(xc, n));
        const V t = Ops::scale(splat(1.0f), n);  // 2^n, a normal float for n in [-58, 127]
        V res = Ops::fma(t, q, t - 1.0f);
        if (Ops::any(x > 88.0f)) res = x > 88.0f ? exp(x) : res;
        return res;
    }

    // log(1 + u) for u in [0, 1] (Cephes logf on m = 1 + u, plus the rounding of m).
    static V log1p_unit(V u) {
        const V m = u + 1.0f;
        const V c = (u - (m - 1.0f)) / m;
        VI bits;
        std::memcpy(&bits, &m, sizeof bits);
        VI e = (bits >> 23) - 127;
        VI fb = (bits & 0x007fffff) | 0x3f800000;
        V f;
        std::memcpy(&f, &fb, sizeof f);
        const auto big = f > 1.41421356f;
        f = big ? f * 0.5f : f;
        e = e + (big ? VI{} + 1 : VI{});
        const V ef = __builtin_convertvector(e, V);
        const V x = f - 1.0f;
        const V z = x * x;
        V y = splat(7.0376836292e-2f);
        y = Ops::fma(y, x, splat(-1.1514610310e-1f));
        y = Ops::fma(y, x, splat(1.1676998740e-1f));
        y = Ops::fma(y, x, splat(-1.2420140846e-1f));
        y = Ops::fma(y, x, splat(1.4249322787e-1f));
        y = Ops::fma(y, x, splat(-1.6668057665e-1f));
        y = Ops::fma(y, x, splat(2.0000714765e-1f));
        y = Ops::fma(y, x, splat(-2.4999993993e-1f));
        y = Ops::fma(y, x, splat(3.3333331174e-1f));
        y = y * x * z;
        y = Ops::fma(ef, splat(-2.12194440e-4f), y + c);
        y = Ops::fma(z, splat(-0.5f), y);
        return Ops::fma(ef, splat(0.693359375f), x + y);
    }

    // tanh x: odd polynomial below 0.625, else (1 - e) / (1 + e), e = e^(-2|x|).
    static V tanh(V x) {
        const V a = vabs(x);
        const V z = x * x;
        V s = splat(-5.70498872745e-3f);
        s = Ops::fma(s, z, splat(2.06390887954e-2f));
        s = Ops::fma(s, z, splat(-5.37397155531e-2f));
        s = Ops::fma(s, z, splat(1.33314422036e-1f));
        s = Ops::fma(s, z, splat(-3.33332819422e-1f));
        const V small = Ops::fma(s * z, x, x);
        const V e = exp(-2.0f * a);
        const V large = copysign((1.0f - e) / (1.0f + e), x);
        return a < 0.625f ? small : large;
    }

    // 1 - tanh^2 x = 4 e / (1 + e)^2.
    static V tanh_grad(V x) {
        const V e = exp(-2.0f * vabs(x));
        const V r = 1.0f / (1.0f + e);
        return 4.0f * e * r * r;
    }

    // sigmoid(x) and sigmoid(-x) = 1 - sigmoid(x), both to full relative
    // accuracy, from e = e^-|x| (as act::sigmoid / sigmoid_complement).
    static V sigmoid(V x, V* complement = nullptr) {
        const V e = exp(-vabs(x));
        const V r = 1.0f / (1.0f + e);
        const V er = e * r;
        if (complement) *complement = x >= 0.0f ? er : r;
        return x >= 0.0f ? r : er;
    }

    static V sigmoid_grad(V x) {
        const V e = exp(-vabs(x));
        const V r = 1.0f / (1.0f + e);
        return e * r * r;
    }

    // e^(-c x^2), c = 1 or 1/2, with x^2 = p + err exactly (err from an FMA):
    // e^(-c p) (1 - c err), so the result keeps its relative accuracy when
    // c x^2 is large.
    static V exp_neg_sq(V x, float c) {
        const V p = x * x;
        const V err = Ops::fma(x, x, -p);
        const V e = exp(p * -c);
        // err is infinite or NaN where x * x overflows, and the result is 0 there.
        return (e == 0.0f) | (p * c > 104.0f) ? splat(0.0f) : e * Ops::fma(err, splat(-c), splat(1.0f));
    }

    // 0.5 erfc(|x| / sqrt2) = ez * (0.5 t P(t)): returns the second factor and
    // sets ez = e^(-x^2/2).
    static V half_erfcx_t(V x, V* ez) {
        *ez = exp_neg_sq(x, 0.5f);
        const V t = 1.0f / Ops::fma(vabs(x), splat(0.35355339059327376f), splat(1.0f));
        const V u = t - 0.5769231f;  // centred on the fitted interval t in [1/6.5, 1]
        V q = splat(0.00966162f);
        q = Ops::fma(q, u, splat(-0.05916051f));
        q = Ops::fma(q, u, splat(0.00821144f));
        q = Ops::fma(q, u, splat(0.11156027f));
        q = Ops::fma(q, u, splat(-0.05402298f));
        q = Ops::fma(q, u, splat(-0.20239545f));
        q = Ops::fma(q, u, splat(0.08765914f));
        q = Ops::fma(q, u, splat(0.58605343f));
        q = Ops::fma(q, u, splat(0.7754097f));
        q = Ops::fma(q, u, splat(0.5670173f));
        return 0.5f * t * q;
    }

    // Phi(x) = 0.5 erfc(-x / sqrt2), and the pdf e^(-x^2/2) / sqrt(2 pi).
    static V normal_cdf(V x, V* pdf) {
        V ez;
        const V half_erfc = half_erfcx_t(x, &ez) * ez;
        *pdf = ez * 0.3989422804014327f;
        return x < 0.0f ? half_erfc : 1.0f - half_erfc;
    }
};

// --------------------------------------------------------------- loops

template <class Ops, class F>
inline void map1(const float* x, float* y, int64_t n, F f) {
    using V = typename Ops::V;
    constexpr int W = sizeof(V) / sizeof(float);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        V v;
        std::memcpy(&v, x + i, sizeof v);
        const V r = f(v);
        std::memcpy(y + i, &r, sizeof r);
    }
    if (i < n) {  // the tail through a zero-padded vector
        float buf[W] = {};
        std::memcpy(buf, x + i, static_cast<size_t>(n - i) * sizeof(float));
        V v;
        std::memcpy(&v, buf, sizeof v);
        const V r = f(v);
        std::memcpy(buf, &r, sizeof r);
        std::memcpy(y + i, buf, static_cast<size_t>(n - i) * sizeof(float));
    }
}

template <class Ops, class F>
inline void map2(const float* g, const float* x, float* out, int64_t n, F f) {
    using V = typename Ops::V;
    constexpr int W = sizeof(V) / sizeof(float);
    int64_t i = 0;
    for (; i + W <= n; i += W) {
        V gv, xv;
        std::memcpy(&gv, g + i, sizeof gv);
        std::memcpy(&xv, x + i, sizeof xv);
        const V r = f(gv, xv);
        std::memcpy(out + i, &r, sizeof r);
    }
    if (i < n) {
        float gb[W] = {}, xb[W] = {};
        const size_t bytes = static_cast<size_t>(n - i) * sizeof(float);
        std::memcpy(gb, g + i, bytes);
        std::memcpy(xb, x + i, bytes);
        V gv, xv;
        std::memcpy(&gv, gb, sizeof gv);
        std::memcpy(&xv, xb, sizeof xv);
        const V r = f(gv, xv);
        std::memcpy(gb, &r, sizeof r);
        std::memcpy(out + i, gb, bytes);
    }
}

// y = act(x) for n floats; false (nothing written) when this activation has
// no vector version here.
template <class Ops>
bool forward(Act a, const ActParams<float>& p, const float* x, float* y, int64_t n) {
    using M = Math<Ops>;
    using V = typename Ops::V;
    const V zero = M::splat(0.0f), one = M::splat(1.0f);
    switch (a) {
        case Act::identity:
            std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
            return true;
        case Act::sigmoid: map1<Ops>(x, y, n, [](V v) { return M::sigmoid(v); }); return true;
        case Act::tanh: map1<Ops>(x, y, n, [](V v) { return M::tanh(v); }); return true;
        case Act::relu: map1<Ops>(x, y, n, [&](V v) { return v <= 0.0f ? zero : v; }); return true;
        case Act::leaky_relu:
        case Act::prelu: {
            const float s = p.negative_slope;
            map1<Ops>(x, y, n, [&](V v) { return v > 0.0f ? v : v * s; });
            return true;
        }
        case Act::elu:
        case Act::celu:
        case Act::selu: {
            const float alpha = a == Act::selu ? float(act::kSeluAlpha) : p.alpha;
            const float scale = a == Act::selu ? float(act::kSeluScale) : 1.0f;
            const bool celu = a == Act::celu;
            map1<Ops>(x, y, n, [&](V v) {
                const V e = alpha * M::expm1(celu ? v / p.alpha : v);
                return scale * ((v > 0.0f) | (v != v) ? v : e);
            });
            return true;
        }
        case Act::gelu:
            if (p.gelu_tanh)
                // 0.5 x (1 + tanh u) = x sigmoid(2 u)
                map1<Ops>(x, y, n, [&](V v) {
                    const V u = float(act::kSqrt2OverPi) *
                                Ops::fma(v * v * float(act::kGeluKappa), v, v);
                    return v * M::sigmoid(2.0f * u);
                });
            else
                map1<Ops>(x, y, n, [](V v) {
                    V ez;
                    const V c = M::half_erfcx_t(v, &ez);
                    // x < 0: x Phi(x) = (0.5 x t P(t)) e^(-x^2/2), the small factor last so
                    // no intermediate goes subnormal before the result does.
                    return v < 0.0f ? (v * c) * ez : v * (1.0f - c * ez);
                });
            return true;
        case Act::silu: map1<Ops>(x, y, n, [&](V v) { return v * M::sigmoid(v); }); return true;
        case Act::softplus: {
            const float b = p.beta, th = p.threshold;
            map1<Ops>(x, y, n, [&](V v) {
                const V z = v * b;
                const V sp = ((z > 0.0f ? z : zero) + M::log1p_unit(M::exp(-M::vabs(z)))) / b;
                return z > th ? v : sp;
            });
            return true;
        }
        case Act::mish:
            map1<Ops>(x, y, n, [&](V v) {
                const V e = M::exp(v);
                const V m = e * (e + 2.0f);
                return v * (v > 20.0f ? one : m / (m + 2.0f));
            });
            return true;
        case Act::hardtanh: {
            const float lo = p.min_val, hi = p.max_val;
            map1<Ops>(x, y, n, [&](V v) {
                return v < lo ? M::splat(lo) : (v > hi ? M::splat(hi) : v);
            });
            return true;
        }
        case Act::softsign:
            map1<Ops>(x, y, n, [&](V v) { return v / (one + M::vabs(v)); });
            return true;
        case Act::gaussian:
            map1<Ops>(x, y, n, [&](V v) {
                return M::exp_neg_sq(v, 1.0f);
            });
            return true;
        case Act::binary_step:
            map1<Ops>(x, y, n, [&](V v) { return v >= 0.0f ? one : (v != v ? v : zero); });
            return true;
        case Act::gcu: return false;
    }
    return false;
}

// grad_x = grad_y * act'(x) for n floats; false when not vectorised here.
template <class Ops>
bool backward(Act a, const ActParams<float>& p, const float* g, const float* x, float* gx,
              int64_t n) {
    using M = Math<Ops>;
    using V = typename Ops::V;
    const V zero = M::splat(0.0f), one = M::splat(1.0f);
    switch (a) {
        case Act::identity:
            std::memcpy(gx, g, static_cast<size_t>(n) * sizeof(float));
            return true;
        case Act::sigmoid:
            map2<Ops>(g, x, gx, n, [&](V gv, V v) {
                return gv * M::sigmoid_grad(v);
            });
            return true;
        case Act::tanh:
            map2<Ops>(g, x, gx, n, [&](V gv, V v) {
                return gv * M::tanh_grad(v);
            });
            return true;
        case Act::relu:
            map2<Ops>(g, x, gx, n, [&](V gv, V v) { return v <= 0.0f ? zero : gv; });
            return true;
        case Act::leaky_relu:
        case Act::prelu: {
            const float s = p.negative_slope;
            map2<Ops>(g, x, gx, n, [&](V gv, V v) { return v > 0.0f ? gv : gv * s; });
            return true;
        }
        case Act::elu:
        case Act::celu:
        case Act::selu: {
            const bool celu = a == Act::celu;
            const float coef = a == Act::selu ? float(act::kSeluScale * act::kSeluAlpha)
                               : celu        ? 1.0f
                                             : p.alpha;
            const float pos = a == Act::selu ? float(act::kSeluScale) : 1.0f;
            map2<Ops>(g, x, gx, n, [&](V gv, V v) {
                const V d = coef * M::exp(celu ? v / p.alpha : v);
                return gv * ((v > 0.0f) | (v != v) ? M::splat(pos) : d);
            });
            return true;
        }
        case Act::gelu:
            if (p.gelu_tanh)
                map2<Ops>(g, x, gx, n, [&](V gv, V v) {
                    // as act::gelu_tanh_grad: clamp finite x to +-1e4 so x^3 stays finite
                    const V vc = v > 1e4f ? M::splat(1e4f) : (v < -1e4f ? M::splat(-1e4f) : v);
                    v = (v - v) == 0.0f ? vc : v;
                    const V v2 = v * v;
                    const V u = float(act::kSqrt2OverPi) * Ops::fma(v2 * float(act::kGeluKappa), v, v);
                    const V du = float(act::kSqrt2OverPi) *
                                 Ops::fma(v2, M::splat(float(3 * act::kGeluKappa)), one);
                    V sc;
                    const V s = M::sigmoid(2.0f * u, &sc);  // (1 + tanh u) / 2
                    // 0.5 (1 + t) + 0.5 x (1 - t^2) du with 1 - t^2 = 4 s (1 - s)
                    return gv * Ops::fma(2.0f * v * s * sc, du, s);
                });
            else
                map2<Ops>(g, x, gx, n, [&](V gv, V v) {
                    V pdf;
                    const V cdf = M::normal_cdf(v, &pdf);
                    return gv * Ops::fma(v, pdf, cdf);
                });
            return true;
        case Act::silu:
            map2<Ops>(g, x, gx, n, [&](V gv, V v) {
                V sc;
                const V s = M::sigmoid(v, &sc);
                return gv * (s * Ops::fma(v, sc, one));
            });
            return true;
        case Act::softplus: {
            const float b = p.beta, th = p.threshold;
            map2<Ops>(g, x, gx, n, [&](V gv, V v) {
                const V z = v * b;
                return z > th ? gv : gv * M::sigmoid(z);
            });
            return true;
        }
        case Act::mish:
            map2<Ops>(g, x, gx, n, [&](V gv, V v) {
                const V e = M::exp(v);
                const V m = e * (e + 2.0f);
                const V d = 1.0f / (m + 2.0f);
                const auto big = v > 20.0f;
                const V tsp = big ? one : m * d;
                const V one_minus_sq = big ? zero : 2.0f * d * (1.0f + tsp);  // 1 - tsp^2
                const V s = M::sigmoid(v);
                return gv * Ops::fma(v * s, one_minus_sq, tsp);
            });
            return true;
        case Act::hardtanh: {
            const float lo = p.min_val, hi = p.max_val;
            map2<Ops>(g, x, gx, n, [&](V gv, V v) {
                return (v <= lo) | (v >= hi) ? zero : gv;
            });
            return true;
        }
        case Act::softsign:
            map2<Ops>(g, x, gx, n, [&](V gv, V v) {
                const V d = one + M::vabs(v);
                return gv / (d * d);
            });
            return true;
        case Act::gaussian:
            map2<Ops>(g, x, gx, n, [&](V gv, V v) {
                return gv * (-2.0f * (v * M::exp_neg_sq(v, 1.0f)));  // no -2 v overflow
            });
            return true;
        case Act::binary_step:
            std::memset(gx, 0, static_cast<size_t>(n) * sizeof(float));
            return true;
        case Act::gcu: return false;
    }
    return false;
}

}  // namespace simd_act
}  // namespace pk
