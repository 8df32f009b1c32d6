// pk.ops.sgd_step / adam_step / rmsprop_step / adagrad_step / global_norm /
// clip_grad_norm for the CUDA kernels (cuda/optim.cu). Same arguments and
// checks as the CPU binding (csrc/bind/optim_checks.h), plus the stream; the
// norms also take a float64 device workspace allocated by the Python layer
// (norm_workspace_size elements), whose element 0 receives the norm.
#include <pybind11/stl.h>

#include <vector>

#include "bind/optim_checks.h"
#include "optim.h"
#include "view.h"

namespace pk {

namespace {

// Runs entry(tensors, count, coeffs, stream) for the list's dtype, without the GIL.
template <class Float, class Double>
void run(DType dt, const TensorList& params, const TensorList& grads, const TensorList* s0,
         const TensorList* s1, const TensorList* s2, Float run_f32, Double run_f64) {
    if (dt == DType::f32) {
        const auto ts = optim_tensors<float>(params, grads, s0, s1, s2);
        py::gil_scoped_release release;
        run_f32(ts.data(), static_cast<int64_t>(ts.size()));
    } else {
        const auto ts = optim_tensors<double>(params, grads, s0, s1, s2);
        py::gil_scoped_release release;
        run_f64(ts.data(), static_cast<int64_t>(ts.size()));
    }
}

struct NormArgs {
    std::vector<void*> data;
    std::vector<int64_t> sizes;
    double* workspace;
};

NormArgs norm_args(const TensorList& tensors, py::handle ws_obj) {
    NormArgs a;
    for (size_t i = 0; i < tensors.size(); ++i) {
        a.data.push_back(tensors[i].data);
        a.sizes.push_back(tensors[i].size());
    }
    const ArrayView ws = device_view(ws_obj, "workspace");
    require_dtype(ws, DType::f64);
    require_ndim(ws, 1);
    require_writable(ws);
    const int64_t need =
        cuda_ops::norm_workspace_size(a.sizes.data(), static_cast<int64_t>(a.sizes.size()));
    if (ws.size() < need)
        throw py::value_error("argument 'workspace' must hold at least " + std::to_string(need) +
                              " float64 elements (norm_workspace_size), got " +
                              std::to_string(ws.size()));
    for (size_t i = 0; i < tensors.size(); ++i) require_no_overlap(ws, tensors[i]);
    a.workspace = ws.ptr<double>();
    return a;
}

}  // namespace

void bind_optim(py::module_& m) {
    m.def(
        "sgd_step",
        [](py::handle params_obj, py::handle grads_obj, py::handle bufs_obj, double lr,
           double momentum, double dampening, bool nesterov, double weight_decay, bool maximize,
           bool first_step, uintptr_t stream) {
            check_sgd(lr, momentum, dampening, nesterov, weight_decay);
            const TensorList params(params_obj, "params", device_view);
            const TensorList grads(grads_obj, "grads", device_view);
            const TensorList bufs(momentum != 0 ? bufs_obj : py::none(), "momentum_buffers",
                                  device_view);
            if (momentum != 0) require_list(bufs, "momentum != 0");
            const DType dt = check_optim_lists(params, grads, {&bufs});
            void* s = stream_ptr(stream);
            const auto c32 = sgd_coeffs<float>(lr, momentum, dampening, nesterov, weight_decay,
                                               maximize, first_step);
            const auto c64 = sgd_coeffs<double>(lr, momentum, dampening, nesterov, weight_decay,
                                                maximize, first_step);
            run(dt, params, grads, &bufs, nullptr, nullptr,
                [&](const OptimTensor<float>* t, int64_t n) { cuda_ops::sgd_step(t, n, c32, s); },
                [&](const OptimTensor<double>* t, int64_t n) { cuda_ops::sgd_step(t, n, c64, s); });
        },
        py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"), py::kw_only(),
        py::arg("lr"), py::arg("momentum") = 0.0, py::arg("dampening") = 0.0,
        py::arg("nesterov") = false, py::arg("weight_decay") = 0.0, py::arg("maximize") = false,
        py::arg("first_step") = false, py::arg("stream") = 0,
        "In-place SGD step over lists of tensors (torch.optim.SGD) on the given stream.");

    m.def(
        "adam_step",
        [](py::handle params_obj, py::handle grads_obj, py::handle m_obj, py::handle v_obj,
           py::handle vmax_obj, int64_t step, double lr, double beta1, double beta2, double eps,
           double weight_decay, bool decoupled, bool amsgrad, bool maximize, uintptr_t stream) {
            check_adam(step, lr, beta1, beta2, eps, weight_decay);
            const TensorList params(params_obj, "params", device_view);
            const TensorList grads(grads_obj, "grads", device_view);
            const TensorList ms(m_obj, "exp_avgs", device_view);
            const TensorList vs(v_obj, "exp_avg_sqs", device_view);
            const TensorList vmaxs(amsgrad ? vmax_obj : py::none(), "max_exp_avg_sqs",
                                   device_view);
            require_list(ms);
            require_list(vs);
            if (amsgrad) require_list(vmaxs, "amsgrad=True");
            const DType dt = check_optim_lists(params, grads, {&ms, &vs, &vmaxs});
            void* s = stream_ptr(stream);
            const auto c32 = adam_coeffs<float>(step, lr, beta1, beta2, eps, weight_decay,
                                                decoupled, amsgrad, maximize);
            const auto c64 = adam_coeffs<double>(step, lr, beta1, beta2, eps, weight_decay,
                                                 decoupled, amsgrad, maximize);
            run(dt, params, grads, &ms, &vs, &vmaxs,
                [&](const OptimTensor<float>* t, int64_t n) { cuda_ops::adam_step(t, n, c32, s); },
                [&](const OptimTensor<double>* t, int64_t n) { cuda_ops::adam_step(t, n, c64, s); });
        },
        py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
        py::arg("max_exp_avg_sqs") = py::none(), py::kw_only(), py::arg("step"), py::arg("lr"),
        py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay") = 0.0,
        py::arg("decoupled_weight_decay") = false, py::arg("amsgrad") = false,
        py::arg("maximize") = false, py::arg("stream") = 0,
        "In-place Adam/AdamW step over lists of tensors (torch.optim.Adam, AdamW) on the given "
        "stream; step counts from 1.");

    m.def(
        "rmsprop_step",
        [](py::handle params_obj, py::handle grads_obj, py::handle sq_obj, py::handle buf_obj,
           py::handle gavg_obj, double lr, double alpha, double eps, double weight_decay,
           double momentum, bool centered, bool maximize, uintptr_t stream) {
            check_rmsprop(lr, alpha, eps, weight_decay, momentum);
            const TensorList params(params_obj, "params", device_view);
            const TensorList grads(grads_obj, "grads", device_view);
            const TensorList sqs(sq_obj, "square_avgs", device_view);
            const TensorList bufs(momentum > 0 ? buf_obj : py::none(), "momentum_buffers",
                                  device_view);
            const TensorList gavgs(centered ? gavg_obj : py::none(), "grad_avgs", device_view);
            require_list(sqs);
            if (momentum > 0) require_list(bufs, "momentum > 0");
            if (centered) require_list(gavgs, "centered=True");
            const DType dt = check_optim_lists(params, grads, {&sqs, &bufs, &gavgs});
            void* s = stream_ptr(stream);
            const auto c32 = rmsprop_coeffs<float>(lr, alpha, eps, weight_decay, momentum,
                                                   centered, maximize);
            const auto c64 = rmsprop_coeffs<double>(lr, alpha, eps, weight_decay, momentum,
                                                    centered, maximize);
            run(dt, params, grads, &sqs, &bufs, &gavgs,
                [&](const OptimTensor<float>* t, int64_t n) { cuda_ops::rmsprop_step(t, n, c32, s); },
                [&](const OptimTensor<double>* t, int64_t n) { cuda_ops::rmsprop_step(t, n, c64, s); });
        },
        py::arg("params"), py::arg("grads"), py::arg("square_avgs"),
        py::arg("momentum_buffers") = py::none(), py::arg("grad_avgs") = py::none(),
        py::kw_only(), py::arg("lr"), py::arg("alpha") = 0.99, py::arg("eps") = 1e-8,
        py::arg("weight_decay") = 0.0, py::arg("momentum") = 0.0, py::arg("centered") = false,
        py::arg("maximize") = false, py::arg("stream") = 0,
        "In-place RMSprop step over lists of tensors (torch.optim.RMSprop) on the given stream.");

    m.def(
        "adagrad_step",
        [](py::handle params_obj, py::handle grads_obj, py::handle sums_obj, int64_t step,
           double lr, double lr_decay, double weight_decay, double eps, bool maximize,
           uintptr_t stream) {
            check_adagrad(step, lr, lr_decay, weight_decay, eps);
            const TensorList params(params_obj, "params", device_view);
            const TensorList grads(grads_obj, "grads", device_view);
            const TensorList sums(sums_obj, "state_sums", device_view);
            require_list(sums);
            const DType dt = check_optim_lists(params, grads, {&sums});
            void* s = stream_ptr(stream);
            const auto c32 = adagrad_coeffs<float>(step, lr, lr_decay, weight_decay, eps, maximize);
            const auto c64 = adagrad_coeffs<double>(step, lr, lr_decay, weight_decay, eps, maximize);
            run(dt, params, grads, &sums, nullptr, nullptr,
                [&](const OptimTensor<float>* t, int64_t n) { cuda_ops::adagrad_step(t, n, c32, s); },
                [&](const OptimTensor<double>* t, int64_t n) { cuda_ops::adagrad_step(t, n, c64, s); });
        },
        py::arg("params"), py::arg("grads"), py::arg("state_sums"), py::kw_only(),
        py::arg("step"), py::arg("lr"), py::arg("lr_decay") = 0.0, py::arg("weight_decay") = 0.0,
        py::arg("eps") = 1e-10, py::arg("maximize") = false, py::arg("stream") = 0,
        "In-place Adagrad step over lists of tensors (torch.optim.Adagrad) on the given stream; "
        "step counts from 1.");

    m.def(
        "norm_workspace_size",
        [](const std::vector<int64_t>& sizes) {
            for (int64_t s : sizes)
                if (s < 0) throw py::value_error("argument 'sizes' must hold sizes >= 0");
            return cuda_ops::norm_workspace_size(sizes.data(), static_cast<int64_t>(sizes.size()));
        },
        py::arg("sizes"),
        "float64 elements of workspace global_norm / clip_grad_norm need for tensors of these "
        "sizes.");

    m.def(
        "global_norm",
        [](py::handle tensors_obj, py::handle ws_obj, uintptr_t stream) {
            if (ws_obj.is_none()) throw py::type_error("argument 'workspace' is required");
            const TensorList tensors(tensors_obj, "tensors", device_view);
            const DType dt = check_norm_list(tensors, false);
            const NormArgs a = norm_args(tensors, ws_obj);
            const auto n = static_cast<int64_t>(a.sizes.size());
            py::gil_scoped_release release;
            if (dt == DType::f32)
                cuda_ops::global_norm(reinterpret_cast<const float* const*>(a.data.data()),
                                      a.sizes.data(), n, a.workspace, stream_ptr(stream));
            else
                cuda_ops::global_norm(reinterpret_cast<const double* const*>(a.data.data()),
                                      a.sizes.data(), n, a.workspace, stream_ptr(stream));
        },
        py::arg("tensors"), py::kw_only(), py::arg("workspace") = py::none(),
        py::arg("stream") = 0,
        "workspace[0] <- L2 norm of all elements of the tensors (float64 accumulation, fixed "
        "order).");

    m.def(
        "clip_grad_norm",
        [](py::handle grads_obj, double max_norm, double eps, py::handle ws_obj,
           uintptr_t stream) {
            require_nonnegative(eps, "eps");
            if (ws_obj.is_none()) throw py::type_error("argument 'workspace' is required");
            const TensorList grads(grads_obj, "grads", device_view);
            const DType dt = check_norm_list(grads, true);
            const NormArgs a = norm_args(grads, ws_obj);
            const auto n = static_cast<int64_t>(a.sizes.size());
            py::gil_scoped_release release;
            if (dt == DType::f32)
                cuda_ops::clip_grad_norm(reinterpret_cast<float* const*>(a.data.data()),
                                         a.sizes.data(), n, a.workspace, max_norm, eps,
                                         stream_ptr(stream));
            else
                cuda_ops::clip_grad_norm(reinterpret_cast<double* const*>(a.data.data()),
                                         a.sizes.data(), n, a.workspace, max_norm, eps,
                                         stream_ptr(stream));
        },
        py::arg("grads"), py::arg("max_norm"), py::arg("eps") = 1e-6, py::kw_only(),
        py::arg("workspace") = py::none(), py::arg("stream") = 0,
        "workspace[0] <- total L2 norm; grads scaled in place by max_norm / (total + eps) when "
        "that is below 1 (torch.nn.utils.clip_grad_norm_).");
}

}  // namespace pk
