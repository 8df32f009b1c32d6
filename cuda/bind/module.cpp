// pykernels._cuda (kernels compiled by nvcc) and pykernels._cuda_emu (the same
// kernels compiled for the SIMT emulator): one binding source, two modules.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "device_info.h"

#ifdef PK_EMU
#include "simt/simt.h"
#endif

namespace py = pybind11;

namespace pk {
void bind_matmul(py::module_& m);
void bind_activation(py::module_& m);
void bind_softmax(py::module_& m);
void bind_cross_entropy(py::module_& m);
void bind_batch_norm(py::module_& m);
void bind_dropout(py::module_& m);
void bind_optim(py::module_& m);
}  // namespace pk

PYBIND11_MODULE(PK_MODULE_NAME, m) {
#ifdef PK_EMU
    m.doc() = "pykernels CUDA kernels compiled for the host SIMT emulator";
    m.attr("emulated") = true;
    m.def("set_num_threads", &simt::set_num_threads, py::arg("n"),
          "OS threads that run emulated blocks in parallel.");
    m.def("get_num_threads", &simt::get_num_threads);
#else
    m.doc() = "pykernels CUDA kernels";
    m.attr("emulated") = false;
#endif
    m.def("device_info", [] {
        const pk::cuda_ops::DeviceInfo info = pk::cuda_ops::device_info();
        py::dict d;
        d["emulated"] = info.emulated;
        d["runtime_version"] = info.runtime_version;
        d["driver_version"] = info.driver_version;
        d["error"] = info.error;
        d["devices"] = info.names;
        return d;
    });
    m.def("synchronize", [] {
        py::gil_scoped_release release;
        pk::cuda_ops::synchronize();
    });
    pk::bind_matmul(m);
    pk::bind_activation(m);
    pk::bind_softmax(m);
    pk::bind_cross_entropy(m);
    pk::bind_batch_norm(m);
    pk::bind_dropout(m);
    pk::bind_optim(m);
}
