"""Fused multi-tensor optimizer steps and gradient norms, in place.

One call updates a whole list of tensors (parameters, gradients and optimizer
state, element i of every list belonging together), reading and writing each
element once, like ``torch.optim.<Optimizer>(..., fused=True)``. The update
rules are those of the torch.optim documentation; ``t`` is the step number,
counting from 1, and ``g`` the gradient (negated first when ``maximize``):

SGD (``torch.optim.SGD``)::

    g <- g + weight_decay * p
    b <- g                                          (first step)
    b <- momentum * b + (1 - dampening) * g         (later steps)
    g <- g + momentum * b  (nesterov)  |  g <- b    (momentum != 0)
    p <- p - lr * g

Adam / AdamW (``torch.optim.Adam``, ``torch.optim.AdamW``)::

    g <- g + weight_decay * p   |   p <- p * (1 - lr * weight_decay)  (AdamW)
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g^2
    vmax <- max(vmax, v), v^ = vmax   (amsgrad; else v^ = v)
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v^) / sqrt(1 - beta2^t) + eps)

RMSprop (``torch.optim.RMSprop``)::

    g <- g + weight_decay * p
    s <- alpha * s + (1 - alpha) * g^2
    a <- alpha * a + (1 - alpha) * g;  d <- sqrt(s - a^2) + eps   (centered)
    d <- sqrt(s) + eps                                            (otherwise)
    b <- momentum * b + g / d;  p <- p - lr * b                   (momentum > 0)
    p <- p - lr * g / d                                           (otherwise)

Adagrad (``torch.optim.Adagrad``)::

    g <- g + weight_decay * p
    s <- s + g^2
    p <- p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

State starts as PyTorch starts it, and the caller owns it: Adam's exp_avgs,
exp_avg_sqs and max_exp_avg_sqs, RMSprop's square_avgs, momentum_buffers and
grad_avgs are zero-filled before the first step; Adagrad's state_sums are
filled with ``initial_accumulator_value`` (0 by default); SGD's momentum
buffers are set from the gradients by the step called with ``first_step=True``
(their previous contents are ignored then).

All tensors of one call share one dtype (float32 or float64), are
C-contiguous, and every state tensor has its parameter's shape. State lists an
option does not use (e.g. ``max_exp_avg_sqs`` without ``amsgrad``) may be None.
"""

from __future__ import annotations

from ._dispatch import select


def _as_list(x, name):
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return x
    if hasattr(x, "__array_interface__") or hasattr(x, "__cuda_array_interface__"):
        raise TypeError(f"argument '{name}' must be a list of arrays, got one array "
                        f"(wrap it in a list)")
    try:
        return list(x)
    except TypeError:
        raise TypeError(f"argument '{name}' must be a list of arrays, "
                        f"got {type(x).__name__}") from None


def _backend(device, **lists):
    """The backend from every tensor of every list, so that one array on the
    other device is reported by name (the binding checks each element again)."""
    named = [(f"{name}[{i}]", t) for name, lst in lists.items() if lst for i, t in enumerate(lst)]
    return select(*named, device=device)


def _workspace(be, tensors):
    """float64 scratch for the CUDA norm kernels: the result, then one partial
    sum per chunk. Bad elements get a size of 0 here; the binding names them."""
    sizes = [int(getattr(t, "size", 0) or 0) for t in tensors]
    return be.empty(be.mod.norm_workspace_size(sizes), dtype="float64")


def sgd_step(params, grads, momentum_buffers=None, *, lr, momentum=0.0, dampening=0.0,
             nesterov=False, weight_decay=0.0, maximize=False, first_step=False, device=None):
    """One in-place SGD step over lists of tensors, as ``torch.optim.SGD``.

    ``momentum_buffers`` is needed when ``momentum != 0``. PyTorch creates a
    parameter's momentum buffer from its gradient on the first step; here the
    caller says so with ``first_step=True`` (the buffers are then written, not
    read) and passes ``first_step=False`` on every later step.
    """
    params, grads = _as_list(params, "params"), _as_list(grads, "grads")
    bufs = _as_list(momentum_buffers, "momentum_buffers")
    be = _backend(device, params=params, grads=grads, momentum_buffers=bufs)
    be.mod.sgd_step(params, grads, bufs, lr=float(lr), momentum=float(momentum),
                    dampening=float(dampening), nesterov=bool(nesterov),
                    weight_decay=float(weight_decay), maximize=bool(maximize),
                    first_step=bool(first_step), **be.launch_kwargs())


