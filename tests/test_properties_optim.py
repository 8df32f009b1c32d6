"""Property tests (hypothesis) for the fused optimizer steps (sgd, adam /
adamw, rmsprop, adagrad) with random hyperparameters over lists of tensors of
random shapes, for a few steps from a random step number, and for
global_norm / clip_grad_norm, on every backend, against
tests/reference/optim.py.
Strategies and the error-scaled comparison: tests/test_properties.py."""

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

import pykernels as pk
from conftest import assert_close
from reference import optim as ref
from test_properties import DTYPES, arrays, assert_close_scaled, budget, eps, put, shapes

TENSOR_SHAPES = st.lists(shapes(min_dims=1, max_dims=2, max_side=40, max_size=1500),
                         min_size=0, max_size=3)


def _hyperparameters(draw, name):
    lr = draw(st.sampled_from([1e-3, 0.1]) | st.floats(1e-6, 1.0))
    wd = draw(st.sampled_from([0.0]) | st.floats(0.0, 0.5))
    maximize = draw(st.booleans())
    if name == "sgd":
        momentum = draw(st.sampled_from([0.0, 0.9]) | st.floats(0.0, 0.99))
        nesterov = momentum > 0 and draw(st.booleans())
        dampening = 0.0 if nesterov else draw(st.sampled_from([0.0]) | st.floats(0.0, 1.0))
        return dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                    weight_decay=wd, maximize=maximize)
    if name == "adam":
        return dict(lr=lr, beta1=draw(st.sampled_from([0.9]) | st.floats(0.0, 0.999)),
                    beta2=draw(st.sampled_from([0.999]) | st.floats(0.0, 0.9999)),
                    eps=draw(st.sampled_from([1e-8]) | st.floats(1e-10, 1e-2)), weight_decay=wd,
                    decoupled_weight_decay=draw(st.booleans()), amsgrad=draw(st.booleans()),
                    maximize=maximize)
    if name == "rmsprop":
        # alpha >= 0.5: centered RMSprop takes sqrt(s - a^2), which for alpha
        # near 0 cancels to (float) rounding, as in PyTorch; not a property.
        return dict(lr=lr, alpha=draw(st.sampled_from([0.99]) | st.floats(0.5, 0.999)),
                    eps=draw(st.sampled_from([1e-8]) | st.floats(1e-10, 1e-2)), weight_decay=wd,
                    momentum=draw(st.sampled_from([0.0, 0.9]) | st.floats(0.0, 0.99)),
                    centered=draw(st.booleans()), maximize=maximize)
    return dict(lr=lr, lr_decay=draw(st.sampled_from([0.0]) | st.floats(0.0, 0.5)),
                weight_decay=wd, eps=draw(st.sampled_from([1e-10]) | st.floats(1e-12, 1e-2)),
                maximize=maximize)


@st.composite
def optimizer_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    name = draw(st.sampled_from(["sgd", "adam", "rmsprop", "adagrad"]))
    tensor_shapes = draw(TENSOR_SHAPES)
    steps = draw(st.integers(1, 3))
    params = [draw(arrays(s, dtype, log10_scale=[0, -1, 1])) for s in tensor_shapes]
    grads = [[draw(arrays(s, dtype, log10_scale=[0, -2, 1])) for s in tensor_shapes]
             for _ in range(steps)]
    return dict(name=name, hp=_hyperparameters(draw, name), params=params, grads=grads,
                first_step=draw(st.sampled_from([1, 2, 1000])),
                initial_accumulator_value=draw(st.sampled_from([0.0, 0.1])))


def _reference(name, hp, init):
    if name == "sgd":
        return ref.SGD(**hp)
    if name == "adam":
        return ref.Adam(**hp)
    if name == "rmsprop":
        return ref.RMSprop(**hp)
    return ref.Adagrad(**hp, initial_accumulator_value=init)


