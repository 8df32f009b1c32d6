// Validation at the binding boundary, shared by the _cpu, _cuda and _cuda_emu
// modules. Every array argument is turned into an ArrayView once, with its
// argument name, and every check raises a Python TypeError / ValueError that
// names the argument. Kernels below this layer assume valid input.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pk {

namespace py = pybind11;

enum class DType { f32, f64, i32, i64, u8, other };

const char* dtype_name(DType d);

struct ArrayView {
    void* data = nullptr;
    DType dtype = DType::other;
    std::vector<int64_t> shape;
    bool readonly = false;
    const char* name = "";

    int64_t ndim() const { return static_cast<int64_t>(shape.size()); }
    int64_t size() const;
    int64_t dim(int64_t i) const { return shape[static_cast<size_t>(i < 0 ? i + ndim() : i)]; }
    size_t nbytes() const;
    template <class T>
    T* ptr() const { return static_cast<T*>(data); }
};

// A C-contiguous NumPy array. A CUDA array (an object with
// __cuda_array_interface__) is a TypeError naming the argument and the backend.
ArrayView host_view(py::handle obj, const char* name, const char* backend);

// A C-contiguous array described by __cuda_array_interface__ (CuPy, PyTorch,
// Numba...). A NumPy array is a TypeError naming the argument.
ArrayView cuda_view(py::handle obj, const char* name);

void require_float(const ArrayView& a);                     // float32 or float64
void require_dtype(const ArrayView& a, DType d);
void require_same_dtype(const ArrayView& a, const ArrayView& b);
void require_ndim(const ArrayView& a, int64_t ndim);
void require_shape(const ArrayView& a, const std::vector<int64_t>& shape);
void require_writable(const ArrayView& a);
// Outputs may not share memory with inputs: kernels read inputs while writing.
void require_no_overlap(const ArrayView& out, const ArrayView& in);

// Every dimension below 2^31: for kernels that index a dimension with 32-bit
// integers (the CUDA GEMM tiles). `what` names the kernel in the message.
void require_dims_below_2_31(const ArrayView& a, const char* what);

std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace pk
