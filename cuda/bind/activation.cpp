// pk.ops.activation / activation_backward for the CUDA kernels
// (cuda/activation.cu); the checks are the CPU binding's (bind/activation_checks.h).
#include <pybind11/pybind11.h>

#include "activation.h"
#include "bind/activation_checks.h"
#include "view.h"

namespace pk {

namespace {

cuda_ops::ActivationShape shape_of(const ActivationPlan& plan) {
    cuda_ops::ActivationShape s;
    s.n = plan.n;
    s.outer = plan.outer;
    s.channels = plan.channels;
    s.inner = plan.inner;
    return s;
}

std::optional<ArrayView> optional_view(py::handle obj, const char* name) {
    if (obj.is_none()) return std::nullopt;
    return device_view(obj, name);
}

template <class T>
const T* ptr_or_null(const std::optional<ArrayView>& v) {
    return v ? v->ptr<const T>() : nullptr;
}

template <class T>
void run_forward(const ActivationPlan& plan, const ActivationArgs& args, const ArrayView& x,
                 const std::optional<ArrayView>& weight, const ArrayView& out, uintptr_t stream) {
    const ActParams<T> p = act_params<T>(args);
    py::gil_scoped_release release;
    cuda_ops::activation_forward<T>(plan.act, p, shape_of(plan), x.ptr<const T>(),
                                    ptr_or_null<T>(weight), out.ptr<T>(), stream_ptr(stream));
}

template <class T>
void run_backward(const ActivationPlan& plan, const ActivationArgs& args, const ArrayView& g,
                  const ArrayView& x, const std::optional<ArrayView>& weight,
                  const ArrayView& gx, const std::optional<ArrayView>& gw, uintptr_t stream) {
    const ActParams<T> p = act_params<T>(args);
    py::gil_scoped_release release;
    cuda_ops::activation_backward<T>(plan.act, p, shape_of(plan), g.ptr<const T>(),
                                     x.ptr<const T>(), ptr_or_null<T>(weight), gx.ptr<T>(),
                                     gw ? gw->ptr<T>() : nullptr, stream_ptr(stream));
}

}  // namespace

void bind_activation(py::module_& m) {
    m.def(
        "activation",
        [](const std::string& name, py::handle x_obj, py::handle out_obj, py::handle weight_obj,
           double negative_slope, double alpha, double beta, double threshold, double min_val,
           double max_val, const std::string& approximate, uintptr_t stream) {
            const ActivationArgs args{negative_slope, alpha,   beta,       threshold,
                                      min_val,        max_val, approximate};
            const ArrayView x = device_view(x_obj, "x");
            const std::optional<ArrayView> weight = optional_view(weight_obj, "weight");
            const ActivationPlan plan = activation_plan(name, x, weight, args);
            const ArrayView out = device_view(out_obj, "out");
            check_activation_out(out, x);
            if (x.dtype == DType::f32) run_forward<float>(plan, args, x, weight, out, stream);
            else run_forward<double>(plan, args, x, weight, out, stream);
        },
        py::arg("name"), py::arg("x"), py::arg("out"), py::arg("weight") = py::none(),
        py::arg("negative_slope") = 0.01, py::arg("alpha") = 1.0, py::arg("beta") = 1.0,
        py::arg("threshold") = 20.0, py::arg("min_val") = -1.0, py::arg("max_val") = 1.0,
        py::arg("approximate") = "none", py::arg("stream") = 0,
        "out = act(x) elementwise on the given stream (prelu: weight per channel).");
    m.def(
        "activation_backward",
        [](const std::string& name, py::handle g_obj, py::handle x_obj, py::handle gx_obj,
           py::handle weight_obj, py::handle gw_obj, double negative_slope, double alpha,
           double beta, double threshold, double min_val, double max_val,
           const std::string& approximate, uintptr_t stream) {
            const ActivationArgs args{negative_slope, alpha,   beta,       threshold,
                                      min_val,        max_val, approximate};
            const ArrayView x = device_view(x_obj, "x");
            const std::optional<ArrayView> weight = optional_view(weight_obj, "weight");
            const ActivationPlan plan = activation_plan(name, x, weight, args);
            const ArrayView g = device_view(g_obj, "grad_y");
            require_like(g, x);
            const ArrayView gx = device_view(gx_obj, "grad_x");
            check_activation_out(gx, x);
            require_no_overlap(gx, g);
            std::optional<ArrayView> gw;
            if (plan.act == Act::prelu) {
                if (gw_obj.is_none())
                    throw py::value_error("argument 'grad_weight' is required by prelu");
                gw = device_view(gw_obj, "grad_weight");
                check_activation_out(*gw, *weight);
            }
            if (x.dtype == DType::f32)
                run_backward<float>(plan, args, g, x, weight, gx, gw, stream);
            else
                run_backward<double>(plan, args, g, x, weight, gx, gw, stream);
        },
        py::arg("name"), py::arg("grad_y"), py::arg("x"), py::arg("grad_x"),
        py::arg("weight") = py::none(), py::arg("grad_weight") = py::none(),
        py::arg("negative_slope") = 0.01, py::arg("alpha") = 1.0, py::arg("beta") = 1.0,
        py::arg("threshold") = 20.0, py::arg("min_val") = -1.0, py::arg("max_val") = 1.0,
        py::arg("approximate") = "none", py::arg("stream") = 0,
        "grad_x = grad_y * act'(x) on the given stream (prelu: also grad_weight).");
}

}  // namespace pk
