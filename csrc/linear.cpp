// pk.ops.linear / linear_backward on the CPU (torch.nn.functional.linear
// followed by an activation, and its gradients):
//   forward   z = x W^T + b,  y = act(z)            x (N, in), W (out, in), b (out)
//   backward  g' = grad_y * act'(z)                 once, elementwise
//             grad_x = g' W,  grad_W = g'^T x,  grad_b = sum over rows of g'
// The forward is one GEMM whose epilogue adds the bias and applies the
// activation to each block of the output while the GEMM's micro-kernel has
// just written it (in L1): the output is not read a second time. The
// backward runs the activation derivative in one pass, then two GEMMs; grad_b
// is taken by the grad_W GEMM from its packed copy of g'^T (GemmEpilogue::
// a_row_sums), so g' is not read again for it. Formulas: common/activation.h.
// Every element is computed in an order that does not depend on the thread
// count (GEMM: see gemm/gemm.cpp; elementwise passes: fixed chunks).
#include <pybind11/pybind11.h>

#include <array>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "activation_kernels.h"
#include "bind/activation_checks.h"
#include "bind/array_view.h"
#include "bind/linear_checks.h"
#include "common/activation.h"
#include "gemm/gemm.h"
#include "gemm/gemm_epilogue.h"
#include "runtime/cpu_features.h"
#include "runtime/threads.h"

namespace pk {

namespace {

constexpr int64_t kChunk = 16384;
constexpr int64_t kParallelMin = 65536;

// ------------------------------------------------------------ activation rows

template <Act A, class T>
void scalar_forward_inplace(const ActParams<T>& p, T* y, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] = act_forward(A, y[i], p);
}

template <Act A, class T>
void scalar_backward(const ActParams<T>& p, const T* g, const T* s, T* gx, int64_t n) {
    for (int64_t i = 0; i < n; ++i) gx[i] = act_backward(A, g[i], s[i], p);
}

template <Act A, class T>
void scalar_backward_from_output(const ActParams<T>& p, const T* g, const T* s, T* gx, int64_t n) {
    for (int64_t i = 0; i < n; ++i) gx[i] = act_backward_from_output(A, g[i], s[i], p);
}

template <class T>
using InplaceFn = void (*)(const ActParams<T>&, T*, int64_t);
template <class T>
using BackwardFn = void (*)(const ActParams<T>&, const T*, const T*, T*, int64_t);

// One loop per activation, so the switch inside the formulas folds away.
template <class T, int... I>
constexpr std::array<InplaceFn<T>, kActCount> inplace_table(std::integer_sequence<int, I...>) {
    return {&scalar_forward_inplace<static_cast<Act>(I), T>...};
}
template <class T, int... I>
constexpr std::array<BackwardFn<T>, kActCount> backward_table(std::integer_sequence<int, I...>) {
    return {&scalar_backward<static_cast<Act>(I), T>...};
}
template <class T, int... I>
constexpr std::array<BackwardFn<T>, kActCount> from_output_table(std::integer_sequence<int, I...>) {
    return {&scalar_backward_from_output<static_cast<Act>(I), T>...};
}

// y = act(y) on n contiguous values: the float32 SIMD kernels of the
// activation op where they exist, else the scalar formulas.
template <class T>
void activate_inplace(Act a, const ActParams<T>& p, T* y, int64_t n) {
    if (a == Act::identity) return;
    if constexpr (std::is_same_v<T, float>) {
        const SimdPath path = simd_path();
        if (path == SimdPath::avx512 && activation_forward_avx512(a, p, y, y, n)) return;
        if (path == SimdPath::avx2 && activation_forward_avx2(a, p, y, y, n)) return;
    }
    static constexpr auto table = inplace_table<T>(std::make_integer_sequence<int, kActCount>{});
    table[static_cast<int>(a)](p, y, n);
}

// gx = g * act'(s) on n values, s the pre-activation z or (from_output) y.
template <class T>
void derivative_chunk(Act a, const ActParams<T>& p, bool from_output, const T* g, const T* s,
                      T* gx, int64_t n) {
    if (!from_output) {
        if constexpr (std::is_same_v<T, float>) {
            const SimdPath path = simd_path();
            if (path == SimdPath::avx512 && activation_backward_avx512(a, p, g, s, gx, n)) return;
            if (path == SimdPath::avx2 && activation_backward_avx2(a, p, g, s, gx, n)) return;
        }
        static constexpr auto table = backward_table<T>(std::make_integer_sequence<int, kActCount>{});
        table[static_cast<int>(a)](p, g, s, gx, n);
        return;
    }
    static constexpr auto table = from_output_table<T>(std::make_integer_sequence<int, kActCount>{});
    table[static_cast<int>(a)](p, g, s, gx, n);
}

// ------------------------------------------------------------ forward

template <class T>
struct LinearEpilogue {
    const T* bias;     // may be null
    T* pre;            // z, when the caller keeps it; may be null
    int64_t ld;        // row stride of pre (= out_features)
    Act act;
    ActParams<T> params;
};

// On one finished block of z = x W^T: add the bias, keep z if asked, apply
// the activation, row by row while the block is in L1.
template <class T>
void linear_block(void* ctx, int64_t i0, int64_t j0, int64_t rows, int64_t cols, T* c,
                  int64_t ldc) {
    const auto& e = *static_cast<const LinearEpilogue<T>*>(ctx);
    // Whole rows (narrow outputs) are one contiguous run: one activation call.
    const bool contiguous = cols == ldc;
    for (int64_t r = 0; r < rows; ++r) {
        T* row = c + r * ldc;
        if (e.bias) {
            const T* b = e.bias + j0;
            for (int64_t j = 0; j < cols; ++j) row[j] += b[j];
        }
        if (e.pre) {
            T* z = e.pre + (i0 + r) * e.ld + j0;
            for (int64_t j = 0; j < cols; ++j) z[j] = row[j];
        }
        if (!contiguous) activate_inplace(e.act, e.params, row, cols);
    }
    if (contiguous) activate_inplace(e.act, e.params, c, rows * cols);
}

template <class T>
void linear_forward(Act act, const ActParams<T>& params, const T* x, const T* w, const T* bias,
                    T* y, T* pre, int64_t batch, int64_t in_f, int64_t out_f) {
    LinearEpilogue<T> e{bias, pre, out_f, act, params};
    GemmEpilogue<T> ep;
    if (bias || pre || act != Act::identity) {
        ep.fn = &linear_block<T>;
        ep.ctx = &e;
    }
    gemm_ex<T>(false, true, batch, out_f, in_f, T(1), x, in_f, w, in_f, T(0), y, out_f, &ep);
}

// ------------------------------------------------------------ backward

template <class T>
T* scratch(size_t count) {
    // Grow-only per calling thread: a training loop allocates once.
    thread_local std::vector<T> buf;
    if (buf.size() < count) buf.resize(count);
    return buf.data();
}

template <class T>
void linear_backward(Act act, const ActParams<T>& params, const T* g, const T* x, const T* w,
                     const T* saved, bool saved_is_output, T* gx, T* gw, T* gb, int64_t batch,
                     int64_t in_f, int64_t out_f) {
    const int64_t n = batch * out_f;
    const T* gp = g;  // g' = grad_y * act'(z)
    if (act != Act::identity && n > 0) {
        T* d = scratch<T>(static_cast<size_t>(n));
        const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (n >= kParallelMin)
        for (int64_t c = 0; c < chunks; ++c) {
            const int64_t i0 = c * kChunk;
            derivative_chunk(act, params, saved_is_output, g + i0, saved + i0, d + i0,
                             std::min(kChunk, n - i0));
        }
        gp = d;
    }
    if (gx) gemm<T>(false, false, batch, in_f, out_f, T(1), gp, out_f, w, in_f, T(0), gx, in_f);
    if (gw) {
        GemmEpilogue<T> ep;
        ep.a_row_sums = gb;
        gemm_ex<T>(true, false, out_f, in_f, batch, T(1), gp, out_f, x, in_f, T(0), gw, in_f, &ep);
    } else if (gb) {
        for (int64_t j = 0; j < out_f; ++j) gb[j] = T(0);
        for (int64_t i = 0; i < batch; ++i)
            for (int64_t j = 0; j < out_f; ++j) gb[j] += gp[i * out_f + j];
    }
}

// ------------------------------------------------------------ binding

std::optional<ArrayView> optional_view(py::handle obj, const char* name) {
    if (obj.is_none()) return std::nullopt;
    return host_view(obj, name, "cpu");
}

}  // namespace

