// Argument checks for dropout, shared by every backend's binding.
#pragma once

#include <cmath>
#include <string>

#include "array_view.h"

namespace pk {

// PyTorch's torch.nn.functional.dropout takes p in [0, 1]; pykernels refuses
// p == 1 because the inverted scale 1 / (1 - p) is infinite there.
inline void dropout_check_p(double p) {
    if (!(p >= 0.0 && p < 1.0))
        throw py::value_error("argument 'p' (dropout probability) must be in [0, 1), got " +
                              std::to_string(p));
}

// y = dropout(x): x float, y like x, mask uint8 of x's shape.
inline void dropout_checks(const ArrayView& x, const ArrayView& y, const ArrayView& mask, double p) {
    dropout_check_p(p);
    require_float(x);
    require_same_dtype(x, y);
    require_shape(y, x.shape);
    require_dtype(mask, DType::u8);
    require_shape(mask, x.shape);
    require_writable(y);
    require_writable(mask);
    require_no_overlap(y, x);
    require_no_overlap(mask, x);
    require_no_overlap(mask, y);
}

inline void dropout_mask_checks(const ArrayView& mask, double p) {
    dropout_check_p(p);
    require_dtype(mask, DType::u8);
    require_writable(mask);
}

// grad_x = grad_y * mask / (1 - p).
inline void dropout_backward_checks(const ArrayView& grad_y, const ArrayView& mask,
                                    const ArrayView& grad_x, double p) {
    dropout_check_p(p);
    require_float(grad_y);
    require_dtype(mask, DType::u8);
    require_shape(mask, grad_y.shape);
    require_same_dtype(grad_y, grad_x);
    require_shape(grad_x, grad_y.shape);
    require_writable(grad_x);
    require_no_overlap(grad_x, grad_y);
    require_no_overlap(grad_x, mask);
}

// The scale of kept values, computed once in double: PyTorch scales by 1 / (1 - p).
inline double dropout_scale(double p) { return 1.0 / (1.0 - p); }

}  // namespace pk
