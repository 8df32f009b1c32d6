// pykernels._cpu: the CPU kernels. Each op file defines bind_<op>(m).
#include <pybind11/pybind11.h>

#include "runtime/cpu_features.h"
#include "runtime/threads.h"

namespace py = pybind11;

namespace pk {
void bind_matmul(py::module_& m);
void bind_gemm_extras(py::module_& m);
void bind_linear(py::module_& m);
void bind_activation(py::module_& m);
void bind_softmax(py::module_& m);
void bind_cross_entropy(py::module_& m);
void bind_losses(py::module_& m);
void bind_batch_norm(py::module_& m);
void bind_dropout(py::module_& m);
void bind_optim(py::module_& m);
void bind_host_memory(py::module_& m);
}  // namespace pk

PYBIND11_MODULE(_cpu, m) {
    m.doc() = "pykernels CPU kernels (C++, OpenMP, AVX-512/AVX2 paths chosen at run time)";
    m.def("set_num_threads", &pk::set_num_threads, py::arg("n"));
    m.def("get_num_threads", &pk::num_threads);
    m.def("simd_path", [] { return pk::simd_path_name(pk::simd_path()); },
          "The SIMD code path in use: 'avx512', 'avx2' or 'generic'.");
    m.def("best_simd_path", [] { return pk::simd_path_name(pk::best_supported_path()); });
    m.def(
        "set_simd_path",
        [](const std::string& name) {
            pk::SimdPath p;
            if (name == "avx512") p = pk::SimdPath::avx512;
            else if (name == "avx2") p = pk::SimdPath::avx2;
            else if (name == "generic") p = pk::SimdPath::generic;
            else throw py::value_error("argument 'name' must be 'avx512', 'avx2' or 'generic'");
            if (!pk::set_simd_path(p))
                throw py::value_error("argument 'name': this CPU does not support " + name);
        },
        py::arg("name"));
#ifdef _OPENMP
    m.attr("openmp") = true;
#else
    m.attr("openmp") = false;
#endif
    pk::bind_matmul(m);
    pk::bind_gemm_extras(m);
    pk::bind_linear(m);
    pk::bind_activation(m);
    pk::bind_softmax(m);
    pk::bind_cross_entropy(m);
    pk::bind_losses(m);
    pk::bind_batch_norm(m);
    pk::bind_dropout(m);
    pk::bind_optim(m);
    pk::bind_host_memory(m);
}
