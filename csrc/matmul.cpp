// pk.ops.matmul on the CPU: out = alpha * op(a) @ op(b) + beta * out, with the
// arguments checked here and the work done by the GEMM in gemm/.
#include <pybind11/pybind11.h>

#include "bind/array_view.h"
#include "bind/matmul_checks.h"
#include "gemm/gemm.h"

namespace pk {

namespace {

template <class T>
void run_gemm(const ArrayView& a, const ArrayView& b, const ArrayView& out, MatmulDims d,
              bool trans_a, bool trans_b, double alpha, double beta) {
    py::gil_scoped_release release;
    gemm<T>(trans_a, trans_b, d.m, d.n, d.k, static_cast<T>(alpha), a.ptr<const T>(), a.dim(1),
            b.ptr<const T>(), b.dim(1), static_cast<T>(beta), out.ptr<T>(), d.n);
}

}  // namespace

void bind_matmul(py::module_& m) {
    m.def(
        "matmul",
        [](py::handle a_obj, py::handle b_obj, py::handle out_obj, bool trans_a, bool trans_b,
           double alpha, double beta) {
            const ArrayView a = host_view(a_obj, "a", "cpu");
            const ArrayView b = host_view(b_obj, "b", "cpu");
            const ArrayView out = host_view(out_obj, "out", "cpu");
            const MatmulDims d = matmul_checks(a, b, out, trans_a, trans_b);
            if (a.dtype == DType::f32) run_gemm<float>(a, b, out, d, trans_a, trans_b, alpha, beta);
            else run_gemm<double>(a, b, out, d, trans_a, trans_b, alpha, beta);
        },
        py::arg("a"), py::arg("b"), py::arg("out"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        "out = alpha * op(a) @ op(b) + beta * out (out is not read when beta == 0).");
}

}  // namespace pk
