// Argument checks for batch_norm forward and backward, shared by every
// backend's binding. Optional arguments (weight, bias, running statistics,
// parameter gradients) arrive as None or an array.
#pragma once

#include <string>

#include "array_view.h"

namespace pk {

// x viewed as (n, c, s): s is the product of the spatial sizes (1 for (N, C)).
struct BnDims {
    int64_t n, c, s;
    int64_t count() const { return n * s; }  // values per channel
};

struct BnOptional {
    bool present = false;
    ArrayView view;
};

template <class ViewFn>
BnOptional bn_optional(py::handle obj, const char* name, ViewFn view_fn) {
    BnOptional o;
    if (obj.is_none()) return o;
    o.present = true;
    o.view = view_fn(obj, name);
    return o;
}

inline BnDims bn_dims(const ArrayView& x) {
    require_float(x);
    if (x.ndim() < 2)
        throw py::value_error("argument 'x' must be (N, C) or (N, C, *spatial), got shape " +
                              shape_str(x.shape));
    int64_t s = 1;
    for (int64_t i = 2; i < x.ndim(); ++i) s *= x.dim(i);
    return {x.dim(0), x.dim(1), s};
}

// A per-channel parameter or statistic: (C,), x's dtype.
inline void bn_require_channel_vector(const ArrayView& v, const ArrayView& x, int64_t c) {
    require_same_dtype(x, v);
    if (v.ndim() != 1 || v.dim(0) != c)
        throw py::value_error(std::string("argument '") + v.name + "' must have shape (" +
                              std::to_string(c) + ",) to match the " + std::to_string(c) +
                              " channels of 'x' " + shape_str(x.shape) + ", got " +
                              shape_str(v.shape));
}

inline void bn_require_saved(const ArrayView& v, int64_t c, bool writable) {
    require_dtype(v, DType::f64);
    require_shape(v, {c});
    if (writable) require_writable(v);
}

inline BnDims batch_norm_forward_checks(const ArrayView& x, const BnOptional& weight,
                                        const BnOptional& bias, const BnOptional& running_mean,
                                        const BnOptional& running_var, const ArrayView& y,
                                        const ArrayView& save_mean, const ArrayView& save_invstd,
                                        bool training) {
    const BnDims d = bn_dims(x);
    if (weight.present) bn_require_channel_vector(weight.view, x, d.c);
    if (bias.present) bn_require_channel_vector(bias.view, x, d.c);
    if (running_mean.present != running_var.present)
        throw py::value_error(std::string("argument '") +
                              (running_mean.present ? "running_var" : "running_mean") +
                              "' is None but the other running statistic is not; give both "
                              "or neither");
    for (const BnOptional* r : {&running_mean, &running_var}) {
        if (!r->present) continue;
        bn_require_channel_vector(r->view, x, d.c);
        if (training) require_writable(r->view);
        require_no_overlap(y, r->view);
    }
    if (!training && !running_mean.present)
        throw py::value_error("argument 'running_mean' is required in evaluation mode "
                              "(training=False); without running statistics use batch statistics");
    if (training && d.count() == 1)
        throw py::value_error("Expected more than 1 value per channel when training, got input "
                              "size " + shape_str(x.shape) + " (argument 'x')");
    require_same_dtype(x, y);
    require_shape(y, x.shape);
    require_writable(y);
    require_no_overlap(y, x);
    bn_require_saved(save_mean, d.c, true);
    bn_require_saved(save_invstd, d.c, true);
    return d;
}

inline BnDims batch_norm_backward_checks(const ArrayView& grad_y, const ArrayView& x,
                                         const BnOptional& weight, const ArrayView& save_mean,
                                         const ArrayView& save_invstd, const ArrayView& grad_x,
                                         const BnOptional& grad_weight,
                                         const BnOptional& grad_bias) {
    const BnDims d = bn_dims(x);
    require_same_dtype(x, grad_y);
    require_shape(grad_y, x.shape);
    if (weight.present) bn_require_channel_vector(weight.view, x, d.c);
    bn_require_saved(save_mean, d.c, false);
    bn_require_saved(save_invstd, d.c, false);
    require_same_dtype(x, grad_x);
    require_shape(grad_x, x.shape);
    require_writable(grad_x);
    require_no_overlap(grad_x, x);
    require_no_overlap(grad_x, grad_y);
    for (const BnOptional* g : {&grad_weight, &grad_bias}) {
        if (!g->present) continue;
        bn_require_channel_vector(g->view, x, d.c);
        require_writable(g->view);
        require_no_overlap(g->view, grad_x);
    }
    return d;
}

}  // namespace pk
