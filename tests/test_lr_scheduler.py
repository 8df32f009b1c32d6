"""pk.optim.lr_scheduler: the same learning rates as torch.optim.lr_scheduler
step by step (when PyTorch is installed), and the closed forms."""

import math

import numpy as np
import pytest

import pykernels as pk
from pykernels.optim import lr_scheduler as sched


def _optimizer(lr=0.1, groups=1):
    params = [pk.nn.Parameter(np.zeros(2, np.float32)) for _ in range(groups)]
    return pk.optim.SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)], lr=lr)


CASES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
    ("LinearLR", dict(start_factor=0.25, end_factor=1.0, total_iters=6)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.1, total_iters=4)),
]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[c[0] + str(i) for i, c in enumerate(CASES)])
def test_same_learning_rates_as_pytorch(name, kwargs):
    torch = pytest.importorskip("torch")
    ours = _optimizer(groups=2)
    theirs = torch.optim.SGD([{"params": [torch.zeros(2, requires_grad=True)], "lr": 0.1 * (i + 1)}
                              for i in range(2)], lr=0.1)
    a = getattr(sched, name)(ours, **kwargs)
    b = getattr(torch.optim.lr_scheduler, name)(theirs, **kwargs)
    for _ in range(25):
        assert a.get_last_lr() == pytest.approx(b.get_last_lr(), rel=1e-15, abs=0)
        assert [g["lr"] for g in ours.param_groups] == a.get_last_lr()
        theirs.step()
        a.step()
        b.step()


def test_lambda_lr_per_group():
    opt = _optimizer(groups=2)
    s = sched.LambdaLR(opt, [lambda t: 1 / (t + 1), lambda t: 0.5 ** t])
    for t in range(1, 5):
        s.step()
        assert s.get_last_lr() == pytest.approx([0.1 / (t + 1), 0.2 * 0.5 ** t], rel=1e-15)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[c[0] + str(i) for i, c in enumerate(CASES)])
def test_recursive_form_matches_closed_form(name, kwargs):
    opt = _optimizer()
    s = getattr(sched, name)(opt, **kwargs)
    closed = getattr(sched, name)(_optimizer(), **kwargs)
    for t in range(1, 20):
        s.step()
        closed.step(t)
        assert s.get_last_lr()[0] == pytest.approx(closed.get_last_lr()[0], rel=1e-12)


def test_cosine_closed_form_values():
    opt = _optimizer(lr=1.0)
    s = sched.CosineAnnealingLR(opt, T_max=10, eta_min=0.0)
    for t in range(1, 11):
        s.step()
        assert s.get_last_lr()[0] == pytest.approx((1 + math.cos(math.pi * t / 10)) / 2, abs=1e-12)


def test_warmup_inverse_sqrt():
    opt = _optimizer(lr=1.0)
    s = sched.WarmupInverseSqrtLR(opt, warmup_steps=4)
    lrs = [s.get_last_lr()[0]]
    for _ in range(11):
        s.step()
        lrs.append(s.get_last_lr()[0])
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4:] == pytest.approx([math.sqrt(4 / t) for t in range(5, 13)])


def test_noam_matches_annotated_transformer_rate():
    def rate(step, d_model, factor, warmup):
        if step == 0:
            step = 1
        return factor * (d_model ** (-0.5) * min(step ** (-0.5), step * warmup ** (-1.5)))

    opt = _optimizer(lr=1.0)
    s = sched.NoamLR(opt, d_model=512, warmup_steps=10, factor=2.0)
    for t in range(40):
        assert s.get_last_lr()[0] == pytest.approx(rate(t, 512, 2.0, 10), rel=1e-14)
        s.step()


def test_reduce_on_plateau_same_as_pytorch():
    torch = pytest.importorskip("torch")
    ours = _optimizer(lr=1.0)
    theirs = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=1.0)
    kwargs = dict(mode="min", factor=0.5, patience=2, threshold=0.01, cooldown=1, min_lr=0.05)
    a = sched.ReduceLROnPlateau(ours, **kwargs)
    b = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs, **kwargs)
    metrics = [5, 4, 4, 4, 4, 3.99, 3.99, 3.99, 3.99] + [2] * 25
    for m in metrics:
        a.step(m)
        b.step(m)
        assert a.get_last_lr() == b.get_last_lr()
    assert a.get_last_lr()[0] == 0.05


def test_reduce_on_plateau_max_mode_and_state_dict():
    opt = _optimizer(lr=1.0)
    s = sched.ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5)
    s.step(1.0)
    s.step(0.5)
    assert opt.param_groups[0]["lr"] == 0.5
    state = s.state_dict()
    other = sched.ReduceLROnPlateau(_optimizer(lr=1.0), mode="max", patience=0, factor=0.5)
    other.load_state_dict(state)
    assert other.best == 1.0 and other.num_bad_epochs == 0
    with pytest.raises(ValueError, match="factor"):
        sched.ReduceLROnPlateau(opt, factor=1.0)


def test_scheduler_state_dict_resumes():
    opt = _optimizer()
    s = sched.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        s.step()
    state = s.state_dict()
    assert "optimizer" not in state
    opt2 = _optimizer()
    s2 = sched.StepLR(opt2, step_size=2, gamma=0.5)
    s2.load_state_dict(state)
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    s.step()
    s2.step()
    assert s.get_last_lr() == s2.get_last_lr()


def test_resume_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        sched.StepLR(_optimizer(), step_size=2, last_epoch=3)
