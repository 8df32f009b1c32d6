// Argument checks for the fused optimizer steps and gradient norms, shared by
// the CPU and CUDA bindings. Tensor lists arrive as Python lists (or tuples)
// of arrays; each element is checked under its own name ("grads[3]"), and the
// scalar hyper-parameters get PyTorch's range checks (torch.optim raises for
// the same values), named after the argument.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "array_view.h"
#include "common/optim_rules.h"
#include "common/optim_tensor.h"

namespace pk {

// How a binding turns one array into a view: host_view for _cpu/_cuda_emu,
// cuda_view for _cuda.
using ViewFn = ArrayView (*)(py::handle obj, const char* name);

// The views of one list argument. Names live as long as the list (views point
// at them), so a TensorList is neither copied nor moved.
class TensorList {
public:
    TensorList(py::handle obj, const char* name, ViewFn view) : name_(name) {
        if (obj.is_none()) return;
        if (!py::isinstance<py::list>(obj) && !py::isinstance<py::tuple>(obj))
            throw py::type_error(std::string("argument '") + name +
                                 "' must be a list of arrays, got " +
                                 std::string(py::str(py::type::of(obj).attr("__name__"))));
        present_ = true;
        auto seq = py::reinterpret_borrow<py::sequence>(obj);
        const size_t n = seq.size();
        names_.reserve(n);
        for (size_t i = 0; i < n; ++i) names_.push_back(std::string(name) + "[" + std::to_string(i) + "]");
        views_.reserve(n);
        items_.reserve(n);
        for (size_t i = 0; i < n; ++i) {
            items_.push_back(seq[i]);
            views_.push_back(view(items_.back(), names_[i].c_str()));
        }
    }
    TensorList(const TensorList&) = delete;
    TensorList& operator=(const TensorList&) = delete;

