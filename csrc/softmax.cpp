// pk.ops.softmax / log_softmax and their backward on the CPU, along the last
// axis of a C-contiguous array (PyTorch: torch.softmax, torch.log_softmax,
// aten _softmax_backward_data / _log_softmax_backward_data):
//   y = exp(x - m) / sum exp(x - m),  log y = x - m - log sum exp(x - m)
//   grad_x = y (grad_y - sum grad_y y)       (softmax)
//   grad_x = grad_y - exp(y) sum grad_y      (log_softmax, y = its output)
// This file holds the baseline (SSE2) table of the row loops, the choice of
// table by SIMD path, and the bindings; the loops are in softmax_rows.h.
// softmax_rows.h comes first: it forces the shared formulas inline (see there).
#include "softmax_rows.h"

#include <pybind11/pybind11.h>

#include "bind/array_view.h"
#include "bind/loss_checks.h"
#include "row_parallel.h"
#include "runtime/cpu_features.h"

namespace pk {

SoftmaxRowKernels<float> softmax_kernels_f32_generic() { return make_softmax_kernels<float>(); }
SoftmaxRowKernels<double> softmax_kernels_f64_generic() { return make_softmax_kernels<double>(); }

template <>
const SoftmaxRowKernels<float>& softmax_kernels<float>() {
    // Each table is built the first time its path is chosen: the builders are
    // compiled for their instruction set and may use it.
    switch (simd_path()) {
        case SimdPath::avx512: { static const auto k = softmax_kernels_f32_avx512(); return k; }
        case SimdPath::avx2: { static const auto k = softmax_kernels_f32_avx2(); return k; }
        default: { static const auto k = softmax_kernels_f32_generic(); return k; }
    }
}

template <>
const SoftmaxRowKernels<double>& softmax_kernels<double>() {
    // Each table is built the first time its path is chosen: the builders are
    // compiled for their instruction set and may use it.
    switch (simd_path()) {
        case SimdPath::avx512: { static const auto k = softmax_kernels_f64_avx512(); return k; }
        case SimdPath::avx2: { static const auto k = softmax_kernels_f64_avx2(); return k; }
        default: { static const auto k = softmax_kernels_f64_generic(); return k; }
    }
}

namespace {

template <class T>
void run_forward(const ArrayView& x, const ArrayView& y, bool log) {
    const int64_t n = x.dim(-1);
    const int64_t rows = n ? x.size() / n : 0;
    const auto& k = softmax_kernels<T>();
    py::gil_scoped_release release;
    parallel_rows(rows, n, [&](int64_t r0, int64_t r1) {
        k.forward(x.ptr<const T>(), y.ptr<T>(), r0, r1, n, log);
    });
}

template <class T>
void run_backward(const ArrayView& gy, const ArrayView& y, const ArrayView& gx, bool log) {
    const int64_t n = y.dim(-1);
    const int64_t rows = n ? y.size() / n : 0;
    const auto& k = softmax_kernels<T>();
    py::gil_scoped_release release;
    parallel_rows(rows, n, [&](int64_t r0, int64_t r1) {
        k.backward(gy.ptr<const T>(), y.ptr<const T>(), gx.ptr<T>(), r0, r1, n, log);
    });
}

}  // namespace

void bind_softmax(py::module_& m) {
    m.def(
        "softmax",
        [](py::handle x_obj, py::handle y_obj, bool log) {
            const ArrayView x = host_view(x_obj, "x", "cpu");
            const ArrayView y = host_view(y_obj, "out", "cpu");
            softmax_checks(x, y);
            if (x.dtype == DType::f32) run_forward<float>(x, y, log);
            else run_forward<double>(x, y, log);
        },
        py::arg("x"), py::arg("out"), py::arg("log") = false,
        "out = softmax(x) (log: log_softmax(x)) along the last axis.");
    m.def(
        "softmax_backward",
        [](py::handle gy_obj, py::handle y_obj, py::handle gx_obj, bool log) {
            const ArrayView gy = host_view(gy_obj, "grad_y", "cpu");
            const ArrayView y = host_view(y_obj, "y", "cpu");
            const ArrayView gx = host_view(gx_obj, "out", "cpu");
            softmax_backward_checks(gy, y, gx);
            if (y.dtype == DType::f32) run_backward<float>(gy, y, gx, log);
            else run_backward<double>(gy, y, gx, log);
        },
        py::arg("grad_y"), py::arg("y"), py::arg("out"), py::arg("log") = false,
        "out = gradient w.r.t. x of softmax (log: log_softmax) along the last axis, from its "
        "output y and grad_y.");
}

}  // namespace pk
