"""pk.ops.sgd_step / adam_step / rmsprop_step / adagrad_step / global_norm /
clip_grad_norm against the float64 NumPy references (tests/reference/optim.py)
and against torch.optim when PyTorch is installed.

Trajectories: 50 steps on a list of tensors of odd sizes (empty, 1, 7, 4099,
a 2-D one, and one spanning two CPU chunks) with gradients of a noisy
quadratic, g = noise_t + 0.5 * p, computed from each run's own parameters, so
differences would compound as in training.
"""

import functools

import numpy as np
import pytest

import pykernels as pk
from pykernels import _backends
from conftest import Device, assert_close
from reference import optim as ref

SHAPES = [(0,), (1,), (7,), (4099,), (33, 65), (70001,)]
STEPS = 50
DTYPES = [np.float64, np.float32]
# (rtol, atol) after 50 steps: float64 keeps rounding near 1e-16 per step;
# float32 rounding (1e-7 per operation) accumulates over the trajectory.
TRAJ_TOL = {np.float64: (1e-9, 1e-12), np.float32: (2e-4, 2e-5)}

SGD_CASES = [
    dict(lr=0.05),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, maximize=True),
    dict(lr=0.05, momentum=0.9, weight_decay=0.1, maximize=True),
    dict(lr=0.02, momentum=0.5, nesterov=True, weight_decay=0.01, maximize=True),
]
ADAM_CASES = [
    dict(lr=0.01),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.01, maximize=True),
    dict(lr=0.01, beta1=0.0, beta2=0.9, eps=1e-6),
    dict(lr=0.01, weight_decay=0.05, amsgrad=True),
    dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True, maximize=True),
]
RMSPROP_CASES = [
    dict(lr=0.01),
    dict(lr=0.01, centered=True),
    dict(lr=0.01, momentum=0.9),
    dict(lr=0.01, momentum=0.9, centered=True),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, maximize=True),
    dict(lr=0.005, alpha=0.9, eps=1e-6, weight_decay=0.05, momentum=0.5, centered=True,
         maximize=True),
]
ADAGRAD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, lr_decay=0.01),
    dict(lr=0.1, weight_decay=0.1),
    dict(lr=0.1, initial_accumulator_value=0.1),
    dict(lr=0.1, maximize=True),
    dict(lr=0.1, lr_decay=0.05, weight_decay=0.05, initial_accumulator_value=0.5, eps=1e-6,
         maximize=True),
]


def _ids(cases):
    return ["-".join(f"{k}={v}" for k, v in c.items()) for c in cases]


