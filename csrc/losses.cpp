// pk.ops.nll_loss, mse_loss, l1_loss and hinge_loss (multi-class margin) on the
// CPU, each returning the reduced loss and its gradient w.r.t. the input
// (PyTorch: torch.nn.NLLLoss, MSELoss, L1Loss, MultiMarginLoss; formulas in
// common/losses.h). Row losses (or, for elementwise losses, sums over fixed
// chunks of kLossChunk elements) go to a float64 buffer that is summed in
// index order, so results do not depend on the thread count.
#include <pybind11/pybind11.h>

#include <cstring>
#include <optional>
#include <string>

#include "bind/array_view.h"
#include "bind/loss_checks.h"
#include "common/losses.h"
#include "row_parallel.h"

namespace pk {

namespace {

template <class I>
void check_labels(const I* target, int64_t n, int64_t c, bool has_ignore, int64_t ignore_index) {
    for (int64_t r = 0; r < n; ++r) {
        const int64_t y = static_cast<int64_t>(target[r]);
        if (has_ignore && y == ignore_index) continue;
        if (y < 0 || y >= c) bad_label(r, y, c, has_ignore, ignore_index);
    }
}

double ordered_sum(const double* v, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += v[i];
    return s;
}

py::object reduced(Reduction red, double total, double denom) {
    if (red == Reduction::none) return py::none();
    return py::float_(red == Reduction::mean ? total / denom : total);
}

std::optional<ArrayView> optional_view(py::handle obj, const char* name) {
    if (obj.is_none()) return std::nullopt;
    return host_view(obj, name, "cpu");
}

template <class O>
const ArrayView* ptr_of(const std::optional<O>& o) {
    return o ? &*o : nullptr;
}

// ---------------------------------------------------------------- nll_loss

template <class T, class I>
py::object run_nll(const ArrayView& x, const ArrayView& target, const ArrayView* weight,
                   const ArrayView* grad_loss, const ArrayView& grad, const ArrayView& row_loss,
                   int64_t ignore_index, Reduction red) {
    const int64_t n = x.dim(0), c = x.dim(1);
    const I* t = target.ptr<const I>();
    const T* w = weight ? weight->ptr<const T>() : nullptr;
    check_labels(t, n, c, true, ignore_index);
    double denom = 0;
    for (int64_t r = 0; r < n; ++r)
        if (t[r] != ignore_index) denom += w ? static_cast<double>(w[t[r]]) : 1.0;
    const T scale = static_cast<T>(red == Reduction::mean ? 1.0 / denom : 1.0);
    const T* lp = x.ptr<const T>();
    const T* gl = grad_loss ? grad_loss->ptr<const T>() : nullptr;
    T* g = grad.ptr<T>();
    double* rl = row_loss.ptr<double>();
    py::gil_scoped_release release;
    parallel_rows(n, c, [&](int64_t r0, int64_t r1) {
        std::memset(g + r0 * c, 0, sizeof(T) * static_cast<size_t>((r1 - r0) * c));
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t y = static_cast<int64_t>(t[r]);
            if (y == ignore_index) {
                rl[r] = 0;
                continue;
            }
            const T w_y = w ? w[y] : T(1);
            rl[r] = -static_cast<double>(w_y) * lp[r * c + y];
            g[r * c + y] = -w_y * (gl ? gl[r] * scale : scale);
        }
    });
    const double total = ordered_sum(rl, n);
    py::gil_scoped_acquire acquire;
    return reduced(red, total, denom);
}

// ---------------------------------------------------------------- hinge_loss

template <class T, class I>
py::object run_hinge(const ArrayView& x, const ArrayView& target, const ArrayView* weight,
                     const ArrayView* grad_loss, const ArrayView& grad, const ArrayView& row_loss,
                     int p, double margin, Reduction red) {
    const int64_t n = x.dim(0), c = x.dim(1);
    const I* t = target.ptr<const I>();
    check_labels(t, n, c, false, 0);
    const T* w = weight ? weight->ptr<const T>() : nullptr;
    const T scale = static_cast<T>(red == Reduction::mean ? 1.0 / static_cast<double>(n) : 1.0);
    const T mg = static_cast<T>(margin);
    const T inv_c = static_cast<T>(1.0 / static_cast<double>(c));
    const T* in = x.ptr<const T>();
    const T* gl = grad_loss ? grad_loss->ptr<const T>() : nullptr;
    T* g = grad.ptr<T>();
    double* rl = row_loss.ptr<double>();
    py::gil_scoped_release release;
    parallel_rows(n, c, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const int64_t y = static_cast<int64_t>(t[r]);
            const T* xr = in + r * c;
            T* gr = g + r * c;
            const T w_y = w ? w[y] : T(1);
            const T gscale = (gl ? gl[r] * scale : scale) * w_y * inv_c;
            double loss = 0;
            T g_y = 0;
            for (int64_t i = 0; i < c; ++i) {
                const T z = mg - xr[y] + xr[i];
                const T gi = i == y ? T(0) : margin_term_grad(z, p) * gscale;
                if (i != y) loss += margin_term(z, p);
                gr[i] = gi;
                g_y -= gi;
            }
            gr[y] = g_y;
            rl[r] = loss * static_cast<double>(w_y) / static_cast<double>(c);
        }
    });
    const double total = ordered_sum(rl, n);
    py::gil_scoped_acquire acquire;
    return reduced(red, total, static_cast<double>(n));
}

