"""pk.optim classes: param groups, frozen parameters, state_dict round trips,
one kernel call per step, and state following the parameters to another
device. (Update rules step by step: tests/test_mlp.py against NumPy.)"""

import numpy as np
import pytest

import pykernels as pk
from pykernels import nn, optim

ALL = [(optim.SGD, dict(lr=0.1, momentum=0.9)), (optim.Adam, dict(lr=1e-2)), (optim.AdamW, dict(lr=1e-2)),
       (optim.RMSprop, dict(lr=1e-2, momentum=0.5, centered=True)), (optim.Adagrad, dict(lr=0.1))]


def _params(rng, dtype=np.float64):
    ps = [nn.Parameter(rng.standard_normal(s).astype(dtype)) for s in [(3, 4), (4,), (2, 2)]]
    for p in ps:
        p.grad = rng.standard_normal(p.shape).astype(dtype)
    return ps


@pytest.mark.parametrize("cls,hp", ALL, ids=[c.__name__ for c, _ in ALL])
def test_frozen_and_gradless_parameters_are_skipped(cls, hp, rng):
    ps = _params(rng)
    ps[1].requires_grad = False
    ps[2].grad = None
    before = [p.data.copy() for p in ps]
    opt = cls(ps, **hp)
    opt.step()
    assert not np.array_equal(ps[0].data, before[0])
    np.testing.assert_array_equal(ps[1].data, before[1])
    np.testing.assert_array_equal(ps[2].data, before[2])
    assert ps[1] not in opt.state and ps[2] not in opt.state


@pytest.mark.parametrize("cls,hp", ALL, ids=[c.__name__ for c, _ in ALL])
def test_state_dict_round_trip_continues_identically(cls, hp, rng):
    ps = _params(rng)
    opt = cls(ps, **hp)
    opt.step()
    clone = [nn.Parameter(p.data.copy()) for p in ps]
    for c, p in zip(clone, ps):
        c.grad = p.grad.copy()
    opt2 = cls(clone, **hp)
    opt2.load_state_dict(opt.state_dict())
    opt.step()
    opt2.step()
    for p, c in zip(ps, clone):
        np.testing.assert_array_equal(p.data, c.data)


def test_param_groups_have_their_own_options(rng):
    ps = _params(rng)
    before = [p.data.copy() for p in ps]
    grads = [p.grad.copy() for p in ps]
    opt = optim.SGD([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.5}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    opt.step()
    np.testing.assert_allclose(ps[0].data, before[0] - 0.1 * grads[0], rtol=1e-12)
    np.testing.assert_allclose(ps[2].data, before[2] - 0.5 * grads[2], rtol=1e-12)
    with pytest.raises(ValueError, match="more than one"):
        optim.SGD([{"params": ps[:2]}, {"params": ps[1:]}], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(ValueError, match="learning rate"):
        optim.Adam(ps, lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(ps, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="groups"):
        opt.load_state_dict({"state": {}, "param_groups": [opt.state_dict()["param_groups"][0]]})


def test_one_kernel_call_per_step(rng, monkeypatch):
    calls = []
    real = pk.ops.adam_step

    def counting(*args, **kwargs):
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(pk.ops, "adam_step", counting)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    opt = optim.Adam(model.parameters())
    crit = nn.CrossEntropyLoss()
    for _ in range(3):
        opt.zero_grad()
        crit(model(rng.standard_normal((5, 4)).astype(np.float32)), rng.integers(0, 3, 5))
        model.backward(crit.backward())
        opt.step()
    assert calls == [6, 6, 6]


def test_state_follows_parameters_to_another_device(rng):
    pk.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    crit = nn.CrossEntropyLoss()
    x, y = rng.standard_normal((5, 4)).astype(np.float32), rng.integers(0, 3, 5)
    for device in ("cpu", "cuda-emu"):
        model.to(device)
        crit.to(device)
        opt.zero_grad()
        crit(model(x), y)
        model.backward(crit.backward())
        opt.step()
    assert all(s["step"] == 2 for s in opt.state.values())
