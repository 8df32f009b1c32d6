// The `tile` argument of the CUDA GEMM bindings (matmul, linear,
// linear_backward): "auto" chooses the kernel from the shape; "large" and
// "small" force one, so tests can run both kernels on small shapes.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "matmul.h"

namespace pk {

inline int tile_from_name(const std::string& name) {
    if (name == "auto") return cuda_ops::kTileAuto;
    if (name == "large") return cuda_ops::kTileLarge;
    if (name == "small") return cuda_ops::kTileSmall;
    throw pybind11::value_error("argument 'tile' must be 'auto', 'large' or 'small', got '" + name +
                                "'");
}

}  // namespace pk