def initial_params(shapes=SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


@functools.lru_cache(maxsize=None)
def _noise(t, shapes):
    rng = np.random.default_rng(1000 + t)
    return [rng.standard_normal(s) for s in shapes]


def gradients(t, params):
    """Gradient of a noisy quadratic at step t: fresh noise, plus 0.5 * p."""
    noise = _noise(t, tuple(p.shape for p in params))
    return [n + 0.5 * np.asarray(p, np.float64) for n, p in zip(noise, params)]


class PkRun:
    """One optimizer run through pk.ops on a backend: owns params and state,
    zero-initialised (Adagrad: initial_accumulator_value) as PyTorch does."""

    def __init__(self, name, hp, params0, dtype, backend):
        self.name, self.hp, self.dt, self.be = name, dict(hp), dtype, backend
        self.init = self.hp.pop("initial_accumulator_value", 0.0)
        self.params = [backend.put(p.astype(dtype)) for p in params0]

        def fill(v=0.0):
            return [backend.put(np.full(p.shape, v, dtype)) for p in params0]

        if name == "sgd":
            self.state = [fill(np.nan)]  # ignored on the first step
        elif name == "adam":
            self.state = [fill(), fill(), fill()]
        elif name == "rmsprop":
            self.state = [fill(), fill(), fill()]
        else:
            self.state = [fill(self.init)]
        self.t = 0

    def host_params(self):
        return [self.be.get(p) for p in self.params]

    def step(self, grads):
        self.t += 1
        g = [self.be.put(np.asarray(x).astype(self.dt)) for x in grads]
        kw = dict(self.hp, **self.be.kw)
        if self.name == "sgd":
            pk.ops.sgd_step(self.params, g, self.state[0], first_step=self.t == 1, **kw)
        elif self.name == "adam":
            pk.ops.adam_step(self.params, g, *self.state, step=self.t, **kw)
        elif self.name == "rmsprop":
            pk.ops.rmsprop_step(self.params, g, *self.state, **kw)
        else:
            pk.ops.adagrad_step(self.params, g, self.state[0], step=self.t, **kw)


REFERENCES = {"sgd": ref.SGD, "adam": ref.Adam, "rmsprop": ref.RMSprop, "adagrad": ref.Adagrad}
ALL_CASES = ([("sgd", c) for c in SGD_CASES] + [("adam", c) for c in ADAM_CASES]
             + [("rmsprop", c) for c in RMSPROP_CASES] + [("adagrad", c) for c in ADAGRAD_CASES])
ALL_IDS = [f"{n}-{i}" for n, i in zip([n for n, _ in ALL_CASES],
                                      _ids([c for _, c in ALL_CASES]))]


def run_pk(name, hp, dtype, backend, steps=STEPS, shapes=SHAPES):
    run = PkRun(name, hp, initial_params(shapes), dtype, backend)
    for t in range(1, steps + 1):
        run.step(gradients(t, run.host_params()))
    return run.host_params()


def run_reference(name, hp, steps=STEPS, shapes=SHAPES):
    return _run_reference(name, tuple(sorted(hp.items())), steps, tuple(shapes))


@functools.lru_cache(maxsize=None)
def _run_reference(name, hp_items, steps, shapes):
    opt = REFERENCES[name](**dict(hp_items))
    params = initial_params(shapes)
    for t in range(1, steps + 1):
        params = opt.step(params, gradients(t, params))
    return params


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name,hp", ALL_CASES, ids=ALL_IDS)
def test_trajectory_matches_reference(backend, name, hp, dtype):
    got = run_pk(name, hp, dtype, backend)
    expected = run_reference(name, hp)
    rtol, atol = TRAJ_TOL[dtype]
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g.dtype == dtype
        assert_close(g, e, rtol=rtol, atol=atol, what=f"{name} params[{i}] after {STEPS} steps")
    # the run moved the parameters: a no-op kernel cannot pass
    moved = max(float(np.abs(e - p0).max()) for e, p0 in zip(expected, initial_params())
                if e.size)
    assert moved > 1e-2


# ---------------------------------------------------------------- against PyTorch

def _torch_optimizer(torch, name, hp, params):
    hp = dict(hp)
    if name == "sgd":
        return torch.optim.SGD(params, foreach=False, **hp)
    if name == "adam":
        betas = (hp.pop("beta1", 0.9), hp.pop("beta2", 0.999))
        cls = torch.optim.AdamW if hp.pop("decoupled_weight_decay", False) else torch.optim.Adam
        hp.setdefault("weight_decay", 0.0)
        return cls(params, betas=betas, foreach=False, **hp)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, foreach=False, **hp)
    return torch.optim.Adagrad(params, foreach=False, **hp)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name,hp", ALL_CASES, ids=ALL_IDS)
def test_trajectory_matches_torch(name, hp, dtype):
    torch = pytest.importorskip("torch")
    params = [torch.tensor(p.astype(dtype), requires_grad=True) for p in initial_params()]
    opt = _torch_optimizer(torch, name, hp, params)
    for t in range(1, STEPS + 1):
        grads = gradients(t, [p.detach().numpy() for p in params])
        for p, g in zip(params, grads):
            p.grad = torch.from_numpy(g.astype(dtype))
        opt.step()
    expected = [p.detach().numpy() for p in params]

    got = run_pk(name, hp, dtype, Device("cpu"))
    rtol, atol = TRAJ_TOL[dtype]
    for i, (g, e) in enumerate(zip(got, expected)):
        assert_close(g, e, rtol=rtol, atol=atol, what=f"{name} params[{i}] vs torch")


# ---------------------------------------------------------------- single steps

@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_one_adam_step_is_tight(backend, dtype):
    """After one step, every element agrees with the reference to a few ulps."""
    hp = dict(lr=0.1, weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True)
    got = run_pk("adam", hp, dtype, backend, steps=1)
    expected = run_reference("adam", hp, steps=1)
    eps = np.finfo(dtype).eps
    for g, e in zip(got, expected):
        assert_close(g, e, rtol=16 * eps, atol=16 * eps)


