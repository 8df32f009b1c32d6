// pk.ops.sgd_step / adam_step / rmsprop_step / adagrad_step / global_norm /
// clip_grad_norm on the CPU: fused multi-tensor optimizer steps, in place, one
// call for a whole list of tensors (torch.optim.SGD, Adam, AdamW, RMSprop,
// Adagrad with foreach/fused semantics; torch.nn.utils.clip_grad_norm_).
//
// Every tensor of a list is cut into chunks of kChunk elements; the (tensor,
// chunk) pairs are spread over OpenMP threads and each chunk is updated in one
// pass (read param, grad and state, write param and state) by the loops of
// optim_loops.h, vectorised for the SIMD path in use. The per-element formulas
// are common/optim_rules.h; coefficients (bias corrections, decayed learning
// rates) are computed once per call in bind/optim_checks.h.
//
// Napkin math (Adam, float32): 28 bytes per parameter (param, m, v read and
// written, grad read) against ~10 flops: memory-bound; 16M parameters move
// 448 MB, so the step takes as long as memory needs to stream them.
//
// Norms: each chunk's sum of squares in double (fixed order within the chunk),
// then the chunks' sums added in list order on one thread: the result depends
// on the tensors alone, not on the number of threads.
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "bind/array_view.h"
#include "bind/optim_checks.h"
#include "optim_kernels.h"
#include "optim_loops.h"
#include "runtime/cpu_features.h"
#include "runtime/threads.h"