def adam_step(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs=None, *, step, lr,
              beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
              decoupled_weight_decay=False, amsgrad=False, maximize=False, device=None):
    """One in-place Adam step over lists of tensors, as ``torch.optim.Adam``;
    with ``decoupled_weight_decay=True`` it is ``torch.optim.AdamW``.

    ``step`` is the number of this step (1 on the first call); the bias
    corrections 1 - beta^step are computed from it once per call.
    ``max_exp_avg_sqs`` is needed with ``amsgrad``.
    """
    params, grads = _as_list(params, "params"), _as_list(grads, "grads")
    ms, vs = _as_list(exp_avgs, "exp_avgs"), _as_list(exp_avg_sqs, "exp_avg_sqs")
    vmax = _as_list(max_exp_avg_sqs, "max_exp_avg_sqs")
    be = _backend(device, params=params, grads=grads, exp_avgs=ms, exp_avg_sqs=vs,
                  max_exp_avg_sqs=vmax)
    be.mod.adam_step(params, grads, ms, vs, vmax, step=int(step), lr=float(lr),
                     beta1=float(beta1), beta2=float(beta2), eps=float(eps),
                     weight_decay=float(weight_decay),
                     decoupled_weight_decay=bool(decoupled_weight_decay), amsgrad=bool(amsgrad),
                     maximize=bool(maximize), **be.launch_kwargs())


def rmsprop_step(params, grads, square_avgs, momentum_buffers=None, grad_avgs=None, *, lr,
                 alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 maximize=False, device=None):
    """One in-place RMSprop step over lists of tensors, as ``torch.optim.RMSprop``.

    ``momentum_buffers`` is needed when ``momentum > 0``, ``grad_avgs`` when
    ``centered``; all state starts at zero.
    """
    params, grads = _as_list(params, "params"), _as_list(grads, "grads")
    sqs = _as_list(square_avgs, "square_avgs")
    bufs = _as_list(momentum_buffers, "momentum_buffers")
    gavgs = _as_list(grad_avgs, "grad_avgs")
    be = _backend(device, params=params, grads=grads, square_avgs=sqs, momentum_buffers=bufs,
                  grad_avgs=gavgs)
    be.mod.rmsprop_step(params, grads, sqs, bufs, gavgs, lr=float(lr), alpha=float(alpha),
                        eps=float(eps), weight_decay=float(weight_decay),
                        momentum=float(momentum), centered=bool(centered),
                        maximize=bool(maximize), **be.launch_kwargs())


def adagrad_step(params, grads, state_sums, *, step, lr, lr_decay=0.0, weight_decay=0.0,
                 eps=1e-10, maximize=False, device=None):
    """One in-place Adagrad step over lists of tensors, as ``torch.optim.Adagrad``.

    ``step`` is the number of this step (1 on the first call). PyTorch's
    ``initial_accumulator_value`` is the value the caller fills ``state_sums``
    with before the first step.
    """
    params, grads = _as_list(params, "params"), _as_list(grads, "grads")
    sums = _as_list(state_sums, "state_sums")
    be = _backend(device, params=params, grads=grads, state_sums=sums)
    be.mod.adagrad_step(params, grads, sums, step=int(step), lr=float(lr),
                        lr_decay=float(lr_decay), weight_decay=float(weight_decay),
                        eps=float(eps), maximize=bool(maximize), **be.launch_kwargs())


def global_norm(tensors, *, device=None) -> float:
    """L2 norm of all elements of a list of tensors, as
    ``torch.linalg.vector_norm(torch.stack([t.norm() for t in tensors]))``.

    Squares are accumulated in float64 in an order fixed by the tensors' sizes
    alone, so the result does not depend on the number of threads (or, on the
    GPU, on scheduling).
    """
    tensors = _as_list(tensors, "tensors")
    be = _backend(device, tensors=tensors)
    if be.name == "cpu":
        return be.mod.global_norm(tensors)
    ws = _workspace(be, tensors)
    be.mod.global_norm(tensors, workspace=ws, **be.launch_kwargs())
    return float(ws[0])


def clip_grad_norm(grads, max_norm, eps=1e-6, *, device=None) -> float:
    """Clips gradients in place as ``torch.nn.utils.clip_grad_norm_`` (L2):
    with ``total`` the global norm of ``grads``, every gradient is multiplied by
    ``max_norm / (total + eps)`` when that factor is below 1. Returns ``total``
    (before clipping)."""
    grads = _as_list(grads, "grads")
    be = _backend(device, grads=grads)
    if be.name == "cpu":
        return be.mod.clip_grad_norm(grads, float(max_norm), float(eps))
    ws = _workspace(be, grads)
    be.mod.clip_grad_norm(grads, float(max_norm), float(eps), workspace=ws,
                          **be.launch_kwargs())
    return float(ws[0])
