// pk.ops.linear / linear_backward for the CUDA kernels (cuda/linear.cu). The
// arguments are the CPU binding's (csrc/linear.cpp), plus the stream; the
// checks are shared (bind/linear_checks.h). `tile` (CUDA modules only)
// forces the GEMM kernel, as for matmul.
#include <pybind11/pybind11.h>

#include <optional>
#include <string>

#include "bind/linear_checks.h"
#include "linear.h"
#include "tile_arg.h"
#include "view.h"

namespace pk {

namespace {

std::optional<ArrayView> optional_view(py::handle obj, const char* name) {
    if (obj.is_none()) return std::nullopt;
    return device_view(obj, name);
}

template <class T>
T* ptr_or_null(const std::optional<ArrayView>& v) {
    return v ? v->ptr<T>() : nullptr;
}

template <class T>
void run_forward(Act act, const ActivationArgs& args, const ArrayView& x, const ArrayView& w,
                 const std::optional<ArrayView>& bias, const ArrayView& out,
                 const std::optional<ArrayView>& pre, int64_t batch, int64_t in_f, int64_t out_f,
                 int tile, uintptr_t stream) {
    const ActParams<T> p = act_params<T>(args);
    py::gil_scoped_release release;
    cuda_ops::linear_forward<T>(act, p, x.ptr<const T>(), w.ptr<const T>(),
                                ptr_or_null<const T>(bias), out.ptr<T>(), ptr_or_null<T>(pre),
                                batch, in_f, out_f, stream_ptr(stream), tile);
}

template <class T>
void run_backward(Act act, const ActivationArgs& args, const ArrayView& g, const ArrayView& x,
                  const ArrayView& w, const std::optional<ArrayView>& saved, bool from_output,
                  const std::optional<ArrayView>& gx, const std::optional<ArrayView>& gw,
                  const std::optional<ArrayView>& gb, int64_t batch, int64_t in_f, int64_t out_f,
                  int tile, uintptr_t stream) {
    const ActParams<T> p = act_params<T>(args);
    py::gil_scoped_release release;
    cuda_ops::linear_backward<T>(act, p, g.ptr<const T>(), x.ptr<const T>(), w.ptr<const T>(),
                                 ptr_or_null<const T>(saved), from_output, ptr_or_null<T>(gx),
                                 ptr_or_null<T>(gw), ptr_or_null<T>(gb), batch, in_f, out_f,
                                 stream_ptr(stream), tile);
}

}  // namespace

void bind_linear(py::module_& m) {
    m.def(
        "linear",
        [](py::handle x_obj, py::handle w_obj, py::handle b_obj, py::handle out_obj,
           const std::string& activation, py::handle pre_obj, double negative_slope,
           double alpha, double beta, double threshold, double min_val, double max_val,
           const std::string& approximate, const std::string& tile_name, uintptr_t stream) {
            const int tile = tile_from_name(tile_name);
            const ActivationArgs args{negative_slope, alpha,   beta,       threshold,
                                      min_val,        max_val, approximate};
            const Act act = linear_activation(activation, args);
            const ArrayView x = device_view(x_obj, "x");
            const ArrayView w = device_view(w_obj, "weight");
            const auto [batch, in_f, out_f] = linear_check_x_weight(x, w);
            require_dims_below_2_31(x, "the CUDA GEMM");
            require_dims_below_2_31(w, "the CUDA GEMM");
            const std::optional<ArrayView> bias = optional_view(b_obj, "bias");
            linear_check_bias(bias, x, out_f);
            const ArrayView out = device_view(out_obj, "out");
            const ArrayView* b_ptr = bias ? &*bias : nullptr;
            linear_check_output(out, x, {batch, out_f}, {&x, &w, b_ptr});
            const std::optional<ArrayView> pre = optional_view(pre_obj, "pre_activation");
            if (pre) {
                linear_check_output(*pre, x, {batch, out_f}, {&x, &w, b_ptr});
                require_no_overlap(*pre, out);
            }
            if (x.dtype == DType::f32)
                run_forward<float>(act, args, x, w, bias, out, pre, batch, in_f, out_f, tile,
                                   stream);
            else
                run_forward<double>(act, args, x, w, bias, out, pre, batch, in_f, out_f, tile,
                                   stream);
        },
        py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("out"),
        py::arg("activation") = "identity", py::arg("pre_activation") = py::none(),
        py::arg("negative_slope") = 0.01, py::arg("alpha") = 1.0, py::arg("beta") = 1.0,
        py::arg("threshold") = 20.0, py::arg("min_val") = -1.0, py::arg("max_val") = 1.0,
        py::arg("approximate") = "none", py::arg("tile") = "auto", py::arg("stream") = 0,
        "out = act(x @ weight.T + bias) in one GEMM whose epilogue adds the bias and applies "
        "the activation (bias may be None); pre_activation, if given, receives x @ weight.T + "
        "bias. On the given stream.");
    m.def(
        "linear_backward",
        [](py::handle g_obj, py::handle x_obj, py::handle w_obj, py::handle gx_obj,
           py::handle gw_obj, py::handle gb_obj, const std::string& activation, py::handle y_obj,
           py::handle z_obj, double negative_slope, double alpha, double beta, double threshold,
           double min_val, double max_val, const std::string& approximate,
           const std::string& tile_name, uintptr_t stream) {
            const int tile = tile_from_name(tile_name);
            const ActivationArgs args{negative_slope, alpha,   beta,       threshold,
                                      min_val,        max_val, approximate};
            const Act act = linear_activation(activation, args);
            const ArrayView x = device_view(x_obj, "x");
            const ArrayView w = device_view(w_obj, "weight");
            const auto [batch, in_f, out_f] = linear_check_x_weight(x, w);
            require_dims_below_2_31(x, "the CUDA GEMM");
            require_dims_below_2_31(w, "the CUDA GEMM");
            const ArrayView g = device_view(g_obj, "grad_y");
            require_same_dtype(x, g);
            require_shape(g, {batch, out_f});
            const bool needs_saved = act != Act::identity;
            bool from_output = false;
            const std::optional<ArrayView> saved = linear_saved(
                act, args, activation, needs_saved ? optional_view(z_obj, "z") : std::nullopt,
                needs_saved ? optional_view(y_obj, "y") : std::nullopt, from_output);
            if (saved) {
                require_same_dtype(x, *saved);
                require_shape(*saved, {batch, out_f});
            }
            const std::optional<ArrayView> gx = optional_view(gx_obj, "grad_x");
            const std::optional<ArrayView> gw = optional_view(gw_obj, "grad_weight");
            const std::optional<ArrayView> gb = optional_view(gb_obj, "grad_bias");
            const ArrayView* s_ptr = saved ? &*saved : nullptr;
            if (gx) linear_check_output(*gx, x, {batch, in_f}, {&x, &w, &g, s_ptr});
            if (gw) linear_check_output(*gw, x, {out_f, in_f}, {&x, &w, &g, s_ptr});
            if (gb) linear_check_output(*gb, x, {out_f}, {&x, &w, &g, s_ptr});
            if (gx && gw) require_no_overlap(*gw, *gx);
            if (gb && gw) require_no_overlap(*gb, *gw);
            if (gb && gx) require_no_overlap(*gb, *gx);
            if (x.dtype == DType::f32)
                run_backward<float>(act, args, g, x, w, saved, from_output, gx, gw, gb, batch,
                                    in_f, out_f, tile, stream);
            else
                run_backward<double>(act, args, g, x, w, saved, from_output, gx, gw, gb, batch,
                                     in_f, out_f, tile, stream);
        },
        py::arg("grad_y"), py::arg("x"), py::arg("weight"), py::arg("grad_x"),
        py::arg("grad_weight"), py::arg("grad_bias"), py::arg("activation") = "identity",
        py::arg("y") = py::none(), py::arg("z") = py::none(), py::arg("negative_slope") = 0.01,
        py::arg("alpha") = 1.0, py::arg("beta") = 1.0, py::arg("threshold") = 20.0,
        py::arg("min_val") = -1.0, py::arg("max_val") = 1.0, py::arg("approximate") = "none",
        py::arg("tile") = "auto", py::arg("stream") = 0,
        "g' = grad_y * act'(z or y); grad_x = g' @ weight, grad_weight = g'.T @ x, grad_bias = "
        "g'.sum(0) (summed by the grad_weight GEMM); any output may be None. On the given "
        "stream.");
}

}  // namespace pk
