// Python bindings of the emulator's test kernels (module pykernels._simt_test).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>

#include "simt_test_kernels.h"

namespace py = pybind11;

namespace {

template <class T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

template <class T>
py::array shuffle_as(int op, int type_code, const py::array& values, int arg, int width) {
    Array<T> in = Array<T>::ensure(values);
    if (!in || in.ndim() != 1 || in.shape(0) < 1 || in.shape(0) > 1024)
        throw std::invalid_argument("expected a 1-d array of 1 to 1024 values");
    py::array_t<T> out(in.shape(0));
    simt_test::shuffle(op, type_code, in.data(), out.mutable_data(), static_cast<int>(in.shape(0)), arg,
                       width);
    return std::move(out);
}

}  // namespace

PYBIND11_MODULE(_simt_test, m) {
    m.doc() = "Test kernels of the SIMT emulator";
    m.attr("SHFL") = static_cast<int>(simt_test::kShfl);
    m.attr("SHFL_UP") = static_cast<int>(simt_test::kShflUp);
    m.attr("SHFL_DOWN") = static_cast<int>(simt_test::kShflDown);
    m.attr("SHFL_XOR") = static_cast<int>(simt_test::kShflXor);
    m.attr("BALLOT") = static_cast<int>(simt_test::kBallot);

    m.def("set_num_threads", &simt_test::set_num_threads);
    m.def("get_num_threads", &simt_test::get_num_threads);

    m.def("block_reduce", [](Array<float> in, bool with_barriers) {
        const auto blocks = in.size() / 256;
        if (in.ndim() != 1 || blocks == 0 || blocks * 256 != in.size())
            throw std::invalid_argument("expected a 1-d array of a positive multiple of 256 values");
        py::array_t<float> out(blocks);
        simt_test::block_reduce(in.data(), out.mutable_data(), static_cast<int>(blocks), with_barriers);
        return out;
    });

    m.def(
        "shuffle",
        [](int op, const py::array& values, int arg, int width) -> py::array {
            const char kind = values.dtype().kind();
            const auto size = values.dtype().itemsize();
            if (kind == 'f' && size == 4) return shuffle_as<float>(op, 1, values, arg, width);
            if (kind == 'f' && size == 8) return shuffle_as<double>(op, 2, values, arg, width);
            if (kind == 'i' && size == 4) return shuffle_as<int>(op, 0, values, arg, width);
            if (kind == 'i' && size == 8) return shuffle_as<long long>(op, 3, values, arg, width);
            throw std::invalid_argument("values must be int32, int64, float32 or float64");
        },
        py::arg("op"), py::arg("values"), py::arg("arg") = 0, py::arg("width") = 32);

    m.def("shared_isolation", [](int blocks) {
        py::array_t<int> errors(blocks), os_threads(blocks);
        std::fill_n(errors.mutable_data(), blocks, 0);
        simt_test::shared_isolation(blocks, errors.mutable_data(), os_threads.mutable_data());
        return py::make_tuple(errors, os_threads);
    });

    m.def("record_os_threads", [](int blocks) {
        py::array_t<int> os_threads(blocks);
        simt_test::record_os_threads(blocks, os_threads.mutable_data());
        return os_threads;
    });

    m.def("atomics", [](int blocks, int threads) {
        float fsum = 0;
        double dsum = 0;
        int isum = 0, imax = -1, imin = 1;
        unsigned long long usum = 0;
        unsigned int umax = 0;
        simt_test::atomics(blocks, threads, &fsum, &dsum, &isum, &usum, &imax, &umax, &imin);
        py::dict d;
        d["fsum"] = fsum;
        d["dsum"] = dsum;
        d["isum"] = isum;
        d["usum"] = usum;
        d["imax"] = imax;
        d["umax"] = umax;
        d["imin"] = imin;
        return d;
    });

    m.def("read_uninitialised", [](int threads) {
        py::array_t<float> f(threads);
        py::array_t<int> i(threads);
        simt_test::read_uninitialised(threads, f.mutable_data(), i.mutable_data());
        return py::make_tuple(f, i);
    });

    m.def("syncthreads_reductions", [](int threads, int k, int returning) {
        int out[3] = {-1, -1, -1};
        simt_test::syncthreads_reductions(threads, k, returning, out);
        return py::make_tuple(out[0], out[1], out[2]);
    });

    m.def("coordinates", [](int gx, int gy, int bx, int by, int bz) {
        py::array_t<std::int64_t> out(static_cast<py::ssize_t>(gx) * gy * bx * by * bz);
        simt_test::coordinates(gx, gy, bx, by, bz, out.mutable_data());
        return out;
    });

    m.def("failing_launch", &simt_test::failing_launch);

    m.def("barrier_benchmark", &simt_test::barrier_benchmark, py::arg("blocks"), py::arg("threads"),
          py::arg("iterations"), py::arg("mode") = 0,
          py::call_guard<py::gil_scoped_release>());

#if defined(PK_SANITIZE)
    m.def("sanitizer_canary", [](int n) {
        if (n < 1 || n >= 1024) throw std::invalid_argument("n must lie in [1, 1024)");
        return simt_test::sanitizer_canary(n);
    });
#endif
}