@budget(160)
@given(case=optimizer_cases())
def test_optimizer_steps(backend, case):
    """A few in-place steps of each optimizer match the float64 reference
    started from the same parameters: each step's error is a few roundings
    of |p| and of the update (relative), accumulated over the steps."""
    name, hp, params0, grads = case["name"], case["hp"], case["params"], case["grads"]
    dtype = params0[0].dtype if params0 else np.float64
    init = case["initial_accumulator_value"]
    t0 = case["first_step"]
    opt = _reference(name, hp, init)
    if name in ("adam", "adagrad"):
        opt.t = t0 - 1  # Adam's and Adagrad's step count (bias correction, lr decay)
    params = [put(backend, p) for p in params0]

    def zeros(v=0.0):
        return [put(backend, np.full(p.shape, v, p.dtype)) for p in params0]

    state = {"sgd": lambda: [zeros(np.nan)], "adam": lambda: [zeros(), zeros(), zeros()],
             "rmsprop": lambda: [zeros(), zeros(), zeros()],
             "adagrad": lambda: [zeros(init)]}[name]()
    expected = [p.astype(np.float64) for p in params0]
    scale = [np.abs(e) for e in expected]
    for i, g in enumerate(grads):
        gd = [put(backend, x) for x in g]
        if name == "sgd":
            pk.ops.sgd_step(params, gd, state[0], first_step=i == 0, **hp, **backend.kw)
        elif name == "adam":
            pk.ops.adam_step(params, gd, *state, step=t0 + i, **hp, **backend.kw)
        elif name == "rmsprop":
            pk.ops.rmsprop_step(params, gd, *state, **hp, **backend.kw)
        else:
            pk.ops.adagrad_step(params, gd, state[0], step=t0 + i, **hp, **backend.kw)
        new = opt.step(expected, g)
        scale = [s + np.abs(n) + np.abs(n - e) * 8 for s, n, e in zip(scale, new, expected)]
        expected = new
    for i, (p, e, s) in enumerate(zip(params, expected, scale)):
        p = backend.get(p)
        assert p.dtype == dtype
        assert_close_scaled(p, e, s, factor=8 * len(grads), dtype=dtype,
                            what=f"{name} params[{i}] after {len(grads)} steps")


# ---------------------------------------------------------------- norms

@st.composite
def norm_cases(draw):
    dtype = draw(st.sampled_from(DTYPES))
    # Squares are summed in float64: float32 values of any magnitude, float64
    # values whose squares stay finite.
    scales = [0, -3, 3, 30, -30] if dtype == np.float32 else [0, -3, 3, 150, -150]
    tensors = [draw(arrays(s, dtype, log10_scale=scales)) for s in draw(TENSOR_SHAPES)]
    return dict(tensors=tensors, ratio=draw(st.sampled_from([0.5, 2.0]) | st.floats(0.01, 3.0)),
                eps=draw(st.sampled_from([1e-6, 0.0])))


@budget(120)
@given(case=norm_cases())
# total + eps == 0: no clipping (the reference divided by zero)
@example(case=dict(tensors=[np.zeros(3, np.float32)], ratio=0.5, eps=0.0))
def test_global_norm_and_clip_grad_norm(backend, case):
    """global_norm is the float64 norm of all elements (relative error of
    float64 rounding whatever the dtype); clip_grad_norm returns it and
    scales the gradients in place by max_norm / (total + eps) when below 1."""
    tensors, ratio, clip_eps = case["tensors"], case["ratio"], case["eps"]
    total = ref.global_norm(tensors)
    got = pk.ops.global_norm([put(backend, t) for t in tensors], **backend.kw)
    assert isinstance(got, float)
    n = sum(t.size for t in tensors)
    assert_close(np.float64(got), np.float64(total), rtol=4 * (n + 2) * eps(np.float64),
                 atol=0.0, what="global_norm")
    max_norm = ratio * total if total else ratio
    grads = [put(backend, t) for t in tensors]
    got = pk.ops.clip_grad_norm(grads, max_norm, clip_eps, **backend.kw)
    assert_close(np.float64(got), np.float64(total), rtol=4 * (n + 2) * eps(np.float64),
                 atol=0.0, what="clip_grad_norm total")
    expected, _ = ref.clip_grad_norm(tensors, max_norm, clip_eps)
    for i, (g, e) in enumerate(zip(grads, expected)):
        g = backend.get(g)
        assert g.dtype == tensors[i].dtype
        assert_close_scaled(g, e, np.abs(e), factor=4, dtype=g.dtype,
                            what=f"clipped grads[{i}]")
