"""Every pk.nn layer and loss: backward against central finite differences in
float64 (input and parameters), in training and evaluation modes, and the
layer's forward against its NumPy formula."""

import numpy as np
import pytest

import pykernels as pk
from pykernels import nn

from conftest import assert_close
from reference.gradcheck import check_module_gradients, numerical_grad

ACTIVATIONS = [
    (nn.Sigmoid, {}, lambda x: 1 / (1 + np.exp(-x))),
    (nn.Tanh, {}, np.tanh),
    (nn.ReLU, {}, lambda x: np.maximum(x, 0)),
    (nn.LeakyReLU, {"negative_slope": 0.2}, lambda x: np.where(x >= 0, x, 0.2 * x)),
    (nn.ELU, {"alpha": 0.7}, lambda x: np.where(x > 0, x, 0.7 * np.expm1(x))),
    (nn.SELU, {}, lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))),
    (nn.CELU, {"alpha": 1.5}, lambda x: np.maximum(x, 0) + np.minimum(0, 1.5 * np.expm1(x / 1.5))),
    (nn.GELU, {}, None),
    (nn.GELU, {"approximate": "tanh"},
     lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))),
    (nn.SiLU, {}, lambda x: x / (1 + np.exp(-x))),
    (nn.Softplus, {"beta": 2.0, "threshold": 5.0},
     lambda x: np.where(2 * x > 5, x, np.log1p(np.exp(2 * x)) / 2)),
    (nn.Mish, {}, lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    (nn.Hardtanh, {"min_val": -0.5, "max_val": 0.8}, lambda x: np.clip(x, -0.5, 0.8)),
    (nn.Softsign, {}, lambda x: x / (1 + np.abs(x))),
    (nn.Gaussian, {}, lambda x: np.exp(-x * x)),
    (nn.GCU, {}, lambda x: x * np.cos(x)),
]


def _away_from_kinks(rng, shape):
    """Inputs at least 0.05 from the points where piecewise activations bend
    (0, and hardtanh's -0.5 / 0.8), so central differences see one piece."""
    x = rng.uniform(-2.5, 2.5, shape)
    for kink in (0.0, -0.5, 0.8, 2.5):
        near = np.abs(x - kink) < 0.05
        x[near] = kink + 0.05 * np.sign(x[near] - kink + 1e-12)
    return x


@pytest.mark.parametrize("cls,params,formula", ACTIVATIONS,
                         ids=[f"{c.__name__}{'-' + str(p) if p else ''}" for c, p, _ in ACTIVATIONS])
@pytest.mark.parametrize("training", [True, False])
def test_activation_modules(cls, params, formula, training, rng):
    act = cls(**params)
    act.train(training)
    x = _away_from_kinks(rng, (4, 6))
    if formula is not None:
        assert_close(act(x), formula(x), rtol=1e-12, atol=1e-14)
    check_module_gradients(act, x, rng=rng)


def test_binary_step_has_zero_gradient(rng):
    step = nn.BinaryStep()
    x = _away_from_kinks(rng, (3, 5))
    np.testing.assert_array_equal(step(x), (x >= 0).astype(np.float64))
    np.testing.assert_array_equal(step.backward(np.ones_like(x)), 0)


@pytest.mark.parametrize("num_parameters", [1, 6])
def test_prelu(num_parameters, rng):
    act = nn.PReLU(num_parameters, dtype=np.float64)
    act.weight.data[...] = rng.uniform(0.05, 0.5, num_parameters)
    x = _away_from_kinks(rng, (4, 6))
    assert_close(act(x), np.where(x >= 0, x, act.weight.data * x))
    check_module_gradients(act, x, rng=rng)


@pytest.mark.parametrize("cls", [nn.Softmax, nn.LogSoftmax])
@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax_modules(cls, dim, rng):
    x = rng.standard_normal((3, 5, 4))
    m = cls(dim)
    e = np.exp(x - x.max(dim, keepdims=True))
    sm = e / e.sum(dim, keepdims=True)
    assert_close(m(x), sm if cls is nn.Softmax else np.log(sm))
    check_module_gradients(m, x, rng=rng)


