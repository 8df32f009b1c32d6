// The chunk loops behind OptimKernels (csrc/optim_kernels.h): plain loops over
// one tensor's elements calling the rules of common/optim_rules.h, which the
// compiler vectorises for the instruction set of the including file
// (optim.cpp: baseline x86-64, optim_avx2.cpp, optim_avx512.cpp).
//
// Which state tensors exist is a template parameter: a loop never touches a
// pointer that may be null, so it needs no per-element branch and vectorises;
// a missing state is a local the rule writes and nobody reads. Elements are
// loaded into locals, updated, and stored back, once each. The
// coefficients are copied to a local so the compiler knows stores through the
// tensor pointers cannot change them.
//
// Unnamed namespace on purpose: each including file is compiled with different
// -m flags (see common/optim_rules.h).
#pragma once

#include <cstdint>

#include "optim_kernels.h"

namespace pk {
namespace {

template <class T, bool MOMENTUM>
void sgd_chunk(const OptimTensor<T>& t, int64_t begin, int64_t end, const SgdCoeffs<T>& coeffs) {
    const SgdCoeffs<T> c = coeffs;
    T* __restrict p = t.param;
    const T* __restrict g = t.grad;
    T* __restrict buf = t.state[0];
    for (int64_t i = begin; i < end; ++i) {
        T pi = p[i], bi = MOMENTUM ? buf[i] : T(0);
        sgd_update(pi, g[i], bi, c);
        p[i] = pi;
        if (MOMENTUM) buf[i] = bi;
    }
}

template <class T, bool AMSGRAD>
void adam_chunk(const OptimTensor<T>& t, int64_t begin, int64_t end, const AdamCoeffs<T>& coeffs) {
    const AdamCoeffs<T> c = coeffs;
    T* __restrict p = t.param;
    const T* __restrict g = t.grad;
    T* __restrict m = t.state[0];
    T* __restrict v = t.state[1];
    T* __restrict vmax = t.state[2];
    for (int64_t i = begin; i < end; ++i) {
        T pi = p[i], mi = m[i], vi = v[i], xi = AMSGRAD ? vmax[i] : T(0);
        adam_update(pi, g[i], mi, vi, xi, c);
        p[i] = pi;
        m[i] = mi;
        v[i] = vi;
        if (AMSGRAD) vmax[i] = xi;
    }
}

template <class T, bool MOMENTUM, bool CENTERED>
void rmsprop_chunk(const OptimTensor<T>& t, int64_t begin, int64_t end,
                   const RmspropCoeffs<T>& coeffs) {
    const RmspropCoeffs<T> c = coeffs;
    T* __restrict p = t.param;
    const T* __restrict g = t.grad;
    T* __restrict sq = t.state[0];
    T* __restrict buf = t.state[1];
    T* __restrict gavg = t.state[2];
    for (int64_t i = begin; i < end; ++i) {
        T pi = p[i], si = sq[i], bi = MOMENTUM ? buf[i] : T(0), ai = CENTERED ? gavg[i] : T(0);
        rmsprop_update(pi, g[i], si, bi, ai, c);
        p[i] = pi;
        sq[i] = si;
        if (MOMENTUM) buf[i] = bi;
        if (CENTERED) gavg[i] = ai;
    }
}

template <class T>
void adagrad_chunk(const OptimTensor<T>& t, int64_t begin, int64_t end,
                   const AdagradCoeffs<T>& coeffs) {
    const AdagradCoeffs<T> c = coeffs;
    T* __restrict p = t.param;
    const T* __restrict g = t.grad;
    T* __restrict s = t.state[0];
    for (int64_t i = begin; i < end; ++i) {
        T pi = p[i], si = s[i];
        adagrad_update(pi, g[i], si, c);
        p[i] = pi;
        s[i] = si;
    }
}

template <class T>
void sgd_dispatch(const OptimTensor<T>& t, int64_t begin, int64_t end, const SgdCoeffs<T>& c) {
    if (t.state[0]) sgd_chunk<T, true>(t, begin, end, c);
    else sgd_chunk<T, false>(t, begin, end, c);
}

template <class T>
void adam_dispatch(const OptimTensor<T>& t, int64_t begin, int64_t end, const AdamCoeffs<T>& c) {
    if (t.state[2]) adam_chunk<T, true>(t, begin, end, c);
    else adam_chunk<T, false>(t, begin, end, c);
}

template <class T>
void rmsprop_dispatch(const OptimTensor<T>& t, int64_t begin, int64_t end,
                      const RmspropCoeffs<T>& c) {
    const bool mom = t.state[1] != nullptr, cen = t.state[2] != nullptr;
    if (mom && cen) rmsprop_chunk<T, true, true>(t, begin, end, c);
    else if (mom) rmsprop_chunk<T, true, false>(t, begin, end, c);
    else if (cen) rmsprop_chunk<T, false, true>(t, begin, end, c);
    else rmsprop_chunk<T, false, false>(t, begin, end, c);
}

// 32 running sums, element i going to sum i % 32, then added pairwise in
// a fixed tree: the order depends on n only, and the independent sums let the
// loop vectorise without reassociating anything.
template <class T>
double sum_squares(const T* __restrict x, int64_t n) {
    constexpr int L = 32;  // four 8-double FMA chains on AVX-512
    double acc[L] = {};
    int64_t i = 0;
    for (; i + L <= n; i += L)
        for (int j = 0; j < L; ++j) {
            const double v = static_cast<double>(x[i + j]);
            acc[j] += v * v;
        }
    for (int j = 0; i + j < n; ++j) {
        const double v = static_cast<double>(x[i + j]);
        acc[j] += v * v;
    }
    for (int w = L / 2; w > 0; w /= 2)
        for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
    return acc[0];
}

template <class T>
void scale(T* __restrict x, int64_t n, T s) {
    for (int64_t i = 0; i < n; ++i) x[i] = x[i] * s;
}

template <class T>
OptimKernels<T> optim_kernel_table() {
    OptimKernels<T> k;
    k.sgd = &sgd_dispatch<T>;
    k.adam = &adam_dispatch<T>;
    k.rmsprop = &rmsprop_dispatch<T>;
    k.adagrad = &adagrad_chunk<T>;
    k.sum_squares = &sum_squares<T>;
    k.scale = &scale<T>;
    return k;
}

}  // namespace
}  // namespace pk
