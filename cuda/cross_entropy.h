// Host entry points of cuda/cross_entropy.cu and cuda/losses.cu (no CUDA
// types; the stream is a void*). Each returns the summed row (or chunk) losses
// and what the host needs to finish: the "mean" denominator and the first
// invalid label, if any, which the binding reports as a ValueError.
#pragma once

#include <cstdint>

namespace pk {
namespace cuda_ops {

struct LossResult {
    double total = 0;     // sum of the row losses (float64, fixed order)
    double denom = 0;     // sum of w[y] over non-ignored rows (class-index losses)
    int64_t bad_row = -1; // first row whose label is invalid, or -1
    int64_t bad_label = 0;
};

// Fused softmax cross-entropy with class indices (I = int64_t or int32_t).
// scale_mode: 0 none (grad_loss or 1), 1 mean (1/denom), 2 sum.
template <class T, class I>
LossResult cross_entropy_index(const T* logits, const I* target, const T* weight,
                               const T* grad_loss, T* grad, double* row_loss, int64_t n,
                               int64_t c, int64_t ignore_index, double eps, int reduction,
                               void* stream);

// Fused softmax cross-entropy with class probabilities.
template <class T>
LossResult cross_entropy_prob(const T* logits, const T* target, const T* weight,
                              const T* grad_loss, T* grad, double* row_loss, int64_t n, int64_t c,
                              double eps, int reduction, void* stream);

template <class T, class I>
LossResult nll_loss(const T* log_probs, const I* target, const T* weight, const T* grad_loss,
                    T* grad, double* row_loss, int64_t n, int64_t c, int64_t ignore_index,
                    int reduction, void* stream);

template <class T, class I>
LossResult hinge_loss(const T* input, const I* target, const T* weight, const T* grad_loss,
                      T* grad, double* row_loss, int64_t n, int64_t c, int p, double margin,
                      int reduction, void* stream);

// mse (l1 = false) or l1 over `size` elements; partial holds one float64 per
// kLossChunk elements; loss_out (reduction none) the elementwise losses.
template <class T>
LossResult elementwise_loss(bool l1, const T* input, const T* target, const T* grad_loss, T* grad,
                            T* loss_out, double* partial, int64_t size, int reduction,
                            void* stream);

}  // namespace cuda_ops
}  // namespace pk
