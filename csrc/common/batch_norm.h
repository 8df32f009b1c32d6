// Batch normalisation, the per-channel formulas shared by the CPU loops
// (csrc/batch_norm.cpp) and the CUDA kernels (cuda/batch_norm.cu).
// As torch.nn.functional.batch_norm / torch.nn.BatchNorm{1,2,3}d:
//
//   forward   x_hat = (x - mean_c) * invstd_c,  invstd_c = 1 / sqrt(var_c + eps)
//             y = x_hat * weight_c + bias_c
//             training: mean_c and var_c (biased, / n) over the batch and spatial
//             positions; running_mean <- (1 - momentum) running_mean + momentum mean_c,
//             running_var <- (1 - momentum) running_var + momentum var_c * n / (n - 1);
//             evaluation: mean_c, var_c = running_mean_c, running_var_c.
//   backward  grad_bias_c = sum dy,   grad_weight_c = sum dy * x_hat
//             training:   dx = weight invstd (dy - sum dy / n - x_hat sum(dy x_hat) / n)
//             evaluation: dx = weight invstd dy
//
// Numerics. Statistics are accumulated in double for float and double input:
// each fixed-size piece of a channel is reduced in two passes while it is in
// cache (sum -> piece mean -> sum of squared deviations), and pieces are merged
// with Chan, Golub & LeVeque's update of (count, mean, M2) in a fixed order, so
// var keeps its accuracy when |mean| >> std and no result depends on threads.
// In the elementwise passes the mean is split into T-precision hi + lo parts:
// (x - mean_hi) is exact for x near the mean (Sterbenz), so x - mean keeps
// T's relative precision even for mean 1e4, std 1e-2 in float32 (the
// x * scale + (bias - mean * scale) form of a fused multiply-add would cancel
// to ~1e-1 there).
#pragma once

#include <cmath>

#include "hd.h"

namespace pk {

// Chan et al.'s merge of the moments (count, mean, M2 = sum (v - mean)^2) of a
// second part b into a.
PK_HD inline void bn_merge_moments(double& n_a, double& mean_a, double& m2_a, double n_b,
                                   double mean_b, double m2_b) {
    const double n = n_a + n_b;
    if (n_b == 0.0) return;
    const double delta = mean_b - mean_a;
    const double frac_b = n_b / n;
    mean_a += delta * frac_b;
    m2_a += m2_b + delta * delta * n_a * frac_b;
    n_a = n;
}

PK_HD inline double bn_invstd(double var, double eps) { return 1.0 / sqrt(var + eps); }

// running <- (1 - momentum) running + momentum batch, with the unbiased
// variance M2 / (n - 1) as PyTorch does (n > 1 is checked by the binding).
template <class T>
PK_HD inline void bn_update_running(T& running_mean, T& running_var, double mean, double m2,
                                    double count, double momentum) {
    running_mean = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean) +
                                  momentum * mean);
    running_var = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var) +
                                 momentum * (m2 / (count - 1.0)));
}

// x - mean with mean = hi + lo held in two T's.
template <class T>
struct BnCentre {
    T hi, lo;
};

template <class T>
PK_HD inline BnCentre<T> bn_split_mean(double mean) {
    const T hi = static_cast<T>(mean);
    return BnCentre<T>{hi, static_cast<T>(mean - static_cast<double>(hi))};
}

template <class T>
PK_HD inline T bn_centred(T x, BnCentre<T> m) {
    return (x - m.hi) - m.lo;
}

// y = (x - mean) * scale + shift, scale = weight * invstd, shift = bias.
template <class T>
struct BnForward {
    BnCentre<T> mean;
    T scale, shift;
};

template <class T>
PK_HD inline BnForward<T> bn_forward_coefs(double mean, double invstd, double weight, double bias) {
    return BnForward<T>{bn_split_mean<T>(mean), static_cast<T>(weight * invstd),
                        static_cast<T>(bias)};
}

template <class T>
PK_HD inline T bn_forward_elem(T x, const BnForward<T>& f) {
    return bn_centred(x, f.mean) * f.scale + f.shift;
}

// dx = a dy + b (x - mean) + c: with k = weight invstd,
//   training   a = k, b = -k invstd^2 sum(dy (x - mean)) / n, c = -k sum(dy) / n
//   evaluation a = k, b = c = 0.
// grad_weight = invstd sum(dy (x - mean)), grad_bias = sum(dy).
template <class T>
struct BnBackward {
    BnCentre<T> mean;
    T a, b, c;
};

template <class T>
PK_HD inline BnBackward<T> bn_backward_coefs(double mean, double invstd, double weight,
                                             double sum_dy, double sum_dy_centred, double count,
                                             bool batch_stats) {
    const double k = weight * invstd;
    if (!batch_stats || count == 0.0)
        return BnBackward<T>{bn_split_mean<T>(mean), static_cast<T>(k), T(0), T(0)};
    return BnBackward<T>{bn_split_mean<T>(mean), static_cast<T>(k),
                         static_cast<T>(-k * invstd * invstd * sum_dy_centred / count),
                         static_cast<T>(-k * sum_dy / count)};
}

template <class T>
PK_HD inline T bn_backward_elem(T dy, T x, const BnBackward<T>& g) {
    return g.a * dy + (g.b * bn_centred(x, g.mean) + g.c);
}

// Evaluation mode: dx does not depend on x.
template <class T>
PK_HD inline T bn_backward_elem_eval(T dy, const BnBackward<T>& g) {
    return g.a * dy;
}

}  // namespace pk
