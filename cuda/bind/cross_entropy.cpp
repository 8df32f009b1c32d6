// pk.ops.cross_entropy, nll_loss, hinge_loss, mse_loss and l1_loss for the CUDA
// kernels (cuda/cross_entropy.cu, cuda/losses.cu). The same checks as the CPU
// bindings; labels are checked on the device (class_targets.h) and reported
// here, when the loss is read back.
#include <cmath>
#include <optional>
#include <string>

#include "bind/loss_checks.h"
#include "common/losses.h"
#include "cross_entropy.h"
#include "view.h"

namespace pk {

namespace {

std::optional<ArrayView> optional_view(py::handle obj, const char* name) {
    if (obj.is_none()) return std::nullopt;
    return device_view(obj, name);
}

const ArrayView* ptr_of(const std::optional<ArrayView>& o) { return o ? &*o : nullptr; }

template <class T>
const T* data_of(const std::optional<ArrayView>& o) {
    return o ? o->ptr<const T>() : nullptr;
}

py::object finish(const cuda_ops::LossResult& r, Reduction red, bool has_ignore,
                  int64_t ignore_index, int64_t c) {
    if (r.bad_row >= 0) bad_label(r.bad_row, r.bad_label, c, has_ignore, ignore_index);
    if (red == Reduction::none) return py::none();
    // As PyTorch (NLL and smoothing terms divided separately): a zero
    // denominator gives NaN, not the +inf of total / 0 under label smoothing.
    if (red == Reduction::mean && r.denom == 0) return py::float_(std::nan(""));
    return py::float_(red == Reduction::mean ? r.total / r.denom : r.total);
}

struct ClassArgs {
    ArrayView x, target, grad, row_loss;
    std::optional<ArrayView> weight, grad_loss;
};

ClassArgs class_args(py::handle x_obj, const char* x_name, py::handle t_obj, py::handle w_obj,
                     py::handle gl_obj, py::handle grad_obj, py::handle rl_obj) {
    return {device_view(x_obj, x_name), device_view(t_obj, "target"), device_view(grad_obj, "grad"),
            device_view(rl_obj, "row_loss"), optional_view(w_obj, "weight"),
            optional_view(gl_obj, "grad_loss")};
}

template <class T, class I>
cuda_ops::LossResult ce_index(const ClassArgs& a, int64_t ignore_index, double eps, Reduction red,
                              uintptr_t stream) {
    py::gil_scoped_release release;
    return cuda_ops::cross_entropy_index<T, I>(
        a.x.ptr<const T>(), a.target.ptr<const I>(), data_of<T>(a.weight), data_of<T>(a.grad_loss),
        a.grad.ptr<T>(), a.row_loss.ptr<double>(), a.x.dim(0), a.x.dim(1), ignore_index, eps,
        static_cast<int>(red), stream_ptr(stream));
}

template <class T>
cuda_ops::LossResult ce_prob(const ClassArgs& a, double eps, Reduction red, uintptr_t stream) {
    py::gil_scoped_release release;
    return cuda_ops::cross_entropy_prob<T>(
        a.x.ptr<const T>(), a.target.ptr<const T>(), data_of<T>(a.weight), data_of<T>(a.grad_loss),
        a.grad.ptr<T>(), a.row_loss.ptr<double>(), a.x.dim(0), a.x.dim(1), eps,
        static_cast<int>(red), stream_ptr(stream));
}

template <class T, class I>
cuda_ops::LossResult nll(const ClassArgs& a, int64_t ignore_index, Reduction red, uintptr_t stream) {
    py::gil_scoped_release release;
    return cuda_ops::nll_loss<T, I>(a.x.ptr<const T>(), a.target.ptr<const I>(), data_of<T>(a.weight),
                                    data_of<T>(a.grad_loss), a.grad.ptr<T>(),
                                    a.row_loss.ptr<double>(), a.x.dim(0), a.x.dim(1), ignore_index,
                                    static_cast<int>(red), stream_ptr(stream));
}

template <class T, class I>
cuda_ops::LossResult hinge(const ClassArgs& a, int p, double margin, Reduction red, uintptr_t stream) {
    py::gil_scoped_release release;
    return cuda_ops::hinge_loss<T, I>(a.x.ptr<const T>(), a.target.ptr<const I>(),
                                      data_of<T>(a.weight), data_of<T>(a.grad_loss), a.grad.ptr<T>(),
                                      a.row_loss.ptr<double>(), a.x.dim(0), a.x.dim(1), p, margin,
                                      static_cast<int>(red), stream_ptr(stream));
}

template <bool L1>
py::object elementwise(py::handle x_obj, py::handle t_obj, py::handle gl_obj, py::handle grad_obj,
                       py::handle lo_obj, py::handle part_obj, const std::string& reduction,
                       uintptr_t stream) {
    const Reduction red = parse_reduction(reduction);
    const ArrayView x = device_view(x_obj, "input");
    const ArrayView target = device_view(t_obj, "target");
    const auto grad_loss = optional_view(gl_obj, "grad_loss");
    const ArrayView grad = device_view(grad_obj, "grad");
    const auto loss_out = optional_view(lo_obj, "loss_out");
    const ArrayView partial = device_view(part_obj, "partial");
    elementwise_loss_checks(x, target, ptr_of(grad_loss), grad, ptr_of(loss_out), partial, red,
                            kLossChunk);
    cuda_ops::LossResult r;
    {
        py::gil_scoped_release release;
        if (x.dtype == DType::f32)
            r = cuda_ops::elementwise_loss<float>(
                L1, x.ptr<const float>(), target.ptr<const float>(), data_of<float>(grad_loss),
                grad.ptr<float>(), red == Reduction::none ? loss_out->ptr<float>() : nullptr,
                partial.ptr<double>(), x.size(), static_cast<int>(red), stream_ptr(stream));
        else
            r = cuda_ops::elementwise_loss<double>(
                L1, x.ptr<const double>(), target.ptr<const double>(), data_of<double>(grad_loss),
                grad.ptr<double>(), red == Reduction::none ? loss_out->ptr<double>() : nullptr,
                partial.ptr<double>(), x.size(), static_cast<int>(red), stream_ptr(stream));
    }
    return finish(r, red, false, 0, 0);
}

}  // namespace

void bind_cross_entropy(py::module_& m) {
    m.attr("LOSS_CHUNK") = kLossChunk;
    m.def(
        "cross_entropy",
        [](py::handle x_obj, py::handle t_obj, py::handle w_obj, py::handle gl_obj,
           py::handle grad_obj, py::handle rl_obj, int64_t ignore_index, double label_smoothing,
           const std::string& reduction, uintptr_t stream) -> py::object {
            const Reduction red = parse_reduction(reduction);
            const ClassArgs a = class_args(x_obj, "logits", t_obj, w_obj, gl_obj, grad_obj, rl_obj);
            const bool prob = cross_entropy_checks(a.x, a.target, ptr_of(a.weight),
                                                   ptr_of(a.grad_loss), a.grad, a.row_loss, red,
                                                   label_smoothing);
            const bool f32 = a.x.dtype == DType::f32, i64 = a.target.dtype == DType::i64;
            cuda_ops::LossResult r;
            if (prob) r = f32 ? ce_prob<float>(a, label_smoothing, red, stream)
                              : ce_prob<double>(a, label_smoothing, red, stream);
            else if (f32) r = i64 ? ce_index<float, int64_t>(a, ignore_index, label_smoothing, red, stream)
                                  : ce_index<float, int32_t>(a, ignore_index, label_smoothing, red, stream);
            else r = i64 ? ce_index<double, int64_t>(a, ignore_index, label_smoothing, red, stream)
                         : ce_index<double, int32_t>(a, ignore_index, label_smoothing, red, stream);
            return finish(r, red, true, ignore_index, a.x.dim(1));
        },
        py::arg("logits"), py::arg("target"), py::arg("weight"), py::arg("grad_loss"),
        py::arg("grad"), py::arg("row_loss"), py::arg("ignore_index") = -100,
        py::arg("label_smoothing") = 0.0, py::arg("reduction") = "mean", py::arg("stream") = 0,
        "Fused softmax cross-entropy: gradient to grad, weighted row losses (float64) to "
        "row_loss; returns the reduced loss (None for reduction='none'). Synchronises the stream.");
    m.def(
        "nll_loss",
        [](py::handle x_obj, py::handle t_obj, py::handle w_obj, py::handle gl_obj,
           py::handle grad_obj, py::handle rl_obj, int64_t ignore_index,
           const std::string& reduction, uintptr_t stream) -> py::object {
            const Reduction red = parse_reduction(reduction);
            const ClassArgs a = class_args(x_obj, "log_probs", t_obj, w_obj, gl_obj, grad_obj, rl_obj);
            class_loss_checks(a.x, a.target, ptr_of(a.weight), ptr_of(a.grad_loss), a.grad,
                              a.row_loss, red);
            const bool f32 = a.x.dtype == DType::f32, i64 = a.target.dtype == DType::i64;
            const cuda_ops::LossResult r =
                f32 ? (i64 ? nll<float, int64_t>(a, ignore_index, red, stream)
                           : nll<float, int32_t>(a, ignore_index, red, stream))
                    : (i64 ? nll<double, int64_t>(a, ignore_index, red, stream)
                           : nll<double, int32_t>(a, ignore_index, red, stream));
            return finish(r, red, true, ignore_index, a.x.dim(1));
        },
        py::arg("log_probs"), py::arg("target"), py::arg("weight"), py::arg("grad_loss"),
        py::arg("grad"), py::arg("row_loss"), py::arg("ignore_index") = -100,
        py::arg("reduction") = "mean", py::arg("stream") = 0);
    m.def(
        "hinge_loss",
        [](py::handle x_obj, py::handle t_obj, py::handle w_obj, py::handle gl_obj,
           py::handle grad_obj, py::handle rl_obj, int p, double margin,
           const std::string& reduction, uintptr_t stream) -> py::object {
            const Reduction red = parse_reduction(reduction);
            if (p != 1 && p != 2)
                throw py::value_error("argument 'p' must be 1 or 2, got " + std::to_string(p));
            const ClassArgs a = class_args(x_obj, "input", t_obj, w_obj, gl_obj, grad_obj, rl_obj);
            class_loss_checks(a.x, a.target, ptr_of(a.weight), ptr_of(a.grad_loss), a.grad,
                              a.row_loss, red);
            const bool f32 = a.x.dtype == DType::f32, i64 = a.target.dtype == DType::i64;
            const cuda_ops::LossResult r =
                f32 ? (i64 ? hinge<float, int64_t>(a, p, margin, red, stream)
                           : hinge<float, int32_t>(a, p, margin, red, stream))
                    : (i64 ? hinge<double, int64_t>(a, p, margin, red, stream)
                           : hinge<double, int32_t>(a, p, margin, red, stream));
            return finish(r, red, false, 0, a.x.dim(1));
        },
        py::arg("input"), py::arg("target"), py::arg("weight"), py::arg("grad_loss"),
        py::arg("grad"), py::arg("row_loss"), py::arg("p") = 1, py::arg("margin") = 1.0,
        py::arg("reduction") = "mean", py::arg("stream") = 0);
    m.def("mse_loss", &elementwise<false>, py::arg("input"), py::arg("target"),
          py::arg("grad_loss"), py::arg("grad"), py::arg("loss_out"), py::arg("partial"),
          py::arg("reduction") = "mean", py::arg("stream") = 0);
    m.def("l1_loss", &elementwise<true>, py::arg("input"), py::arg("target"), py::arg("grad_loss"),
          py::arg("grad"), py::arg("loss_out"), py::arg("partial"), py::arg("reduction") = "mean",
          py::arg("stream") = 0);
}

}  // namespace pk
