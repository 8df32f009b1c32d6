// The CPU loops of batch norm (table in batch_norm_kernels.h), written with
// GCC vector types of the including file's register width (batch_norm.cpp:
// SSE2, batch_norm_avx2.cpp: AVX2+FMA, batch_norm_avx512.cpp: AVX-512).
// Formulas come from common/batch_norm.h.
//
// Statistics are accumulated in double: float input is widened as it is
// loaded, kD values (one double register) at a time. rows_moments keeps the
// (N, C) layout's rows contiguous: a block of rows is summed into one double
// per channel, divided into the block mean, then re-read (from L1/L2) for the
// sum of squared deviations, and blocks are merged with Chan et al.'s update
// (bn_merge_moments) in order. Each channel's sums run over the rows in
// order, so the rows results are the same at every width. Runs of one channel
// (S > 1) are reduced the same way into 4 registers of partial sums, combined
// pairwise in a fixed order (fixed for each width).
//
// Everything is in an unnamed namespace and the shared formulas are forced
// inline: each including file is compiled with different -m flags, and an
// out-of-line AVX-512 copy of an inline function must never be merged by the
// linker into code that runs on a CPU without AVX-512.
#pragma once

#ifndef PK_HD
#define PK_HD __attribute__((always_inline))
#endif

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "batch_norm_kernels.h"
#include "common/batch_norm.h"

