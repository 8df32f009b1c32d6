// Argument checks of the softmax and loss ops, shared by the CPU and CUDA
// bindings. Every failure names the argument.
#pragma once

#include <string>

#include "array_view.h"
#include "common/cross_entropy.h"

namespace pk {

inline Reduction parse_reduction(const std::string& r) {
    if (r == "mean") return Reduction::mean;
    if (r == "sum") return Reduction::sum;
    if (r == "none") return Reduction::none;
    throw py::value_error("argument 'reduction' must be 'mean', 'sum' or 'none', got '" + r + "'");
}

// An output of x's dtype and the given shape that overlaps none of the inputs.
inline void check_output(const ArrayView& out, const ArrayView& like,
                         const std::vector<int64_t>& shape) {
    require_same_dtype(like, out);
    require_shape(out, shape);
    require_writable(out);
}

// softmax / log_softmax forward (x -> y) and backward (grad_y, y -> grad_x):
// any shape with at least one axis; the op runs along the last one.
inline void softmax_checks(const ArrayView& x, const ArrayView& y) {
    require_float(x);
    if (x.ndim() < 1) throw py::value_error("argument '" + std::string(x.name) + "' must have at least one axis");
    check_output(y, x, x.shape);
    require_no_overlap(y, x);
}

inline void softmax_backward_checks(const ArrayView& grad_y, const ArrayView& y,
                                    const ArrayView& grad_x) {
    require_float(y);
    require_same_dtype(y, grad_y);
    if (y.ndim() < 1) throw py::value_error("argument 'y' must have at least one axis");
    require_shape(grad_y, y.shape);
    check_output(grad_x, y, y.shape);
    require_no_overlap(grad_x, y);
    require_no_overlap(grad_x, grad_y);
}

// (N, C) floats of one dtype.
inline void check_logits(const ArrayView& x) {
    require_float(x);
    require_ndim(x, 2);
}

// Class indices: int64 or int32 of shape (N,).
inline void check_class_target(const ArrayView& target, int64_t n) {
    if (target.dtype != DType::i64 && target.dtype != DType::i32)
        throw py::type_error("argument 'target' must hold class indices as int64 or int32, got " +
                             std::string(dtype_name(target.dtype)));
    require_shape(target, {n});
}

inline void check_weight(const ArrayView* weight, const ArrayView& x, int64_t c) {
    if (!weight) return;
    require_same_dtype(x, *weight);
    if (weight->shape != std::vector<int64_t>{c})
        throw py::value_error("argument 'weight' must have one entry per class, shape " +
                              shape_str({c}) + ", got " + shape_str(weight->shape));
}

// The upstream gradient of reduction "none": one value per loss entry.
inline void check_grad_loss(const ArrayView* grad_loss, Reduction red, const ArrayView& x,
                            const std::vector<int64_t>& shape) {
    if (!grad_loss) return;
    if (red != Reduction::none)
        throw py::value_error("argument 'grad_loss' is only accepted with reduction='none' "
                              "(a mean or sum loss is a scalar whose gradient is 1)");
    require_same_dtype(x, *grad_loss);
    require_shape(*grad_loss, shape);
}

// The float64 buffer of per-row (or per-chunk) partial losses.
inline void check_partial(const ArrayView& partial, int64_t n) {
    require_dtype(partial, DType::f64);
    require_shape(partial, {n});
    require_writable(partial);
}

inline void check_label_smoothing(double eps) {
    if (!(eps >= 0.0 && eps <= 1.0))
        throw py::value_error("argument 'label_smoothing' must be between 0.0 and 1.0, got " +
                              std::to_string(eps));
}

// Reports a class index outside [0, C) that is not ignore_index.
[[noreturn]] inline void bad_label(int64_t row, int64_t label, int64_t c, bool has_ignore,
                                   int64_t ignore_index) {
    std::string msg = "argument 'target': class index " + std::to_string(label) + " at position " +
                      std::to_string(row) + " is out of range [0, " + std::to_string(c) + ")";
    if (has_ignore) msg += " and is not ignore_index=" + std::to_string(ignore_index);
    throw py::value_error(msg);
}

// cross_entropy: logits (N, C); target class indices (N,) or probabilities
// (N, C) of the logits' dtype. Returns true for probability targets.
inline bool cross_entropy_checks(const ArrayView& x, const ArrayView& target,
                                 const ArrayView* weight, const ArrayView* grad_loss,
                                 const ArrayView& grad, const ArrayView& row_loss, Reduction red,
                                 double label_smoothing) {
    check_logits(x);
    const int64_t n = x.dim(0), c = x.dim(1);
    const bool prob = target.dtype == DType::f32 || target.dtype == DType::f64;
    if (prob) {
        require_same_dtype(x, target);
        if (target.shape != x.shape)
            throw py::value_error("argument 'target' of class probabilities must have the logits' "
                                  "shape " + shape_str(x.shape) + ", got " +
                                  shape_str(target.shape));
    } else {
        check_class_target(target, n);
    }
    check_weight(weight, x, c);
    check_grad_loss(grad_loss, red, x, {n});
    check_label_smoothing(label_smoothing);
    check_output(grad, x, x.shape);
    require_no_overlap(grad, x);
    require_no_overlap(grad, target);
    if (weight) require_no_overlap(grad, *weight);
    check_partial(row_loss, n);
    return prob;
}

// nll_loss (log_probs (N, C)) and hinge_loss (input (N, C)): class indices.
inline void class_loss_checks(const ArrayView& x, const ArrayView& target,
                              const ArrayView* weight, const ArrayView* grad_loss,
                              const ArrayView& grad, const ArrayView& row_loss, Reduction red) {
    check_logits(x);
    const int64_t n = x.dim(0), c = x.dim(1);
    check_class_target(target, n);
    check_weight(weight, x, c);
    check_grad_loss(grad_loss, red, x, {n});
    check_output(grad, x, x.shape);
    require_no_overlap(grad, x);
    require_no_overlap(grad, target);
    if (weight) require_no_overlap(grad, *weight);
    check_partial(row_loss, n);
}

// mse_loss / l1_loss: input and target of one shape and dtype; loss_out (the
// elementwise losses) only for reduction "none"; partial holds one float64 per
// chunk of kLossChunk elements.
inline int64_t elementwise_loss_checks(const ArrayView& x, const ArrayView& target,
                                       const ArrayView* grad_loss, const ArrayView& grad,
                                       const ArrayView* loss_out, const ArrayView& partial,
                                       Reduction red, int64_t chunk) {
    require_float(x);
    require_same_dtype(x, target);
    if (target.shape != x.shape)
        throw py::value_error("argument 'target' must have the input's shape " +
                              shape_str(x.shape) + ", got " + shape_str(target.shape));
    check_grad_loss(grad_loss, red, x, x.shape);
    check_output(grad, x, x.shape);
    require_no_overlap(grad, x);
    require_no_overlap(grad, target);
    if (red == Reduction::none) {
        if (!loss_out) throw py::value_error("argument 'loss_out' is required with reduction='none'");
        check_output(*loss_out, x, x.shape);
        require_no_overlap(*loss_out, x);
        require_no_overlap(*loss_out, target);
        require_no_overlap(*loss_out, grad);
    }
    const int64_t n_chunks = (x.size() + chunk - 1) / chunk;
    check_partial(partial, n_chunks);
    return n_chunks;
}

}  // namespace pk