@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (8, 5)), (nn.BatchNorm1d, (6, 3, 4)),
                                       (nn.BatchNorm2d, (4, 3, 2, 5))])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradients(cls, shape, affine, training, rng):
    bn = cls(shape[1], affine=affine, dtype=np.float64)
    if affine:
        bn.weight.data[...] = rng.uniform(0.5, 1.5, shape[1])
        bn.bias.data[...] = rng.standard_normal(shape[1])
    bn.running_mean[...] = rng.standard_normal(shape[1])
    bn.running_var[...] = rng.uniform(0.5, 2.0, shape[1])
    bn.train(training)
    check_module_gradients(bn, rng.standard_normal(shape) * 2 + 1, rng=rng, rtol=1e-5, atol=1e-7)


def test_batchnorm_forward_and_running_statistics(rng):
    bn = nn.BatchNorm1d(3, momentum=0.2, dtype=np.float64)
    x = rng.standard_normal((10, 3)) * 3 + 2
    y = bn(x)
    assert_close(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-10, atol=1e-12)
    assert_close(bn.running_mean, 0.2 * x.mean(0), rtol=1e-10, atol=1e-12)
    assert_close(bn.running_var, 0.8 + 0.2 * x.var(0, ddof=1), rtol=1e-10, atol=1e-12)
    assert int(bn.num_batches_tracked) == 1
    bn.eval()
    assert_close(bn(x), (x - bn.running_mean) / np.sqrt(bn.running_var + 1e-5), rtol=1e-10, atol=1e-12)
    assert int(bn.num_batches_tracked) == 1
    state = bn.state_dict()
    assert set(state) == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    with pytest.raises(ValueError, match="channels"):
        bn(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="dimensions"):
        nn.BatchNorm2d(3)(np.zeros((4, 3), np.float32))


def test_batchnorm_cumulative_average(rng):
    bn = nn.BatchNorm1d(2, momentum=None, dtype=np.float64)
    batches = [rng.standard_normal((5, 2)) + i for i in range(3)]
    for b in batches:
        bn(b)
    assert_close(bn.running_mean, np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-10, atol=1e-12)


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval(rng):
    bn = nn.BatchNorm1d(3, track_running_stats=False, dtype=np.float64).eval()
    x = rng.standard_normal((7, 3))
    assert_close(bn(x), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-10, atol=1e-12)


def test_dropout_gradients_train_and_eval(rng):
    drop = nn.Dropout(0.3)
    x = rng.standard_normal((6, 7))
    check_module_gradients(drop, x, rng=rng, before_forward=lambda: pk.manual_seed(9))
    pk.manual_seed(9)
    y = drop(x)
    kept = y != 0
    assert 0 < kept.sum() < x.size
    assert_close(y[kept], x[kept] / 0.7)
    drop.eval()
    assert drop(x) is x
    check_module_gradients(drop, x, rng=rng)


def test_dropout_masks_follow_manual_seed(rng):
    x = np.ones((50, 40), np.float32)
    drop = nn.Dropout(0.5)
    pk.manual_seed(1)
    a, b = drop(x), drop(x)
    assert not np.array_equal(a, b), "consecutive calls must draw new masks"
    pk.manual_seed(1)
    np.testing.assert_array_equal(drop(x), a)
    assert abs((a == 0).mean() - 0.5) < 0.05
    assert np.array_equal(nn.Dropout(0.0)(x), x)
    with pytest.raises(ValueError, match="'p'"):
        nn.Dropout(1.0)


