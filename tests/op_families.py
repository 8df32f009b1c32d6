"""Every op family as a list of cases, shared by the leak, thread and
determinism tests: each case makes its input arrays and calls the op(s) on
them, returning every result (and, for in-place ops, the arrays they update).

    inputs = case.make(rng, rows, cols, dtype)
    results = case.run(inputs, device_kw)     # device_kw: {} or {"device": "cuda-emu"}

In-place ops (optimizer steps, clip_grad_norm, batch norm's running statistics,
matmul into out) update arrays in ``inputs``: callers that compare results copy
the inputs first (``copy_inputs``) and compare ``fingerprint((results, inputs))``.
Sizes are chosen by the caller: small for thousands of calls, large enough
to cross the CPU kernels' parallel thresholds (GEMM: 1.5 MFLOP per thread;
elementwise: 16K-element chunks; row ops: 32K elements per thread; optimizer
steps and norms: 64K-element chunks) for thread-count tests.
"""

from __future__ import annotations

import importlib
import struct
from dataclasses import dataclass
from typing import Callable

import numpy as np

import pykernels as pk
# The submodule, not pk.ops.activation (the function of the same name).
ACTIVATIONS = importlib.import_module("pykernels.ops.activation").NAMES


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable  # (rng, rows, cols, dtype) -> dict of inputs
    run: Callable  # (inputs, device_kw) -> tuple of results

    def __repr__(self):
        return self.name


def _normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _labels(rng, rows, cols):
    return rng.integers(0, cols, size=rows).astype(np.int64)


def _xw(rng, rows, cols, dtype):
    return {"x": _normal(rng, (rows, cols), dtype), "w": _normal(rng, (cols, cols), dtype),
            "b": _normal(rng, (cols,), dtype), "gy": _normal(rng, (rows, cols), dtype)}


def _optim_make(rng, rows, cols, dtype, states=("s1",)):
    # Three tensors of different sizes (one list per role), as a model has.
    shapes = [(rows, cols), (cols,), (cols, 3)]
    inp = {"p": [_normal(rng, s, dtype) for s in shapes],
           "g": [_normal(rng, s, dtype) for s in shapes]}
    for s in states:
        inp[s] = [np.abs(_normal(rng, sh, dtype)) for sh in shapes]
    return inp


def _activations_forward(inp, kw):
    x = inp["x"]
    out = [pk.ops.activation(n, x, **kw) for n in ACTIVATIONS if n != "prelu"]
    out.append(pk.ops.activation("prelu", x, weight=inp["pw"], **kw))
    out.append(pk.ops.activation("gelu", x, approximate="tanh", **kw))
    return tuple(out)


def _activations_backward(inp, kw):
    x, g = inp["x"], inp["gy"]
    out = [pk.ops.activation_backward(n, g, x, **kw) for n in ACTIVATIONS if n != "prelu"]
    out.extend(pk.ops.activation_backward("prelu", g, x, weight=inp["pw"], **kw))
    out.append(pk.ops.activation_backward("gelu", g, x, approximate="tanh", **kw))
    return tuple(out)


def _with_prelu_weight(rng, rows, cols, dtype):
    inp = _xw(rng, rows, cols, dtype)
    inp["pw"] = _normal(rng, (cols,), dtype) * 0.25
    return inp


