// pk.ops.cross_entropy on the CPU: fused softmax cross-entropy, the loss and
// its gradient w.r.t. the logits in one pass over each row (PyTorch:
// torch.nn.functional.cross_entropy followed by backward; formulas in
// common/cross_entropy.h, row loops in softmax_rows.h).
//
// The labels are checked here before any row is touched (a kernel never reads
// outside the row), and the denominator of "mean" (sum of the target weights
// of non-ignored rows) is summed in that same pass, because every gradient is
// scaled by it. Row losses go to a float64 buffer and are summed in row order
// afterwards, so the result does not depend on the thread count.
#include <pybind11/pybind11.h>

#include <cmath>
#include <optional>
#include <string>

#include "bind/array_view.h"
#include "bind/loss_checks.h"
#include "row_parallel.h"
#include "softmax_kernels.h"

namespace pk {

namespace {

// Checks every label and returns the sum of w_y over non-ignored rows.
template <class T, class I>
double check_labels_weight_sum(const I* target, int64_t n, int64_t c, const T* weight,
                               int64_t ignore_index) {
    double denom = 0;
    for (int64_t r = 0; r < n; ++r) {
        const int64_t y = static_cast<int64_t>(target[r]);
        if (y == ignore_index) continue;
        if (y < 0 || y >= c) bad_label(r, y, c, true, ignore_index);
        denom += weight ? static_cast<double>(weight[y]) : 1.0;
    }
    return denom;
}

template <class T>
double ordered_sum(const T* v, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(v[i]);
    return s;
}

py::object reduced(Reduction red, double total, double denom) {
    if (red == Reduction::none) return py::none();
    // PyTorch divides the NLL and the smoothing terms by the denominator
    // separately; with a zero denominator the NLL term is 0 / 0, so its mean is
    // NaN even where the smoothing term alone would make total / denom +inf.
    if (red == Reduction::mean && denom == 0) return py::float_(std::nan(""));
    return py::float_(red == Reduction::mean ? total / denom : total);
}

template <class T>
void ce_index_kernel(const SoftmaxRowKernels<T>& k, const CeIndexRows<T, int64_t>& a, int64_t r0,
                     int64_t r1) {
    k.ce_index_i64(a, r0, r1);
}

template <class T>
void ce_index_kernel(const SoftmaxRowKernels<T>& k, const CeIndexRows<T, int32_t>& a, int64_t r0,
                     int64_t r1) {
    k.ce_index_i32(a, r0, r1);
}

struct CeArgs {
    const ArrayView& x;
    const ArrayView& target;
    const ArrayView* weight;
    const ArrayView* grad_loss;
    const ArrayView& grad;
    const ArrayView& row_loss;
    int64_t ignore_index;
    double eps;
    Reduction red;
};

template <class T, class I>
py::object run_index(const CeArgs& p) {
    const int64_t n = p.x.dim(0), c = p.x.dim(1);
    const T* w = p.weight ? p.weight->ptr<const T>() : nullptr;
    const double denom =
        check_labels_weight_sum(p.target.ptr<const I>(), n, c, w, p.ignore_index);
    const double w_sum = w ? ordered_sum(w, c) : static_cast<double>(c);
    const CeIndexRows<T, I> a{p.x.ptr<const T>(),
                              p.target.ptr<const I>(),
                              w,
                              p.grad_loss ? p.grad_loss->ptr<const T>() : nullptr,
                              p.grad.ptr<T>(),
                              p.row_loss.ptr<double>(),
                              c,
                              p.ignore_index,
                              static_cast<T>(p.eps),
                              static_cast<T>(p.eps / static_cast<double>(c)),
                              static_cast<T>(w_sum),
                              static_cast<T>(p.red == Reduction::mean ? 1.0 / denom : 1.0)};
    double total;
    {
        py::gil_scoped_release release;
        const auto& k = softmax_kernels<T>();
        parallel_rows(n, c, [&](int64_t r0, int64_t r1) { ce_index_kernel(k, a, r0, r1); });
        total = ordered_sum(p.row_loss.ptr<const double>(), n);
    }
    return reduced(p.red, total, denom);
}

template <class T>
py::object run_prob(const CeArgs& p) {
    const int64_t n = p.x.dim(0), c = p.x.dim(1);
    const double denom = static_cast<double>(n);
    const CeProbRows<T> a{p.x.ptr<const T>(),
                          p.target.ptr<const T>(),
                          p.weight ? p.weight->ptr<const T>() : nullptr,
                          p.grad_loss ? p.grad_loss->ptr<const T>() : nullptr,
                          p.grad.ptr<T>(),
                          p.row_loss.ptr<double>(),
                          c,
                          static_cast<T>(p.eps),
                          static_cast<T>(p.eps / static_cast<double>(c)),
                          static_cast<T>(p.red == Reduction::mean ? 1.0 / denom : 1.0)};
    double total;
    {
        py::gil_scoped_release release;
        const auto& k = softmax_kernels<T>();
        parallel_rows(n, c, [&](int64_t r0, int64_t r1) { k.ce_prob(a, r0, r1); });
        total = ordered_sum(p.row_loss.ptr<const double>(), n);
    }
    return reduced(p.red, total, denom);
}

}  // namespace

void bind_cross_entropy(py::module_& m) {
    m.def(
        "cross_entropy",
        [](py::handle x_obj, py::handle t_obj, py::handle w_obj, py::handle gl_obj,
           py::handle grad_obj, py::handle rl_obj, int64_t ignore_index, double label_smoothing,
           const std::string& reduction) -> py::object {
            const Reduction red = parse_reduction(reduction);
            const ArrayView x = host_view(x_obj, "logits", "cpu");
            const ArrayView target = host_view(t_obj, "target", "cpu");
            std::optional<ArrayView> weight, grad_loss;
            if (!w_obj.is_none()) weight = host_view(w_obj, "weight", "cpu");
            if (!gl_obj.is_none()) grad_loss = host_view(gl_obj, "grad_loss", "cpu");
            const ArrayView grad = host_view(grad_obj, "grad", "cpu");
            const ArrayView row_loss = host_view(rl_obj, "row_loss", "cpu");
            const CeArgs args{x, target, weight ? &*weight : nullptr,
                              grad_loss ? &*grad_loss : nullptr, grad, row_loss, ignore_index,
                              label_smoothing, red};
            const bool prob = cross_entropy_checks(args.x, args.target, args.weight,
                                                   args.grad_loss, grad, row_loss, red,
                                                   label_smoothing);
            if (x.dtype == DType::f32) {
                if (prob) return run_prob<float>(args);
                return target.dtype == DType::i64 ? run_index<float, int64_t>(args)
                                                  : run_index<float, int32_t>(args);
            }
            if (prob) return run_prob<double>(args);
            return target.dtype == DType::i64 ? run_index<double, int64_t>(args)
                                              : run_index<double, int32_t>(args);
        },
        py::arg("logits"), py::arg("target"), py::arg("weight"), py::arg("grad_loss"),
        py::arg("grad"), py::arg("row_loss"), py::arg("ignore_index") = -100,
        py::arg("label_smoothing") = 0.0, py::arg("reduction") = "mean",
        "Fused softmax cross-entropy: writes the gradient of the reduced loss w.r.t. logits to "
        "grad and the weighted per-row losses to row_loss (float64); returns the reduced loss "
        "(None for reduction='none').");
}

}  // namespace pk