namespace pk {
namespace {

#if defined(__AVX512F__)
constexpr int kBytes = 64;
#elif defined(__AVX2__)
constexpr int kBytes = 32;
#else
constexpr int kBytes = 16;
#endif
constexpr int kD = kBytes / 8;  // values per double register

typedef double VD __attribute__((vector_size(kBytes)));
template <class T>
struct VecOf {
    typedef T full __attribute__((vector_size(kBytes)));         // elementwise passes
    typedef T narrow __attribute__((vector_size(kD * sizeof(T))));  // kD values, widened to VD
};
template <class T>
using VT = typename VecOf<T>::full;
template <class T>
using VN = typename VecOf<T>::narrow;
template <class T>
constexpr int64_t kLanes = kBytes / sizeof(T);

// Unaligned loads and stores through may_alias types.
template <class V>
struct Unaligned {
    typedef V type __attribute__((aligned(4), may_alias));
};
template <class V, class T>
inline V vload(const T* p) {
    return *reinterpret_cast<const typename Unaligned<V>::type*>(p);
}
template <class V, class T>
inline void vstore(T* p, V v) {
    *reinterpret_cast<typename Unaligned<V>::type*>(p) = v;
}
template <class V, class T>
inline V vsplat(T a) {
    return V{} + a;
}
// __builtin_convertvector of 8 floats is split into halves by GCC 12; the
// intrinsics give one vcvtps2pd.
#if defined(__AVX512F__)
inline VD widen(VN<float> v) { return _mm512_maskz_cvtps_pd(0xFF, v); }  // no undefined source
#elif defined(__AVX2__)
inline VD widen(VN<float> v) { return _mm256_cvtps_pd(v); }
#else
inline VD widen(VN<float> v) { return __builtin_convertvector(v, VD); }
#endif
inline VD widen(VD v) { return v; }
template <class T>
inline VD load_d(const T* p) {
    return widen(vload<VN<T>>(p));
}

// The lanes of a + b + c + d, summed pairwise in a fixed order.
inline double lanes_sum(VD a, VD b, VD c, VD d) {
    const VD v = (a + b) + (c + d);
    double t[kD];
    for (int l = 0; l < kD; ++l) t[l] = v[l];
    for (int h = kD / 2; h >= 1; h /= 2)
        for (int l = 0; l < h; ++l) t[l] += t[l + h];
    return t[0];
}

// ---------------------------------------------------------------- rows (S == 1)

// Rows are taken four at a time so each double accumulator is loaded and
// stored once per four rows; the additions stay in row order.
template <class T>
void rows_moments(const T* x, int64_t ld, int64_t w, int64_t nrows, int64_t block_rows,
                  double* __restrict mean, double* __restrict m2, double* __restrict s,
                  double* __restrict q) {
    const int64_t wv = w - w % kD;
    double count = 0.0;
    for (int64_t rb = 0; rb < nrows; rb += block_rows) {
        const int64_t re = std::min(nrows, rb + block_rows);
        const double nb = static_cast<double>(re - rb);
        std::fill(s, s + w, 0.0);
        std::fill(q, q + w, 0.0);
        int64_t r = rb;
        for (; r + 4 <= re; r += 4) {
            const T* __restrict x0 = x + r * ld;
            const T *__restrict x1 = x0 + ld, *__restrict x2 = x1 + ld, *__restrict x3 = x2 + ld;
            int64_t c = 0;
            for (; c < wv; c += kD) {
                VD a = vload<VD>(s + c);
                a += load_d(x0 + c);
                a += load_d(x1 + c);
                a += load_d(x2 + c);
                a += load_d(x3 + c);
                vstore(s + c, a);
            }
            for (; c < w; ++c)
                s[c] = (((s[c] + static_cast<double>(x0[c])) + static_cast<double>(x1[c])) +
                        static_cast<double>(x2[c])) + static_cast<double>(x3[c]);
        }
        for (; r < re; ++r) {
            const T* __restrict row = x + r * ld;
            int64_t c = 0;
            for (; c < wv; c += kD) vstore(s + c, vload<VD>(s + c) + load_d(row + c));
            for (; c < w; ++c) s[c] += static_cast<double>(row[c]);
        }
        for (int64_t c = 0; c < w; ++c) s[c] /= nb;
        r = rb;
        for (; r + 4 <= re; r += 4) {
            const T* __restrict x0 = x + r * ld;
            const T *__restrict x1 = x0 + ld, *__restrict x2 = x1 + ld, *__restrict x3 = x2 + ld;
            int64_t c = 0;
            for (; c < wv; c += kD) {
                const VD m = vload<VD>(s + c);
                const VD d0 = load_d(x0 + c) - m, d1 = load_d(x1 + c) - m;
                const VD d2 = load_d(x2 + c) - m, d3 = load_d(x3 + c) - m;
                VD a = vload<VD>(q + c);
                a += d0 * d0;
                a += d1 * d1;
                a += d2 * d2;
                a += d3 * d3;
                vstore(q + c, a);
            }
            for (; c < w; ++c) {
                const double d0 = static_cast<double>(x0[c]) - s[c];
                const double d1 = static_cast<double>(x1[c]) - s[c];
                const double d2 = static_cast<double>(x2[c]) - s[c];
                const double d3 = static_cast<double>(x3[c]) - s[c];
                q[c] = (((q[c] + d0 * d0) + d1 * d1) + d2 * d2) + d3 * d3;
            }
        }
        for (; r < re; ++r) {
            const T* __restrict row = x + r * ld;
            int64_t c = 0;
            for (; c < wv; c += kD) {
                const VD d = load_d(row + c) - vload<VD>(s + c);
                vstore(q + c, vload<VD>(q + c) + d * d);
            }
            for (; c < w; ++c) {
                const double d = static_cast<double>(row[c]) - s[c];
                q[c] += d * d;
            }
        }
        if (count == 0.0) {
            std::copy(s, s + w, mean);
            std::copy(q, q + w, m2);
        } else {
            for (int64_t c = 0; c < w; ++c) {
                double n = count;
                bn_merge_moments(n, mean[c], m2[c], nb, s[c], q[c]);
            }
        }
        count += nb;
    }
}

template <class T>
void rows_grad_sums(const T* x, const T* dy, int64_t ld, int64_t w, int64_t nrows,
                    const T* __restrict hi, const T* __restrict lo, double* __restrict sa,
                    double* __restrict sb) {
    const int64_t wv = w - w % kD;
    int64_t r = 0;
    for (; r + 4 <= nrows; r += 4) {
        const T* __restrict xr = x + r * ld;
        const T* __restrict gr = dy + r * ld;
        int64_t c = 0;
        for (; c < wv; c += kD) {
            const BnCentre<VN<T>> m{vload<VN<T>>(hi + c), vload<VN<T>>(lo + c)};
            VD a = vload<VD>(sa + c), b = vload<VD>(sb + c);
            for (int k = 0; k < 4; ++k) {
                const VD g = load_d(gr + k * ld + c);
                a += g;
                b += g * widen(bn_centred(vload<VN<T>>(xr + k * ld + c), m));
            }
            vstore(sa + c, a);
            vstore(sb + c, b);
        }
        for (; c < w; ++c) {
            const BnCentre<T> m{hi[c], lo[c]};
            for (int k = 0; k < 4; ++k) {
                const double g = static_cast<double>(gr[k * ld + c]);
                sa[c] += g;
                sb[c] += g * static_cast<double>(bn_centred(xr[k * ld + c], m));
            }
        }
    }
    for (; r < nrows; ++r) {
        const T* __restrict xr = x + r * ld;
        const T* __restrict gr = dy + r * ld;
        int64_t c = 0;
        for (; c < wv; c += kD) {
            const BnCentre<VN<T>> m{vload<VN<T>>(hi + c), vload<VN<T>>(lo + c)};
            const VD g = load_d(gr + c);
            vstore(sa + c, vload<VD>(sa + c) + g);
            vstore(sb + c, vload<VD>(sb + c) + g * widen(bn_centred(vload<VN<T>>(xr + c), m)));
        }
        for (; c < w; ++c) {
            const double g = static_cast<double>(gr[c]);
            sa[c] += g;
            sb[c] += g * static_cast<double>(bn_centred(xr[c], BnCentre<T>{hi[c], lo[c]}));
        }
    }
}

template <class T>
void rows_normalise(const T* x, T* y, int64_t ld, int64_t w, int64_t nrows, const T* __restrict hi,
                    const T* __restrict lo, const T* __restrict scale, const T* __restrict shift) {
    constexpr int64_t L = kLanes<T>;
    const int64_t wv = w - w % L;
    for (int64_t r = 0; r < nrows; ++r) {
        const T* __restrict xr = x + r * ld;
        T* __restrict yr = y + r * ld;
        int64_t c = 0;
        for (; c < wv; c += L) {
            const BnForward<VT<T>> f{{vload<VT<T>>(hi + c), vload<VT<T>>(lo + c)},
                                     vload<VT<T>>(scale + c), vload<VT<T>>(shift + c)};
            vstore(yr + c, bn_forward_elem(vload<VT<T>>(xr + c), f));
        }
        for (; c < w; ++c)
            yr[c] = bn_forward_elem(xr[c], BnForward<T>{{hi[c], lo[c]}, scale[c], shift[c]});
    }
}

template <class T, bool BATCH_STATS>
void rows_backward_impl(const T* x, const T* dy, T* dx, int64_t ld, int64_t w, int64_t nrows,
                        const T* __restrict hi, const T* __restrict lo, const T* __restrict a,
                        const T* __restrict b, const T* __restrict c3) {
    constexpr int64_t L = kLanes<T>;
    const int64_t wv = w - w % L;
    for (int64_t r = 0; r < nrows; ++r) {
        const T* __restrict xr = x + r * ld;
        const T* __restrict gr = dy + r * ld;
        T* __restrict dr = dx + r * ld;
        int64_t c = 0;
        for (; c < wv; c += L) {
            const BnBackward<VT<T>> k{{vload<VT<T>>(hi + c), vload<VT<T>>(lo + c)},
                                      vload<VT<T>>(a + c), vload<VT<T>>(b + c),
                                      vload<VT<T>>(c3 + c)};
            const VT<T> g = vload<VT<T>>(gr + c);
            vstore(dr + c, BATCH_STATS ? bn_backward_elem(g, vload<VT<T>>(xr + c), k)
                                       : bn_backward_elem_eval(g, k));
        }
        for (; c < w; ++c) {
            const BnBackward<T> k{{hi[c], lo[c]}, a[c], b[c], c3[c]};
            dr[c] = BATCH_STATS ? bn_backward_elem(gr[c], xr[c], k) : bn_backward_elem_eval(gr[c], k);
        }
    }
}

template <class T>
void rows_backward(const T* x, const T* dy, T* dx, int64_t ld, int64_t w, int64_t nrows,
                   const T* hi, const T* lo, const T* a, const T* b, const T* c, bool batch_stats) {
    if (batch_stats)
        rows_backward_impl<T, true>(x, dy, dx, ld, w, nrows, hi, lo, a, b, c);
    else
        rows_backward_impl<T, false>(x, dy, dx, ld, w, nrows, hi, lo, a, b, c);
}

// ---------------------------------------------------------------- runs of one channel (S > 1)

template <class T>
void seg_moments(const T* __restrict p, int64_t len, double* mean, double* m2) {
    VD a0 = {}, a1 = {}, a2 = {}, a3 = {};
    int64_t i = 0;
    for (; i + 4 * kD <= len; i += 4 * kD) {
        a0 += load_d(p + i);
        a1 += load_d(p + i + kD);
        a2 += load_d(p + i + 2 * kD);
        a3 += load_d(p + i + 3 * kD);
    }
    double s = lanes_sum(a0, a1, a2, a3);
    const int64_t body = i;
    for (; i < len; ++i) s += static_cast<double>(p[i]);
    const double m = s / static_cast<double>(len);
    const VD mv = VD{} + m;
    VD b0 = {}, b1 = {}, b2 = {}, b3 = {};
    for (i = 0; i < body; i += 4 * kD) {
        const VD d0 = load_d(p + i) - mv, d1 = load_d(p + i + kD) - mv;
        const VD d2 = load_d(p + i + 2 * kD) - mv, d3 = load_d(p + i + 3 * kD) - mv;
        b0 += d0 * d0;
        b1 += d1 * d1;
        b2 += d2 * d2;
        b3 += d3 * d3;
    }
    double q = lanes_sum(b0, b1, b2, b3);
    for (; i < len; ++i) {
        const double d = static_cast<double>(p[i]) - m;
        q += d * d;
    }
    *mean = m;
    *m2 = q;
}

template <class T>
void seg_grad_sums(const T* __restrict x, const T* __restrict dy, int64_t len, BnCentre<T> m,
                   double* sa, double* sb) {
    const BnCentre<VN<T>> mv{vsplat<VN<T>>(m.hi), vsplat<VN<T>>(m.lo)};
    VD a0 = {}, a1 = {}, b0 = {}, b1 = {};
    int64_t i = 0;
    for (; i + 2 * kD <= len; i += 2 * kD) {
        const VD g0 = load_d(dy + i), g1 = load_d(dy + i + kD);
        a0 += g0;
        a1 += g1;
        b0 += g0 * widen(bn_centred(vload<VN<T>>(x + i), mv));
        b1 += g1 * widen(bn_centred(vload<VN<T>>(x + i + kD), mv));
    }
    double ta = lanes_sum(a0, a1, VD{}, VD{}), tb = lanes_sum(b0, b1, VD{}, VD{});
    for (; i < len; ++i) {
        const double g = static_cast<double>(dy[i]);
        ta += g;
        tb += g * static_cast<double>(bn_centred(x[i], m));
    }
    *sa = ta;
    *sb = tb;
}

template <class T>
void seg_normalise(const T* __restrict x, T* __restrict y, int64_t len, BnForward<T> f) {
    constexpr int64_t L = kLanes<T>;
    const BnForward<VT<T>> fv{{vsplat<VT<T>>(f.mean.hi), vsplat<VT<T>>(f.mean.lo)},
                              vsplat<VT<T>>(f.scale), vsplat<VT<T>>(f.shift)};
    int64_t i = 0;
    for (; i + L <= len; i += L) vstore(y + i, bn_forward_elem(vload<VT<T>>(x + i), fv));
    for (; i < len; ++i) y[i] = bn_forward_elem(x[i], f);
}

template <class T>
void seg_backward(const T* __restrict x, const T* __restrict dy, T* __restrict dx, int64_t len,
                  BnBackward<T> g, bool batch_stats) {
    constexpr int64_t L = kLanes<T>;
    const BnBackward<VT<T>> gv{{vsplat<VT<T>>(g.mean.hi), vsplat<VT<T>>(g.mean.lo)},
                               vsplat<VT<T>>(g.a), vsplat<VT<T>>(g.b), vsplat<VT<T>>(g.c)};
    int64_t i = 0;
    if (batch_stats) {
        for (; i + L <= len; i += L)
            vstore(dx + i, bn_backward_elem(vload<VT<T>>(dy + i), vload<VT<T>>(x + i), gv));
        for (; i < len; ++i) dx[i] = bn_backward_elem(dy[i], x[i], g);
    } else {
        for (; i + L <= len; i += L) vstore(dx + i, bn_backward_elem_eval(vload<VT<T>>(dy + i), gv));
        for (; i < len; ++i) dx[i] = bn_backward_elem_eval(dy[i], g);
    }
}

template <class T>
BnKernels<T> make_batch_norm_kernels() {
    return BnKernels<T>{rows_moments<T>,  rows_grad_sums<T>, rows_normalise<T>, rows_backward<T>,
                        seg_moments<T>,   seg_grad_sums<T>,  seg_normalise<T>,  seg_backward<T>};
}

}  // namespace
}  // namespace pk
