// Softmax cross-entropy for one row of logits z (C classes), loss and gradient,
// as torch.nn.functional.cross_entropy defines them (aten/src/ATen/native/
// LossNLL.cpp: cross_entropy_loss_label_smoothing / _prob_target):
//   lse = m + log(sum_c exp(z_c - m)),  p_j = exp(z_j - lse),  -log p_j = lse - z_j
// Class-index target y, class weights w (all 1 without a weight), smoothing eps:
//   loss = (1 - eps) w_y (lse - z_y) + eps/C * sum_c w_c (lse - z_c)
//   dloss/dz_j = p_j [(1 - eps) w_y + eps W / C] - (1 - eps) w_y [j == y] - eps/C w_j,
//   W = sum_c w_c.
// Probability target t (rows of class probabilities), smoothed to
// t'_c = (1 - eps) t_c + eps / C:
//   loss = sum_c w_c t'_c (lse - z_c)
//   dloss/dz_j = p_j T - w_j t'_j,   T = sum_c w_c t'_c.
// Reductions (applied by the caller as a per-row gradient scale g):
//   index targets, "mean": sum of row losses / sum of w_y over non-ignored rows
//   (nan when every row is ignored, as in PyTorch), "sum": plain sum;
//   probability targets, "mean": sum / N.
#pragma once

#include "hd.h"

namespace pk {

enum class Reduction : int { none = 0, mean = 1, sum = 2 };

// Per-row constants of the class-index gradient.
template <class T>
struct CeIndexCoef {
    T p_coef;       // multiplies p_j
    T target_coef;  // subtracted at j == y
    T class_coef;   // times w_j (or 1), subtracted everywhere
};

// g: the row's gradient scale (reduction and upstream gradient); w_sum = W;
// eps_c = eps / C, computed once by the caller (a division per row is a
// subroutine call in double on the GPU).
template <class T>
PK_HD inline CeIndexCoef<T> ce_index_coef(T w_y, T w_sum, T eps, T eps_c, T g) {
    const T hard = (T(1) - eps) * w_y;
    return {g * (hard + eps_c * w_sum), g * hard, g * eps_c};
}

// p: the softmax probability of class j; w_j: its weight (1 without weights).
template <class T>
PK_HD inline T ce_index_grad(const CeIndexCoef<T>& k, T p, T w_j, bool is_target) {
    return p * k.p_coef - k.class_coef * w_j - (is_target ? k.target_coef : T(0));
}

// smooth_sum = sum_c w_c (lse - z_c), needed only when eps > 0.
PK_HD inline double ce_index_loss(double lse, double z_y, double w_y, double eps, double eps_c,
                                  double smooth_sum) {
    return (1.0 - eps) * w_y * (lse - z_y) + (eps > 0 ? eps_c * smooth_sum : 0.0);
}

template <class T>
PK_HD inline T smoothed_target(T t, T eps, T eps_c) {
    return (T(1) - eps) * t + eps_c;
}

// wt = w_j t'_j; t_sum = T = sum_c w_c t'_c; g: the row's gradient scale.
template <class T>
PK_HD inline T ce_prob_grad(T p, T wt, T t_sum, T g) {
    return g * (p * t_sum - wt);
}

}  // namespace pk
