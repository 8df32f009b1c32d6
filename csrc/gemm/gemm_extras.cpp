// Python helpers for measuring the GEMM against the machine:
//   peak_fma_gflops(seconds): fp32 FMA throughput of all num_threads() threads
//     on registers only (no memory traffic), the ceiling GEMM GFLOP/s is
//     compared with. Uses the widest FMA the CPU has, whatever path is forced.
//   gemm_kernel_name(dtype): the micro-kernel the current SIMD path uses.
#include <pybind11/pybind11.h>

#include <chrono>
#include <string>

#include "../runtime/cpu_features.h"
#include "../runtime/threads.h"
#include "config.h"
#include "gemm_epilogue.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace py = pybind11;

namespace pk {
namespace {

double fma_loop_best(int64_t iters) {
    switch (best_supported_path()) {
        case SimdPath::avx512: return fma_loop_avx512(iters);
        case SimdPath::avx2: return fma_loop_avx2(iters);
        default: return fma_loop_generic(iters);
    }
}

// Each thread runs chunks of the loop until `seconds` have passed and reports
// its own rate; the rates add up (threads do not share FMA units).
double peak_fma_gflops(double seconds) {
    using clock = std::chrono::steady_clock;
    double total = 0.0;
#pragma omp parallel num_threads(num_threads()) reduction(+ : total)
    {
        fma_loop_best(1 << 16);  // wake the vector units up to full frequency
        double flops = 0.0;
        const auto t0 = clock::now();
        double elapsed = 0.0;
        do {
            flops += fma_loop_best(1 << 20);
            elapsed = std::chrono::duration<double>(clock::now() - t0).count();
        } while (elapsed < seconds);
        total += flops / elapsed * 1e-9;
    }
    return total;
}

}  // namespace

void bind_gemm_extras(py::module_& m) {
    m.def(
        "peak_fma_gflops",
        [](double seconds) {
            py::gil_scoped_release release;
            return peak_fma_gflops(seconds);
        },
        py::arg("seconds") = 0.2,
        "fp32 FMA throughput (GFLOP/s) of num_threads() threads on registers only.");
    m.def(
        "gemm_kernel_name",
        [](const std::string& dtype) {
            if (dtype != "float32" && dtype != "float64")
                throw py::value_error("argument 'dtype' must be 'float32' or 'float64'");
            return std::string(gemm_kernel_name(dtype == "float64"));
        },
        py::arg("dtype") = "float32",
        "Name of the GEMM micro-kernel the current SIMD path uses, e.g. sgemm_avx512_12x32.");
}

}  // namespace pk
