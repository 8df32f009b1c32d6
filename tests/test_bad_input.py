"""Hostile inputs for every public op (pk.ops), module (pk.nn) and optimizer
(pk.optim): no input from Python may crash the interpreter, corrupt memory or
return a silently wrong answer. Cases are generated from one table that
describes each op's valid arguments once (OPS below); every case runs on the
cpu backend and on cuda-emu, and the array cases are replayed against the
compiled bindings themselves (pykernels._cpu / _cuda_emu), bypassing the
Python layer, to show that the validation lives in C++.

Bad arguments raise TypeError (wrong type or dtype, an array on the wrong
device) or ValueError (shape, layout, value range) whose message names the
argument ('x', 'target', 'params[0]', 'p', 'lr', ...).

Layout policy: every array argument must be C-contiguous. Non-contiguous
views (x[:, ::2]), negative-stride views (x[::-1]), Fortran-order arrays
(x.T, numpy.asfortranarray) and zero-stride broadcast views are REJECTED with
a ValueError naming the argument ("must be C-contiguous (use
numpy.ascontiguousarray)"), never copied behind the caller's back. The check
is in the bindings (host_view / cuda_view), and in the Python layer wherever
it would otherwise reshape, move an axis or allocate first (the device
selection of every op checks every array before results are allocated, so a
zero-stride view claiming terabytes is refused, not allocated for), so that
every op, module and optimizer behaves the same.
Read-only inputs are accepted; outputs must be writable.

Values: NaN and Inf propagate as the formulas in NumPy propagate them, never
hidden (relu(NaN) is NaN as in PyTorch; a softmax row with a NaN is all NaN;
a NaN logit makes the multi-margin loss NaN, where PyTorch's max(0, z) would
drop it). Zero-sized dimensions give PyTorch's results (empty outputs, a mean
over nothing is NaN, a sum is 0, k = 0 products are 0) or its errors (the
multi-margin loss of an empty batch is NaN; PyTorch returns an
uninitialised value there).

Huge sizes: the CPU kernels index with 64-bit integers; the tests at the end
run GEMMs and a norm on operands of more than 2**31 elements that are never
materialised (zero pages), with values at offsets beyond 2**31, and check
that the CUDA bindings, whose GEMM kernels take 32-bit dimensions, refuse a
dimension of 2**31 or more with a ValueError naming the argument instead of
wrapping around.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pykernels as pk
from pykernels import _backends
from pykernels import nn as pknn
from pykernels.ops import _dispatch
from pykernels.ops.activation import NAMES as ACTIVATION_NAMES

from conftest import assert_close as _assert_close
from reference import activation as ref_act
from reference import softmax as ref_softmax
from reference.cross_entropy import cross_entropy as ref_cross_entropy
from reference.losses import hinge_loss as ref_hinge, l1_loss as ref_l1, mse_loss as ref_mse
from test_errors import FakeCudaArray

DEVICES = ["cpu", "cuda-emu"]


def assert_close(*args, **kwargs):
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf
        _assert_close(*args, **kwargs)


def _kw(device):
    return {"device": device} if device != "cpu" else {}


def _rand(*shape, dt=np.float32, lo=-1.0, hi=1.0, seed=0):
    return np.random.default_rng(seed + len(shape)).uniform(lo, hi, shape).astype(dt)


def _labels(n, c, dt=np.int64):
    return (np.arange(n) % c).astype(dt)


# ---------------------------------------------------------------- the op table


class Op:
    """One public op, described once: `make(dtype)` builds valid arguments by
    name (list arguments of the optimizer steps are named "params[0]"...);
    `call(args, kw)` runs it; `free` names the arguments that may take any
    shape on their own (a 0-d, extra-axis or resized version is valid, not an
    error), `valid` maps an argument to the shape changes that are valid for
    it (e.g. matmul's b may have any number of columns); `labels` names the
    integer (class index, uint8 mask) arguments."""

    def __init__(self, name, make, call, *, free=(), valid=None, labels=(), binding=True):
        self.name, self.make, self.call = name, make, call
        self.labels, self.binding = set(labels), binding
        self.valid = {n: {"0d", "extra_axis", "shape"} for n in free}
        for n, kinds in (valid or {}).items():
            self.valid.setdefault(n, set()).update(kinds)

    def is_valid(self, name, kind):
        return kind in self.valid.get(name, ())

    def args(self, dt=np.float32):
        return self.make(dt)

    def floats(self):
        return [n for n, a in self.args().items() if a.dtype.kind == "f"]

    def __repr__(self):
        return self.name


def _bn_ctx(dt, device):
    x = _rand(4, 3, 2, dt=dt, seed=7)
    kw = _kw(device)
    return pk.ops.batch_norm(x, np.ones(3, dt), np.zeros(3, dt), None, None, training=True, **kw)[1]


def _l(a, *names):
    return [a[n] for n in names if n in a]


OPS = [
    Op("matmul", lambda dt: {"a": _rand(4, 3, dt=dt), "b": _rand(3, 5, dt=dt)},
       lambda a, kw: pk.ops.matmul(a["a"], a["b"], **kw), valid={"b": ["shape"]}),
    Op("matmul_out", lambda dt: {"a": _rand(4, 3, dt=dt), "b": _rand(3, 5, dt=dt),
                                 "out": _rand(4, 5, dt=dt)},
       lambda a, kw: pk.ops.matmul(a["a"], a["b"], beta=0.5, out=a["out"], **kw)),
    Op("linear", lambda dt: {"x": _rand(4, 3, dt=dt), "weight": _rand(5, 3, dt=dt),
                             "bias": _rand(5, dt=dt)},
       lambda a, kw: pk.ops.linear(a["x"], a["weight"], a["bias"], activation="relu", **kw),
       valid={"x": ["extra_axis"]}),
    Op("linear_3d", lambda dt: {"x": _rand(2, 4, 3, dt=dt), "weight": _rand(5, 3, dt=dt)},
       lambda a, kw: pk.ops.linear(a["x"], a["weight"], activation="tanh", **kw),
       valid={"x": ["extra_axis"]}, binding=False),
    Op("linear_backward", lambda dt: {"grad_y": _rand(4, 5, dt=dt), "x": _rand(4, 3, dt=dt),
                                      "weight": _rand(5, 3, dt=dt), "y": _rand(4, 5, dt=dt, lo=0)},
       lambda a, kw: pk.ops.linear_backward(a["grad_y"], a["x"], a["weight"], y=a["y"],
                                            activation="relu", **kw)),
    Op("linear_backward_z", lambda dt: {"grad_y": _rand(4, 5, dt=dt), "x": _rand(4, 3, dt=dt),
                                        "weight": _rand(5, 3, dt=dt), "z": _rand(4, 5, dt=dt)},
       lambda a, kw: pk.ops.linear_backward(a["grad_y"], a["x"], a["weight"], z=a["z"],
                                            activation="gelu", **kw)),
    Op("activation", lambda dt: {"x": _rand(3, 4, dt=dt)},
       lambda a, kw: pk.ops.activation("gelu", a["x"], **kw), free=("x",)),
    Op("activation_prelu", lambda dt: {"x": _rand(3, 4, dt=dt), "weight": _rand(4, dt=dt)},
       lambda a, kw: pk.ops.activation("prelu", a["x"], weight=a["weight"], **kw),
       valid={"weight": ["0d"]}),
    Op("activation_backward", lambda dt: {"grad_y": _rand(3, 4, dt=dt), "x": _rand(3, 4, dt=dt)},
       lambda a, kw: pk.ops.activation_backward("silu", a["grad_y"], a["x"], **kw)),
    Op("activation_backward_prelu",
       lambda dt: {"grad_y": _rand(3, 4, dt=dt), "x": _rand(3, 4, dt=dt), "weight": _rand(4, dt=dt)},
       lambda a, kw: pk.ops.activation_backward("prelu", a["grad_y"], a["x"], weight=a["weight"],
                                                **kw), valid={"weight": ["0d"]}),
    Op("softmax", lambda dt: {"x": _rand(3, 4, dt=dt)},
       lambda a, kw: pk.ops.softmax(a["x"], **kw), free=("x",)),
    Op("log_softmax_axis0", lambda dt: {"x": _rand(3, 4, dt=dt)},
       lambda a, kw: pk.ops.log_softmax(a["x"], axis=0, **kw), free=("x",), binding=False),
    Op("softmax_backward", lambda dt: {"grad_y": _rand(3, 4, dt=dt), "y": _rand(3, 4, dt=dt, lo=0)},
       lambda a, kw: pk.ops.softmax_backward(a["grad_y"], a["y"], **kw)),
    Op("log_softmax_backward_axis0",
       lambda dt: {"grad_y": _rand(3, 4, dt=dt), "y": _rand(3, 4, dt=dt, lo=-2, hi=-0.1)},
       lambda a, kw: pk.ops.log_softmax_backward(a["grad_y"], a["y"], axis=0, **kw),
       binding=False),
    Op("cross_entropy", lambda dt: {"logits": _rand(4, 3, dt=dt), "target": _labels(4, 3),
                                    "weight": _rand(3, dt=dt, lo=0.5)},
       lambda a, kw: pk.ops.cross_entropy(a["logits"], a["target"], weight=a["weight"], **kw),
       labels=("target",)),
    Op("cross_entropy_probs",
       lambda dt: {"logits": _rand(4, 3, dt=dt), "target": np.full((4, 3), 1 / 3, dt)},
       lambda a, kw: pk.ops.cross_entropy(a["logits"], a["target"], label_smoothing=0.1, **kw)),
    Op("cross_entropy_none", lambda dt: {"logits": _rand(4, 3, dt=dt), "target": _labels(4, 3, np.int32),
                                         "grad_loss": _rand(4, dt=dt)},
       lambda a, kw: pk.ops.cross_entropy(a["logits"], a["target"], reduction="none",
                                          grad_loss=a["grad_loss"], **kw),
       valid={"logits": ["shape"]}, labels=("target",)),
    Op("nll_loss", lambda dt: {"log_probs": _rand(4, 3, dt=dt, lo=-3, hi=-0.1),
                               "target": _labels(4, 3), "weight": _rand(3, dt=dt, lo=0.5)},
       lambda a, kw: pk.ops.nll_loss(a["log_probs"], a["target"], weight=a["weight"], **kw),
       labels=("target",)),
    Op("hinge_loss", lambda dt: {"input": _rand(4, 3, dt=dt), "target": _labels(4, 3),
                                 "weight": _rand(3, dt=dt, lo=0.5)},
       lambda a, kw: pk.ops.hinge_loss(a["input"], a["target"], p=2, weight=a["weight"], **kw),
       labels=("target",)),
    Op("mse_loss", lambda dt: {"input": _rand(4, 3, dt=dt), "target": _rand(4, 3, dt=dt, seed=1)},
       lambda a, kw: pk.ops.mse_loss(a["input"], a["target"], **kw)),
    Op("l1_loss_none", lambda dt: {"input": _rand(4, 3, dt=dt), "target": _rand(4, 3, dt=dt, seed=1),
                                   "grad_loss": _rand(4, 3, dt=dt, seed=2)},
       lambda a, kw: pk.ops.l1_loss(a["input"], a["target"], "none", grad_loss=a["grad_loss"], **kw)),
    Op("batch_norm", lambda dt: {"x": _rand(4, 3, 2, dt=dt), "weight": _rand(3, dt=dt),
                                 "bias": _rand(3, dt=dt), "running_mean": np.zeros(3, dt),
                                 "running_var": np.ones(3, dt)},
       lambda a, kw: pk.ops.batch_norm(a["x"], a["weight"], a["bias"], a["running_mean"],
                                       a["running_var"], training=True, **kw),
       valid={"x": ["shape"]}),
    Op("batch_norm_eval", lambda dt: {"x": _rand(4, 3, dt=dt), "running_mean": np.zeros(3, dt),
                                      "running_var": np.ones(3, dt)},
       lambda a, kw: pk.ops.batch_norm(a["x"], None, None, a["running_mean"], a["running_var"],
                                       training=False, **kw)),
    Op("batch_norm_backward", lambda dt: {"grad_y": _rand(4, 3, 2, dt=dt)},
       lambda a, kw: pk.ops.batch_norm_backward(
           a["grad_y"], _bn_ctx(np.float64 if getattr(a["grad_y"], "dtype", None) == np.float64
                                else np.float32, kw.get("device", "cpu")))),
    Op("dropout", lambda dt: {"x": _rand(3, 4, dt=dt)},
       lambda a, kw: pk.ops.dropout(a["x"], 0.3, seed=1, **kw), free=("x",)),
    Op("dropout_eval", lambda dt: {"x": _rand(3, 4, dt=dt)},
       lambda a, kw: pk.ops.dropout(a["x"], 0.3, training=False, **kw), free=("x",), binding=False),
    Op("dropout_backward", lambda dt: {"grad_y": _rand(3, 4, dt=dt),
                                       "mask": (np.arange(12).reshape(3, 4) % 2).astype(np.uint8)},
       lambda a, kw: pk.ops.dropout_backward(a["grad_y"], a["mask"], 0.3, **kw), labels=("mask",)),
    Op("sgd_step", lambda dt: {"params[0]": _rand(3, 4, dt=dt), "grads[0]": _rand(3, 4, dt=dt, seed=1),
                               "momentum_buffers[0]": np.zeros((3, 4), dt)},
       lambda a, kw: pk.ops.sgd_step([a["params[0]"]], [a["grads[0]"]], [a["momentum_buffers[0]"]],
                                     lr=0.1, momentum=0.9, nesterov=True, **kw)),
    Op("adam_step", lambda dt: {"params[0]": _rand(3, 4, dt=dt), "grads[0]": _rand(3, 4, dt=dt, seed=1),
                                "exp_avgs[0]": np.zeros((3, 4), dt), "exp_avg_sqs[0]": np.zeros((3, 4), dt),
                                "max_exp_avg_sqs[0]": np.zeros((3, 4), dt)},
       lambda a, kw: pk.ops.adam_step([a["params[0]"]], [a["grads[0]"]], [a["exp_avgs[0]"]],
                                      [a["exp_avg_sqs[0]"]], [a["max_exp_avg_sqs[0]"]], step=1,
                                      lr=1e-3, amsgrad=True, **kw)),
    Op("rmsprop_step", lambda dt: {"params[0]": _rand(3, 4, dt=dt), "grads[0]": _rand(3, 4, dt=dt, seed=1),
                                   "square_avgs[0]": np.zeros((3, 4), dt),
                                   "momentum_buffers[0]": np.zeros((3, 4), dt),
                                   "grad_avgs[0]": np.zeros((3, 4), dt)},
       lambda a, kw: pk.ops.rmsprop_step([a["params[0]"]], [a["grads[0]"]], [a["square_avgs[0]"]],
                                         [a["momentum_buffers[0]"]], [a["grad_avgs[0]"]], lr=1e-2,
                                         momentum=0.9, centered=True, **kw)),
    Op("adagrad_step", lambda dt: {"params[0]": _rand(3, 4, dt=dt), "grads[0]": _rand(3, 4, dt=dt, seed=1),
                                   "state_sums[0]": np.zeros((3, 4), dt)},
       lambda a, kw: pk.ops.adagrad_step([a["params[0]"]], [a["grads[0]"]], [a["state_sums[0]"]],
                                         step=1, lr=0.1, **kw)),
    Op("global_norm", lambda dt: {"tensors[0]": _rand(3, 4, dt=dt), "tensors[1]": _rand(5, dt=dt)},
       lambda a, kw: pk.ops.global_norm(_l(a, "tensors[0]", "tensors[1]"), **kw),
       free=("tensors[0]", "tensors[1]")),
    Op("clip_grad_norm", lambda dt: {"grads[0]": _rand(3, 4, dt=dt), "grads[1]": _rand(5, dt=dt)},
       lambda a, kw: pk.ops.clip_grad_norm(_l(a, "grads[0]", "grads[1]"), 0.1, **kw),
       free=("grads[0]", "grads[1]")),
]

OPS_BY_NAME = {op.name: op for op in OPS}


def test_the_table_covers_every_public_op():
    """A new op in pk.ops must get a row in OPS (a row named after it, or
    after it and a variant: "l1_loss_none"). dropout_mask takes a shape, no
    array: its p and empty shapes are tested below; BatchNormContext is a class."""
    names = [op.name for op in OPS]
    missing = [n for n in pk.ops.__all__ if n not in ("BatchNormContext", "dropout_mask")
               and not any(m == n or m.startswith(n + "_") for m in names)]
    assert not missing, f"ops without a row in OPS: {missing}"


# ---------------------------------------------------------------- array mutations


def _noncontig(a):
    if a.ndim == 0 or a.shape[-1] < 2:
        return None
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    return wide[..., ::2]


def _negstride(a):
    if a.ndim == 0 or a.shape[0] < 2:
        return None
    return np.ascontiguousarray(a[::-1])[::-1]


def _fortran(a):
    if sum(s > 1 for s in a.shape) < 2:
        return None
    return np.asfortranarray(a)


def _broadcast(a):
    if a.size < 2:
        return None
    return np.broadcast_to(a.reshape(-1)[:1].reshape((1,) * a.ndim), a.shape)


def _mismatch(a):
    if a.ndim == 0:
        return None
    return np.resize(a, a.shape[:-1] + (a.shape[-1] + 1,))


SHAPES = {"0d": lambda a: np.array(a.reshape(-1)[0]), "extra_axis": lambda a: a[None],
          "shape": _mismatch}
PROB_TARGET_INTS = {("cross_entropy_probs", "int32"), ("cross_entropy_probs", "int64")}
LAYOUTS = {"noncontiguous": _noncontig, "negative_stride": _negstride, "fortran": _fortran,
           "broadcast": _broadcast}
FLOAT_DTYPES_BAD = ["int32", "int64", "bool", "float16", "object"]
LABEL_DTYPES_BAD = ["float16", "bool", "object", "uint8"]


def _cases():
    """(op, arg, kind, bad array builder, exception, extra regex) for every
    argument of every op."""
    out = []
    for op in OPS:
        args = op.args()
        n_float = len([n for n, a in args.items() if a.dtype.kind == "f"])
        for name, a in args.items():
            is_label = name in op.labels
            bad_dtypes = LABEL_DTYPES_BAD if is_label else FLOAT_DTYPES_BAD
            if name == "mask":
                bad_dtypes = ["float32", "int32", "bool"]
            for dt in bad_dtypes:
                # int targets of the probability form are class indices: then a shape error
                exc = ValueError if (op.name, dt) in PROB_TARGET_INTS and name == "target" else TypeError
                out.append((op, name, f"dtype_{dt}", lambda a, dt=dt: a.astype(dt), exc, ""))
            if not is_label and n_float > 1:
                other = np.float64 if a.dtype == np.float32 else np.float32
                out.append((op, name, "mixed_float", lambda a, o=other: a.astype(o), TypeError, ""))
            for kind, fn in LAYOUTS.items():
                if fn(a) is not None:
                    out.append((op, name, kind, fn, ValueError, "contiguous"))
            for kind, fn in SHAPES.items():
                if not op.is_valid(name, kind) and (kind != "shape" or len(args) > 1):
                    out.append((op, name, kind, fn, ValueError, ""))
            out.append((op, name, "list", lambda a: a.tolist(), TypeError, ""))
            out.append((op, name, "cuda_array", FakeCudaArray, TypeError, "CUDA"))
    return out


CASES = _cases()


def _id(c):
    return f"{c[0].name}-{c[1]}-{c[2]}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op,arg,kind,mutate,exc,extra", CASES, ids=[_id(c) for c in CASES])
def test_bad_argument_is_named(op, arg, kind, mutate, exc, extra, device):
    args = op.args()
    args[arg] = mutate(args[arg])
    # A CUDA array with device=None would select the cuda backend; asking for
    # the cpu explicitly is the case "CuPy array given to a CPU op".
    kw = {"device": device}
    with pytest.raises(exc, match=_needle(op, arg, kind)) as info:
        op.call(args, kw)
    if extra:
        assert extra in str(info.value)


def _needle(op, arg, kind, names=None):
    """The argument a message must name: the bad one, or for a shape that
    disagrees with another argument's, either of the two."""
    if kind in SHAPES:
        names = names or list(op.args())
        return "|".join(f"'{_re(n)}'" for n in names)
    return f"'{_re(arg)}'"


def _re(name):
    return name.replace("[", r"\[").replace("]", r"\]")


@pytest.mark.parametrize("op", [op for op in OPS if len(op.args()) > 1], ids=repr)
def test_cuda_array_mixed_with_host_arrays_names_it(op):
    """Default device: one CUDA array among NumPy ones is refused by name, not copied."""
    for name in op.args():
        args = op.args()
        args[name] = FakeCudaArray(args[name])
        with pytest.raises(TypeError, match=f"'{_re(name)}'"):
            op.call(args, {})


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", OPS, ids=repr)
def test_valid_arguments_pass_in_both_dtypes_and_read_only(op, device):
    """The table's arguments are valid (so every failure above is caused by its
    one mutation), in float32 and float64, and read-only inputs are accepted."""
    for dt in (np.float32, np.float64):
        op.call(op.args(dt), _kw(device))
    args = op.args()
    for name, a in args.items():
        if not (name.startswith(("params", "exp_", "max_", "square", "momentum", "grad_avgs",
                                 "state_sums", "out", "running", "grads")) or
                (op.name == "clip_grad_norm")):
            a.flags.writeable = False
    op.call(args, _kw(device))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op,arg", [
    ("matmul_out", "out"), ("sgd_step", "params[0]"), ("sgd_step", "momentum_buffers[0]"),
    ("adam_step", "exp_avg_sqs[0]"), ("batch_norm", "running_var"), ("clip_grad_norm", "grads[1]"),
])
def test_read_only_outputs_are_refused(op, arg, device):
    op = OPS_BY_NAME[op]
    args = op.args()
    args[arg].flags.writeable = False
    with pytest.raises(ValueError, match=f"'{_re(arg)}'.*read-only"):
        op.call(args, _kw(device))