def _loss_cases(rng):
    logits = rng.standard_normal((6, 4))
    labels = rng.integers(0, 4, 6)
    labels[2] = 1
    probs = rng.dirichlet(np.ones(4), 6)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    target = rng.standard_normal((6, 4))
    w = rng.uniform(0.5, 2, 4)
    return [
        ("ce", nn.CrossEntropyLoss(), logits, labels),
        ("ce-weight-smooth", nn.CrossEntropyLoss(weight=w, label_smoothing=0.1), logits, labels),
        ("ce-ignore-sum", nn.CrossEntropyLoss(ignore_index=1, reduction="sum"), logits, labels),
        ("ce-probs", nn.CrossEntropyLoss(), logits, probs),
        ("nll", nn.NLLLoss(), logp, labels),
        ("nll-weight", nn.NLLLoss(weight=w), logp, labels),
        ("mse", nn.MSELoss(), logits, target),
        ("mse-sum", nn.MSELoss(reduction="sum"), logits, target),
        ("l1", nn.L1Loss(), logits, target),
        ("margin", nn.MultiMarginLoss(), logits, labels),
        ("margin-p2", nn.MultiMarginLoss(p=2, margin=0.5, weight=w), logits, labels),
    ]


@pytest.mark.parametrize("case", range(11))
def test_loss_gradients_finite_differences(case, rng):
    name, criterion, output, target = _loss_cases(rng)[case]
    output = np.array(output)
    loss = criterion(output, target)
    assert isinstance(loss, float)
    grad = criterion.backward()
    numeric = numerical_grad(lambda: criterion(output, target), output)
    assert_close(grad, numeric, rtol=1e-6, atol=1e-8, what=name)


def test_cross_entropy_value_and_scaled_backward(rng):
    logits = rng.standard_normal((5, 3))
    y = np.array([0, 2, 1, 1, 0])
    ce = nn.CrossEntropyLoss()
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert ce(logits, y) == pytest.approx(-logp[np.arange(5), y].mean(), rel=1e-12)
    full = ce.backward()
    ce(logits, y)
    assert_close(ce.backward(0.25), full * 0.25)
    with pytest.raises(RuntimeError, match="before"):
        ce.backward()
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="avg")


def test_loss_matches_pytorch(rng):
    torch = pytest.importorskip("torch")
    for name, criterion, output, target in _loss_cases(rng):
        kwargs = {"reduction": criterion.reduction}
        if getattr(criterion, "weight", None) is not None:
            kwargs["weight"] = torch.tensor(criterion.weight)
        cls = {"ce": torch.nn.CrossEntropyLoss, "nl": torch.nn.NLLLoss, "ms": torch.nn.MSELoss,
               "l1": torch.nn.L1Loss, "ma": torch.nn.MultiMarginLoss}[name[:2]]
        if cls is torch.nn.CrossEntropyLoss:
            kwargs.update(ignore_index=criterion.ignore_index, label_smoothing=criterion.label_smoothing)
        if cls is torch.nn.NLLLoss:
            kwargs.update(ignore_index=criterion.ignore_index)
        if cls is torch.nn.MultiMarginLoss:
            kwargs.update(p=criterion.p, margin=criterion.margin)
        out_t = torch.tensor(output, requires_grad=True)
        ref = cls(**kwargs)(out_t, torch.tensor(target))
        ref.backward()
        assert criterion(output, target) == pytest.approx(ref.item(), rel=1e-10), name
        assert_close(criterion.backward(), out_t.grad.numpy(), rtol=1e-10, atol=1e-12, what=name)


def test_linear_fused_activation_gradients(rng):
    for act, params in [("relu", {}), ("tanh", {}), ("leaky_relu", {"negative_slope": 0.1}), ("gelu", {})]:
        lin = nn.Linear(5, 4, activation=act, activation_params=params, dtype=np.float64)
        x = rng.standard_normal((6, 5))
        z = x @ lin.weight.data.T + lin.bias.data
        expected = nn.Activation(act, **params)(z)
        assert_close(lin(x), expected, rtol=1e-12, atol=1e-13)
        check_module_gradients(lin, x, rng=rng)


