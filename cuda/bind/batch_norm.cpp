// pk.ops.batch_norm and batch_norm_backward for the CUDA kernels
// (cuda/batch_norm.cu). The caller passes a float64 workspace of
// batch_norm_workspace_size(shape) values (block partials and coefficients).
#include <pybind11/stl.h>

#include "batch_norm.h"
#include "bind/batch_norm_checks.h"
#include "view.h"

namespace pk {

namespace {

template <class T>
const T* opt_ptr(const BnOptional& o) {
    return o.present ? o.view.ptr<const T>() : nullptr;
}

template <class T>
T* opt_mut(const BnOptional& o) {
    return o.present ? o.view.ptr<T>() : nullptr;
}

double* workspace_ptr(const ArrayView& ws, const BnDims& d) {
    require_dtype(ws, DType::f64);
    require_writable(ws);
    const int64_t need = cuda_ops::batch_norm_workspace_doubles(d.n, d.c, d.s);
    if (ws.ndim() != 1 || ws.dim(0) < need)
        throw py::value_error("argument 'workspace' must be 1-D with at least " +
                              std::to_string(need) + " float64 values, got shape " +
                              shape_str(ws.shape));
    return ws.ptr<double>();
}

ArrayView dev(py::handle obj, const char* name) { return device_view(obj, name); }

}  // namespace

void bind_batch_norm(py::module_& m) {
    m.def(
        "batch_norm_workspace_size",
        [](const std::vector<int64_t>& shape) {
            if (shape.size() < 2) return int64_t{0};
            int64_t s = 1;
            for (size_t i = 2; i < shape.size(); ++i) s *= shape[i];
            return cuda_ops::batch_norm_workspace_doubles(shape[0], shape[1], s);
        },
        py::arg("shape"), "float64 values of workspace batch_norm needs for x of this shape.");
    m.def(
        "batch_norm_forward",
        [](py::handle x_obj, py::handle w_obj, py::handle b_obj, py::handle rm_obj,
           py::handle rv_obj, py::handle y_obj, py::handle sm_obj, py::handle si_obj,
           bool training, double momentum, double eps, py::handle ws_obj, uintptr_t stream) {
            const ArrayView x = dev(x_obj, "x");
            const BnOptional w = bn_optional(w_obj, "weight", dev);
            const BnOptional b = bn_optional(b_obj, "bias", dev);
            const BnOptional rm = bn_optional(rm_obj, "running_mean", dev);
            const BnOptional rv = bn_optional(rv_obj, "running_var", dev);
            const ArrayView y = dev(y_obj, "y");
            const ArrayView sm = dev(sm_obj, "save_mean");
            const ArrayView si = dev(si_obj, "save_invstd");
            const BnDims d = batch_norm_forward_checks(x, w, b, rm, rv, y, sm, si, training);
            double* ws = workspace_ptr(dev(ws_obj, "workspace"), d);
            py::gil_scoped_release release;
            if (x.dtype == DType::f32)
                cuda_ops::batch_norm_forward<float>(
                    x.ptr<const float>(), opt_ptr<float>(w), opt_ptr<float>(b),
                    opt_mut<float>(rm), opt_mut<float>(rv),
                    y.ptr<float>(), sm.ptr<double>(), si.ptr<double>(), d.n, d.c, d.s, training,
                    momentum, eps, ws, stream_ptr(stream));
            else
                cuda_ops::batch_norm_forward<double>(
                    x.ptr<const double>(), opt_ptr<double>(w), opt_ptr<double>(b),
                    opt_mut<double>(rm), opt_mut<double>(rv), y.ptr<double>(), sm.ptr<double>(),
                    si.ptr<double>(), d.n, d.c, d.s, training, momentum, eps, ws,
                    stream_ptr(stream));
        },
        py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("running_mean"),
        py::arg("running_var"), py::arg("y"), py::arg("save_mean"), py::arg("save_invstd"),
        py::arg("training"), py::arg("momentum"), py::arg("eps"), py::arg("workspace"),
        py::arg("stream") = 0,
        "y = batch_norm(x); training: batch statistics, running statistics (if given) updated in "
        "place; writes the per-channel mean and invstd used (float64) for the backward pass.");
    m.def(
        "batch_norm_backward",
        [](py::handle gy_obj, py::handle x_obj, py::handle w_obj, py::handle sm_obj,
           py::handle si_obj, py::handle gx_obj, py::handle gw_obj, py::handle gb_obj,
           bool training, py::handle ws_obj, uintptr_t stream) {
            const ArrayView gy = dev(gy_obj, "grad_y");
            const ArrayView x = dev(x_obj, "x");
            const BnOptional w = bn_optional(w_obj, "weight", dev);
            const ArrayView sm = dev(sm_obj, "save_mean");
            const ArrayView si = dev(si_obj, "save_invstd");
            const ArrayView gx = dev(gx_obj, "grad_x");
            const BnOptional gw = bn_optional(gw_obj, "grad_weight", dev);
            const BnOptional gb = bn_optional(gb_obj, "grad_bias", dev);
            const BnDims d = batch_norm_backward_checks(gy, x, w, sm, si, gx, gw, gb);
            double* ws = workspace_ptr(dev(ws_obj, "workspace"), d);
            py::gil_scoped_release release;
            if (x.dtype == DType::f32)
                cuda_ops::batch_norm_backward<float>(
                    gy.ptr<const float>(), x.ptr<const float>(), opt_ptr<float>(w),
                    sm.ptr<const double>(), si.ptr<const double>(), gx.ptr<float>(),
                    opt_mut<float>(gw), opt_mut<float>(gb), d.n, d.c, d.s, training, ws,
                    stream_ptr(stream));
            else
                cuda_ops::batch_norm_backward<double>(
                    gy.ptr<const double>(), x.ptr<const double>(), opt_ptr<double>(w),
                    sm.ptr<const double>(), si.ptr<const double>(), gx.ptr<double>(),
                    opt_mut<double>(gw), opt_mut<double>(gb), d.n, d.c, d.s, training, ws,
                    stream_ptr(stream));
        },
        py::arg("grad_y"), py::arg("x"), py::arg("weight"), py::arg("save_mean"),
        py::arg("save_invstd"), py::arg("grad_x"), py::arg("grad_weight"), py::arg("grad_bias"),
        py::arg("training"), py::arg("workspace"), py::arg("stream") = 0,
        "grad_x (and grad_weight, grad_bias where given) of batch_norm: one reduction pass, one "
        "elementwise pass.");
}

}  // namespace pk
