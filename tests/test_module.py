"""pk.nn.Module machinery, Parameter, Sequential/Flatten/Residual, state_dict,
pk.nn.init and Linear (forward against NumPy, backward against finite
differences, gradient accumulation, frozen parameters, cuda-emu)."""

import math

import numpy as np
import pytest

import pykernels as pk
from pykernels import nn
from pykernels.nn import linear as linear_mod

from conftest import assert_close
from reference.gradcheck import check_module_gradients


def _linear_paths():
    paths = [False]
    if linear_mod.use_fused_linear():
        paths.append(True)
    return paths


def test_registration_and_traversal():
    model = nn.Sequential(nn.Linear(3, 4), nn.Flatten(), nn.Residual(nn.Linear(4, 4, bias=False)))
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.module.weight"]
    assert len(list(model.modules())) == 5 and len(model) == 3
    assert isinstance(model[0], nn.Linear) and len(model[1:]) == 2
    assert "Linear(in_features=3, out_features=4, bias=True)" in repr(model)
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_state_dict_round_trip_and_checks():
    pk.manual_seed(0)
    a = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    b = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    state = a.state_dict()
    state["0.weight"][...] = 7  # a copy: the model is untouched
    assert not np.any(a[0].weight.data == 7)
    b.load_state_dict(a.state_dict())
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    bad = a.state_dict()
    bad["1.weight"] = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"1\.weight.*shape"):
        b.load_state_dict(bad)
    bad = a.state_dict()
    bad["1.bias"] = bad["1.bias"].astype(np.float64)
    with pytest.raises(TypeError, match=r"1\.bias.*dtype"):
        b.load_state_dict(bad)
    partial = a.state_dict()
    del partial["1.bias"]
    with pytest.raises(KeyError, match="missing"):
        b.load_state_dict(partial)
    missing, unexpected = b.load_state_dict({**partial, "extra": np.zeros(1)}, strict=False)
    assert missing == ["1.bias"] and unexpected == ["extra"]


def test_load_state_dict_applies_nothing_when_a_later_entry_is_bad():
    pk.manual_seed(0)
    a = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    b = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    before = {k: v.copy() for k, v in b.state_dict().items()}
    bad = a.state_dict()
    bad["1.bias"] = np.zeros(3, np.float32)  # the last entry: the first three are fine
    with pytest.raises(ValueError, match=r"1\.bias"):
        b.load_state_dict(bad)
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_to_device_and_dtype():
    model = nn.Sequential(nn.Linear(3, 4)).to("cuda-emu")
    assert all(m.device == "cuda-emu" for m in model.modules())
    assert model[0].weight.device == "cuda-emu"
    model.double()
    assert model[0].weight.dtype == np.float64 and model[0].bias.dtype == np.float64
    with pytest.raises(ValueError, match="device"):
        model.to("tpu")


def test_flatten_and_identity():
    f = nn.Flatten()
    x = np.arange(24.0).reshape(2, 3, 4)
    y = f(x)
    assert y.shape == (2, 12)
    assert f.backward(y).shape == (2, 3, 4)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert nn.Identity().backward(x) is x


def test_init_formulas_and_seed():
    w = np.empty((300, 200))
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    assert np.abs(w).max() <= 1 / math.sqrt(200)
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert w.std() == pytest.approx(math.sqrt(2 / 200), rel=0.03)
    nn.init.xavier_uniform_(w, gain=2.0)
    assert np.abs(w).max() <= 2 * math.sqrt(6 / 500)
    assert w.std() == pytest.approx(2 * math.sqrt(2 / 500), rel=0.03)
    nn.init.xavier_normal_(w)
    assert w.std() == pytest.approx(math.sqrt(2 / 500), rel=0.03)
    conv = np.empty((8, 4, 3, 3))
    assert nn.init._fans(conv) == (36, 72)
    with pytest.raises(ValueError, match="2 dimensions"):
        nn.init.xavier_uniform_(np.empty(5))
    nn.init.ones_(w)
    assert np.all(w == 1)
    pk.manual_seed(5)
    a = nn.Linear(7, 3).weight.data.copy()
    pk.manual_seed(5)
    np.testing.assert_array_equal(nn.Linear(7, 3).weight.data, a)


def test_calculate_gain_matches_pytorch():
    torch = pytest.importorskip("torch")
    for name, param in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                        ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None), ("conv2d", None)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param), rel=1e-15)


def test_linear_default_init_bounds():
    pk.manual_seed(1)
    lin = nn.Linear(50, 400)
    bound = 1 / math.sqrt(50)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.bias.data).max() <= bound
    assert lin.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)


