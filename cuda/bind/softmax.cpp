// pk.ops.softmax / log_softmax and backward for the CUDA kernels (cuda/softmax.cu).
#include "bind/loss_checks.h"
#include "softmax.h"
#include "view.h"

namespace pk {

namespace {

template <class T>
void run(const ArrayView* gy, const ArrayView& x, const ArrayView& out, bool log, uintptr_t stream) {
    const int64_t n = x.dim(-1);
    const int64_t rows = n ? x.size() / n : 0;
    py::gil_scoped_release release;
    if (gy)
        cuda_ops::softmax_backward<T>(gy->ptr<const T>(), x.ptr<const T>(), out.ptr<T>(), rows, n,
                                      log, stream_ptr(stream));
    else
        cuda_ops::softmax_forward<T>(x.ptr<const T>(), out.ptr<T>(), rows, n, log, stream_ptr(stream));
}

}  // namespace

void bind_softmax(py::module_& m) {
    m.def(
        "softmax",
        [](py::handle x_obj, py::handle y_obj, bool log, uintptr_t stream) {
            const ArrayView x = device_view(x_obj, "x");
            const ArrayView y = device_view(y_obj, "out");
            softmax_checks(x, y);
            if (x.dtype == DType::f32) run<float>(nullptr, x, y, log, stream);
            else run<double>(nullptr, x, y, log, stream);
        },
        py::arg("x"), py::arg("out"), py::arg("log") = false, py::arg("stream") = 0,
        "out = softmax(x) (log: log_softmax(x)) along the last axis.");
    m.def(
        "softmax_backward",
        [](py::handle gy_obj, py::handle y_obj, py::handle gx_obj, bool log, uintptr_t stream) {
            const ArrayView gy = device_view(gy_obj, "grad_y");
            const ArrayView y = device_view(y_obj, "y");
            const ArrayView gx = device_view(gx_obj, "out");
            softmax_backward_checks(gy, y, gx);
            if (y.dtype == DType::f32) run<float>(&gy, y, gx, log, stream);
            else run<double>(&gy, y, gx, log, stream);
        },
        py::arg("grad_y"), py::arg("y"), py::arg("out"), py::arg("log") = false,
        py::arg("stream") = 0,
        "out = gradient w.r.t. x of softmax (log: log_softmax) from its output y and grad_y.");
}

}  // namespace pk
