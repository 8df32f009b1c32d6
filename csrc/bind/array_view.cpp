#include "array_view.h"

#include <algorithm>
#include <cstdint>
#include <sstream>

namespace pk {
namespace {

[[noreturn]] void type_error(const std::string& msg) { throw py::type_error(msg); }
[[noreturn]] void value_error(const std::string& msg) { throw py::value_error(msg); }

std::string arg(const ArrayView& a) { return std::string("argument '") + a.name + "'"; }

DType dtype_from_typestr(const std::string& s) {
    // Array-interface type strings: byte order, kind, item size ("<f4").
    if (s.size() < 3 || s[0] == '>') return DType::other;
    const std::string kind_size = s.substr(1);
    if (kind_size == "f4") return DType::f32;
    if (kind_size == "f8") return DType::f64;
    if (kind_size == "i4") return DType::i32;
    if (kind_size == "i8") return DType::i64;
    if (kind_size == "u1") return DType::u8;
    return DType::other;
}

size_t itemsize(DType d) {
    switch (d) {
        case DType::f32: case DType::i32: return 4;
        case DType::f64: case DType::i64: return 8;
        case DType::u8: return 1;
        default: return 0;
    }
}

}  // namespace

const char* dtype_name(DType d) {
    switch (d) {
        case DType::f32: return "float32";
        case DType::f64: return "float64";
        case DType::i32: return "int32";
        case DType::i64: return "int64";
        case DType::u8: return "uint8";
        default: return "an unsupported dtype";
    }
}

int64_t ArrayView::size() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
}

size_t ArrayView::nbytes() const { return static_cast<size_t>(size()) * itemsize(dtype); }

std::string shape_str(const std::vector<int64_t>& shape) {
    std::ostringstream os;
    os << "(";
    for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
    if (shape.size() == 1) os << ",";
    os << ")";
    return os.str();
}

ArrayView host_view(py::handle obj, const char* name, const char* backend) {
    ArrayView v;
    v.name = name;
    if (!py::isinstance<py::array>(obj)) {
        if (py::hasattr(obj, "__cuda_array_interface__"))
            type_error(std::string("argument '") + name + "' is a CUDA array, but the " + backend +
                       " backend takes NumPy arrays (move it to the host, or use device='cuda')");
        type_error(std::string("argument '") + name + "' must be a NumPy array, got " +
                   std::string(py::str(py::type::of(obj).attr("__name__"))));
    }
    auto arr = py::reinterpret_borrow<py::array>(obj);
    const char kind = arr.dtype().kind();
    const auto size = arr.itemsize();
    if (kind == 'f' && size == 4) v.dtype = DType::f32;
    else if (kind == 'f' && size == 8) v.dtype = DType::f64;
    else if (kind == 'i' && size == 4) v.dtype = DType::i32;
    else if (kind == 'i' && size == 8) v.dtype = DType::i64;
    else if (kind == 'u' && size == 1) v.dtype = DType::u8;
    if (v.dtype != DType::other && arr.dtype().byteorder() == '>')
        v.dtype = DType::other;
    if (!(arr.flags() & py::array::c_style))
        value_error(std::string("argument '") + name +
                    "' must be C-contiguous (use numpy.ascontiguousarray)");
    v.shape.assign(arr.shape(), arr.shape() + arr.ndim());
    v.readonly = !arr.writeable();
    v.data = const_cast<void*>(arr.data());
    return v;
}

ArrayView cuda_view(py::handle obj, const char* name) {
    ArrayView v;
    v.name = name;
    if (!py::hasattr(obj, "__cuda_array_interface__")) {
        if (py::isinstance<py::array>(obj))
            type_error(std::string("argument '") + name +
                       "' is a NumPy (host) array, but the cuda backend takes CUDA arrays "
                       "(an object with __cuda_array_interface__, e.g. a CuPy array)");
        type_error(std::string("argument '") + name + "' must be a CUDA array, got " +
                   std::string(py::str(py::type::of(obj).attr("__name__"))));
    }
    py::dict cai = obj.attr("__cuda_array_interface__");
    py::tuple shape = cai["shape"];
    for (auto s : shape) v.shape.push_back(s.cast<int64_t>());
    v.dtype = dtype_from_typestr(cai["typestr"].cast<std::string>());
    py::tuple data = cai["data"];
    v.data = reinterpret_cast<void*>(data[0].cast<uintptr_t>());
    v.readonly = data[1].cast<bool>();
    if (cai.contains("mask") && !cai["mask"].is_none())
        value_error(arg(v) + " is a masked CUDA array, which is not supported");
    if (cai.contains("strides") && !cai["strides"].is_none()) {
        py::tuple strides = cai["strides"];
        int64_t expected = static_cast<int64_t>(itemsize(v.dtype));
        for (int64_t i = static_cast<int64_t>(v.shape.size()) - 1; i >= 0; --i) {
            const int64_t extent = v.shape[static_cast<size_t>(i)];
            if (extent > 1 && strides[static_cast<size_t>(i)].cast<int64_t>() != expected)
                value_error(arg(v) + " must be C-contiguous (use cupy.ascontiguousarray)");
            expected *= extent;
        }
    }
    return v;
}

void require_float(const ArrayView& a) {
    if (a.dtype != DType::f32 && a.dtype != DType::f64)
        type_error(arg(a) + " must be float32 or float64, got " + dtype_name(a.dtype));
}

void require_dtype(const ArrayView& a, DType d) {
    if (a.dtype != d)
        type_error(arg(a) + " must be " + dtype_name(d) + ", got " + dtype_name(a.dtype));
}

void require_same_dtype(const ArrayView& a, const ArrayView& b) {
    if (a.dtype != b.dtype)
        type_error(arg(b) + " has dtype " + dtype_name(b.dtype) + " but " + arg(a) + " has " +
                   dtype_name(a.dtype) + "; they must match");
}

void require_ndim(const ArrayView& a, int64_t ndim) {
    if (a.ndim() != ndim)
        value_error(arg(a) + " must be " + std::to_string(ndim) + "-D, got shape " +
                    shape_str(a.shape));
}

void require_shape(const ArrayView& a, const std::vector<int64_t>& shape) {
    if (a.shape != shape)
        value_error(arg(a) + " must have shape " + shape_str(shape) + ", got " + shape_str(a.shape));
}

void require_writable(const ArrayView& a) {
    if (a.readonly) value_error(arg(a) + " is read-only");
}

void require_no_overlap(const ArrayView& out, const ArrayView& in) {
    const auto* o = static_cast<const char*>(out.data);
    const auto* i = static_cast<const char*>(in.data);
    if (out.nbytes() == 0 || in.nbytes() == 0) return;
    if (o < i + in.nbytes() && i < o + out.nbytes())
        value_error(arg(out) + " shares memory with " + arg(in));
}

void require_dims_below_2_31(const ArrayView& a, const char* what) {
    for (int64_t s : a.shape)
        if (s > INT32_MAX)
            value_error(arg(a) + " has shape " + shape_str(a.shape) + ": " + what +
                        " takes dimensions below 2^31");
}

}  // namespace pk