def test_sgd_first_step_ignores_old_buffer_contents(backend):
    p = [backend.put(np.ones(5))]
    g = [backend.put(np.full(5, 2.0))]
    buf = [backend.put(np.full(5, np.nan))]
    pk.ops.sgd_step(p, g, buf, lr=0.5, momentum=0.9, first_step=True, **backend.kw)
    np.testing.assert_array_equal(backend.get(buf[0]), np.full(5, 2.0))
    np.testing.assert_array_equal(backend.get(p[0]), np.zeros(5))
    pk.ops.sgd_step(p, g, buf, lr=0.5, momentum=0.9, dampening=0.5, **backend.kw)
    np.testing.assert_array_equal(backend.get(buf[0]), np.full(5, 0.9 * 2.0 + 0.5 * 2.0))


def test_momentum_zero_needs_no_buffers(backend):
    p = [backend.put(np.ones(3, np.float32))]
    pk.ops.sgd_step(p, [backend.put(np.ones(3, np.float32))], None, lr=0.25, **backend.kw)
    np.testing.assert_array_equal(backend.get(p[0]), np.full(3, 0.75, np.float32))


def test_empty_list_is_a_no_op(backend):
    pk.ops.adam_step([], [], [], [], step=1, lr=0.1, **backend.kw)
    assert pk.ops.global_norm([], **backend.kw) == 0.0
    assert pk.ops.clip_grad_norm([], 1.0, **backend.kw) == 0.0


def test_zero_weight_decay_leaves_an_infinite_param_alone(backend):
    """wd == 0 adds no 0 * p term, so an infinite parameter does not turn into NaN."""
    p = [backend.put(np.array([np.inf, 1.0]))]
    g = [backend.put(np.array([1.0, 1.0]))]
    pk.ops.sgd_step(p, g, None, lr=0.1, **backend.kw)
    out = backend.get(p[0])
    assert out[0] == np.inf and out[1] == 0.9


# ---------------------------------------------------------------- norms and clipping

NORM_SHAPES = [(0,), (1,), (7,), (4099,), (33, 65), (200003,)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_global_norm_matches_numpy(backend, rng, dtype):
    ts = [rng.standard_normal(s).astype(dtype) for s in NORM_SHAPES]
    got = pk.ops.global_norm([backend.put(t) for t in ts], **backend.kw)
    assert isinstance(got, float)
    # float64 accumulation: close to the float64 sum of the rounded inputs
    assert got == pytest.approx(ref.global_norm(ts), rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("max_norm", [1.0, 1e6])
def test_clip_grad_norm_matches_reference(backend, rng, dtype, max_norm):
    ts = [rng.standard_normal(s).astype(dtype) for s in NORM_SHAPES]
    dev = [backend.put(t.copy()) for t in ts]
    total = pk.ops.clip_grad_norm(dev, max_norm, **backend.kw)
    expected, expected_total = ref.clip_grad_norm(ts, max_norm)
    assert total == pytest.approx(expected_total, rel=1e-12)
    for i, (d, e, t) in enumerate(zip(dev, expected, ts)):
        if max_norm > expected_total:
            np.testing.assert_array_equal(backend.get(d), t)  # untouched
        else:
            assert_close(backend.get(d), e, dtype=dtype, what=f"grads[{i}]")
    if max_norm < expected_total:
        assert pk.ops.global_norm(dev, **backend.kw) == pytest.approx(max_norm, rel=1e-5)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_norm_and_clip_match_torch(rng, dtype):
    torch = pytest.importorskip("torch")
    ts = [rng.standard_normal(s).astype(dtype) for s in NORM_SHAPES]
    tt = [torch.tensor(t, requires_grad=True) for t in ts]
    for p, t in zip(tt, ts):
        p.grad = torch.tensor(t)
    expected_total = float(torch.nn.utils.clip_grad_norm_(tt, 2.5))
    grads = [t.copy() for t in ts]
    total = pk.ops.clip_grad_norm(grads, 2.5)
    rel = 1e-12 if dtype == np.float64 else 1e-5
    assert total == pytest.approx(expected_total, rel=rel)
    for g, p in zip(grads, tt):
        assert_close(g, p.grad.numpy(), dtype=dtype)


def test_clip_with_nonfinite_norm_follows_torch(backend):
    """total = inf: the factor is 0 and infinite gradients become NaN, as in
    PyTorch (error_if_nonfinite=False)."""
    g = [backend.put(np.array([np.inf, 1.0], np.float32))]
    total = pk.ops.clip_grad_norm(g, 1.0, **backend.kw)
    assert total == np.inf
    out = backend.get(g[0])
    assert np.isnan(out[0]) and out[1] == 0.0


# ---------------------------------------------------------------- determinism

def _big_case(name):
    return {"sgd": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
            "adam": dict(lr=0.01, weight_decay=0.1, amsgrad=True),
            "rmsprop": dict(lr=0.01, momentum=0.9, centered=True),
            "adagrad": dict(lr=0.1, lr_decay=0.01)}[name]


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "adagrad"])
def test_cpu_steps_do_not_depend_on_thread_count(name):
    shapes = [(300001,), (7,), (65537,)]
    results = []
    for n in (1, 2):
        pk.set_num_threads(n)
        results.append(run_pk(name, _big_case(name), np.float32, Device("cpu"), steps=3,
                              shapes=shapes))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("device", [None, "cuda-emu"])