namespace pk {

// The baseline table: optim_loops.h compiled with this file's flags.
OptimKernels<float> optim_kernels_f32_generic() { return optim_kernel_table<float>(); }
OptimKernels<double> optim_kernels_f64_generic() { return optim_kernel_table<double>(); }

namespace {

// 64K elements: 256 KiB per float32 array, big enough to amortise scheduling,
// small enough that a 16M-parameter list gives every thread many chunks.
constexpr int64_t kChunk = 1 << 16;

template <class T>
const OptimKernels<T>& kernels();

template <>
const OptimKernels<float>& kernels<float>() {
    // Each table is built the first time its path is chosen: the builders are
    // compiled for their instruction set and may use it.
    switch (simd_path()) {
        case SimdPath::avx512: { static const auto k = optim_kernels_f32_avx512(); return k; }
        case SimdPath::avx2: { static const auto k = optim_kernels_f32_avx2(); return k; }
        default: { static const auto k = optim_kernels_f32_generic(); return k; }
    }
}

template <>
const OptimKernels<double>& kernels<double>() {
    // Each table is built the first time its path is chosen: the builders are
    // compiled for their instruction set and may use it.
    switch (simd_path()) {
        case SimdPath::avx512: { static const auto k = optim_kernels_f64_avx512(); return k; }
        case SimdPath::avx2: { static const auto k = optim_kernels_f64_avx2(); return k; }
        default: { static const auto k = optim_kernels_f64_generic(); return k; }
    }
}

struct Chunk {
    int64_t tensor, begin, end;
};

std::vector<Chunk> chunks_of(const std::vector<int64_t>& sizes) {
    std::vector<Chunk> out;
    for (size_t t = 0; t < sizes.size(); ++t)
        for (int64_t b = 0; b < sizes[t]; b += kChunk)
            out.push_back({static_cast<int64_t>(t), b, std::min(b + kChunk, sizes[t])});
    return out;
}

// Below this many elements in all, waking the thread team costs more than
// the work (many small tensors: biases, batch-norm parameters).
constexpr int64_t kParallelElements = 1 << 15;

// Runs body(chunk_index, chunk) over every chunk. Each chunk's result goes to
// its own slot, so the split between threads never changes a result.
template <class Body>
void for_each_chunk(const std::vector<Chunk>& chunks, Body body) {
    const int64_t n = static_cast<int64_t>(chunks.size());
    int64_t elements = 0;
    for (const Chunk& c : chunks) elements += c.end - c.begin;
    const bool parallel = n > 1 && elements >= kParallelElements;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (parallel)
    for (int64_t i = 0; i < n; ++i) body(i, chunks[static_cast<size_t>(i)]);
}


// Applies kernel(tensor, begin, end, coeffs) to every chunk, without the GIL.
template <class T, class Kernel, class Coeffs>
void run_step(const std::vector<OptimTensor<T>>& ts, Kernel kernel, const Coeffs& coeffs) {
    std::vector<int64_t> sizes;
    for (const auto& t : ts) sizes.push_back(t.size);
    py::gil_scoped_release release;
    const std::vector<Chunk> chunks = chunks_of(sizes);
    for_each_chunk(chunks, [&](int64_t, const Chunk& c) {
        kernel(ts[static_cast<size_t>(c.tensor)], c.begin, c.end, coeffs);
    });
}

ArrayView cpu_view(py::handle obj, const char* name) { return host_view(obj, name, "cpu"); }

// sum of squares over all tensors: per-chunk partials, added in order.
template <class T>
double sum_squares_all(const TensorList& tensors) {
    std::vector<int64_t> sizes;
    for (size_t i = 0; i < tensors.size(); ++i) sizes.push_back(tensors[i].size());
    std::vector<const T*> data;
    for (size_t i = 0; i < tensors.size(); ++i) data.push_back(tensors[i].ptr<const T>());
    py::gil_scoped_release release;
    const std::vector<Chunk> chunks = chunks_of(sizes);
    std::vector<double> partial(chunks.size());
    const auto& k = kernels<T>();
    for_each_chunk(chunks, [&](int64_t i, const Chunk& c) {
        partial[static_cast<size_t>(i)] =
            k.sum_squares(data[static_cast<size_t>(c.tensor)] + c.begin, c.end - c.begin);
    });
    double total = 0;
    for (double s : partial) total += s;
    return total;
}

template <class T>
void scale_all(const TensorList& tensors, double factor) {
    std::vector<int64_t> sizes;
    std::vector<T*> data;
    for (size_t i = 0; i < tensors.size(); ++i) {
        sizes.push_back(tensors[i].size());
        data.push_back(tensors[i].ptr<T>());
    }
    const T s = static_cast<T>(factor);
    py::gil_scoped_release release;
    const std::vector<Chunk> chunks = chunks_of(sizes);
    const auto& k = kernels<T>();
    for_each_chunk(chunks, [&](int64_t, const Chunk& c) {
        k.scale(data[static_cast<size_t>(c.tensor)] + c.begin, c.end - c.begin, s);
    });
}

double global_norm_of(const TensorList& tensors, DType dtype) {
    const double ss = dtype == DType::f32 ? sum_squares_all<float>(tensors)
                                          : sum_squares_all<double>(tensors);
    return std::sqrt(ss);
}

}  // namespace

void bind_optim(py::module_& m) {
    m.def(
        "sgd_step",
        [](py::handle params_obj, py::handle grads_obj, py::handle bufs_obj, double lr,
           double momentum, double dampening, bool nesterov, double weight_decay, bool maximize,
           bool first_step) {
            check_sgd(lr, momentum, dampening, nesterov, weight_decay);
            const TensorList params(params_obj, "params", cpu_view);
            const TensorList grads(grads_obj, "grads", cpu_view);
            const TensorList bufs(momentum != 0 ? bufs_obj : py::none(), "momentum_buffers",
                                  cpu_view);
            if (momentum != 0) require_list(bufs, "momentum != 0");
            const DType dt = check_optim_lists(params, grads, {&bufs});
            if (dt == DType::f32) {
                run_step(optim_tensors<float>(params, grads, &bufs, nullptr, nullptr),
                         kernels<float>().sgd,
                         sgd_coeffs<float>(lr, momentum, dampening, nesterov, weight_decay,
                                           maximize, first_step));
            } else {
                run_step(optim_tensors<double>(params, grads, &bufs, nullptr, nullptr),
                         kernels<double>().sgd,
                         sgd_coeffs<double>(lr, momentum, dampening, nesterov, weight_decay,
                                            maximize, first_step));
            }
        },
        py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"), py::kw_only(),
        py::arg("lr"), py::arg("momentum") = 0.0, py::arg("dampening") = 0.0,
        py::arg("nesterov") = false, py::arg("weight_decay") = 0.0, py::arg("maximize") = false,
        py::arg("first_step") = false,
        "In-place SGD step over lists of tensors (torch.optim.SGD); first_step sets the momentum "
        "buffers to the gradients.");

    m.def(
        "adam_step",
        [](py::handle params_obj, py::handle grads_obj, py::handle m_obj, py::handle v_obj,
           py::handle vmax_obj, int64_t step, double lr, double beta1, double beta2, double eps,
           double weight_decay, bool decoupled, bool amsgrad, bool maximize) {
            check_adam(step, lr, beta1, beta2, eps, weight_decay);
            const TensorList params(params_obj, "params", cpu_view);
            const TensorList grads(grads_obj, "grads", cpu_view);
            const TensorList ms(m_obj, "exp_avgs", cpu_view);
            const TensorList vs(v_obj, "exp_avg_sqs", cpu_view);
            const TensorList vmaxs(amsgrad ? vmax_obj : py::none(), "max_exp_avg_sqs", cpu_view);
            require_list(ms);
            require_list(vs);
            if (amsgrad) require_list(vmaxs, "amsgrad=True");
            const DType dt = check_optim_lists(params, grads, {&ms, &vs, &vmaxs});
            if (dt == DType::f32) {
                run_step(optim_tensors<float>(params, grads, &ms, &vs, &vmaxs),
                         kernels<float>().adam,
                         adam_coeffs<float>(step, lr, beta1, beta2, eps, weight_decay, decoupled,
                                            amsgrad, maximize));
            } else {
                run_step(optim_tensors<double>(params, grads, &ms, &vs, &vmaxs),
                         kernels<double>().adam,
                         adam_coeffs<double>(step, lr, beta1, beta2, eps, weight_decay,
                                             decoupled, amsgrad, maximize));
            }
        },
        py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
        py::arg("max_exp_avg_sqs") = py::none(), py::kw_only(), py::arg("step"), py::arg("lr"),
        py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay") = 0.0,
        py::arg("decoupled_weight_decay") = false, py::arg("amsgrad") = false,
        py::arg("maximize") = false,
        "In-place Adam/AdamW step over lists of tensors (torch.optim.Adam, AdamW); step counts "
        "from 1.");

    m.def(
        "rmsprop_step",
        [](py::handle params_obj, py::handle grads_obj, py::handle sq_obj, py::handle buf_obj,
           py::handle gavg_obj, double lr, double alpha, double eps, double weight_decay,
           double momentum, bool centered, bool maximize) {
            check_rmsprop(lr, alpha, eps, weight_decay, momentum);
            const TensorList params(params_obj, "params", cpu_view);
            const TensorList grads(grads_obj, "grads", cpu_view);
            const TensorList sqs(sq_obj, "square_avgs", cpu_view);
            const TensorList bufs(momentum > 0 ? buf_obj : py::none(), "momentum_buffers",
                                  cpu_view);
            const TensorList gavgs(centered ? gavg_obj : py::none(), "grad_avgs", cpu_view);
            require_list(sqs);
            if (momentum > 0) require_list(bufs, "momentum > 0");
            if (centered) require_list(gavgs, "centered=True");
            const DType dt = check_optim_lists(params, grads, {&sqs, &bufs, &gavgs});
            if (dt == DType::f32) {
                run_step(optim_tensors<float>(params, grads, &sqs, &bufs, &gavgs),
                         kernels<float>().rmsprop,
                         rmsprop_coeffs<float>(lr, alpha, eps, weight_decay, momentum, centered,
                                               maximize));
            } else {
                run_step(optim_tensors<double>(params, grads, &sqs, &bufs, &gavgs),
                         kernels<double>().rmsprop,
                         rmsprop_coeffs<double>(lr, alpha, eps, weight_decay, momentum, centered,
                                                maximize));
            }
        },
        py::arg("params"), py::arg("grads"), py::arg("square_avgs"),
        py::arg("momentum_buffers") = py::none(), py::arg("grad_avgs") = py::none(),
        py::kw_only(), py::arg("lr"), py::arg("alpha") = 0.99, py::arg("eps") = 1e-8,
        py::arg("weight_decay") = 0.0, py::arg("momentum") = 0.0, py::arg("centered") = false,
        py::arg("maximize") = false,
        "In-place RMSprop step over lists of tensors (torch.optim.RMSprop).");

    m.def(
        "adagrad_step",
        [](py::handle params_obj, py::handle grads_obj, py::handle sums_obj, int64_t step,
           double lr, double lr_decay, double weight_decay, double eps, bool maximize) {
            check_adagrad(step, lr, lr_decay, weight_decay, eps);
            const TensorList params(params_obj, "params", cpu_view);
            const TensorList grads(grads_obj, "grads", cpu_view);
            const TensorList sums(sums_obj, "state_sums", cpu_view);
            require_list(sums);
            const DType dt = check_optim_lists(params, grads, {&sums});
            if (dt == DType::f32) {
                run_step(optim_tensors<float>(params, grads, &sums, nullptr, nullptr),
                         kernels<float>().adagrad,
                         adagrad_coeffs<float>(step, lr, lr_decay, weight_decay, eps, maximize));
            } else {
                run_step(optim_tensors<double>(params, grads, &sums, nullptr, nullptr),
                         kernels<double>().adagrad,
                         adagrad_coeffs<double>(step, lr, lr_decay, weight_decay, eps, maximize));
            }
        },
        py::arg("params"), py::arg("grads"), py::arg("state_sums"), py::kw_only(),
        py::arg("step"), py::arg("lr"), py::arg("lr_decay") = 0.0, py::arg("weight_decay") = 0.0,
        py::arg("eps") = 1e-10, py::arg("maximize") = false,
        "In-place Adagrad step over lists of tensors (torch.optim.Adagrad); step counts from 1.");

    m.def(
        "global_norm",
        [](py::handle tensors_obj) {
            const TensorList tensors(tensors_obj, "tensors", cpu_view);
            const DType dt = check_norm_list(tensors, false);
            return global_norm_of(tensors, dt);
        },
        py::arg("tensors"),
        "L2 norm of all elements of a list of tensors, accumulated in float64 in a fixed order.");

    m.def(
        "clip_grad_norm",
        [](py::handle grads_obj, double max_norm, double eps) {
            require_nonnegative(eps, "eps");
            const TensorList grads(grads_obj, "grads", cpu_view);
            const DType dt = check_norm_list(grads, true);
            const double total = global_norm_of(grads, dt);
            const double coef = max_norm / (total + eps);
            if (clip_needed(coef)) {
                if (dt == DType::f32) scale_all<float>(grads, coef);
                else scale_all<double>(grads, coef);
            }
            return total;
        },
        py::arg("grads"), py::arg("max_norm"), py::arg("eps") = 1e-6,
        "Scales grads in place by max_norm / (total + eps) when that is below 1 "
        "(torch.nn.utils.clip_grad_norm_); returns the total L2 norm.");
}

}  // namespace pk
