"""The registry of benchmark cases: one op at one shape, run by pykernels and
by each baseline library that has it.

A case knows its work (flops for GEMM-like ops, compulsory bytes for memory-
bound ones: each input read once and each output written once), makes its
inputs as NumPy arrays from a seeded generator, and builds a zero-argument
callable per implementation from those inputs converted to that library's
arrays:

    pykernels   pk.ops on NumPy arrays (cpu) or CuPy arrays (cuda)
    numpy       the NumPy expression (cpu)
    torch       the PyTorch op, or the aten kernel its autograd calls (cpu, cuda)
    cupy        the CuPy expression (cuda): the NumPy builder run with xp=cupy

Cases for ops that are not in pk.ops yet are skipped with that reason, and
light up when the op is merged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

F32 = 4  # bytes per float32 element

# Shapes: what one step of the reference MLP (784-512-256-10, batch 128 or 1024)
# sees, and a large memory-bound size (64 MiB per float32 array).
TRAIN = (128, 512)
TRAIN_BIG = (1024, 512)
LARGE = (4096, 4096)
BN_SHAPES = [(512, 1024), (64, 64, 32, 32)]  # batch norm (N, C) and (N, C, H, W) training shapes
MLP_PARAM_SHAPES = [(512, 784), (512,), (512,), (512,), (256, 512), (256,), (256,), (256,),
                    (10, 256), (10,)]


@dataclass
class Case:
    op: str
    shape: str
    kind: str  # "gemm" (judged by FLOP/s) or "memory" (judged by GB/s)
    make_inputs: Callable  # rng -> dict of NumPy arrays / lists of arrays / scalars
    pk: Callable  # inputs -> callable running pykernels
    xp: Optional[Callable] = None  # (numpy or cupy module, inputs) -> callable
    torch: Optional[Callable] = None  # (torch module, inputs) -> callable
    flops: float = 0.0
    bytes: float = 0.0
    requires: tuple = ()  # names in pk.ops the case needs
    quick: bool = False  # part of `pykernels bench --quick`
    check: bool = True  # compare pykernels' first output with NumPy's before timing
    notes: dict = field(default_factory=dict)  # impl -> remark shown in reports

    @property
    def id(self) -> str:
        return f"{self.op} [{self.shape}]"

    def missing(self, ops) -> list:
        """Names this case needs that ops (pk.ops) does not have."""
        return [name for name in self.requires if not hasattr(ops, name)]

    def rate(self, seconds: float) -> float:
        """GFLOP/s or GB/s for one call lasting `seconds`."""
        work = self.flops if self.kind == "gemm" else self.bytes
        return work / seconds / 1e9

    @property
    def unit(self) -> str:
        return "GFLOP/s" if self.kind == "gemm" else "GB/s"


def _label(shape) -> str:
    return "x".join(str(s) for s in shape)


def _normal(rng, shape):
    return rng.standard_normal(shape, dtype=np.float32)


# ---------------------------------------------------------------- GEMM


def _matmul_case(m, k, n, quick=False):
    def inputs(rng):
        return {"a": _normal(rng, (m, k)), "b": _normal(rng, (k, n))}
    return Case(
        op="matmul", shape=f"{m}x{k} @ {k}x{n}", kind="gemm", make_inputs=inputs,
        pk=lambda d: (lambda: _pk().ops.matmul(d["a"], d["b"])),
        xp=lambda xp, d: (lambda: xp.matmul(d["a"], d["b"])),
        torch=lambda torch, d: (lambda: torch.matmul(d["a"], d["b"])),
        flops=2.0 * m * k * n, bytes=F32 * (m * k + k * n + m * n),
        requires=("matmul",), quick=quick)


def _linear_inputs(batch, fin, fout):
    def inputs(rng):
        x = _normal(rng, (batch, fin))
        w = (_normal(rng, (fout, fin)) / np.float32(math.sqrt(fin))).astype(np.float32)
        b = _normal(rng, (fout,))
        gy = _normal(rng, (batch, fout))
        y = np.maximum(x @ w.T + b, 0).astype(np.float32)
        return {"x": x, "w": w, "b": b, "gy": gy, "y": y}
    return inputs


def _linear_case(batch, fin, fout, quick=False):
    def torch_fn(torch, d):
        F = torch.nn.functional
        return lambda: F.relu(F.linear(d["x"], d["w"], d["b"]))
    return Case(
        op="linear+relu", shape=f"{batch}x{fin} -> {fout}", kind="gemm",
        make_inputs=_linear_inputs(batch, fin, fout),
        pk=lambda d: (lambda: _pk().ops.linear(d["x"], d["w"], d["b"], activation="relu")),
        xp=lambda xp, d: (lambda: xp.maximum(d["x"] @ d["w"].T + d["b"], 0)),
        torch=torch_fn, flops=2.0 * batch * fin * fout,
        bytes=F32 * (batch * fin + fin * fout + batch * fout), requires=("linear",), quick=quick)


def _linear_backward_case(batch, fin, fout, quick=False):
    def xp_fn(xp, d):
        def run():
            g = d["gy"] * (d["y"] > 0)
            return g @ d["w"], g.T @ d["x"], g.sum(axis=0)
        return run

    def torch_fn(torch, d):
        def run():
            g = torch.ops.aten.threshold_backward(d["gy"], d["y"], 0.0)
            return g @ d["w"], g.T @ d["x"], g.sum(0)
        return run
    return Case(
        op="linear+relu backward", shape=f"{batch}x{fin} -> {fout}", kind="gemm",
        make_inputs=_linear_inputs(batch, fin, fout),
        pk=lambda d: (lambda: _pk().ops.linear_backward(d["gy"], d["x"], d["w"], y=d["y"],
                                                        activation="relu")),
        xp=xp_fn, torch=torch_fn, flops=4.0 * batch * fin * fout,
        bytes=F32 * (3 * batch * fout + 2 * batch * fin + 2 * fin * fout),
        requires=("linear_backward",), quick=quick)


# ---------------------------------------------------------------- activations

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _erf(xp):
    if xp is np:
        try:
            from scipy.special import erf
        except ImportError:
            return None
        return erf
    import cupyx.scipy.special
    return cupyx.scipy.special.erf


def _act_xp(name):
    """NumPy/CuPy forward and backward expressions of an activation, or None."""
    def sig(xp, x):
        return 1 / (1 + xp.exp(-x))
    fwd = {
        "relu": lambda xp, x: xp.maximum(x, 0),
        "sigmoid": sig,
        "tanh": lambda xp, x: xp.tanh(x),
        "silu": lambda xp, x: x * sig(xp, x),
        "gelu": lambda xp, x: 0.5 * x * (1 + _erf(xp)(x * np.float32(1 / math.sqrt(2)))),
    }[name]

    def gelu_bwd(xp, gy, x):
        cdf = 0.5 * (1 + _erf(xp)(x * np.float32(1 / math.sqrt(2))))
        pdf = xp.exp(-0.5 * x * x) * np.float32(1 / math.sqrt(2 * math.pi))
        return gy * (cdf + x * pdf)

    def silu_bwd(xp, gy, x):
        s = sig(xp, x)
        return gy * s * (1 + x * (1 - s))
    bwd = {
        "relu": lambda xp, gy, x: gy * (x > 0),
        "sigmoid": lambda xp, gy, x: (lambda s: gy * s * (1 - s))(sig(xp, x)),
        "tanh": lambda xp, gy, x: (lambda t: gy * (1 - t * t))(xp.tanh(x)),
        "silu": silu_bwd,
        "gelu": gelu_bwd,
    }[name]
    return fwd, bwd


def _act_torch(name):
    def fwd(torch, d):
        return {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                "silu": torch.nn.functional.silu, "gelu": torch.nn.functional.gelu}[name]

    def bwd(torch, d):
        aten = torch.ops.aten
        return {  # the kernels PyTorch's autograd runs (sigmoid/tanh use the saved output)
            "relu": lambda gy, x, y: aten.threshold_backward(gy, x, 0.0),
            "sigmoid": lambda gy, x, y: aten.sigmoid_backward(gy, y),
            "tanh": lambda gy, x, y: aten.tanh_backward(gy, y),
            "silu": lambda gy, x, y: aten.silu_backward(gy, x),
            "gelu": lambda gy, x, y: aten.gelu_backward(gy, x),
        }[name]
    return fwd, bwd


def _activation_cases(name, shape, quick_fwd=False, quick_bwd=False):
    n = int(np.prod(shape))
    fwd_xp, bwd_xp = _act_xp(name)
    fwd_t, bwd_t = _act_torch(name)

    def inputs(rng):
        x = _normal(rng, shape)
        gy = _normal(rng, shape)
        y = {"relu": lambda: np.maximum(x, 0), "sigmoid": lambda: 1 / (1 + np.exp(-x)),
             "tanh": lambda: np.tanh(x)}.get(name, lambda: x)().astype(np.float32)
        return {"x": x, "gy": gy, "y": y}

    def xp_forward(xp, d):
        if name == "gelu" and _erf(xp) is None:
            return None
        return lambda: fwd_xp(xp, d["x"])

    def xp_backward(xp, d):
        if name == "gelu" and _erf(xp) is None:
            return None
        return lambda: bwd_xp(xp, d["gy"], d["x"])

    def t_forward(torch, d):
        f = fwd_t(torch, d)
        return lambda: f(d["x"])

    def t_backward(torch, d):
        f = bwd_t(torch, d)
        return lambda: f(d["gy"], d["x"], d["y"])
    notes = {"numpy": "scipy.special.erf"} if name == "gelu" else {}
    return [
        Case(op=name, shape=_label(shape), kind="memory", make_inputs=inputs,
             pk=lambda d: (lambda: _pk().ops.activation(name, d["x"])),
             xp=xp_forward, torch=t_forward, bytes=2.0 * F32 * n,
             requires=("activation",), quick=quick_fwd, notes=notes),
        Case(op=f"{name} backward", shape=_label(shape), kind="memory", make_inputs=inputs,
             pk=lambda d: (lambda: _pk().ops.activation_backward(name, d["gy"], d["x"])),
             xp=xp_backward, torch=t_backward, bytes=3.0 * F32 * n,
             requires=("activation_backward",), quick=quick_bwd,
             notes={**notes, "torch": "the aten *_backward kernel autograd runs"}),
    ]


# ---------------------------------------------------------------- softmax and losses


def _softmax_xp(xp, x):
    e = xp.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_cases(shape, quick=False):
    n = int(np.prod(shape))

    def inputs(rng):
        x = _normal(rng, shape)
        return {"x": x, "gy": _normal(rng, shape), "y": _softmax_xp(np, x).astype(np.float32)}

    def t_bwd(torch, d):
        return lambda: torch.ops.aten._softmax_backward_data(d["gy"], d["y"], -1, d["y"].dtype)
    return [
        Case(op="softmax", shape=_label(shape), kind="memory", make_inputs=inputs,
             pk=lambda d: (lambda: _pk().ops.softmax(d["x"])),
             xp=lambda xp, d: (lambda: _softmax_xp(xp, d["x"])),
             torch=lambda torch, d: (lambda: torch.softmax(d["x"], -1)),
             bytes=2.0 * F32 * n, requires=("softmax",), quick=quick),
        Case(op="softmax backward", shape=_label(shape), kind="memory", make_inputs=inputs,
             pk=lambda d: (lambda: _pk().ops.softmax_backward(d["gy"], d["y"])),
             xp=lambda xp, d: (lambda: d["y"] * (d["gy"] - (d["gy"] * d["y"]).sum(
                 axis=-1, keepdims=True))),
             torch=t_bwd, bytes=3.0 * F32 * n, requires=("softmax_backward",)),
    ]


def _cross_entropy_case(batch, classes, quick=False):
    def inputs(rng):
        return {"logits": _normal(rng, (batch, classes)),
                "target": rng.integers(0, classes, batch, dtype=np.int64)}

    def xp_fn(xp, d):
        x, t = d["logits"], d["target"]
        rows = xp.arange(x.shape[0])

        def run():
            m = x.max(axis=1, keepdims=True)
            e = xp.exp(x - m)
            s = e.sum(axis=1, keepdims=True)
            lse = m + xp.log(s)
            loss = (lse[:, 0] - x[rows, t]).mean()
            grad = e / (s * x.shape[0])
            grad[rows, t] -= np.float32(1.0 / x.shape[0])
            return loss, grad
        return run

    def torch_fn(torch, d):
        x = d["logits"].clone().requires_grad_(True)

        def run():
            loss = torch.nn.functional.cross_entropy(x, d["target"])
            (grad,) = torch.autograd.grad(loss, x)
            return loss, grad
        return run
    return Case(
        op="cross_entropy (loss+grad)", shape=f"{batch}x{classes}", kind="memory",
        make_inputs=inputs,
        pk=lambda d: (lambda: _pk().ops.cross_entropy(d["logits"], d["target"])),
        xp=xp_fn, torch=torch_fn, bytes=2.0 * F32 * batch * classes + 8.0 * batch,
        requires=("cross_entropy",), quick=quick, notes={"torch": "autograd"})


def _mse_case(shape, quick=False):
    n = int(np.prod(shape))

    def inputs(rng):
        return {"a": _normal(rng, shape), "b": _normal(rng, shape)}

    def xp_fn(xp, d):
        def run():
            diff = d["a"] - d["b"]
            return (diff * diff).mean(), diff * np.float32(2.0 / n)
        return run

    def torch_fn(torch, d):
        a = d["a"].clone().requires_grad_(True)

        def run():
            loss = torch.nn.functional.mse_loss(a, d["b"])
            (grad,) = torch.autograd.grad(loss, a)
            return loss, grad
        return run
    return Case(op="mse_loss (loss+grad)", shape=_label(shape), kind="memory",
                make_inputs=inputs, pk=lambda d: (lambda: _pk().ops.mse_loss(d["a"], d["b"])),
                xp=xp_fn, torch=torch_fn, bytes=3.0 * F32 * n, requires=("mse_loss",),
                quick=quick, notes={"torch": "autograd"})


# ---------------------------------------------------------------- batch norm, dropout

EPS = 1e-5


def _bn_inputs(shape):
    def inputs(rng):
        c = shape[1]
        return {"x": _normal(rng, shape), "gy": _normal(rng, shape),
                "w": (1 + 0.1 * _normal(rng, (c,))).astype(np.float32),
                "b": (0.1 * _normal(rng, (c,))).astype(np.float32),
                "rm": np.zeros(c, np.float32), "rv": np.ones(c, np.float32)}
    return inputs


def _bn_axes(x):
    """Reduction axes and the per-channel broadcast shape of (N, C, *spatial)."""
    return (0,) + tuple(range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)


def _bn_forward_xp(xp, d):
    def run():
        x = d["x"]
        axes, bshape = _bn_axes(x)
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        invstd = 1 / xp.sqrt(var + np.float32(EPS))
        y = (x - mean.reshape(bshape)) * (invstd * d["w"]).reshape(bshape) + d["b"].reshape(bshape)
        n = x.size // x.shape[1]
        d["rm"] *= np.float32(0.9)
        d["rm"] += np.float32(0.1) * mean
        d["rv"] *= np.float32(0.9)
        d["rv"] += np.float32(0.1 * n / max(n - 1, 1)) * var
        return y
    return run


def _bn_backward_xp(xp, d):
    x = d["x"]
    axes, bshape = _bn_axes(x)
    mean = x.mean(axis=axes).reshape(bshape)
    invstd = 1 / xp.sqrt(x.var(axis=axes) + np.float32(EPS))

    def run():
        gy, n = d["gy"], x.size // x.shape[1]
        xhat = (x - mean) * invstd.reshape(bshape)
        gb = gy.sum(axis=axes)
        gw = (gy * xhat).sum(axis=axes)
        gx = (d["w"] * invstd / n).reshape(bshape) * (n * gy - gb.reshape(bshape)
                                                      - xhat * gw.reshape(bshape))
        return gx, gw, gb
    return run


def _bn_step_case(shape):
    """Forward then backward of a training step, as the autograd of
    torch.nn.functional.batch_norm runs it."""
    n = int(np.prod(shape))

    def t_step(torch, d):
        x = d["x"].clone().requires_grad_(True)
        w = d["w"].clone().requires_grad_(True)
        b = d["b"].clone().requires_grad_(True)

        def run():
            x.grad = w.grad = b.grad = None
            y = torch.nn.functional.batch_norm(x, d["rm"], d["rv"], w, b, training=True,
                                               momentum=0.1, eps=EPS)
            y.backward(d["gy"])
            return y, x.grad
        return run

    def xp_step(xp, d):
        fwd = _bn_forward_xp(xp, d)

        def run():
            y = fwd()
            return y, _bn_backward_xp(xp, d)()[0]
        return run

    def pk_step(d):
        ops = _pk().ops

        def run():
            y, ctx = ops.batch_norm(d["x"], d["w"], d["b"], d["rm"], d["rv"], training=True)
            return y, ops.batch_norm_backward(d["gy"], ctx)[0]
        return run
    return Case(op="batch_norm train step (fwd+bwd)", shape=_label(shape), kind="memory",
                make_inputs=_bn_inputs(shape), pk=pk_step, xp=xp_step, torch=t_step,
                bytes=5.0 * F32 * n, requires=("batch_norm", "batch_norm_backward"),
                notes={"torch": "autograd"})


def _batch_norm_cases(shape, quick_fwd=False, quick_bwd=False):
    n = int(np.prod(shape))

    def t_fwd(torch, d):
        return lambda: torch.ops.aten.native_batch_norm(
            d["x"], d["w"], d["b"], d["rm"], d["rv"], True, 0.1, EPS)[0]

    def t_bwd(torch, d):
        _, mean, invstd = torch.ops.aten.native_batch_norm(
            d["x"], d["w"], d["b"], d["rm"].clone(), d["rv"].clone(), True, 0.1, EPS)
        return lambda: torch.ops.aten.native_batch_norm_backward(
            d["gy"], d["x"], d["w"], d["rm"], d["rv"], mean, invstd, True, EPS,
            [True, True, True])

    def pk_fwd(d):
        ops = _pk().ops
        return lambda: ops.batch_norm(d["x"], d["w"], d["b"], d["rm"], d["rv"],
                                      training=True)[0]

    def pk_bwd(d):
        ops = _pk().ops
        _, ctx = ops.batch_norm(d["x"], d["w"], d["b"], d["rm"].copy(), d["rv"].copy(),
                                training=True)
        return lambda: ops.batch_norm_backward(d["gy"], ctx)
    return [
        Case(op="batch_norm (train)", shape=_label(shape), kind="memory",
             make_inputs=_bn_inputs(shape), pk=pk_fwd, xp=_bn_forward_xp, torch=t_fwd,
             bytes=2.0 * F32 * n, requires=("batch_norm",), quick=quick_fwd,
             notes={"torch": "aten.native_batch_norm"}),
        Case(op="batch_norm backward", shape=_label(shape), kind="memory",
             make_inputs=_bn_inputs(shape), pk=pk_bwd, xp=_bn_backward_xp, torch=t_bwd,
             bytes=3.0 * F32 * n, requires=("batch_norm", "batch_norm_backward"),
             quick=quick_bwd, notes={"torch": "aten.native_batch_norm_backward"}),
    ]


def _dropout_cases(shape, p=0.1, quick=False):
    n = int(np.prod(shape))
    scale = np.float32(1 / (1 - p))

    def inputs(rng):
        x = _normal(rng, shape)
        return {"x": x, "gy": _normal(rng, shape),
                "mask": (rng.random(shape, dtype=np.float32) >= p).astype(np.uint8)}

    def xp_fwd(xp, d):
        gen = xp.random.default_rng(0)

        def run():
            mask = gen.random(d["x"].shape, dtype=np.float32) >= p
            return d["x"] * mask * scale, mask
        return run

    def t_fwd(torch, d):
        return lambda: torch.ops.aten.native_dropout(d["x"], p, True)

    def t_bwd(torch, d):
        mask = d["mask"].bool()
        return lambda: torch.ops.aten.native_dropout_backward(d["gy"], mask, float(scale))
    return [
        Case(op="dropout", shape=_label(shape), kind="memory", make_inputs=inputs,
             pk=lambda d: (lambda: _pk().ops.dropout(d["x"], p)),
             xp=xp_fwd, torch=t_fwd, bytes=(2.0 * F32 + 1) * n, requires=("dropout",),
             quick=quick, check=False,
             notes={"torch": "aten.native_dropout (bool mask)",
                    "numpy": "Generator.random mask"}),
        Case(op="dropout backward", shape=_label(shape), kind="memory", make_inputs=inputs,
             pk=lambda d: (lambda: _pk().ops.dropout_backward(d["gy"], d["mask"], p)),
             xp=lambda xp, d: (lambda: d["gy"] * d["mask"] * scale),
             torch=t_bwd, bytes=(2.0 * F32 + 1) * n, requires=("dropout_backward",)),
    ]


# ---------------------------------------------------------------- optimizers


def _param_inputs(shapes):
    def inputs(rng):
        params = [_normal(rng, s) for s in shapes]
        return {"params": params, "grads": [_normal(rng, s) for s in shapes],
                "m": [np.zeros(s, np.float32) for s in shapes],
                "v": [np.zeros(s, np.float32) for s in shapes]}
    return inputs


def _adam_case(shapes, label, quick=False):
    n = sum(int(np.prod(s)) for s in shapes)
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8

    def pk_fn(d):
        ops, step = _pk().ops, [0]

        def run():
            step[0] += 1
            ops.adam_step(d["params"], d["grads"], d["m"], d["v"], step=step[0], lr=lr)
        return run

    def xp_fn(xp, d):
        step = [0]

        def run():
            step[0] += 1
            bc1, bc2 = 1 - b1 ** step[0], 1 - b2 ** step[0]
            for p, g, m, v in zip(d["params"], d["grads"], d["m"], d["v"]):
                m *= np.float32(b1)
                m += np.float32(1 - b1) * g
                v *= np.float32(b2)
                v += np.float32(1 - b2) * (g * g)
                denom = xp.sqrt(v) * np.float32(1 / math.sqrt(bc2)) + np.float32(eps)
                p -= np.float32(lr / bc1) * (m / denom)
        return run

    def torch_fn(torch, d):
        params = [torch.nn.Parameter(p) for p in d["params"]]
        for p, g in zip(params, d["grads"]):
            p.grad = g
        opt = torch.optim.Adam(params, lr=lr)
        return opt.step
    return Case(op="adam_step", shape=label, kind="memory", make_inputs=_param_inputs(shapes),
                pk=pk_fn, xp=xp_fn, torch=torch_fn, bytes=7.0 * F32 * n,
                requires=("adam_step",), quick=quick, check=False,
                notes={"torch": "torch.optim.Adam, default implementation"})


def _sgd_case(shapes, label, quick=False):
    n = sum(int(np.prod(s)) for s in shapes)
    lr, mom = 0.01, 0.9

    def pk_fn(d):
        ops = _pk().ops
        return lambda: ops.sgd_step(d["params"], d["grads"], d["m"], lr=lr, momentum=mom)

    def xp_fn(xp, d):
        def run():
            for p, g, b in zip(d["params"], d["grads"], d["m"]):
                b *= np.float32(mom)
                b += g
                p -= np.float32(lr) * b
        return run

    def torch_fn(torch, d):
        params = [torch.nn.Parameter(p) for p in d["params"]]
        for p, g in zip(params, d["grads"]):
            p.grad = g
        return torch.optim.SGD(params, lr=lr, momentum=mom).step
    return Case(op="sgd_step (momentum)", shape=label, kind="memory",
                make_inputs=_param_inputs(shapes), pk=pk_fn, xp=xp_fn, torch=torch_fn,
                bytes=5.0 * F32 * n, requires=("sgd_step",), quick=quick, check=False,
                notes={"torch": "torch.optim.SGD, default implementation"})


def _global_norm_case(shapes, label, quick=False):
    n = sum(int(np.prod(s)) for s in shapes)

    def xp_fn(xp, d):
        return lambda: xp.sqrt(sum(xp.dot(g.ravel(), g.ravel()) for g in d["grads"]))

    def torch_fn(torch, d):
        return lambda: torch.linalg.vector_norm(torch.stack(torch._foreach_norm(d["grads"])))
    return Case(op="global_norm", shape=label, kind="memory", make_inputs=_param_inputs(shapes),
                pk=lambda d: (lambda: _pk().ops.global_norm(d["grads"])), xp=xp_fn,
                torch=torch_fn, bytes=1.0 * F32 * n, requires=("global_norm",), quick=quick)


# ---------------------------------------------------------------- the registry


def _pk():
    import pykernels
    return pykernels


def all_cases() -> list:
    """Every case, in report order; `quick` marks the curated subset."""
    large_params = [(4096, 1024)] * 4  # 16 Mi parameters in four tensors
    mlp = "MLP 784-512-256-10 params"
    cases = [
        _matmul_case(128, 784, 512, quick=True),
        _matmul_case(1024, 784, 512),
        _matmul_case(1024, 1024, 1024, quick=True),
        _matmul_case(2048, 2048, 2048),
        _linear_case(128, 784, 512, quick=True),
        _linear_case(1024, 784, 512),
        _linear_backward_case(128, 784, 512, quick=True),
        _linear_backward_case(1024, 784, 512),
    ]
    for name in ("relu", "gelu", "silu", "sigmoid", "tanh"):
        cases += _activation_cases(name, TRAIN, quick_fwd=name == "relu")
        cases += _activation_cases(name, LARGE, quick_fwd=name == "gelu",
                                   quick_bwd=name == "relu")
    cases += _softmax_cases((1024, 1000)) + _softmax_cases(LARGE, quick=True)
    cases += [_cross_entropy_case(128, 10, quick=True), _cross_entropy_case(1024, 1000),
              _cross_entropy_case(4096, 4096, quick=True), _mse_case(LARGE)]
    cases += _batch_norm_cases(TRAIN, quick_fwd=True, quick_bwd=True)
    cases += _batch_norm_cases(TRAIN_BIG)
    cases += _batch_norm_cases(LARGE, quick_bwd=True)
    for shape in BN_SHAPES:
        cases += _batch_norm_cases(shape) + [_bn_step_case(shape)]
    cases += _dropout_cases(TRAIN) + _dropout_cases(LARGE, quick=True)
    cases += [_adam_case(MLP_PARAM_SHAPES, mlp, quick=True),
              _adam_case(large_params, "4 x 4096x1024", quick=True),
              _sgd_case(MLP_PARAM_SHAPES, mlp), _sgd_case(large_params, "4 x 4096x1024"),
              _global_norm_case(large_params, "4 x 4096x1024")]
    return cases


def select_cases(*, quick: bool = False, filter: str | None = None) -> list:
    """The quick subset or every case; `filter` keeps cases whose op or shape
    contains any of its comma-separated substrings."""
    cases = [c for c in all_cases() if c.quick or not quick]
    if filter:
        keys = [k.strip().lower() for k in filter.split(",") if k.strip()]
        cases = [c for c in cases if any(k in c.id.lower() for k in keys)]
    return cases
