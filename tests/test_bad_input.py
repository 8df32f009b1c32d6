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
it would otherwise reshape or move an axis first (pk.ops.linear on
(..., in_features) input, softmax along a non-last axis, dropout in
evaluation mode), so that every op, module and optimizer behaves the same.
Read-only inputs are accepted; outputs must be writable.

Values: NaN and Inf propagate as the formulas in NumPy propagate them, never
hidden (relu(NaN) is NaN as in PyTorch; a softmax row with a NaN is all NaN;
a NaN logit makes the multi-margin loss NaN, where PyTorch's max(0, z) would
drop it). Zero-sized dimensions give PyTorch's results (empty outputs, a mean
over nothing is NaN, a sum is 0, k = 0 products are 0) or its errors.

Huge sizes: the CPU kernels index with 64-bit integers; the test at the end
runs a GEMM whose inner dimension exceeds 2**31 on inputs that are never
materialised (zero pages), and checks that the CUDA bindings, whose kernels
take 32-bit dimensions, refuse such shapes with a ValueError naming the
argument instead of wrapping around.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pykernels as pk
from pykernels import _backends
from pykernels import nn as pknn
from pykernels.ops import _dispatch

from conftest import assert_close
from reference import activation as ref_act
from reference import softmax as ref_softmax
from reference.cross_entropy import cross_entropy as ref_cross_entropy
from reference.losses import hinge_loss as ref_hinge, l1_loss as ref_l1, mse_loss as ref_mse
from test_errors import FakeCudaArray

DEVICES = ["cpu", "cuda-emu"]


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
    """A new op in pk.ops must get a row in OPS (BatchNormContext is a class)."""
    covered = {op.name.split("_axis")[0] for op in OPS}
    covered |= {n.rsplit("_", 1)[0] for n in covered}
    covered |= {"log_softmax", "log_softmax_backward", "dropout_mask", "l1_loss"}
    missing = [n for n in pk.ops.__all__ if n != "BatchNormContext" and n not in covered]
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