def test_norms_do_not_depend_on_thread_count(rng, device):
    ts = [rng.standard_normal(s).astype(np.float32) for s in [(300001,), (5,), (131072,)]]
    kw = {"device": device} if device else {}
    norms = []
    for n in (1, 2):
        pk.set_num_threads(n)
        norms.append(pk.ops.global_norm(ts, **kw))
    assert norms[0] == norms[1]


@pytest.mark.parametrize("path", ["generic", "avx2", "avx512"])
@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "adagrad"])
def test_every_simd_path_matches_reference(name, path):
    cpu = _backends.module("cpu")
    if path not in ("generic",) and _path_rank(cpu.best_simd_path()) < _path_rank(path):
        pytest.skip(f"this CPU has no {path}")
    before = cpu.simd_path()
    cpu.set_simd_path(path)
    try:
        hp = _big_case(name)
        got = run_pk(name, hp, np.float32, Device("cpu"), steps=10)
        expected = run_reference(name, hp, steps=10)
        for g, e in zip(got, expected):
            assert_close(g, e, rtol=1e-4, atol=1e-5)
        ts = [np.asarray(g) for g in got]
        assert cpu.global_norm(ts) == pytest.approx(ref.global_norm(ts), rel=1e-12)
    finally:
        cpu.set_simd_path(before)


def _path_rank(p):
    return {"generic": 0, "avx2": 1, "avx512": 2}[p]


# ---------------------------------------------------------------- bad input

def _lists(n=4, dtype=np.float32, shape=(5,)):
    return [np.zeros(shape, dtype) for _ in range(n)]


def _readonly(shape=(5,)):
    x = np.zeros(shape, np.float32)
    x.flags.writeable = False
    return x


def _adam(params=None, grads=None, m=None, v=None, vmax=None, **kw):
    hp = dict(step=1, lr=0.1)
    hp.update(kw)
    return (params if params is not None else _lists(), grads if grads is not None else _lists(),
            m if m is not None else _lists(), v if v is not None else _lists(), vmax), hp


def _with(lst, i, x):
    lst = list(lst)
    lst[i] = x
    return lst