# ---------------------------------------------------------------- the bindings themselves


class _Recorder:
    """Stands in for a compiled module and records the binding calls an op makes."""

    def __init__(self, mod):
        self._mod = mod
        self.calls = []

    def __getattr__(self, name):
        attr = getattr(self._mod, name)
        if not callable(attr):
            return attr

        def record(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return attr(*args, **kwargs)
        return record


def _binding_call(op, device, monkeypatch):
    """(function, args, kwargs, valid arrays) of the binding call that op makes
    on valid arguments: the call to replay with one argument replaced."""
    recorders = {}

    def module(name):
        recorders.setdefault(name, _Recorder(_backends.module(name)))
        return recorders[name]
    monkeypatch.setattr(_dispatch, "module", module)
    monkeypatch.setattr(_dispatch, "_CPU_BACKEND", None)
    arrays = op.args()
    op.call(arrays, {"device": device})
    monkeypatch.undo()
    rec = recorders[device]
    kernels = [c for c in rec.calls if not c[0].endswith("_size")]
    name, args, kwargs = kernels[-1]
    return getattr(_backends.module(device), name), list(args), dict(kwargs), arrays


def _replace(args, kwargs, old, new):
    """args/kwargs with the object `old` (or a list holding it) replaced by new."""
    found = False

    def sub(v):
        nonlocal found
        if v is old:
            found = True
            return new
        if isinstance(v, list) and any(e is old for e in v):
            found = True
            return [new if e is old else e for e in v]
        return v
    args = [sub(v) for v in args]
    kwargs = {k: sub(v) for k, v in kwargs.items()}
    return args, kwargs, found


BINDING_MUTATIONS = [  # (kind, mutation, exception); kinds as in SHAPES / LAYOUTS
    ("dtype_int32", lambda a: a.astype(np.int32), TypeError),
    ("dtype_float16", lambda a: a.astype(np.float16), TypeError),
    ("noncontiguous", _noncontig, ValueError),
    ("fortran", _fortran, ValueError),
    ("negative_stride", _negstride, ValueError),
    ("shape", _mismatch, ValueError),
    ("0d", lambda a: np.array(a.reshape(-1)[0]), ValueError),
    ("list", lambda a: a.tolist(), TypeError),
    ("cuda_array", FakeCudaArray, TypeError),
]

def _binding_targets(op, kind, mutate):
    """The arguments of op that this mutation makes invalid."""
    names = []
    for name, a in op.args().items():
        if op.is_valid(name, kind) or mutate(a) is None:
            continue
        if kind == "dtype_int32" and (name in op.labels or op.name == "cross_entropy_probs"):
            continue  # int32 class indices are valid (or a shape error for probabilities)
        names.append(name)
    return names


BINDING_CASES = [(op, kind, fn, exc) for op in OPS if op.binding for kind, fn, exc in BINDING_MUTATIONS
                 if _binding_targets(op, kind, fn)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op,kind,mutate,exc", BINDING_CASES,
                         ids=[f"{c[0].name}-{c[1]}" for c in BINDING_CASES])
def test_binding_validates_every_array_argument(op, kind, mutate, exc, device, monkeypatch):
    fn, args, kwargs, arrays = _binding_call(op, device, monkeypatch)
    for name in _binding_targets(op, kind, mutate):
        a = arrays[name]
        bad = mutate(a)
        bargs, bkwargs, found = _replace(args, kwargs, a, bad)
        assert found, f"{name} is not passed to the binding as given"
        # a shape that disagrees may be reported on the other side: an output
        # the Python layer allocated ('out', 'grad', ...) or another input
        needle = "argument '" if kind in SHAPES else f"'{_re(name)}'"
        with pytest.raises(exc, match=needle):
            fn(*bargs, **bkwargs)


def _cuda_module():
    try:
        from pykernels import _cuda
    except ImportError as exc:
        pytest.skip(f"the cuda backend is not built: {exc}")
    return _cuda


@pytest.mark.parametrize("op", [op for op in OPS if op.binding], ids=repr)
def test_cuda_binding_refuses_numpy_arrays(op, monkeypatch):
    """The call the cuda-emu backend makes (the same binding code, compiled for
    the emulator) replayed on _cuda with its NumPy arrays: refused by name
    before anything is launched (needs the _cuda module, not a GPU)."""
    cuda = _cuda_module()
    fn, args, kwargs, arrays = _binding_call(op, "cuda-emu", monkeypatch)
    with pytest.raises(TypeError, match="argument '.*NumPy"):
        getattr(cuda, fn.__name__)(*args, **kwargs)


# ---------------------------------------------------------------- values: NaN and Inf

NAN_X = np.array([[np.nan, np.inf, -np.inf], [-1.0, 0.0, 2.0], [0.5, -3.0, 30.0]])
NAN_G = np.array([[1.0, 1.0, 1.0], [np.nan, 1.0, 1.0], [1.0, np.inf, np.nan]])
ACT_PARAMS = {"prelu": {"weight": np.array([0.25, -0.5, 2.0])}}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_propagates_nan_and_inf_as_the_formula(name, dt, device):
    """relu(NaN) = NaN as in PyTorch; every activation and its gradient give,
    at NaN/Inf inputs and NaN/Inf upstream gradients, what the formula gives
    in NumPy (tests/reference/activation.py, which follows PyTorch's choices of
    select vs multiply)."""
    params = {k: v.astype(dt) for k, v in ACT_PARAMS.get(name, {}).items()}
    x, g = NAN_X.astype(dt), NAN_G.astype(dt)
    y = pk.ops.activation(name, x, **params, **_kw(device))
    with np.errstate(all="ignore"):
        want = ref_act.forward(name, x, **params)
    assert_close(y, want, rtol=1e-5, atol=1e-6, what=f"{name}(x)")
    for grad_y in (np.ones_like(x), g):
        got = pk.ops.activation_backward(name, grad_y, x, **params, **_kw(device))
        with np.errstate(all="ignore"):
            want = ref_act.backward(name, grad_y, x, **params)
        if name == "prelu":
            got, want = got[0], want[0]
        assert_close(got, want, rtol=1e-5, atol=1e-6, what=f"{name}'(x)")
    assert np.isnan(y[0, 0]), f"{name}(NaN) must be NaN"


SOFTMAX_ROWS = np.array([
    [1.0, np.nan, 2.0, 0.0],          # NaN: the whole row is NaN
    [np.inf, 1.0, 2.0, 0.0],          # +inf: inf - inf = NaN, as in PyTorch
    [-np.inf, 0.0, 1.0, -np.inf],     # -inf entries are probability 0
    [-np.inf, -np.inf, -np.inf, -np.inf],  # nothing finite: NaN (PyTorch)
    [0.5, -0.5, 3.0, 1.0],
])


def _wide_rows(dt):
    """Rows longer than a CUDA warp's share (block-per-row kernels), -inf first."""
    x = np.tile(np.linspace(-2, 2, 2000), (3, 1))
    x[0, :1500] = -np.inf
    x[1, 1234] = np.nan
    x[2, :] = -np.inf
    return x.astype(dt)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_softmax_and_cross_entropy_rows_with_nan_and_inf(dt, device):
    for x in (SOFTMAX_ROWS.astype(dt), _wide_rows(dt)):
        for log in (False, True):
            fn = pk.ops.log_softmax if log else pk.ops.softmax
            with np.errstate(all="ignore"):
                want = (ref_softmax.log_softmax if log else ref_softmax.softmax)(x)
            assert_close(fn(x, **_kw(device)), want, rtol=1e-5, atol=1e-6,
                         what=f"{'log_' if log else ''}softmax")
        target = np.array([2, 3, 2, 0, 1][:len(x)]) % x.shape[1]
        loss, grad = pk.ops.cross_entropy(x, target, reduction="none", **_kw(device))
        with np.errstate(all="ignore"):
            want_loss, want_grad = ref_cross_entropy(x, target, reduction="none")
        assert_close(loss, want_loss, rtol=1e-5, atol=1e-6, what="cross_entropy loss")
        assert_close(grad, want_grad, rtol=1e-5, atol=1e-6, what="cross_entropy grad")


@pytest.mark.parametrize("device", DEVICES)
def test_losses_propagate_nan(device):
    x = np.array([[1.0, np.nan, 2.0], [0.0, 1.0, 2.0], [np.inf, 0.0, 1.0]], np.float32)
    t = np.zeros_like(x)
    for fn, ref in ((pk.ops.mse_loss, ref_mse), (pk.ops.l1_loss, ref_l1)):
        loss, grad = fn(x, t, "none", **_kw(device))
        with np.errstate(all="ignore"):
            want_loss, want_grad = ref(x, t, "none")
        assert_close(loss, want_loss, what=f"{fn.__name__} loss")
        assert_close(grad, want_grad, what=f"{fn.__name__} grad")
        assert math.isnan(fn(x, t, **_kw(device))[0])
    # A NaN logit makes its row's margin loss NaN (PyTorch would drop it).
    target = np.array([0, 1, 2])
    for p in (1, 2):
        loss, grad = pk.ops.hinge_loss(x, target, p=p, reduction="none", **_kw(device))
        assert np.isnan(loss[0]) and np.isnan(grad[0]).any(), (loss, grad)
        want_loss, _ = ref_hinge(x[1:], target[1:], p=p, reduction="none")
        assert_close(loss[1:], want_loss, what="hinge loss of finite rows")
        assert math.isnan(pk.ops.hinge_loss(x, target, p=p, **_kw(device))[0])
    loss, _ = pk.ops.nll_loss(x, np.array([1, 0, 0]), reduction="none", **_kw(device))
    assert np.isnan(loss[0]) and loss[1] == 0.0 and loss[2] == -np.inf


@pytest.mark.parametrize("device", DEVICES)
def test_gemm_batch_norm_and_optimizers_propagate_nan(device):
    kw = _kw(device)
    a = np.ones((4, 3), np.float32)
    a[1, 2] = np.nan
    a[2, 0] = np.inf
    out = pk.ops.matmul(a, np.ones((3, 5), np.float32), **kw)
    assert np.isnan(out[1]).all() and np.isposinf(out[2]).all() and (out[[0, 3]] == 3).all()
    y = pk.ops.linear(a, np.ones((5, 3), np.float32), np.zeros(5, np.float32), activation="relu", **kw)
    assert np.isnan(y[1]).all() and np.isposinf(y[2]).all()
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    x[2, 1] = np.nan
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y, ctx = pk.ops.batch_norm(x, None, None, rm, rv, training=True, **kw)
    assert np.isnan(y[:, 1]).all() and np.isfinite(y[:, [0, 2]]).all()
    assert np.isnan(rm[1]) and np.isnan(rv[1]) and np.isfinite(rm[[0, 2]]).all()
    gx = pk.ops.batch_norm_backward(np.ones_like(x), ctx)[0]
    assert np.isnan(gx[:, 1]).all() and np.isfinite(gx[:, [0, 2]]).all()
    assert math.isnan(pk.ops.global_norm([np.ones(3, np.float32), np.array([np.nan], np.float32)], **kw))
    assert pk.ops.global_norm([np.array([np.inf, 1.0])], **kw) == np.inf
    grads = [np.array([np.nan, 1.0], np.float32)]
    assert math.isnan(pk.ops.clip_grad_norm(grads, 1.0, **kw))
    assert np.isnan(grads[0]).all()  # scaled by NaN, as torch.nn.utils.clip_grad_norm_
    g = np.array([np.nan, np.inf, 1.0, -1.0], np.float32)
    steps = {
        "sgd": lambda p: pk.ops.sgd_step([p], [g], lr=0.1, **kw),
        "adam": lambda p: pk.ops.adam_step([p], [g], [np.zeros(4, np.float32)],
                                           [np.zeros(4, np.float32)], step=1, lr=0.1, **kw),
        "rmsprop": lambda p: pk.ops.rmsprop_step([p], [g], [np.zeros(4, np.float32)], lr=0.1, **kw),
        "adagrad": lambda p: pk.ops.adagrad_step([p], [g], [np.zeros(4, np.float32)], step=1,
                                                 lr=0.1, **kw),
    }
    for name, step in steps.items():
        p = np.ones(4, np.float32)
        step(p)
        assert np.isnan(p[0]) and not np.isfinite(p[1]), (name, p)
        assert np.isfinite(p[2:]).all(), f"{name}: a NaN gradient leaked into other elements: {p}"
    xd = np.full(64, np.nan, np.float32)
    y, mask = pk.ops.dropout(xd, 0.5, seed=3, **kw)
    assert np.isnan(y).all()  # x * mask / (1 - p): NaN * 0 is NaN, as in PyTorch


# ---------------------------------------------------------------- values: zero-sized dimensions

def _empty_cases(kw):
    f = np.float32
    e = np.empty
    out = {}
    out["matmul m=0"] = (pk.ops.matmul(e((0, 3), f), e((3, 5), f), **kw), np.zeros((0, 5)))
    out["matmul k=0"] = (pk.ops.matmul(e((4, 0), f), e((0, 5), f), **kw), np.zeros((4, 5)))
    c = np.ones((4, 5), f)
    out["matmul k=0 beta"] = (pk.ops.matmul(e((4, 0), f), e((0, 5), f), beta=0.5, out=c, **kw),
                              np.full((4, 5), 0.5))
    b = np.arange(5, dtype=f) - 2
    out["linear in=0"] = (pk.ops.linear(e((4, 0), f), e((5, 0), f), b, activation="relu", **kw),
                          np.tile(np.maximum(b, 0), (4, 1)))
    out["linear N=0"] = (pk.ops.linear(e((0, 3), f), np.ones((5, 3), f), b, **kw), np.zeros((0, 5)))
    gx, gw, gb = pk.ops.linear_backward(e((0, 5), f), e((0, 3), f), np.ones((5, 3), f), **kw)
    out["linear_backward N=0"] = (np.concatenate([gw.ravel(), gb, gx.ravel()]), np.zeros(20))
    out["activation"] = (pk.ops.activation("gelu", e((0, 4), f), **kw), np.zeros((0, 4)))
    out["prelu grad_weight"] = (pk.ops.activation_backward("prelu", e((0, 4), f), e((0, 4), f),
                                                           weight=np.ones(4, f), **kw)[1], np.zeros(4))
    out["softmax N=0"] = (pk.ops.softmax(e((0, 4), f), **kw), np.zeros((0, 4)))
    out["softmax C=0"] = (pk.ops.log_softmax(e((4, 0), f), **kw), np.zeros((4, 0)))
    out["softmax_backward"] = (pk.ops.softmax_backward(e((0, 4), f), e((0, 4), f), **kw),
                               np.zeros((0, 4)))
    t0 = np.empty(0, np.int64)
    for red, want in (("mean", np.nan), ("sum", 0.0)):
        out[f"cross_entropy {red}"] = (pk.ops.cross_entropy(e((0, 3), f), t0, reduction=red, **kw)[0], want)
        out[f"cross_entropy probs {red}"] = (
            pk.ops.cross_entropy(e((0, 3), f), e((0, 3), f), reduction=red, **kw)[0], want)
        out[f"nll_loss {red}"] = (pk.ops.nll_loss(e((0, 3), f), t0, reduction=red, **kw)[0], want)
        out[f"hinge_loss {red}"] = (pk.ops.hinge_loss(e((0, 3), f), t0, reduction=red, **kw)[0], want)
        out[f"mse_loss {red}"] = (pk.ops.mse_loss(e((0, 3), f), e((0, 3), f), red, **kw)[0], want)
        out[f"l1_loss {red}"] = (pk.ops.l1_loss(e(0, f), e(0, f), red, **kw)[0], want)
    out["cross_entropy grad"] = (pk.ops.cross_entropy(e((0, 3), f), t0, **kw)[1], np.zeros((0, 3)))
    out["cross_entropy none"] = (pk.ops.cross_entropy(e((0, 3), f), t0, reduction="none", **kw)[0],
                                 np.zeros(0))
    rm, rv = np.full(3, 0.5, f), np.full(3, 2.0, f)
    y, ctx = pk.ops.batch_norm(e((0, 3), f), None, None, rm, rv, training=True, **kw)
    # PyTorch: an empty batch leaves the running statistics as they were
    out["batch_norm N=0"] = (np.concatenate([y.ravel(), rm, rv]), np.array([0.5] * 3 + [2.0] * 3))
    y, ctx = pk.ops.batch_norm(e((2, 3, 0), f), np.ones(3, f), np.zeros(3, f), None, None,
                               training=True, **kw)
    gx, gw, gb = pk.ops.batch_norm_backward(e((2, 3, 0), f), ctx)
    out["batch_norm L=0 backward"] = (np.concatenate([gw, gb, gx.ravel()]), np.zeros(6))
    out["batch_norm C=0"] = (pk.ops.batch_norm(e((4, 0), f), None, None, None, None, training=True,
                                               **kw)[0], np.zeros((4, 0)))
    out["dropout"] = (pk.ops.dropout(e((0, 4), f), 0.5, seed=1, **kw)[0], np.zeros((0, 4)))
    out["dropout_mask"] = (pk.ops.dropout_mask((3, 0), 0.5, seed=1, device=kw.get("device", "cpu")),
                           np.zeros((3, 0)))
    p = [e(0, f), np.ones(2, f)]
    pk.ops.adam_step(p, [e(0, f), np.ones(2, f)], [e(0, f), np.zeros(2, f)],
                     [e(0, f), np.zeros(2, f)], step=1, lr=0.5, **kw)
    out["adam with an empty tensor"] = (p[1], np.full(2, 0.5))
    pk.ops.sgd_step([], [], lr=0.1, **kw)
    out["global_norm []"] = (pk.ops.global_norm([], **kw), 0.0)
    out["global_norm [empty]"] = (pk.ops.global_norm([e((0, 3), f)], **kw), 0.0)
    out["clip_grad_norm [empty]"] = (pk.ops.clip_grad_norm([e(0, f)], 1.0, **kw), 0.0)
    return out


@pytest.mark.parametrize("device", DEVICES)
def test_zero_sized_dimensions_give_pytorchs_results(device):
    """Empty outputs, k = 0 products of 0, a mean over nothing NaN and a sum 0,
    as torch gives them."""
    failures = []
    for name, (got, want) in _empty_cases(_kw(device)).items():
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
        if got.shape != want.shape or not np.allclose(got, want, equal_nan=True):
            failures.append(f"{name}: got {got!r}, expected {want!r}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("device", DEVICES)
def test_zero_sized_errors_as_pytorch(device):
    kw = _kw(device)
    with pytest.raises(ValueError, match="'target'"):  # class index 0 with no classes
        pk.ops.cross_entropy(np.empty((2, 0), np.float32), np.zeros(2, np.int64), **kw)
    with pytest.raises(ValueError, match="'x'"):  # one value per channel in training
        pk.ops.batch_norm(np.ones((1, 3), np.float32), None, None, None, None, training=True, **kw)


# ---------------------------------------------------------------- values: labels, p, hyper-parameters

LABEL_OPS = [
    ("cross_entropy", lambda x, t, kw: pk.ops.cross_entropy(x, t, **kw)),
    ("nll_loss", lambda x, t, kw: pk.ops.nll_loss(x, t, **kw)),
    ("hinge_loss", lambda x, t, kw: pk.ops.hinge_loss(x, t, **kw)),
    ("CrossEntropyLoss", lambda x, t, kw: pknn.CrossEntropyLoss().to(kw.get("device", "cpu"))(x, t)),
    ("NLLLoss", lambda x, t, kw: pknn.NLLLoss().to(kw.get("device", "cpu"))(x, t)),
    ("MultiMarginLoss", lambda x, t, kw: pknn.MultiMarginLoss().to(kw.get("device", "cpu"))(x, t)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("label", [3, -1, 2 ** 31, -(2 ** 40), -100])
@pytest.mark.parametrize("tdt", [np.int64, np.int32])
@pytest.mark.parametrize("name,fn", LABEL_OPS, ids=[o[0] for o in LABEL_OPS])
def test_labels_out_of_range(name, fn, tdt, label, device):
    x = _rand(5, 3)
    if tdt == np.int32 and not -(2 ** 31) <= label < 2 ** 31:
        return  # not representable
    t = np.array([0, 1, 2, label, 1], tdt)
    if label == -100 and name not in ("hinge_loss", "MultiMarginLoss"):
        fn(x, t, _kw(device))  # ignore_index: valid
        return
    with pytest.raises(ValueError, match=f"'target'.*{label}"):
        fn(x, t, _kw(device))


BAD_P = [-0.1, 1.0, 1.5, float("nan"), float("inf")]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("p", BAD_P)
def test_dropout_p_outside_0_1(p, device):
    x = _rand(3, 4)
    kw = _kw(device)
    calls = [lambda: pk.ops.dropout(x, p, seed=1, **kw),
             lambda: pk.ops.dropout(x, p, training=False, **kw),
             lambda: pk.ops.dropout_backward(x, np.ones((3, 4), np.uint8), p, **kw),
             lambda: pk.ops.dropout_mask((3, 4), p, seed=1, device=device),
             lambda: pknn.Dropout(p)]
    for call in calls:
        with pytest.raises(ValueError, match="'p'"):
            call()
    mod = _backends.module(device)
    extra = {"stream": 0} if device != "cpu" else {}
    with pytest.raises(ValueError, match="'p'"):
        mod.dropout(x, np.empty_like(x), np.empty((3, 4), np.uint8), p, 1, 0, **extra)
    with pytest.raises(ValueError, match="'p'"):
        mod.dropout_mask(np.empty((3, 4), np.uint8), p, 1, 0, **extra)


@pytest.mark.parametrize("bad", ["0.5", None, [0.5]])
def test_dropout_p_of_the_wrong_type(bad):
    with pytest.raises(TypeError, match="'p'"):
        pk.ops.dropout(_rand(3, 4), bad, seed=1)
    with pytest.raises(TypeError, match="'p'"):
        pknn.Dropout(bad)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("eps", [-0.1, 1.5, float("nan")])
def test_label_smoothing_outside_0_1(eps, device):
    with pytest.raises(ValueError, match="'label_smoothing'"):
        pk.ops.cross_entropy(_rand(4, 3), _labels(4, 3), label_smoothing=eps, **_kw(device))


STEP_HYPER = [
    ("sgd_step", "lr", -0.1), ("sgd_step", "lr", float("nan")), ("sgd_step", "momentum", -0.5),
    ("sgd_step", "weight_decay", -1.0),
    ("adam_step", "lr", -1e-3), ("adam_step", "beta1", 1.0), ("adam_step", "beta2", -0.1),
    ("adam_step", "eps", -1e-8), ("adam_step", "weight_decay", -0.1), ("adam_step", "step", 0),
    ("rmsprop_step", "lr", -0.1), ("rmsprop_step", "alpha", -0.5), ("rmsprop_step", "eps", -1.0),
    ("rmsprop_step", "momentum", -0.9), ("rmsprop_step", "weight_decay", float("nan")),
    ("adagrad_step", "lr", -0.1), ("adagrad_step", "lr_decay", -0.1), ("adagrad_step", "eps", -1.0),
    ("adagrad_step", "weight_decay", -1.0), ("adagrad_step", "step", -3),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op,key,value", STEP_HYPER, ids=[f"{o}-{k}={v}" for o, k, v in STEP_HYPER])
def test_optimizer_step_hyper_parameters(op, key, value, device):
    """Checked at the binding (every backend), as torch.optim's constructors check them;
    nothing is updated."""
    p = np.ones(4, np.float32)
    state = [np.zeros(4, np.float32)]
    g = [np.ones(4, np.float32)]
    base = {"sgd_step": dict(lr=0.1), "adam_step": dict(step=1, lr=0.1),
            "rmsprop_step": dict(lr=0.1), "adagrad_step": dict(step=1, lr=0.1)}[op]
    base[key] = value
    args = {"sgd_step": ([p], g, state), "adam_step": ([p], g, state, [np.zeros(4, np.float32)]),
            "rmsprop_step": ([p], g, state), "adagrad_step": ([p], g, state)}[op]
    with pytest.raises(ValueError, match=f"'{key}'"):
        getattr(pk.ops, op)(*args, **base, **_kw(device))
    assert (p == 1).all()


OPTIMIZER_CTOR = [
    (pk.optim.SGD, dict(lr=-0.1), "lr"), (pk.optim.SGD, dict(lr=float("nan")), "lr"),
    (pk.optim.SGD, dict(momentum=-0.5), "momentum"), (pk.optim.SGD, dict(weight_decay=-1e-4), "weight_decay"),
    (pk.optim.Adam, dict(lr=-1e-3), "lr"), (pk.optim.Adam, dict(eps=-1e-8), "eps"),
    (pk.optim.Adam, dict(betas=(1.0, 0.999)), "betas"), (pk.optim.Adam, dict(betas=(0.9, -0.1)), "betas"),
    (pk.optim.Adam, dict(betas=(float("nan"), 0.9)), "betas"),
    (pk.optim.Adam, dict(weight_decay=-0.1), "weight_decay"), (pk.optim.Adam, dict(eps=float("nan")), "eps"),
    (pk.optim.AdamW, dict(lr=-1.0), "lr"), (pk.optim.AdamW, dict(betas=(0.9, 1.0)), "betas"),
    (pk.optim.AdamW, dict(weight_decay=-0.01), "weight_decay"),
    (pk.optim.RMSprop, dict(lr=-0.1), "lr"), (pk.optim.RMSprop, dict(alpha=-0.5), "alpha"),
    (pk.optim.RMSprop, dict(eps=-1.0), "eps"), (pk.optim.RMSprop, dict(momentum=-0.9), "momentum"),
    (pk.optim.RMSprop, dict(weight_decay=-0.1), "weight_decay"),
    (pk.optim.Adagrad, dict(lr=-0.1), "lr"), (pk.optim.Adagrad, dict(lr_decay=-0.1), "lr_decay"),
    (pk.optim.Adagrad, dict(eps=-1.0), "eps"), (pk.optim.Adagrad, dict(weight_decay=-0.1), "weight_decay"),
    (pk.optim.Adagrad, dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
]


@pytest.mark.parametrize("cls,kwargs,name", OPTIMIZER_CTOR,
                         ids=[f"{c.__name__}-{k}" for c, kw, k in OPTIMIZER_CTOR for k in [list(kw)[0]]])
def test_optimizer_constructor_arguments(cls, kwargs, name):
    """ValueError like PyTorch's, naming the argument, in the constructor and in
    add_param_group (a group's own options)."""
    with pytest.raises(ValueError, match=f"'{name}'"):
        cls([pknn.Parameter(np.ones(3, np.float32))], **kwargs)
    opt = cls([pknn.Parameter(np.ones(3, np.float32))])
    with pytest.raises(ValueError, match=f"'{name}'"):
        opt.add_param_group({"params": [pknn.Parameter(np.ones(2, np.float32))], **kwargs})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize("cls", [pk.optim.SGD, pk.optim.Adam, pk.optim.RMSprop, pk.optim.Adagrad])
def test_optimizer_constructor_argument_types(cls):
    with pytest.raises(TypeError, match="'lr'"):
        cls([pknn.Parameter(np.ones(3, np.float32))], lr="0.1")


# ---------------------------------------------------------------- modules

MODULES = [  # (name, factory, valid input shape)
    ("Linear", lambda: pknn.Linear(3, 5), (4, 3)),
    ("Linear_relu", lambda: pknn.Linear(3, 5, activation="relu"), (2, 4, 3)),
    ("Linear_gelu_unfused", lambda: pknn.Linear(3, 5, activation="gelu", fused=False), (4, 3)),
    ("ReLU", pknn.ReLU, (4, 3)),
    ("GELU", lambda: pknn.GELU(approximate="tanh"), (4, 3)),
    ("PReLU", lambda: pknn.PReLU(3), (4, 3)),
    ("Tanh", pknn.Tanh, (4, 3)),
    ("Softplus", pknn.Softplus, (4, 3)),
    ("Softmax", pknn.Softmax, (4, 3)),
    ("LogSoftmax_dim0", lambda: pknn.LogSoftmax(dim=0), (4, 3)),
    ("BatchNorm1d", lambda: pknn.BatchNorm1d(3), (4, 3)),
    ("BatchNorm1d_eval", lambda: pknn.BatchNorm1d(3).eval(), (4, 3, 2)),
    ("BatchNorm2d", lambda: pknn.BatchNorm2d(3), (2, 3, 2, 2)),
    ("Dropout", lambda: pknn.Dropout(0.3), (4, 3)),
    ("Sequential", lambda: pknn.Sequential(pknn.Linear(3, 4), pknn.ReLU(), pknn.Linear(4, 2)), (4, 3)),
]
ELEMENTWISE = {"ReLU", "GELU", "Tanh", "Softplus", "Softmax", "LogSoftmax_dim0", "Dropout"}
INPUT_NAMES = "'x'|'input'|'logits'|'log_probs'"
GRAD_NAMES = "'grad_out'|'grad_y'|'mask'|'y'"


def _module_cases():
    cases = []
    for name, make, shape in MODULES:
        for kind in ("dtype_int32", "dtype_float16", "dtype_object", "noncontiguous",
                     "negative_stride", "fortran", "list", "cuda_array", "features", "0d"):
            if kind in ("features", "0d") and name in ELEMENTWISE:
                continue  # any shape is valid
            if kind == "fortran" and len(shape) < 2:
                continue
            cases.append((name, make, shape, kind))
    return cases


def _module_bad(x, kind, axis=-1):
    if kind.startswith("dtype_"):
        return x.astype(kind[6:])
    if kind == "features":  # one more feature (axis -1) or channel (axis 1)
        shape = list(x.shape)
        shape[axis] += 1
        return np.resize(x, shape)
    if kind == "0d":
        return np.array(x.reshape(-1)[0])
    return {"noncontiguous": _noncontig, "negative_stride": _negstride, "fortran": _fortran,
            "list": lambda a: a.tolist(), "cuda_array": FakeCudaArray}[kind](x)


MODULE_CASES = _module_cases()
_TYPE_KINDS = ("dtype_int32", "dtype_float16", "dtype_object", "list", "cuda_array")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,make,shape,kind", MODULE_CASES,
                         ids=[f"{c[0]}-{c[3]}" for c in MODULE_CASES])
def test_module_forward_and_backward_refuse_bad_arrays(name, make, shape, kind, device):
    module = make().to(device)
    x = _rand(*shape)
    exc = TypeError if kind in _TYPE_KINDS else ValueError
    with pytest.raises(exc, match=INPUT_NAMES):
        module(_module_bad(x, kind, axis=1 if name.startswith(("BatchNorm", "PReLU")) else -1))
    y = module(x)  # the module still works
    if kind in ("features", "0d"):
        kind = "shape"
        bad = np.resize(y, y.shape[:-1] + (y.shape[-1] + 1,))
    elif kind == "cuda_array":
        bad = FakeCudaArray(y)
    else:
        bad = _module_bad(y, kind)
        if bad is None:
            return
    with pytest.raises(exc, match=GRAD_NAMES):
        module.backward(bad)


LOSS_MODULES = [
    ("CrossEntropyLoss", pknn.CrossEntropyLoss, True), ("NLLLoss", pknn.NLLLoss, True),
    ("MultiMarginLoss", pknn.MultiMarginLoss, True), ("MSELoss", pknn.MSELoss, False),
    ("L1Loss", pknn.L1Loss, False),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,cls,classes", LOSS_MODULES, ids=[c[0] for c in LOSS_MODULES])
def test_loss_modules_refuse_bad_arrays(name, cls, classes, device):
    crit = cls().to(device)
    out = _rand(4, 3)
    target = _labels(4, 3) if classes else _rand(4, 3, seed=5)
    for kind in ("dtype_int32", "dtype_float16", "noncontiguous", "fortran", "list", "cuda_array"):
        exc = TypeError if kind in _TYPE_KINDS else ValueError
        with pytest.raises(exc, match=INPUT_NAMES):
            crit(_module_bad(out, kind), target)
        bad_t = _module_bad(target, kind) if not (classes and kind == "fortran") else None
        if bad_t is not None and not (classes and kind == "dtype_int32"):
            with pytest.raises(exc, match="'target'"):
                crit(out, bad_t)
    with pytest.raises(ValueError, match="'target'"):
        crit(out, target[:3])
    assert math.isfinite(crit(out, target))


# ---------------------------------------------------------------- huge sizes

HUGE_M, HUGE_K = 8, 2 ** 28 + 8  # 8 * HUGE_K > 2**31 elements per operand


@pytest.fixture(scope="module")
def huge():
    """Two float32 operands of 2**31 + 64 elements (8 GiB each) that are never
    materialised: np.zeros maps zero pages, which reading leaves shared, so
    the test's resident memory stays at a few MB. Nonzeros sit at the first
    and last elements, whose offsets need more than 31 bits."""
    try:
        a = np.zeros((HUGE_M, HUGE_K), np.float32)
        b = np.zeros((HUGE_K, HUGE_M), np.float32)
    except MemoryError:  # pragma: no cover - a machine with little address space
        pytest.skip("cannot reserve 16 GiB of address space")
    a[0, 0], b[0, 0] = 1.0, 5.0
    a[-1, -1], b[-1, -3] = 3.0, 2.0
    return a, b


def test_huge_gemm_index_arithmetic_on_the_cpu(huge):
    """Offsets beyond 2**31 (row 7 of a, the last rows of b) are read where
    they are: a 32-bit index would wrap to another element or crash."""
    a, b = huge
    want = np.zeros((HUGE_M, HUGE_M), np.float32)
    want[0, 0], want[-1, -3] = 5.0, 6.0
    np.testing.assert_array_equal(pk.ops.matmul(a, b), want)
    np.testing.assert_array_equal(pk.ops.matmul(b, a, trans_a=True, trans_b=True), want.T)
    y = pk.ops.linear(a, b.reshape(HUGE_M, HUGE_K))  # the same memory read as (8, K) weights
    assert y[-1, -1] == 3.0 * b.reshape(HUGE_M, HUGE_K)[-1, -1]
    assert pk.ops.global_norm([a]) == pytest.approx(math.sqrt(10.0))


def test_huge_dimensions_are_refused_by_the_cuda_bindings(huge):
    """The CUDA GEMM indexes rows, columns and k with 32-bit integers: a
    dimension of 2**31 or more is a ValueError naming the argument, at the
    binding, before anything is launched (the emulator runs the same code)."""
    big = np.lib.stride_tricks.as_strided(huge[0], shape=(1, 2 ** 31 + 8), strides=(4, 4))
    assert big.flags.c_contiguous  # the first 2**31 + 8 elements of a, as one row
    col = huge[1].reshape(-1)[: 2 ** 31 + 8].reshape(-1, 1)
    with pytest.raises(ValueError, match="'a'.*2\\^31"):
        pk.ops.matmul(big, col, device="cuda-emu")
    with pytest.raises(ValueError, match="'x'.*2\\^31"):
        pk.ops.linear(big, np.zeros((1, big.shape[1]), np.float32)[:0].reshape(0, big.shape[1]),
                      device="cuda-emu")


def test_huge_zero_stride_views_are_rejected_not_read():
    """A broadcast view that claims 2**40 elements over one real element is
    not C-contiguous: refused by name, never read (it would be 4 TiB)."""
    fake = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=(2 ** 20, 2 ** 20),
                                           strides=(0, 0))
    for dev in DEVICES:
        with pytest.raises(ValueError, match="'x'.*contiguous"):
            pk.ops.activation("relu", fake, device=dev)
        with pytest.raises(ValueError, match="'a'.*contiguous"):
            pk.ops.matmul(fake, fake, device=dev)
        with pytest.raises(ValueError, match="'tensors\\[0\\]'.*contiguous"):
            pk.ops.global_norm([fake], device=dev)
