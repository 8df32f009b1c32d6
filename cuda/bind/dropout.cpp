// pk.ops.dropout for the CUDA kernels (cuda/dropout.cu).
#include "bind/dropout_checks.h"
#include "common/philox.h"
#include "dropout.h"
#include "view.h"

namespace pk {

void bind_dropout(py::module_& m) {
    m.def(
        "dropout",
        [](py::handle x_obj, py::handle y_obj, py::handle mask_obj, double p, uint64_t seed,
           uint64_t offset, uintptr_t stream) {
            const ArrayView x = device_view(x_obj, "x");
            const ArrayView y = device_view(y_obj, "y");
            const ArrayView mask = device_view(mask_obj, "mask");
            dropout_checks(x, y, mask, p);
            const uint32_t threshold = dropout_threshold(p);
            py::gil_scoped_release release;
            if (x.dtype == DType::f32)
                cuda_ops::dropout<float>(x.ptr<const float>(), y.ptr<float>(), mask.ptr<uint8_t>(),
                                         x.size(), threshold, static_cast<float>(dropout_scale(p)),
                                         seed, offset, stream_ptr(stream));
            else
                cuda_ops::dropout<double>(x.ptr<const double>(), y.ptr<double>(),
                                          mask.ptr<uint8_t>(), x.size(), threshold,
                                          dropout_scale(p), seed, offset, stream_ptr(stream));
        },
        py::arg("x"), py::arg("y"), py::arg("mask"), py::arg("p"), py::arg("seed"),
        py::arg("offset"), py::arg("stream") = 0,
        "y = x * mask / (1 - p) with mask[i] = (Philox uniform(seed, offset, i) >= p), uint8.");
    m.def(
        "dropout_mask",
        [](py::handle mask_obj, double p, uint64_t seed, uint64_t offset, uintptr_t stream) {
            const ArrayView mask = device_view(mask_obj, "mask");
            dropout_mask_checks(mask, p);
            py::gil_scoped_release release;
            cuda_ops::dropout_mask(mask.ptr<uint8_t>(), mask.size(), dropout_threshold(p), seed,
                                   offset, stream_ptr(stream));
        },
        py::arg("mask"), py::arg("p"), py::arg("seed"), py::arg("offset"), py::arg("stream") = 0,
        "Fills the uint8 mask that dropout(x, p, seed, offset) would draw for x of mask's shape.");
    m.def(
        "dropout_backward",
        [](py::handle gy_obj, py::handle mask_obj, py::handle gx_obj, double p, uintptr_t stream) {
            const ArrayView gy = device_view(gy_obj, "grad_y");
            const ArrayView mask = device_view(mask_obj, "mask");
            const ArrayView gx = device_view(gx_obj, "grad_x");
            dropout_backward_checks(gy, mask, gx, p);
            py::gil_scoped_release release;
            if (gy.dtype == DType::f32)
                cuda_ops::dropout_backward<float>(gy.ptr<const float>(), mask.ptr<const uint8_t>(),
                                                  gx.ptr<float>(), gy.size(),
                                                  static_cast<float>(dropout_scale(p)),
                                                  stream_ptr(stream));
            else
                cuda_ops::dropout_backward<double>(gy.ptr<const double>(),
                                                   mask.ptr<const uint8_t>(), gx.ptr<double>(),
                                                   gy.size(), dropout_scale(p), stream_ptr(stream));
        },
        py::arg("grad_y"), py::arg("mask"), py::arg("grad_x"), py::arg("p"), py::arg("stream") = 0,
        "grad_x = grad_y * mask / (1 - p).");
}

}  // namespace pk
