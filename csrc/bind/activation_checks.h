// Argument checks for pk.ops.activation / activation_backward, shared by the
// _cpu, _cuda and _cuda_emu bindings: the name, the parameters (as PyTorch
// rejects them), shapes and dtypes, and prelu's weight (1 or C elements, C =
// x.shape[1] as in torch.nn.functional.prelu).
#pragma once

#include <optional>
#include <string>

#include "array_view.h"
#include "common/activation_names.h"

namespace pk {

// The parameters as the Python layer passes them, before conversion to the
// element type.
struct ActivationArgs {
    double negative_slope = 0.01;
    double alpha = 1.0;
    double beta = 1.0;
    double threshold = 20.0;
    double min_val = -1.0;
    double max_val = 1.0;
    std::string approximate = "none";
};

// prelu's view of x as (outer, channels, inner); channels = 1 for a shared weight.
struct ActivationPlan {
    Act act;
    int64_t n = 0;
    int64_t outer = 1, channels = 1, inner = 1;
};

template <class T>
ActParams<T> act_params(const ActivationArgs& a) {
    ActParams<T> p;
    p.negative_slope = static_cast<T>(a.negative_slope);
    p.alpha = static_cast<T>(a.alpha);
    p.beta = static_cast<T>(a.beta);
    p.threshold = static_cast<T>(a.threshold);
    p.min_val = static_cast<T>(a.min_val);
    p.max_val = static_cast<T>(a.max_val);
    p.gelu_tanh = a.approximate == "tanh";
    return p;
}

inline Act activation_from_name(const std::string& name) {
    try {
        return parse_activation(name);
    } catch (const std::invalid_argument& e) {
        throw py::value_error(e.what());
    }
}

inline void check_activation_args(Act act, const ActivationArgs& a) {
    if (a.approximate != "none" && a.approximate != "tanh")
        throw py::value_error("argument 'approximate' must be 'none' or 'tanh', got '" +
                              a.approximate + "'");
    if (a.approximate != "none" && act != Act::gelu)
        throw py::value_error("argument 'approximate' applies to gelu only, not " +
                              std::string(activation_name(act)));
    if (act == Act::hardtanh && a.min_val > a.max_val)
        throw py::value_error("argument 'min_val' (" + std::to_string(a.min_val) +
                              ") cannot be greater than argument 'max_val' (" +
                              std::to_string(a.max_val) + ")");
    if (act == Act::celu && a.alpha == 0.0)
        throw py::value_error("argument 'alpha' cannot be 0 for celu (it divides x)");
    if (act == Act::softplus && a.beta == 0.0)
        throw py::value_error("argument 'beta' cannot be 0 for softplus (it divides the result)");
}

// x and `weight` (prelu only; must be absent otherwise).
inline ActivationPlan activation_plan(const std::string& name, const ArrayView& x,
                                      const std::optional<ArrayView>& weight,
                                      const ActivationArgs& args) {
    ActivationPlan plan;
    plan.act = activation_from_name(name);
    check_activation_args(plan.act, args);
    require_float(x);
    plan.n = x.size();
    if (plan.act != Act::prelu) {
        if (weight)
            throw py::value_error("argument 'weight' is only taken by prelu, not " + name);
        plan.inner = plan.n;
        return plan;
    }
    if (!weight) throw py::value_error("argument 'weight' is required by prelu");
    require_same_dtype(x, *weight);
    const int64_t c = x.ndim() >= 2 ? x.dim(1) : 1;
    if (weight->ndim() > 1 || (weight->size() != 1 && weight->size() != c))
        throw py::value_error("argument 'weight' must hold 1 or x.shape[1] = " +
                              std::to_string(c) + " elements in at most one dimension (argument '" +
                              x.name + "' has shape " + shape_str(x.shape) + "), got shape " +
                              shape_str(weight->shape));
    if (weight->size() == 1) {
        plan.inner = plan.n;
        return plan;
    }
    if (plan.n == 0) {  // nothing to read; every channel's gradient is 0
        plan.channels = c;
        plan.outer = plan.inner = 0;
        return plan;
    }
    plan.outer = x.dim(0);
    plan.channels = c;
    plan.inner = plan.n / (plan.outer * c);
    return plan;
}

inline void require_like(const ArrayView& a, const ArrayView& x) {
    require_same_dtype(x, a);
    require_shape(a, x.shape);
}

inline void check_activation_out(const ArrayView& out, const ArrayView& x) {
    require_like(out, x);
    require_writable(out);
    require_no_overlap(out, x);
}

}  // namespace pk
