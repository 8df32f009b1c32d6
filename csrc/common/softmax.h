// Softmax and log-softmax along a row, the formulas the CPU loops and the CUDA
// kernels share (reference: torch.nn.functional.softmax / log_softmax and
// their backward, aten softmax_backward_data / log_softmax_backward_data):
//   y_j  = exp(x_j - m) / s,       s = sum_c exp(x_c - m),  m = max_c x_c
//   ly_j = x_j - m - log(s)
//   softmax backward:      gx_j = y_j * (gy_j - sum_c gy_c y_c)
//   log_softmax backward:  gx_j = gy_j - exp(ly_j) * sum_c gy_c
// Subtracting the row maximum keeps every exponent <= 0 (no overflow); the sum
// is at least 1 (the max's own term), so log(s) is finite.
//
// Online max-and-sum (Milakov & Gimelshein, "Online normalizer calculation for
// softmax", 2018): a running pair (m, s) with s = sum exp(x - m) over what has
// been seen absorbs one element or another pair by rescaling the smaller
// side's sum, so max and sum come out of a single read of the row.
#pragma once

#include <cmath>

#include "hd.h"

namespace pk {

template <class T>
struct MaxSum {
    T m;  // running maximum (-inf before the first element)
    T s;  // sum of exp(x - m) over the elements seen
};

template <class T>
PK_HD inline MaxSum<T> max_sum_identity() {
    return {-INFINITY, T(0)};
}

// exp(a - b) for a <= b, where an empty side (s == 0, m == -inf) contributes
// nothing instead of exp(-inf - -inf) = NaN.
template <class T>
PK_HD inline T rescale(T s, T m_from, T m_to) {
    using std::exp;
    return s == T(0) ? T(0) : s * exp(m_from - m_to);
}

template <class T>
PK_HD inline MaxSum<T> max_sum_add(MaxSum<T> a, T x) {
    using std::exp;
    if (x > a.m) return {x, rescale(a.s, a.m, x) + T(1)};
    // x = -inf adds exp(-inf) = 0, also while m is still -inf, where
    // exp(x - m) would be exp(NaN); a NaN x propagates through the sum.
    return {a.m, x == -INFINITY ? a.s : a.s + exp(x - a.m)};
}

template <class T>
PK_HD inline MaxSum<T> max_sum_combine(MaxSum<T> a, MaxSum<T> b) {
    const T m = a.m > b.m ? a.m : b.m;
    if (!(m > -INFINITY)) return {m, a.s + b.s};  // both empty (or NaN)
    return {m, rescale(a.s, a.m, m) + rescale(b.s, b.m, m)};
}

template <class T>
PK_HD inline T softmax_value(T x, T m, T inv_s) {
    using std::exp;
    return exp(x - m) * inv_s;
}

template <class T>
PK_HD inline T log_softmax_value(T x, T m, T log_s) {
    return (x - m) - log_s;
}

// dot = sum_c gy_c * y_c of the row
template <class T>
PK_HD inline T softmax_grad(T gy, T y, T dot) {
    return y * (gy - dot);
}

// sum_gy = sum_c gy_c of the row; exp_y = exp(ly) = the softmax probability
template <class T>
PK_HD inline T log_softmax_grad(T gy, T exp_y, T sum_gy) {
    return gy - exp_y * sum_gy;
}

}  // namespace pk
