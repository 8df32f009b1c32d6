// Row loops of softmax, log-softmax and softmax cross-entropy on the CPU,
// written as plain scalar code over LANES independent accumulators so the
// compiler vectorises them at whatever width the including file is compiled
// for (softmax.cpp: SSE2, softmax_avx2.cpp: AVX2+FMA, softmax_avx512.cpp:
// AVX-512). The formulas come from common/softmax.h and common/cross_entropy.h.
//
// A row is read from memory once: the max pass brings it into L1/L2 (a row of
// 4099 floats is 16 KiB), the exp-sum pass re-reads it from cache and stores
// e_j = exp(z_j - m) into the output row, and the last pass turns e_j into the
// result in place. On a CPU this beats the single-read online max-and-sum
// (cuda/softmax.cu uses that), which needs two exponentials per element.
//
// float exponentials use exp_approx (below), a branch-free polynomial the
// compiler vectorises; double uses std::exp.
//
// Everything is in an unnamed namespace and the shared formulas are forced
// inline: each including file is compiled with different -m flags, and an
// out-of-line AVX-512 copy of an inline function must never be merged by the
// linker into code that runs on a CPU without AVX-512.
#pragma once

#ifndef PK_HD
#define PK_HD __attribute__((always_inline))
#endif

#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/cross_entropy.h"
#include "common/softmax.h"
#include "softmax_kernels.h"

