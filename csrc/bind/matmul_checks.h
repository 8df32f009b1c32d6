// Argument checks for matmul, shared by every backend's binding.
#pragma once

#include "array_view.h"

namespace pk {

struct MatmulDims {
    int64_t m, n, k;
};

// op(a) is (m, k), op(b) is (k, n), out is (m, n); all of one float dtype.
inline MatmulDims matmul_checks(const ArrayView& a, const ArrayView& b, const ArrayView& out,
                                bool trans_a, bool trans_b) {
    require_float(a);
    require_same_dtype(a, b);
    require_same_dtype(a, out);
    require_ndim(a, 2);
    require_ndim(b, 2);
    require_ndim(out, 2);
    const int64_t m = trans_a ? a.dim(1) : a.dim(0);
    const int64_t ka = trans_a ? a.dim(0) : a.dim(1);
    const int64_t kb = trans_b ? b.dim(1) : b.dim(0);
    const int64_t n = trans_b ? b.dim(0) : b.dim(1);
    if (ka != kb)
        throw py::value_error("matmul: inner dimensions differ: argument 'a' gives k=" +
                              std::to_string(ka) + " (shape " + shape_str(a.shape) +
                              (trans_a ? ", transposed" : "") + ") but argument 'b' gives k=" +
                              std::to_string(kb) + " (shape " + shape_str(b.shape) +
                              (trans_b ? ", transposed" : "") + ")");
    require_shape(out, {m, n});
    require_writable(out);
    require_no_overlap(out, a);
    require_no_overlap(out, b);
    return {m, n, ka};
}

}  // namespace pk