P = _lists()
ADAM_BAD = [
    ("grads length", _adam(grads=_lists(3)), ValueError, r"'grads' has 3 tensors but argument 'params' has 4"),
    ("state length", _adam(v=_lists(5)), ValueError, "'exp_avg_sqs'"),
    ("grad shape", _adam(grads=_with(_lists(), 3, np.zeros(6, np.float32))), ValueError, r"'grads\[3\]'"),
    ("state shape", _adam(m=_with(_lists(), 2, np.zeros((5, 1), np.float32))), ValueError, r"'exp_avgs\[2\]'"),
    ("grad dtype", _adam(grads=_with(_lists(), 1, np.zeros(5))), TypeError, r"'grads\[1\]'"),
    ("mixed param dtypes", _adam(params=_with(_lists(), 1, np.zeros(5)),
                                 grads=_with(_lists(), 1, np.zeros(5))), TypeError, r"'params\[1\]'"),
    ("int params", _adam(params=_lists(dtype=np.int32)), TypeError, r"'params\[0\]'"),
    ("non-contiguous state", _adam(v=_with(_lists(), 1, np.zeros(10, np.float32)[::2])),
     ValueError, r"'exp_avg_sqs\[1\]'.*contiguous"),
    ("read-only param", _adam(params=_with(_lists(), 0, _readonly())), ValueError, r"'params\[0\]'"),
    ("read-only state", _adam(m=_with(_lists(), 3, _readonly())), ValueError, r"'exp_avgs\[3\]'"),
    ("state aliases param", _adam(params=P, m=_with(_lists(), 0, P[0])), ValueError, r"'exp_avgs\[0\]'"),
    ("not a list", _adam(grads=np.zeros(5, np.float32)), TypeError, "'grads'"),
    ("not an array", _adam(m=_with(_lists(), 2, [0.0] * 5)), TypeError, r"'exp_avgs\[2\]'"),
    ("amsgrad without max", _adam(amsgrad=True), ValueError, "'max_exp_avg_sqs'"),
    ("negative lr", _adam(lr=-0.1), ValueError, "'lr'"),
    ("nan lr", _adam(lr=float("nan")), ValueError, "'lr'"),
    ("beta1 = 1", _adam(beta1=1.0), ValueError, "'beta1'"),
    ("negative beta2", _adam(beta2=-0.1), ValueError, "'beta2'"),
    ("negative eps", _adam(eps=-1e-8), ValueError, "'eps'"),
    ("negative weight decay", _adam(weight_decay=-1.0), ValueError, "'weight_decay'"),
    ("step 0", _adam(step=0), ValueError, "'step'"),
]


@pytest.mark.parametrize("args,hp,exc,needle", [(c[1][0], c[1][1], c[2], c[3]) for c in ADAM_BAD],
                         ids=[c[0] for c in ADAM_BAD])
def test_adam_bad_input_names_the_argument(backend, args, hp, exc, needle):
    with pytest.raises(exc, match=needle):
        pk.ops.adam_step(*args, **hp, **backend.kw)


BINDINGS = ["cpu", "cuda-emu"]


@pytest.mark.parametrize("mod_name", BINDINGS)
@pytest.mark.parametrize("args,hp,exc,needle", [(c[1][0], c[1][1], c[2], c[3]) for c in ADAM_BAD
                                                if c[0] != "not a list"],
                         ids=[c[0] for c in ADAM_BAD if c[0] != "not a list"])
def test_adam_binding_validates_without_python(mod_name, args, hp, exc, needle):
    mod = _backends.module(mod_name)
    extra = {"stream": 0} if mod_name == "cuda-emu" else {}
    hp = dict(dict(beta1=0.9, beta2=0.999, eps=1e-8), **hp)
    with pytest.raises(exc, match=needle):
        mod.adam_step(*args, **hp, **extra)


