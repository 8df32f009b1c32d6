// pk.ops.matmul for the CUDA kernels (cuda/matmul.cu). `tile` (CUDA modules
// only) forces one of the two kernels, so tests can run both on small shapes.
#include "bind/matmul_checks.h"
#include "matmul.h"
#include "tile_arg.h"
#include "view.h"

namespace pk {

namespace {

template <class T>
void run_gemm(const ArrayView& a, const ArrayView& b, const ArrayView& out, MatmulDims d,
              bool trans_a, bool trans_b, double alpha, double beta, int tile, uintptr_t stream) {
    py::gil_scoped_release release;
    cuda_ops::gemm<T>(trans_a, trans_b, d.m, d.n, d.k, static_cast<T>(alpha), a.ptr<const T>(),
                      a.dim(1), b.ptr<const T>(), b.dim(1), static_cast<T>(beta), out.ptr<T>(),
                      d.n, stream_ptr(stream), tile);
}

}  // namespace

void bind_matmul(py::module_& m) {
    m.def(
        "matmul",
        [](py::handle a_obj, py::handle b_obj, py::handle out_obj, bool trans_a, bool trans_b,
           double alpha, double beta, const std::string& tile_name, uintptr_t stream) {
            const int tile = tile_from_name(tile_name);
            const ArrayView a = device_view(a_obj, "a");
            const ArrayView b = device_view(b_obj, "b");
            const ArrayView out = device_view(out_obj, "out");
            const MatmulDims d = matmul_checks(a, b, out, trans_a, trans_b);
            // The kernels index rows, columns and k with 32-bit integers.
            require_dims_below_2_31(a, "the CUDA GEMM");
            require_dims_below_2_31(b, "the CUDA GEMM");
            if (a.dtype == DType::f32)
                run_gemm<float>(a, b, out, d, trans_a, trans_b, alpha, beta, tile, stream);
            else
                run_gemm<double>(a, b, out, d, trans_a, trans_b, alpha, beta, tile, stream);
        },
        py::arg("a"), py::arg("b"), py::arg("out"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        py::arg("tile") = "auto", py::arg("stream") = 0,
        "out = alpha * op(a) @ op(b) + beta * out on the given stream (out is not read when "
        "beta == 0). tile: 'auto' (by shape), 'large' or 'small' kernel.");
}

}  // namespace pk