    bool present() const { return present_; }
    size_t size() const { return views_.size(); }
    const ArrayView& operator[](size_t i) const { return views_[i]; }
    const char* name() const { return name_; }

private:
    const char* name_;
    bool present_ = false;
    std::vector<std::string> names_;
    std::vector<ArrayView> views_;
    // References to the arrays themselves: the kernels run without the GIL,
    // and another Python thread may meanwhile empty the list and free them.
    std::vector<py::object> items_;
};

// A list that must be given: always (when == nullptr, TypeError as for any
// other non-list), or because of an option (ValueError saying which).
inline void require_list(const TensorList& l, const char* when = nullptr) {
    if (l.present()) return;
    if (when)
        throw py::value_error(std::string("argument '") + l.name() + "' is required when " + when);
    throw py::type_error(std::string("argument '") + l.name() +
                         "' must be a list of arrays, got None");
}

// params: float32 or float64, one dtype for the whole list, writable; grads and
// every given state list: as many tensors as params, each of its param's shape
// and dtype; states writable; a param, its grad and its states are distinct
// memory. Returns the dtype.
inline DType check_optim_lists(const TensorList& params, const TensorList& grads,
                               std::initializer_list<const TensorList*> states) {
    require_list(params);
    require_list(grads);
    auto same_length = [&](const TensorList& l) {
        if (l.size() != params.size())
            throw py::value_error(std::string("argument '") + l.name() + "' has " +
                                  std::to_string(l.size()) + " tensors but argument '" +
                                  params.name() + "' has " + std::to_string(params.size()));
    };
    same_length(grads);
    for (const TensorList* s : states)
        if (s->present()) same_length(*s);
    for (size_t i = 0; i < params.size(); ++i) {
        const ArrayView& p = params[i];
        require_float(p);
        if (i > 0) require_same_dtype(params[0], p);
        require_writable(p);
        const ArrayView& g = grads[i];
        require_same_dtype(p, g);
        require_shape(g, p.shape);
        require_no_overlap(p, g);
        for (const TensorList* s : states) {
            if (!s->present()) continue;
            const ArrayView& v = (*s)[i];
            require_same_dtype(p, v);
            require_shape(v, p.shape);
            require_writable(v);
            require_no_overlap(v, p);
            require_no_overlap(v, g);
            for (const TensorList* o : states)
                if (o != s && o->present()) require_no_overlap(v, (*o)[i]);
        }
    }
    return params.size() ? params[0].dtype : DType::f32;
}

// The tensors of a step for the kernels: param, grad and the given states
// (null where a list was not given), in the order of common/optim_tensor.h.
template <class T>
std::vector<OptimTensor<T>> optim_tensors(const TensorList& params, const TensorList& grads,
                                          const TensorList* s0, const TensorList* s1,
                                          const TensorList* s2) {
    std::vector<OptimTensor<T>> ts(params.size());
    const TensorList* states[3] = {s0, s1, s2};
    for (size_t i = 0; i < params.size(); ++i) {
        ts[i].param = params[i].ptr<T>();
        ts[i].grad = grads[i].ptr<const T>();
        for (int k = 0; k < 3; ++k)
            ts[i].state[k] = states[k] && states[k]->present() ? (*states[k])[i].ptr<T>() : nullptr;
        ts[i].size = params[i].size();
    }
    return ts;
}

// A list of float arrays of one dtype (global_norm, clip_grad_norm).
inline DType check_norm_list(const TensorList& tensors, bool writable) {
    require_list(tensors);
    for (size_t i = 0; i < tensors.size(); ++i) {
        require_float(tensors[i]);
        if (i > 0) require_same_dtype(tensors[0], tensors[i]);
        if (writable) require_writable(tensors[i]);
    }
    return tensors.size() ? tensors[0].dtype : DType::f32;
}

[[noreturn]] inline void bad_scalar(const char* name, const char* rule, double v) {
    throw py::value_error(std::string("argument '") + name + "' must be " + rule + ", got " +
                          py::str(py::float_(v)).cast<std::string>());
}

// v >= 0 (NaN fails).
inline void require_nonnegative(double v, const char* name) {
    if (!(v >= 0)) bad_scalar(name, ">= 0", v);
}

// 0 <= v < 1 (betas, as torch.optim.Adam checks them).
inline void require_unit_interval(double v, const char* name) {
    if (!(v >= 0 && v < 1)) bad_scalar(name, "in [0, 1)", v);
}

inline void require_finite(double v, const char* name) {
    if (!std::isfinite(v)) bad_scalar(name, "finite", v);
}

inline void require_step(int64_t step) {
    if (step < 1)
        throw py::value_error("argument 'step' must be >= 1 (the number of this step, counting "
                              "from 1), got " + std::to_string(step));
}

// ---------------------------------------------------------------- hyper-parameters
// Scalars checked as torch.optim's constructors check them, then turned into
// the per-step coefficients of common/optim_rules.h (in double, as PyTorch
// computes them in Python floats, then rounded once to T).

inline void check_sgd(double lr, double momentum, double dampening, bool nesterov,
                      double weight_decay) {
    require_nonnegative(lr, "lr");
    require_nonnegative(momentum, "momentum");
    require_finite(dampening, "dampening");
    require_nonnegative(weight_decay, "weight_decay");
    if (nesterov && (momentum <= 0 || dampening != 0))
        throw py::value_error("argument 'nesterov': Nesterov momentum requires a momentum > 0 "
                              "and zero dampening");
}

template <class T>
SgdCoeffs<T> sgd_coeffs(double lr, double momentum, double dampening, bool nesterov,
                        double weight_decay, bool maximize, bool first_step) {
    return {T(lr), T(momentum), T(1 - dampening), T(weight_decay), nesterov, maximize, first_step};
}

inline void check_adam(int64_t step, double lr, double beta1, double beta2, double eps,
                       double weight_decay) {
    require_step(step);
    require_nonnegative(lr, "lr");
    require_unit_interval(beta1, "beta1");
    require_unit_interval(beta2, "beta2");
    require_nonnegative(eps, "eps");
    require_nonnegative(weight_decay, "weight_decay");
}

template <class T>
AdamCoeffs<T> adam_coeffs(int64_t step, double lr, double beta1, double beta2, double eps,
                          double weight_decay, bool decoupled, bool amsgrad, bool maximize) {
    const double t = static_cast<double>(step);
    const double bias_correction1 = 1 - std::pow(beta1, t);
    const double bias_correction2 = 1 - std::pow(beta2, t);
    AdamCoeffs<T> c;
    c.beta1 = T(beta1);
    c.one_minus_beta1 = T(1 - beta1);
    c.beta2 = T(beta2);
    c.one_minus_beta2 = T(1 - beta2);
    c.eps = T(eps);
    c.weight_decay = T(weight_decay);
    c.step_size = T(lr / bias_correction1);
    c.bc2_sqrt = T(std::pow(bias_correction2, 0.5));
    c.decay = T(1 - lr * weight_decay);
    c.decoupled = decoupled;
    c.amsgrad = amsgrad;
    c.maximize = maximize;
    return c;
}

inline void check_rmsprop(double lr, double alpha, double eps, double weight_decay,
                          double momentum) {
    require_nonnegative(lr, "lr");
    require_nonnegative(alpha, "alpha");
    require_nonnegative(eps, "eps");
    require_nonnegative(weight_decay, "weight_decay");
    require_nonnegative(momentum, "momentum");
}

template <class T>
RmspropCoeffs<T> rmsprop_coeffs(double lr, double alpha, double eps, double weight_decay,
                                double momentum, bool centered, bool maximize) {
    return {T(lr), T(alpha), T(1 - alpha), T(eps), T(weight_decay), T(momentum), centered, maximize};
}

inline void check_adagrad(int64_t step, double lr, double lr_decay, double weight_decay,
                          double eps) {
    require_step(step);
    require_nonnegative(lr, "lr");
    require_nonnegative(lr_decay, "lr_decay");
    require_nonnegative(weight_decay, "weight_decay");
    require_nonnegative(eps, "eps");
}

template <class T>
AdagradCoeffs<T> adagrad_coeffs(int64_t step, double lr, double lr_decay, double weight_decay,
                                double eps, bool maximize) {
    const double clr = lr / (1 + static_cast<double>(step - 1) * lr_decay);
    return {T(clr), T(eps), T(weight_decay), maximize};
}

// clip_grad_norm's factor, as torch.nn.utils.clip_grad_norm_ computes it:
// max_norm / (total + eps), applied when below 1 (and when NaN, which
// torch.clamp(max=1) lets through).
inline bool clip_needed(double coef) { return !(coef >= 1.0); }

}  // namespace pk