def _bn_make(rng, rows, cols, dtype):
    c = max(cols // 8, 1)
    return {"x": _normal(rng, (rows, c, 8), dtype), "gy": _normal(rng, (rows, c, 8), dtype),
            "w": _normal(rng, (c,), dtype), "b": _normal(rng, (c,), dtype),
            "rm": _normal(rng, (c,), dtype), "rv": np.abs(_normal(rng, (c,), dtype)) + 0.5}


def _bn(inp, kw, training):
    y, ctx = pk.ops.batch_norm(inp["x"], inp["w"], inp["b"], inp["rm"], inp["rv"],
                               training=training, momentum=0.1, eps=1e-5, **kw)
    return (y, ctx.mean, ctx.invstd) + tuple(pk.ops.batch_norm_backward(inp["gy"], ctx))


def _losses(inp, kw):
    x, t, w = inp["x"], inp["t"], inp["cw"]
    lp = inp["lp"]
    return (pk.ops.nll_loss(lp, t, **kw), pk.ops.nll_loss(lp, t, weight=w, reduction="sum", **kw),
            pk.ops.hinge_loss(x, inp["t_all"], **kw),
            pk.ops.hinge_loss(x, inp["t_all"], p=2, weight=w, reduction="none", **kw),
            pk.ops.mse_loss(x, inp["y"], **kw), pk.ops.mse_loss(x, inp["y"], "none", **kw),
            pk.ops.l1_loss(x, inp["y"], **kw), pk.ops.l1_loss(x, inp["y"], "sum", **kw))


def _loss_make(rng, rows, cols, dtype):
    x = _normal(rng, (rows, cols), dtype)
    t_all = _labels(rng, rows, cols)
    t = t_all.copy()
    t[::5] = -100  # ignored rows (hinge_loss has no ignore_index: it takes t_all)
    lp = x - np.log(np.exp(x.astype(np.float64)).sum(1, keepdims=True)).astype(dtype)
    return {"x": x, "t": t, "t_all": t_all, "y": _normal(rng, (rows, cols), dtype), "lp": lp,
            "cw": np.abs(_normal(rng, (cols,), dtype)) + 0.1,
            "probs": np.abs(_normal(rng, (rows, cols), dtype))}


def _cross_entropy(inp, kw):
    x, t = inp["x"], inp["t"]
    probs = inp["probs"] / inp["probs"].sum(1, keepdims=True)
    return (pk.ops.cross_entropy(x, t, **kw),
            pk.ops.cross_entropy(x, t, weight=inp["cw"], label_smoothing=0.1, **kw),
            pk.ops.cross_entropy(x, t, reduction="none", **kw),
            pk.ops.cross_entropy(x, probs.astype(x.dtype), reduction="sum", **kw))


def _softmax(inp, kw):
    x, g = inp["x"], inp["gy"]
    y = pk.ops.softmax(x, **kw)
    ly = pk.ops.log_softmax(x, **kw)
    y0 = pk.ops.softmax(x, axis=0, **kw)
    return (y, ly, y0, pk.ops.softmax_backward(g, y, **kw),
            pk.ops.log_softmax_backward(g, ly, **kw), pk.ops.softmax_backward(g, y0, axis=0, **kw))


def _dropout(inp, kw):
    y, mask = pk.ops.dropout(inp["x"], 0.3, seed=1234, offset=7, **kw)
    gx = pk.ops.dropout_backward(inp["gy"], mask, 0.3, **kw)
    m = pk.ops.dropout_mask(inp["x"].shape, 0.5, seed=99, device=kw.get("device", "cpu"))
    return y, mask, gx, m


def _matmul(inp, kw):
    x, w, out = inp["x"], inp["w"], inp["out"]
    pk.ops.matmul(x, w, trans_b=True, alpha=0.5, beta=0.5, out=out, **kw)
    return pk.ops.matmul(x, w, **kw), pk.ops.matmul(w, x, trans_b=True, **kw), out


def _matmul_make(rng, rows, cols, dtype):
    inp = _xw(rng, rows, cols, dtype)
    inp["out"] = _normal(rng, (rows, cols), dtype)
    return inp


def _linear_forward(inp, kw):
    x, w, b = inp["x"], inp["w"], inp["b"]
    return (pk.ops.linear(x, w, b, activation="relu", **kw),
            *pk.ops.linear(x, w, None, activation="gelu", return_pre_activation=True, **kw))


def _linear_backward(inp, kw):
    x, w, g = inp["x"], inp["w"], inp["gy"]
    y = inp["y"]
    return (pk.ops.linear_backward(g, x, w, y=y, activation="relu", **kw)
            + pk.ops.linear_backward(g, x, w, z=y, activation="gelu", needs_input_grad=False, **kw))


def _linear_backward_make(rng, rows, cols, dtype):
    inp = _xw(rng, rows, cols, dtype)
    inp["y"] = np.maximum(_normal(rng, (rows, cols), dtype), 0)
    return inp


def _sgd(inp, kw):
    pk.ops.sgd_step(inp["p"], inp["g"], inp["s1"], lr=0.01, momentum=0.9, nesterov=True,
                    weight_decay=1e-4, **kw)
    pk.ops.sgd_step(inp["p"], inp["g"], None, lr=0.01, maximize=True, **kw)
    return ()


def _adam(inp, kw):
    pk.ops.adam_step(inp["p"], inp["g"], inp["s1"], inp["s2"], inp["s3"], step=3, lr=1e-3,
                     weight_decay=0.01, amsgrad=True, **kw)
    pk.ops.adam_step(inp["p"], inp["g"], inp["s1"], inp["s2"], step=4, lr=1e-3,
                     weight_decay=0.01, decoupled_weight_decay=True, **kw)
    return ()


def _rmsprop(inp, kw):
    pk.ops.rmsprop_step(inp["p"], inp["g"], inp["s1"], inp["s2"], inp["s3"], lr=1e-3,
                        momentum=0.9, centered=True, **kw)
    pk.ops.rmsprop_step(inp["p"], inp["g"], inp["s1"], lr=1e-3, weight_decay=0.1, **kw)
    return ()


def _adagrad(inp, kw):
    pk.ops.adagrad_step(inp["p"], inp["g"], inp["s1"], step=2, lr=0.01, lr_decay=0.01, **kw)
    return ()


def _norms(inp, kw):
    total = pk.ops.global_norm(inp["p"] + inp["g"], **kw)
    # Clip to a norm just below the current one: the gradients are scaled on every call.
    clipped = pk.ops.clip_grad_norm(inp["g"], 0.9 * pk.ops.global_norm(inp["g"], **kw), **kw)
    return total, clipped


CASES = [
    Case("matmul", _matmul_make, _matmul),
    Case("linear_forward", _xw, _linear_forward),
    Case("linear_backward", _linear_backward_make, _linear_backward),
    Case("activation_forward", _with_prelu_weight, _activations_forward),
    Case("activation_backward", _with_prelu_weight, _activations_backward),
    Case("softmax", _xw, _softmax),
    Case("cross_entropy", _loss_make, _cross_entropy),
    Case("losses", _loss_make, _losses),
    Case("batch_norm_train", _bn_make, lambda inp, kw: _bn(inp, kw, True)),
    Case("batch_norm_eval", _bn_make, lambda inp, kw: _bn(inp, kw, False)),
    Case("dropout", _xw, _dropout),
    Case("sgd_step", lambda *a: _optim_make(*a, states=("s1",)), _sgd),
    Case("adam_step", lambda *a: _optim_make(*a, states=("s1", "s2", "s3")), _adam),
    Case("rmsprop_step", lambda *a: _optim_make(*a, states=("s1", "s2", "s3")), _rmsprop),
    Case("adagrad_step", lambda *a: _optim_make(*a, states=("s1",)), _adagrad),
    Case("global_norm_clip", lambda *a: _optim_make(*a, states=()), _norms),
]

BY_NAME = {c.name: c for c in CASES}


def copy_inputs(inp):
    """A deep copy of a case's inputs (arrays and lists of arrays)."""
    return {k: [a.copy() for a in v] if isinstance(v, list) else v.copy() for k, v in inp.items()}


def fingerprint(obj):
    """The exact bits of a nested result: arrays by dtype, shape and bytes,
    floats by their IEEE representation. Equal fingerprints = bit-identical."""
    if obj is None:
        return None
    if isinstance(obj, np.ndarray):
        return (obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, float):
        return ("float", struct.pack("<d", obj))
    if isinstance(obj, (int, str, bool)):
        return obj
    if isinstance(obj, dict):
        return tuple((k, fingerprint(v)) for k, v in sorted(obj.items()))
    if isinstance(obj, (list, tuple)):
        return tuple(fingerprint(v) for v in obj)
    if isinstance(obj, np.generic):
        return fingerprint(np.asarray(obj))
    raise TypeError(f"cannot fingerprint a {type(obj).__name__}")


def first_difference(a, b, path="result"):
    """Where two fingerprints differ first (for assertion messages)."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, tuple) and len(a) == 3 and isinstance(a[2], bytes) and a[:2] != b[:2]:
        return f"{path}: dtype/shape {a[:2]} != {b[:2]}"
    if isinstance(a, tuple) and len(a) == 3 and isinstance(a[2], bytes) and isinstance(a[0], str):
        x = np.frombuffer(a[2], dtype=a[0]).reshape(a[1])
        y = np.frombuffer(b[2], dtype=b[0]).reshape(b[1])
        bad = np.argwhere(x.view(np.uint8).reshape(-1) != y.view(np.uint8).reshape(-1))
        idx = int(bad[0][0]) // x.itemsize if len(bad) else 0
        flat_x, flat_y = x.reshape(-1), y.reshape(-1)
        return (f"{path}: {int((flat_x != flat_y).sum())} of {x.size} elements differ, first at "
                f"flat index {idx}: {flat_x[idx]!r} != {flat_y[idx]!r}")
    if isinstance(a, tuple):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for i, (u, v) in enumerate(zip(a, b)):
            if u != v:
                return first_difference(u, v, f"{path}[{i}]")
    return f"{path}: {a!r} != {b!r}"
