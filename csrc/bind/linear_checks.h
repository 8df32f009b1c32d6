// Argument checks for pk.ops.linear / linear_backward, for the bindings of
// every backend: the activation (any but prelu, whose weight Linear does not
// take), x (N, in) against weight (out, in), the bias, the outputs, and which
// saved value (z, or y where the derivative is a function of the output) the
// backward uses.
#pragma once

#include <array>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "activation_checks.h"
#include "array_view.h"

namespace pk {

inline Act linear_activation(const std::string& name, const ActivationArgs& args) {
    const Act act = activation_from_name(name);
    if (act == Act::prelu)
        throw py::value_error(
            "argument 'activation': linear cannot fuse prelu (it has a weight); apply "
            "pk.ops.activation('prelu', ...) to the output instead");
    check_activation_args(act, args);
    return act;
}

// x (N, in) and weight (out, in), same float dtype; returns (N, in, out).
inline std::array<int64_t, 3> linear_check_x_weight(const ArrayView& x, const ArrayView& w) {
    require_float(x);
    require_same_dtype(x, w);
    require_ndim(x, 2);
    require_ndim(w, 2);
    if (x.dim(1) != w.dim(1))
        throw py::value_error("linear: argument 'x' has " + std::to_string(x.dim(1)) +
                              " features (shape " + shape_str(x.shape) + ") but argument "
                              "'weight' expects " + std::to_string(w.dim(1)) + " (shape " +
                              shape_str(w.shape) + ")");
    return {x.dim(0), x.dim(1), w.dim(0)};
}

inline void linear_check_output(const ArrayView& out, const ArrayView& like,
                                const std::vector<int64_t>& shape,
                                std::initializer_list<const ArrayView*> inputs) {
    require_same_dtype(like, out);
    require_shape(out, shape);
    require_writable(out);
    for (const ArrayView* in : inputs)
        if (in) require_no_overlap(out, *in);
}

inline void linear_check_bias(const std::optional<ArrayView>& bias, const ArrayView& x,
                              int64_t out_f) {
    if (!bias) return;
    require_same_dtype(x, *bias);
    require_ndim(*bias, 1);
    require_shape(*bias, {out_f});
}

// The value the backward differentiates at: z (any activation) or y (only
// where act_has_output_grad); none for identity. Sets from_output.
inline std::optional<ArrayView> linear_saved(Act act, const ActivationArgs& args,
                                             const std::string& activation,
                                             const std::optional<ArrayView>& z,
                                             const std::optional<ArrayView>& y, bool& from_output) {
    from_output = false;
    if (act == Act::identity) return std::nullopt;
    if (z) return z;
    if (y) {
        if (!act_has_output_grad(act, act_params<double>(args)))
            throw py::value_error("argument 'y': the derivative of " + activation +
                                  " is not a function of its output; pass the pre-activation 'z'");
        from_output = true;
        return y;
    }
    throw py::value_error("linear_backward: activation " + activation +
                          " needs argument 'y' (the output) or 'z' (the pre-activation)");
}

}  // namespace pk