@pytest.mark.parametrize("training", [True, False])
def test_whole_mlp_gradients(training, rng):
    pk.manual_seed(2)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.GELU(), nn.Dropout(0.25),
                          nn.Residual(nn.Sequential(nn.Linear(8, 8), nn.Tanh())),
                          nn.Linear(8, 3)).double()
    model.train(training)
    check_module_gradients(model, rng.standard_normal((7, 5)), rng=rng,
                           before_forward=lambda: pk.manual_seed(4), rtol=1e-5, atol=1e-7)


def _backend_layers():
    return [
        ("linear-relu", lambda: nn.Linear(9, 5, activation="relu"), (7, 9)),
        ("gelu", lambda: nn.GELU(), (7, 9)),
        ("prelu", lambda: nn.PReLU(9), (7, 9)),
        ("bn1d", lambda: nn.BatchNorm1d(9), (7, 9)),
        ("bn2d", lambda: nn.BatchNorm2d(3), (4, 3, 2, 5)),
        ("dropout", lambda: nn.Dropout(0.3), (7, 9)),
        ("log_softmax", lambda: nn.LogSoftmax(1), (7, 9)),
    ]


@pytest.mark.parametrize("case", range(7), ids=[c[0] for c in _backend_layers()])
@pytest.mark.parametrize("training", [True, False])
def test_layers_same_on_every_backend(case, training, backend, rng):
    """A layer moved to a backend gives the cpu layer's output, input gradient,
    parameter gradients and running statistics (float32)."""
    _, make, shape = _backend_layers()[case]
    pk.manual_seed(6)
    ref = make().train(training)
    layer = make().train(training)
    layer.load_state_dict(ref.state_dict())
    layer.to(backend.name)
    x = rng.standard_normal(shape).astype(np.float32)
    pk.manual_seed(8)
    y_ref = ref(x)
    pk.manual_seed(8)
    y = layer(backend.put(x))
    g = rng.standard_normal(y_ref.shape).astype(np.float32)
    assert_close(backend.get(y), y_ref, rtol=1e-5, atol=1e-6, what="output")
    assert_close(backend.get(layer.backward(backend.put(g))), ref.backward(g), rtol=1e-4, atol=1e-5,
                 what="input gradient")
    for (name, p), (_, q) in zip(layer.named_parameters(), ref.named_parameters()):
        assert_close(backend.get(p.grad), q.grad, rtol=1e-4, atol=1e-5, what=name)
    for name, value in layer.state_dict().items():
        assert_close(value, ref.state_dict()[name], rtol=1e-5, atol=1e-6, what=name)


@pytest.mark.parametrize("make", [lambda: nn.ReLU(), lambda: nn.GELU(), lambda: nn.PReLU(3, dtype=np.float64),
                                  lambda: nn.Softmax(dim=1), lambda: nn.LogSoftmax(dim=1),
                                  lambda: nn.Dropout(0.4)])
def test_rejected_grad_out_leaves_the_module_ready(make, rng):
    """A bad grad_out raises, naming it, and a corrected call still works."""
    layer = make()
    x = rng.standard_normal((4, 3))
    pk.manual_seed(3)
    y = layer(x)
    with pytest.raises(ValueError, match="'grad_y'|'grad_out'|'mask'"):  # dropout: mask vs grad_y
        layer.backward(np.ones((4, 5)))
    grad = layer.backward(np.ones_like(y))
    assert grad.shape == x.shape
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones_like(y))


@pytest.mark.parametrize("p,training", [(0.0, True), (0.3, False)])
def test_identity_dropout_checks_its_arguments(p, training):
    drop = nn.Dropout(p)
    drop.train(training)
    with pytest.raises(TypeError, match="'x'"):
        drop(np.ones((2, 3), np.int64))
    with pytest.raises(ValueError, match="'x'"):
        drop(np.ones((3, 4))[:, ::2])
    x = np.ones((2, 3))
    assert drop(x) is x
    with pytest.raises(TypeError, match="'grad_out'"):
        drop.backward(np.ones((2, 3), np.int32))