@pytest.mark.parametrize("fused", _linear_paths())
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_matches_numpy(fused, bias, rng):
    lin = nn.Linear(13, 7, bias=bias, fused=fused, dtype=np.float64)
    x = rng.standard_normal((5, 13))
    expected = x @ lin.weight.data.T + (lin.bias.data if bias else 0)
    assert_close(lin(x), expected)
    # leading dimensions are kept
    assert lin(rng.standard_normal((2, 3, 13))).shape == (2, 3, 7)


@pytest.mark.parametrize("fused", _linear_paths())
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients_finite_differences(fused, bias, rng):
    lin = nn.Linear(5, 3, bias=bias, fused=fused, dtype=np.float64)
    check_module_gradients(lin, rng.standard_normal((4, 5)), rng=rng)


@pytest.mark.parametrize("fused", _linear_paths())
def test_linear_gradients_accumulate(fused, rng):
    lin = nn.Linear(5, 3, fused=fused, dtype=np.float64)
    x1, x2 = rng.standard_normal((4, 5)), rng.standard_normal((6, 5))
    g1, g2 = rng.standard_normal((4, 3)), rng.standard_normal((6, 3))
    lin(x1)
    lin.backward(g1)
    lin(x2)
    lin.backward(g2)
    assert_close(lin.weight.grad, g1.T @ x1 + g2.T @ x2)
    assert_close(lin.bias.grad, g1.sum(0) + g2.sum(0))
    lin.zero_grad()
    assert lin.weight.grad is None


@pytest.mark.parametrize("fused", _linear_paths())
def test_frozen_parameters_get_no_gradient(fused, rng):
    model = nn.Sequential(nn.Linear(5, 4, fused=fused, dtype=np.float64),
                          nn.Linear(4, 2, fused=fused, dtype=np.float64))
    model[0].requires_grad_(False)
    check_module_gradients(model, rng.standard_normal((3, 5)), rng=rng)
    assert model[0].weight.grad is None and model[1].weight.grad is not None


def test_residual_gradients(rng):
    res = nn.Residual(nn.Sequential(nn.Linear(4, 4, dtype=np.float64), nn.Linear(4, 4, dtype=np.float64)))
    check_module_gradients(res, rng.standard_normal((3, 4)), rng=rng)
    with pytest.raises(ValueError, match="same shape"):
        nn.Residual(nn.Linear(4, 3))(np.zeros((2, 4), np.float32))


@pytest.mark.parametrize("fused", _linear_paths())
def test_linear_cuda_emu_matches_cpu(fused, rng):
    pk.manual_seed(3)
    cpu = nn.Linear(9, 6, fused=fused)
    emu = nn.Linear(9, 6, fused=fused)
    emu.load_state_dict(cpu.state_dict())
    emu.to("cuda-emu")
    x = rng.standard_normal((11, 9)).astype(np.float32)
    g = rng.standard_normal((11, 6)).astype(np.float32)
    assert_close(emu(x), cpu(x), rtol=1e-5, atol=1e-6)
    assert_close(emu.backward(g), cpu.backward(g), rtol=1e-5, atol=1e-6)
    assert_close(emu.weight.grad, cpu.weight.grad, rtol=1e-5, atol=1e-5)
    assert_close(emu.bias.grad, cpu.bias.grad, rtol=1e-5, atol=1e-5)


def test_linear_bad_input():
    with pytest.raises(ValueError, match="Linear"):
        nn.Linear(3, 2)(np.zeros((4, 5), np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Linear(3, 2).backward(np.zeros((4, 2), np.float32))


def test_parameter_checks():
    with pytest.raises(TypeError, match="floating-point"):
        nn.Parameter(np.zeros(3, np.int64))
    p = nn.Parameter(np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        p.accumulate_grad(np.zeros(4))


def test_first_layer_skips_input_grad_when_asked():
    model = nn.Sequential(nn.Linear(6, 4, dtype=np.float64), nn.ReLU(),
                          nn.Linear(4, 3, dtype=np.float64))
    x = np.random.default_rng(1).standard_normal((5, 6))
    g = np.ones((5, 3))
    model(x)
    grad_in = model.backward(g)
    assert grad_in.shape == x.shape
    w_grad = model[0].weight.grad.copy()
    model.zero_grad()
    model.needs_input_grad = False
    assert not model[0].needs_input_grad and model[2].needs_input_grad
    model(x)
    assert model.backward(g) is None
    np.testing.assert_allclose(model[0].weight.grad, w_grad, rtol=1e-12)
