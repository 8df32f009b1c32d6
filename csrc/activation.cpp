// pk.ops.activation / activation_backward on the CPU: y = act(x) and
// grad_x = grad_y * act'(x) elementwise, with the formulas of
// common/activation.h (PyTorch's torch.nn.functional semantics).
//
// float32 runs the AVX-512 or AVX2 kernels (activation_simd.h) picked by
// pk::simd_path(); float64, gcu, and the generic path run the scalar PK_HD
// formulas in loops the compiler may vectorise. Arrays are cut into fixed
// chunks of kChunk elements spread over OpenMP threads above kParallelMin
// elements; every element is computed the same way whatever the thread
// count. prelu's weight gradient, sum over (x <= 0) of x * grad_y per channel,
// is summed in double per (row, chunk) and the partial sums are added in
// index order, so it does not depend on the thread count either.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <utility>
#include <vector>

#include "activation_kernels.h"
#include "bind/activation_checks.h"
#include "bind/array_view.h"
#include "common/activation.h"
#include "runtime/cpu_features.h"
#include "runtime/threads.h"

namespace pk {

namespace {

constexpr int64_t kChunk = 16384;
constexpr int64_t kParallelMin = 65536;

// ------------------------------------------------------------ scalar loops

template <Act A, class T>
void scalar_forward(const ActParams<T>& p, const T* x, T* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = act_forward(A, x[i], p);
}

template <Act A, class T>
void scalar_backward(const ActParams<T>& p, const T* g, const T* x, T* gx, int64_t n) {
    for (int64_t i = 0; i < n; ++i) gx[i] = act_backward(A, g[i], x[i], p);
}

template <class T>
using ForwardFn = void (*)(const ActParams<T>&, const T*, T*, int64_t);
template <class T>
using BackwardFn = void (*)(const ActParams<T>&, const T*, const T*, T*, int64_t);

// One loop per activation, so the switch in act_forward folds away.
template <class T, int... I>
constexpr std::array<ForwardFn<T>, kActCount> forward_table(std::integer_sequence<int, I...>) {
    return {&scalar_forward<static_cast<Act>(I), T>...};
}
template <class T, int... I>
constexpr std::array<BackwardFn<T>, kActCount> backward_table(std::integer_sequence<int, I...>) {
    return {&scalar_backward<static_cast<Act>(I), T>...};
}

template <class T>
void forward_chunk(Act a, const ActParams<T>& p, const T* x, T* y, int64_t n) {
    if constexpr (std::is_same_v<T, float>) {
        const SimdPath path = simd_path();
        if (path == SimdPath::avx512 && activation_forward_avx512(a, p, x, y, n)) return;
        if (path == SimdPath::avx2 && activation_forward_avx2(a, p, x, y, n)) return;
    }
    static constexpr auto table = forward_table<T>(std::make_integer_sequence<int, kActCount>{});
    table[static_cast<int>(a)](p, x, y, n);
}

template <class T>
void backward_chunk(Act a, const ActParams<T>& p, const T* g, const T* x, T* gx, int64_t n) {
    if constexpr (std::is_same_v<T, float>) {
        const SimdPath path = simd_path();
        if (path == SimdPath::avx512 && activation_backward_avx512(a, p, g, x, gx, n)) return;
        if (path == SimdPath::avx2 && activation_backward_avx2(a, p, g, x, gx, n)) return;
    }
    static constexpr auto table = backward_table<T>(std::make_integer_sequence<int, kActCount>{});
    table[static_cast<int>(a)](p, g, x, gx, n);
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ------------------------------------------------------------ drivers

template <class T>
void forward(Act a, const ActParams<T>& p, const T* x, T* y, int64_t n) {
    const int64_t chunks = ceil_div(n, kChunk);
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (n >= kParallelMin)
    for (int64_t c = 0; c < chunks; ++c) {
        const int64_t i0 = c * kChunk;
        forward_chunk(a, p, x + i0, y + i0, std::min(kChunk, n - i0));
    }
}

template <class T>
void backward(Act a, const ActParams<T>& p, const T* g, const T* x, T* gx, int64_t n) {
    const int64_t chunks = ceil_div(n, kChunk);
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (n >= kParallelMin)
    for (int64_t c = 0; c < chunks; ++c) {
        const int64_t i0 = c * kChunk;
        backward_chunk(a, p, g + i0, x + i0, gx + i0, std::min(kChunk, n - i0));
    }
}

// prelu: x is (outer, channels, inner); row r = (o, c) uses weight[c].
template <class T>
void prelu_forward(const ActivationPlan& plan, ActParams<T> p, const T* x, const T* w, T* y) {
    const int64_t rows = plan.outer * plan.channels;
    const int64_t chunks = ceil_div(plan.inner, kChunk);
#pragma omp parallel for num_threads(num_threads()) schedule(static) firstprivate(p) \
    if (plan.n >= kParallelMin)
    for (int64_t t = 0; t < rows * chunks; ++t) {
        const int64_t row = t / chunks;
        const int64_t i0 = row * plan.inner + (t % chunks) * kChunk;
        const int64_t len = std::min(kChunk, (row + 1) * plan.inner - i0);
        p.negative_slope = w[row % plan.channels];
        forward_chunk(Act::prelu, p, x + i0, y + i0, len);
    }
}

template <class T>
void prelu_backward(const ActivationPlan& plan, ActParams<T> p, const T* g, const T* x,
                    const T* w, T* gx, T* gw) {
    const int64_t rows = plan.outer * plan.channels;
    const int64_t chunks = ceil_div(plan.inner, kChunk);
    std::vector<double> partial(static_cast<size_t>(rows * chunks), 0.0);
#pragma omp parallel for num_threads(num_threads()) schedule(static) firstprivate(p) \
    if (plan.n >= kParallelMin)
    for (int64_t t = 0; t < rows * chunks; ++t) {
        const int64_t row = t / chunks;
        const int64_t i0 = row * plan.inner + (t % chunks) * kChunk;
        const int64_t len = std::min(kChunk, (row + 1) * plan.inner - i0);
        p.negative_slope = w[row % plan.channels];
        backward_chunk(Act::prelu, p, g + i0, x + i0, gx + i0, len);
        double s = 0.0;
        for (int64_t i = i0; i < i0 + len; ++i)
            s += x[i] > T(0) ? 0.0 : static_cast<double>(x[i]) * static_cast<double>(g[i]);
        partial[static_cast<size_t>(t)] = s;
    }
    // Fixed order: per channel, over outer index then chunk.
    double total = 0.0;
    for (int64_t c = 0; c < plan.channels; ++c) {
        double s = 0.0;
        for (int64_t o = 0; o < plan.outer; ++o)
            for (int64_t k = 0; k < chunks; ++k)
                s += partial[static_cast<size_t>((o * plan.channels + c) * chunks + k)];
        if (plan.channels > 1) gw[c] = static_cast<T>(s);
        total += s;
    }
    if (plan.channels == 1) gw[0] = static_cast<T>(total);
}

// ------------------------------------------------------------ typed entry points

template <class T>
void run_forward(const ActivationPlan& plan, const ActivationArgs& args, const ArrayView& x,
                 const std::optional<ArrayView>& weight, const ArrayView& out) {
    const ActParams<T> p = act_params<T>(args);
    py::gil_scoped_release release;
    if (plan.act == Act::prelu)
        prelu_forward(plan, p, x.ptr<const T>(), weight->ptr<const T>(), out.ptr<T>());
    else
        forward(plan.act, p, x.ptr<const T>(), out.ptr<T>(), plan.n);
}

template <class T>
void run_backward(const ActivationPlan& plan, const ActivationArgs& args, const ArrayView& g,
                  const ArrayView& x, const std::optional<ArrayView>& weight,
                  const ArrayView& gx, const std::optional<ArrayView>& gw) {
    const ActParams<T> p = act_params<T>(args);
    py::gil_scoped_release release;
    if (plan.act == Act::prelu)
        prelu_backward(plan, p, g.ptr<const T>(), x.ptr<const T>(), weight->ptr<const T>(),
                       gx.ptr<T>(), gw->ptr<T>());
    else
        backward(plan.act, p, g.ptr<const T>(), x.ptr<const T>(), gx.ptr<T>(), plan.n);
}

std::optional<ArrayView> optional_view(py::handle obj, const char* name) {
    if (obj.is_none()) return std::nullopt;
    return host_view(obj, name, "cpu");
}

ActivationArgs make_args(double negative_slope, double alpha, double beta, double threshold,
                         double min_val, double max_val, const std::string& approximate) {
    return {negative_slope, alpha, beta, threshold, min_val, max_val, approximate};
}

}  // namespace

void bind_activation(py::module_& m) {
    m.def(
        "activation_grad_from_output",
        [](const std::string& name, double negative_slope, double alpha, double beta,
           double threshold, double min_val, double max_val, const std::string& approximate) {
            const ActivationArgs args =
                make_args(negative_slope, alpha, beta, threshold, min_val, max_val, approximate);
            return act_has_output_grad(activation_from_name(name), act_params<double>(args));
        },
        py::arg("name"), py::arg("negative_slope") = 0.01, py::arg("alpha") = 1.0,
        py::arg("beta") = 1.0, py::arg("threshold") = 20.0, py::arg("min_val") = -1.0,
        py::arg("max_val") = 1.0, py::arg("approximate") = "none",
        "Whether the activation's derivative is a function of its output y (so a layer may "
        "keep y instead of its input for the backward).");
    m.def(
        "activation",
        [](const std::string& name, py::handle x_obj, py::handle out_obj, py::handle weight_obj,
           double negative_slope, double alpha, double beta, double threshold, double min_val,
           double max_val, const std::string& approximate) {
            const ActivationArgs args =
                make_args(negative_slope, alpha, beta, threshold, min_val, max_val, approximate);
            const ArrayView x = host_view(x_obj, "x", "cpu");
            const std::optional<ArrayView> weight = optional_view(weight_obj, "weight");
            const ActivationPlan plan = activation_plan(name, x, weight, args);
            const ArrayView out = host_view(out_obj, "out", "cpu");
            check_activation_out(out, x);
            if (x.dtype == DType::f32) run_forward<float>(plan, args, x, weight, out);
            else run_forward<double>(plan, args, x, weight, out);
        },
        py::arg("name"), py::arg("x"), py::arg("out"), py::arg("weight") = py::none(),
        py::arg("negative_slope") = 0.01, py::arg("alpha") = 1.0, py::arg("beta") = 1.0,
        py::arg("threshold") = 20.0, py::arg("min_val") = -1.0, py::arg("max_val") = 1.0,
        py::arg("approximate") = "none", "out = act(x) elementwise (prelu: weight per channel).");
    m.def(
        "activation_backward",
        [](const std::string& name, py::handle g_obj, py::handle x_obj, py::handle gx_obj,
           py::handle weight_obj, py::handle gw_obj, double negative_slope, double alpha,
           double beta, double threshold, double min_val, double max_val,
           const std::string& approximate) {
            const ActivationArgs args =
                make_args(negative_slope, alpha, beta, threshold, min_val, max_val, approximate);
            const ArrayView x = host_view(x_obj, "x", "cpu");
            const std::optional<ArrayView> weight = optional_view(weight_obj, "weight");
            const ActivationPlan plan = activation_plan(name, x, weight, args);
            const ArrayView g = host_view(g_obj, "grad_y", "cpu");
            require_like(g, x);
            const ArrayView gx = host_view(gx_obj, "grad_x", "cpu");
            check_activation_out(gx, x);
            require_no_overlap(gx, g);
            std::optional<ArrayView> gw;
            if (plan.act == Act::prelu) {
                if (gw_obj.is_none())
                    throw py::value_error("argument 'grad_weight' is required by prelu");
                gw = host_view(gw_obj, "grad_weight", "cpu");
                check_activation_out(*gw, *weight);
            }
            if (x.dtype == DType::f32) run_backward<float>(plan, args, g, x, weight, gx, gw);
            else run_backward<double>(plan, args, g, x, weight, gx, gw);
        },
        py::arg("name"), py::arg("grad_y"), py::arg("x"), py::arg("grad_x"),
        py::arg("weight") = py::none(), py::arg("grad_weight") = py::none(),
        py::arg("negative_slope") = 0.01, py::arg("alpha") = 1.0, py::arg("beta") = 1.0,
        py::arg("threshold") = 20.0, py::arg("min_val") = -1.0, py::arg("max_val") = 1.0,
        py::arg("approximate") = "none",
        "grad_x = grad_y * act'(x) (prelu: also grad_weight, summed per channel).");
}

}  // namespace pk