namespace pk {
namespace {

// exp(x) for float with a relative error below 2e-7 (about 2 ulp): Cody-Waite
// reduction x = k ln2 + r, |r| <= ln2/2, then the minimax polynomial of
// Cephes' expf for e^r, and 2^k built in the exponent bits. Results below
// FLT_MIN flush to 0 (x < -87.3), overflow gives inf, NaN stays NaN.
inline float exp_approx(float x) {
    const float hi = 88.3762626647949f, lo = -87.3365447504f;
    float xc = x < lo ? lo : x;  // one select per line keeps every path
    xc = xc > hi ? hi : xc;      // if-convertible; NaN passes through
    // round to nearest by the 1.5 * 2^23 trick (|xc * log2e| < 2^22), which
    // the compiler vectorises at every width, unlike nearbyint on SSE2
    const float shifter = 12582912.0f;
    const float t = xc * 1.44269504088896341f + shifter;
    const float k = t - shifter;
    float r = xc - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    // 2^k from t's bits, not from (int)k: t lies in [2^23, 2^24), where its
    // bits are 0x4B400000 + k, and unsigned arithmetic keeps a NaN x (any
    // bits, result NaN anyway) free of undefined conversions and shifts.
    std::uint32_t t_bits;
    std::memcpy(&t_bits, &t, sizeof t_bits);
    const std::uint32_t bits = (t_bits - 0x4B400000u + 127u) << 23;
    float two_k;
    std::memcpy(&two_k, &bits, sizeof two_k);
    float e = p * two_k;
    e = x < lo ? 0.0f : e;
    e = x > hi ? INFINITY : e;
    return e;
}

inline float fast_exp(float x) { return exp_approx(x); }
inline double fast_exp(double x) { return std::exp(x); }

// Accumulators per row reduction: two 512-bit registers' worth, enough to
// hide the add latency at every vector width.
template <class T>
constexpr int LANES = 128 / sizeof(T);

template <class T>
inline T row_max(const T* __restrict x, int64_t n) {
    constexpr int L = LANES<T>;
    T acc[L];
    for (int l = 0; l < L; ++l) acc[l] = -INFINITY;
    int64_t i = 0;
    for (; i + L <= n; i += L)
        for (int l = 0; l < L; ++l) acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
    T m = -INFINITY;
    for (; i < n; ++i) m = x[i] > m ? x[i] : m;
    for (int l = 0; l < L; ++l) m = acc[l] > m ? acc[l] : m;
    return m;
}

// Lanes combined in a fixed order, in double.
template <class T, int L>
inline double lanes_sum(const T (&acc)[L]) {
    double s = 0;
    for (int l = 0; l < L; ++l) s += acc[l];
    return s;
}

// sum_j exp(x_j - m); with STORE, e_j is written to e.
template <class T, bool STORE>
inline double row_exp_sum(const T* __restrict x, T m, T* __restrict e, int64_t n) {
    constexpr int L = LANES<T>;
    T acc[L] = {};
    int64_t i = 0;
    for (; i + L <= n; i += L)
        for (int l = 0; l < L; ++l) {
            const T v = fast_exp(x[i + l] - m);
            if (STORE) e[i + l] = v;
            acc[l] += v;
        }
    double s = lanes_sum(acc);
    for (; i < n; ++i) {
        const T v = fast_exp(x[i] - m);
        if (STORE) e[i] = v;
        s += v;
    }
    return s;
}

template <class T>
void softmax_forward_rows(const T* x, T* y, int64_t r0, int64_t r1, int64_t n, bool log) {
    for (int64_t r = r0; r < r1; ++r) {
        const T* __restrict xr = x + r * n;
        T* __restrict yr = y + r * n;
        const T m = row_max(xr, n);
        if (log) {
            const T log_s = static_cast<T>(std::log(row_exp_sum<T, false>(xr, m, nullptr, n)));
            for (int64_t j = 0; j < n; ++j) yr[j] = log_softmax_value(xr[j], m, log_s);
        } else {
            // y_j = softmax_value(x_j, m, 1/s), with exp(x_j - m) already in y_j
            const T inv_s = static_cast<T>(1.0 / row_exp_sum<T, true>(xr, m, yr, n));
            for (int64_t j = 0; j < n; ++j) yr[j] *= inv_s;
        }
    }
}

template <class T>
void softmax_backward_rows(const T* gy, const T* y, T* gx, int64_t r0, int64_t r1, int64_t n,
                           bool log) {
    constexpr int L = LANES<T>;
    for (int64_t r = r0; r < r1; ++r) {
        const T* __restrict gr = gy + r * n;
        const T* __restrict yr = y + r * n;
        T* __restrict out = gx + r * n;
        T acc[L] = {};
        int64_t i = 0;
        double tail = 0;
        if (log) {  // sum_c gy_c
            for (; i + L <= n; i += L)
                for (int l = 0; l < L; ++l) acc[l] += gr[i + l];
            for (; i < n; ++i) tail += gr[i];
            const T sum = static_cast<T>(lanes_sum(acc) + tail);
            for (int64_t j = 0; j < n; ++j) out[j] = log_softmax_grad(gr[j], fast_exp(yr[j]), sum);
        } else {  // sum_c gy_c y_c
            for (; i + L <= n; i += L)
                for (int l = 0; l < L; ++l) acc[l] += gr[i + l] * yr[i + l];
            for (; i < n; ++i) tail += static_cast<double>(gr[i]) * yr[i];
            const T dot = static_cast<T>(lanes_sum(acc) + tail);
            for (int64_t j = 0; j < n; ++j) out[j] = softmax_grad(gr[j], yr[j], dot);
        }
    }
}

// One row of class-index cross-entropy. e (the gradient row) first receives
// exp(z_j - m), then the gradient in place.
template <class T, class I, bool WEIGHTED, bool SMOOTH>
inline void ce_index_row(const CeIndexRows<T, I>& a, int64_t r) {
    constexpr int L = LANES<T>;
    const int64_t n = a.n_classes;
    const T* __restrict z = a.logits + r * n;
    T* __restrict g = a.grad + r * n;
    const int64_t y = static_cast<int64_t>(a.target[r]);
    if (y == a.ignore_index) {
        std::memset(g, 0, sizeof(T) * static_cast<size_t>(n));
        a.row_loss[r] = 0.0;
        return;
    }
    const T m = row_max(z, n);
    const double s = row_exp_sum<T, true>(z, m, g, n);
    const double lse = static_cast<double>(m) + std::log(s);
    const T lse_t = static_cast<T>(lse);
    const T inv_s = static_cast<T>(1.0 / s);
    const T w_y = WEIGHTED ? a.weight[y] : T(1);
    const T scale = a.grad_loss ? a.grad_loss[r] * a.scale : a.scale;
    const CeIndexCoef<T> k = ce_index_coef(w_y, a.weight_sum, a.eps, a.eps_c, scale);
    const T* __restrict w = a.weight;
    T acc[L] = {};
    int64_t j = 0;
    for (; j + L <= n; j += L)
        for (int l = 0; l < L; ++l) {
            const T w_j = WEIGHTED ? w[j + l] : T(1);
            g[j + l] = ce_index_grad(k, g[j + l] * inv_s, w_j, false);
            if (SMOOTH) acc[l] += w_j * (lse_t - z[j + l]);
        }
    double smooth_sum = SMOOTH ? lanes_sum(acc) : 0.0;
    for (; j < n; ++j) {
        const T w_j = WEIGHTED ? w[j] : T(1);
        g[j] = ce_index_grad(k, g[j] * inv_s, w_j, false);
        if (SMOOTH) smooth_sum += static_cast<double>(w_j) * (lse_t - z[j]);
    }
    g[y] -= k.target_coef;
    a.row_loss[r] = ce_index_loss(lse, z[y], w_y, a.eps, static_cast<double>(a.eps) / n, smooth_sum);
}

template <class T, class I>
void ce_index_rows(const CeIndexRows<T, I>& a, int64_t r0, int64_t r1) {
    const bool weighted = a.weight != nullptr, smooth = a.eps > 0;
    for (int64_t r = r0; r < r1; ++r) {
        if (weighted && smooth) ce_index_row<T, I, true, true>(a, r);
        else if (weighted) ce_index_row<T, I, true, false>(a, r);
        else if (smooth) ce_index_row<T, I, false, true>(a, r);
        else ce_index_row<T, I, false, false>(a, r);
    }
}

template <class T, bool WEIGHTED>
inline void ce_prob_row(const CeProbRows<T>& a, int64_t r) {
    constexpr int L = LANES<T>;
    const int64_t n = a.n_classes;
    const T eps_c = a.eps_c;  // eps / C
    const T* __restrict z = a.logits + r * n;
    const T* __restrict t = a.target + r * n;
    const T* __restrict w = a.weight;
    T* __restrict g = a.grad + r * n;
    // T = sum_c w_c t'_c
    T acc[L] = {};
    int64_t j = 0;
    for (; j + L <= n; j += L)
        for (int l = 0; l < L; ++l)
            acc[l] += (WEIGHTED ? w[j + l] : T(1)) * smoothed_target(t[j + l], a.eps, eps_c);
    double t_sum_d = lanes_sum(acc);
    for (; j < n; ++j)
        t_sum_d += static_cast<double>(WEIGHTED ? w[j] : T(1)) * smoothed_target(t[j], a.eps, eps_c);
    const T t_sum = static_cast<T>(t_sum_d);

    const T m = row_max(z, n);
    const double s = row_exp_sum<T, true>(z, m, g, n);
    const T lse = static_cast<T>(static_cast<double>(m) + std::log(s));
    const T inv_s = static_cast<T>(1.0 / s);
    const T scale = a.grad_loss ? a.grad_loss[r] * a.scale : a.scale;
    T lacc[L] = {};
    j = 0;
    for (; j + L <= n; j += L)
        for (int l = 0; l < L; ++l) {
            const T wt = (WEIGHTED ? w[j + l] : T(1)) * smoothed_target(t[j + l], a.eps, eps_c);
            g[j + l] = ce_prob_grad(g[j + l] * inv_s, wt, t_sum, scale);
            lacc[l] += wt * (lse - z[j + l]);
        }
    double loss = lanes_sum(lacc);
    for (; j < n; ++j) {
        const T wt = (WEIGHTED ? w[j] : T(1)) * smoothed_target(t[j], a.eps, eps_c);
        g[j] = ce_prob_grad(g[j] * inv_s, wt, t_sum, scale);
        loss += static_cast<double>(wt) * (lse - z[j]);
    }
    a.row_loss[r] = loss;
}

template <class T>
void ce_prob_rows(const CeProbRows<T>& a, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
        if (a.weight) ce_prob_row<T, true>(a, r);
        else ce_prob_row<T, false>(a, r);
    }
}

template <class T>
SoftmaxRowKernels<T> make_softmax_kernels() {
    return {&softmax_forward_rows<T>, &softmax_backward_rows<T>, &ce_index_rows<T, int64_t>,
            &ce_index_rows<T, int32_t>, &ce_prob_rows<T>};
}

}  // namespace
}  // namespace pk