// ---------------------------------------------------------------- mse / l1

enum class Elementwise { mse, l1 };

template <class T, Elementwise KIND>
py::object run_elementwise(const ArrayView& x, const ArrayView& target,
                           const ArrayView* grad_loss, const ArrayView& grad,
                           const ArrayView* loss_out, const ArrayView& partial, int64_t n_chunks,
                           Reduction red) {
    const int64_t size = x.size();
    const T* a = x.ptr<const T>();
    const T* b = target.ptr<const T>();
    const T* gl = grad_loss ? grad_loss->ptr<const T>() : nullptr;
    T* g = grad.ptr<T>();
    T* lo = red == Reduction::none ? loss_out->ptr<T>() : nullptr;
    double* part = partial.ptr<double>();
    const T scale =
        static_cast<T>(red == Reduction::mean ? 1.0 / static_cast<double>(size) : 1.0);
    py::gil_scoped_release release;
    parallel_rows(n_chunks, kLossChunk, [&](int64_t c0, int64_t c1) {
        for (int64_t ch = c0; ch < c1; ++ch) {
            const int64_t i0 = ch * kLossChunk;
            const int64_t i1 = i0 + kLossChunk < size ? i0 + kLossChunk : size;
            double s = 0;
            for (int64_t i = i0; i < i1; ++i) {
                const T gi = gl ? gl[i] : scale;
                const T v = KIND == Elementwise::mse ? mse_value(a[i], b[i]) : l1_value(a[i], b[i]);
                g[i] = KIND == Elementwise::mse ? mse_grad(a[i], b[i], gi) : l1_grad(a[i], b[i], gi);
                if (lo) lo[i] = v;
                s += v;
            }
            part[ch] = s;
        }
    });
    const double total = ordered_sum(part, n_chunks);
    py::gil_scoped_acquire acquire;
    return reduced(red, total, static_cast<double>(size));
}

template <Elementwise KIND>
void bind_elementwise(py::module_& m, const char* name, const char* doc) {
    m.def(
        name,
        [](py::handle x_obj, py::handle t_obj, py::handle gl_obj, py::handle grad_obj,
           py::handle lo_obj, py::handle part_obj, const std::string& reduction) -> py::object {
            const Reduction red = parse_reduction(reduction);
            const ArrayView x = host_view(x_obj, "input", "cpu");
            const ArrayView target = host_view(t_obj, "target", "cpu");
            const auto grad_loss = optional_view(gl_obj, "grad_loss");
            const ArrayView grad = host_view(grad_obj, "grad", "cpu");
            const auto loss_out = optional_view(lo_obj, "loss_out");
            const ArrayView partial = host_view(part_obj, "partial", "cpu");
            const int64_t n_chunks = elementwise_loss_checks(
                x, target, ptr_of(grad_loss), grad, ptr_of(loss_out), partial, red, kLossChunk);
            if (x.dtype == DType::f32)
                return run_elementwise<float, KIND>(x, target, ptr_of(grad_loss), grad,
                                                    ptr_of(loss_out), partial, n_chunks, red);
            return run_elementwise<double, KIND>(x, target, ptr_of(grad_loss), grad,
                                                 ptr_of(loss_out), partial, n_chunks, red);
        },
        py::arg("input"), py::arg("target"), py::arg("grad_loss"), py::arg("grad"),
        py::arg("loss_out"), py::arg("partial"), py::arg("reduction") = "mean", doc);
}

}  // namespace