OTHER_BAD = [
    ("sgd momentum without buffers",
     lambda m, x: m.sgd_step(_lists(), _lists(), None, lr=0.1, momentum=0.9, **x),
     ValueError, "'momentum_buffers'"),
    ("sgd nesterov with dampening",
     lambda m, x: m.sgd_step(_lists(), _lists(), _lists(), lr=0.1, momentum=0.9, dampening=0.1,
                             nesterov=True, **x), ValueError, "'nesterov'"),
    ("sgd nesterov without momentum",
     lambda m, x: m.sgd_step(_lists(), _lists(), None, lr=0.1, nesterov=True, **x),
     ValueError, "'nesterov'"),
    ("sgd negative momentum",
     lambda m, x: m.sgd_step(_lists(), _lists(), _lists(), lr=0.1, momentum=-0.5, **x),
     ValueError, "'momentum'"),
    ("sgd buffer shape",
     lambda m, x: m.sgd_step(_lists(), _lists(), _with(_lists(), 2, np.zeros(4, np.float32)),
                             lr=0.1, momentum=0.5, **x), ValueError, r"'momentum_buffers\[2\]'"),
    ("rmsprop centered without grad_avgs",
     lambda m, x: m.rmsprop_step(_lists(), _lists(), _lists(), None, None, lr=0.1, centered=True,
                                 **x), ValueError, "'grad_avgs'"),
    ("rmsprop momentum without buffers",
     lambda m, x: m.rmsprop_step(_lists(), _lists(), _lists(), None, None, lr=0.1, momentum=0.9,
                                 **x), ValueError, "'momentum_buffers'"),
    ("rmsprop negative alpha",
     lambda m, x: m.rmsprop_step(_lists(), _lists(), _lists(), None, None, lr=0.1, alpha=-0.1,
                                 **x), ValueError, "'alpha'"),
    ("rmsprop missing square_avgs",
     lambda m, x: m.rmsprop_step(_lists(), _lists(), None, None, None, lr=0.1, **x),
     TypeError, "'square_avgs'"),
    ("adagrad negative lr_decay",
     lambda m, x: m.adagrad_step(_lists(), _lists(), _lists(), step=1, lr=0.1, lr_decay=-1.0, **x),
     ValueError, "'lr_decay'"),
    ("adagrad step 0",
     lambda m, x: m.adagrad_step(_lists(), _lists(), _lists(), step=0, lr=0.1, **x),
     ValueError, "'step'"),
    ("adagrad state dtype",
     lambda m, x: m.adagrad_step(_lists(), _lists(), _with(_lists(), 0, np.zeros(5)), step=1,
                                 lr=0.1, **x), TypeError, r"'state_sums\[0\]'"),
    ("global_norm int tensor",
     lambda m, x: m.global_norm([np.zeros(3, np.float32), np.zeros(3, np.int64)], **_ws(m, x)),
     TypeError, r"'tensors\[1\]'"),
    ("global_norm not a list",
     lambda m, x: m.global_norm(np.zeros(3, np.float32), **_ws(m, x)), TypeError, "'tensors'"),
    ("clip read-only grad",
     lambda m, x: m.clip_grad_norm([np.zeros(3, np.float32), _readonly((3,))], 1.0, **_ws(m, x)),
     ValueError, r"'grads\[1\]'"),
    ("clip negative eps",
     lambda m, x: m.clip_grad_norm([np.zeros(3, np.float32)], 1.0, -1.0, **_ws(m, x)),
     ValueError, "'eps'"),
]


def _ws(mod, extra):
    """The CUDA bindings' norms take a workspace (pk.ops allocates it)."""
    if "stream" in extra and mod is not pk.ops:
        return dict(extra, workspace=np.zeros(16))
    return extra


@pytest.mark.parametrize("call,needle", [
    (lambda m: m.global_norm([np.zeros(5000, np.float32)], workspace=np.zeros(1), stream=0),
     "'workspace' must hold at least 3"),
    (lambda m: m.global_norm([np.zeros(5, np.float32)], workspace=np.zeros(4, np.float32),
                             stream=0), "'workspace'"),
    (lambda m: m.clip_grad_norm([np.zeros(5, np.float32)], 1.0, stream=0), "'workspace'"),
], ids=["too small", "float32", "missing"])
def test_cuda_norm_workspace_is_checked(call, needle):
    with pytest.raises((ValueError, TypeError), match=needle):
        call(_backends.module("cuda-emu"))


@pytest.mark.parametrize("call,exc,needle", [c[1:] for c in OTHER_BAD], ids=[c[0] for c in OTHER_BAD])
def test_other_bad_input_through_ops(backend, call, exc, needle):
    kw = {"device": "cuda-emu"} if backend.name == "cuda-emu" else {}
    with pytest.raises(exc, match=needle):
        call(pk.ops, kw)


@pytest.mark.parametrize("mod_name", BINDINGS)
@pytest.mark.parametrize("call,exc,needle", [c[1:] for c in OTHER_BAD], ids=[c[0] for c in OTHER_BAD])
def test_other_bad_input_at_the_binding(mod_name, call, exc, needle):
    mod = _backends.module(mod_name)
    with pytest.raises(exc, match=needle):
        call(mod, {"stream": 0} if mod_name == "cuda-emu" else {})


def test_mixed_devices_in_a_list_are_rejected():
    class FakeCudaArray:
        def __init__(self, a):
            self._a, self.shape, self.dtype = a, a.shape, a.dtype

        @property
        def __cuda_array_interface__(self):
            return {"shape": self._a.shape, "typestr": self._a.dtype.str,
                    "data": (self._a.ctypes.data, False), "version": 3, "strides": None}

    params = _with(_lists(), 2, FakeCudaArray(np.zeros(5, np.float32)))
    with pytest.raises(TypeError, match=r"'params\[2\]'.*CUDA array"):
        pk.ops.adam_step(params, _lists(), _lists(), _lists(), step=1, lr=0.1)