void bind_linear(py::module_& m) {
    m.def(
        "linear",
        [](py::handle x_obj, py::handle w_obj, py::handle b_obj, py::handle out_obj,
           const std::string& activation, py::handle pre_obj, double negative_slope,
           double alpha, double beta, double threshold, double min_val, double max_val,
           const std::string& approximate) {
            const ActivationArgs args{negative_slope, alpha, beta, threshold,
                                      min_val,        max_val, approximate};
            const Act act = linear_activation(activation, args);
            const ArrayView x = host_view(x_obj, "x", "cpu");
            const ArrayView w = host_view(w_obj, "weight", "cpu");
            const auto [batch, in_f, out_f] = linear_check_x_weight(x, w);
            const std::optional<ArrayView> bias = optional_view(b_obj, "bias");
            linear_check_bias(bias, x, out_f);
            const ArrayView out = host_view(out_obj, "out", "cpu");
            const ArrayView* b_ptr = bias ? &*bias : nullptr;
            linear_check_output(out, x, {batch, out_f}, {&x, &w, b_ptr});
            const std::optional<ArrayView> pre = optional_view(pre_obj, "pre_activation");
            if (pre) {
                linear_check_output(*pre, x, {batch, out_f}, {&x, &w, b_ptr});
                require_no_overlap(*pre, out);
            }
            py::gil_scoped_release release;
            if (x.dtype == DType::f32)
                linear_forward<float>(act, act_params<float>(args), x.ptr<const float>(),
                                      w.ptr<const float>(), bias ? bias->ptr<const float>() : nullptr,
                                      out.ptr<float>(), pre ? pre->ptr<float>() : nullptr, batch,
                                      in_f, out_f);
            else
                linear_forward<double>(act, act_params<double>(args), x.ptr<const double>(),
                                       w.ptr<const double>(),
                                       bias ? bias->ptr<const double>() : nullptr,
                                       out.ptr<double>(), pre ? pre->ptr<double>() : nullptr,
                                       batch, in_f, out_f);
        },
        py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("out"),
        py::arg("activation") = "identity", py::arg("pre_activation") = py::none(),
        py::arg("negative_slope") = 0.01, py::arg("alpha") = 1.0, py::arg("beta") = 1.0,
        py::arg("threshold") = 20.0, py::arg("min_val") = -1.0, py::arg("max_val") = 1.0,
        py::arg("approximate") = "none",
        "out = act(x @ weight.T + bias) in one GEMM with a fused epilogue (bias may be None); "
        "pre_activation, if given, receives x @ weight.T + bias.");
    m.def(
        "linear_backward",
        [](py::handle g_obj, py::handle x_obj, py::handle w_obj, py::handle gx_obj,
           py::handle gw_obj, py::handle gb_obj, const std::string& activation, py::handle y_obj,
           py::handle z_obj, double negative_slope, double alpha, double beta, double threshold,
           double min_val, double max_val, const std::string& approximate) {
            const ActivationArgs args{negative_slope, alpha, beta, threshold,
                                      min_val,        max_val, approximate};
            const Act act = linear_activation(activation, args);
            const ArrayView x = host_view(x_obj, "x", "cpu");
            const ArrayView w = host_view(w_obj, "weight", "cpu");
            const auto [batch, in_f, out_f] = linear_check_x_weight(x, w);
            const ArrayView g = host_view(g_obj, "grad_y", "cpu");
            require_same_dtype(x, g);
            require_shape(g, {batch, out_f});
            // The derivative needs z (any activation) or y (those whose
            // derivative is a function of the output); identity needs neither.
            const bool needs_saved = act != Act::identity;
            bool from_output = false;
            const std::optional<ArrayView> saved = linear_saved(
                act, args, activation, needs_saved ? optional_view(z_obj, "z") : std::nullopt,
                needs_saved ? optional_view(y_obj, "y") : std::nullopt, from_output);
            if (saved) {
                require_same_dtype(x, *saved);
                require_shape(*saved, {batch, out_f});
            }
            const std::optional<ArrayView> gx = optional_view(gx_obj, "grad_x");
            const std::optional<ArrayView> gw = optional_view(gw_obj, "grad_weight");
            const std::optional<ArrayView> gb = optional_view(gb_obj, "grad_bias");
            const ArrayView* s_ptr = saved ? &*saved : nullptr;
            if (gx) linear_check_output(*gx, x, {batch, in_f}, {&x, &w, &g, s_ptr});
            if (gw) linear_check_output(*gw, x, {out_f, in_f}, {&x, &w, &g, s_ptr});
            if (gb) linear_check_output(*gb, x, {out_f}, {&x, &w, &g, s_ptr});
            if (gx && gw) require_no_overlap(*gw, *gx);
            if (gb && gw) require_no_overlap(*gb, *gw);
            if (gb && gx) require_no_overlap(*gb, *gx);
            py::gil_scoped_release release;
            if (x.dtype == DType::f32)
                linear_backward<float>(act, act_params<float>(args), g.ptr<const float>(),
                                       x.ptr<const float>(), w.ptr<const float>(),
                                       saved ? saved->ptr<const float>() : nullptr, from_output,
                                       gx ? gx->ptr<float>() : nullptr,
                                       gw ? gw->ptr<float>() : nullptr,
                                       gb ? gb->ptr<float>() : nullptr, batch, in_f, out_f);
            else
                linear_backward<double>(act, act_params<double>(args), g.ptr<const double>(),
                                        x.ptr<const double>(), w.ptr<const double>(),
                                        saved ? saved->ptr<const double>() : nullptr,
                                        from_output, gx ? gx->ptr<double>() : nullptr,
                                        gw ? gw->ptr<double>() : nullptr,
                                        gb ? gb->ptr<double>() : nullptr, batch, in_f, out_f);
        },
        py::arg("grad_y"), py::arg("x"), py::arg("weight"), py::arg("grad_x"),
        py::arg("grad_weight"), py::arg("grad_bias"), py::arg("activation") = "identity",
        py::arg("y") = py::none(), py::arg("z") = py::none(), py::arg("negative_slope") = 0.01,
        py::arg("alpha") = 1.0, py::arg("beta") = 1.0, py::arg("threshold") = 20.0,
        py::arg("min_val") = -1.0, py::arg("max_val") = 1.0, py::arg("approximate") = "none",
        "g' = grad_y * act'(z or y); grad_x = g' @ weight, grad_weight = g'.T @ x, grad_bias = "
        "g'.sum(0) (the last fused into the grad_weight GEMM); any output may be None.");
}

}  // namespace pk