void bind_losses(py::module_& m) {
    m.attr("LOSS_CHUNK") = kLossChunk;
    m.def(
        "nll_loss",
        [](py::handle x_obj, py::handle t_obj, py::handle w_obj, py::handle gl_obj,
           py::handle grad_obj, py::handle rl_obj, int64_t ignore_index,
           const std::string& reduction) -> py::object {
            const Reduction red = parse_reduction(reduction);
            const ArrayView x = host_view(x_obj, "log_probs", "cpu");
            const ArrayView target = host_view(t_obj, "target", "cpu");
            const auto weight = optional_view(w_obj, "weight");
            const auto grad_loss = optional_view(gl_obj, "grad_loss");
            const ArrayView grad = host_view(grad_obj, "grad", "cpu");
            const ArrayView row_loss = host_view(rl_obj, "row_loss", "cpu");
            class_loss_checks(x, target, ptr_of(weight), ptr_of(grad_loss), grad, row_loss, red);
            const bool i64 = target.dtype == DType::i64;
            if (x.dtype == DType::f32)
                return i64 ? run_nll<float, int64_t>(x, target, ptr_of(weight), ptr_of(grad_loss),
                                                     grad, row_loss, ignore_index, red)
                           : run_nll<float, int32_t>(x, target, ptr_of(weight), ptr_of(grad_loss),
                                                     grad, row_loss, ignore_index, red);
            return i64 ? run_nll<double, int64_t>(x, target, ptr_of(weight), ptr_of(grad_loss),
                                                  grad, row_loss, ignore_index, red)
                       : run_nll<double, int32_t>(x, target, ptr_of(weight), ptr_of(grad_loss),
                                                  grad, row_loss, ignore_index, red);
        },
        py::arg("log_probs"), py::arg("target"), py::arg("weight"), py::arg("grad_loss"),
        py::arg("grad"), py::arg("row_loss"), py::arg("ignore_index") = -100,
        py::arg("reduction") = "mean",
        "Negative log-likelihood: writes the gradient w.r.t. log_probs and the weighted row "
        "losses (float64); returns the reduced loss (None for reduction='none').");
    m.def(
        "hinge_loss",
        [](py::handle x_obj, py::handle t_obj, py::handle w_obj, py::handle gl_obj,
           py::handle grad_obj, py::handle rl_obj, int p, double margin,
           const std::string& reduction) -> py::object {
            const Reduction red = parse_reduction(reduction);
            if (p != 1 && p != 2)
                throw py::value_error("argument 'p' must be 1 or 2, got " + std::to_string(p));
            const ArrayView x = host_view(x_obj, "input", "cpu");
            const ArrayView target = host_view(t_obj, "target", "cpu");
            const auto weight = optional_view(w_obj, "weight");
            const auto grad_loss = optional_view(gl_obj, "grad_loss");
            const ArrayView grad = host_view(grad_obj, "grad", "cpu");
            const ArrayView row_loss = host_view(rl_obj, "row_loss", "cpu");
            class_loss_checks(x, target, ptr_of(weight), ptr_of(grad_loss), grad, row_loss, red);
            const bool i64 = target.dtype == DType::i64;
            if (x.dtype == DType::f32)
                return i64 ? run_hinge<float, int64_t>(x, target, ptr_of(weight),
                                                       ptr_of(grad_loss), grad, row_loss, p,
                                                       margin, red)
                           : run_hinge<float, int32_t>(x, target, ptr_of(weight),
                                                       ptr_of(grad_loss), grad, row_loss, p,
                                                       margin, red);
            return i64 ? run_hinge<double, int64_t>(x, target, ptr_of(weight), ptr_of(grad_loss),
                                                    grad, row_loss, p, margin, red)
                       : run_hinge<double, int32_t>(x, target, ptr_of(weight), ptr_of(grad_loss),
                                                    grad, row_loss, p, margin, red);
        },
        py::arg("input"), py::arg("target"), py::arg("weight"), py::arg("grad_loss"),
        py::arg("grad"), py::arg("row_loss"), py::arg("p") = 1, py::arg("margin") = 1.0,
        py::arg("reduction") = "mean",
        "Multi-class margin loss (torch MultiMarginLoss): writes the gradient w.r.t. input and "
        "the row losses (float64); returns the reduced loss (None for reduction='none').");
    bind_elementwise<Elementwise::mse>(m, "mse_loss",
                                       "Mean squared error (x - t)^2 and its gradient w.r.t. x.");
    bind_elementwise<Elementwise::l1>(m, "l1_loss",
                                      "Absolute error |x - t| and its gradient w.r.t. x.");
}

}  // namespace pk
