"""Model-level checks: a 3-layer MLP with BatchNorm and Dropout(p=0) trained
with each optimizer gives the same losses step by step as the pure-NumPy model
in tests/reference/mlp.py; on cuda-emu the same model and seed gives the same
losses as on cpu; on the digits data set it reaches 97% test accuracy."""

import time

import numpy as np
import pytest

import pykernels as pk
from pykernels import data, nn, optim, train

from reference.mlp import NumpyMLP, NumpyOptimizer

OPTIMIZERS = [
    ("sgd", optim.SGD, dict(lr=0.1)),
    ("sgd", optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=1e-3)),
    ("sgd", optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("adam", optim.Adam, dict(lr=1e-2)),
    ("adam", optim.Adam, dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=1e-2, amsgrad=True)),
    ("adamw", optim.AdamW, dict(lr=1e-2, weight_decay=0.1)),
    ("rmsprop", optim.RMSprop, dict(lr=1e-2)),
    ("rmsprop", optim.RMSprop, dict(lr=1e-3, momentum=0.9, centered=True, weight_decay=1e-3)),
    ("adagrad", optim.Adagrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
]


def _mlp(n_in=6, h1=16, h2=12, n_out=4, p=0.0, dtype=np.float64, device="cpu"):
    return nn.Sequential(nn.Linear(n_in, h1), nn.BatchNorm1d(h1), nn.ReLU(), nn.Dropout(p),
                         nn.Linear(h1, h2), nn.BatchNorm1d(h2), nn.ReLU(), nn.Dropout(p),
                         nn.Linear(h2, n_out)).to(device, dtype)


@pytest.mark.parametrize("kind,cls,hp", OPTIMIZERS, ids=[f"{k}{i}" for i, (k, _, _) in enumerate(OPTIMIZERS)])
def test_mlp_losses_match_numpy_step_by_step(kind, cls, hp):
    rng = np.random.default_rng(7)
    pk.manual_seed(7)
    model = _mlp()
    reference = NumpyMLP(model.state_dict())
    ref_opt = NumpyOptimizer(kind, **hp)
    opt = cls(model.parameters(), **hp)
    criterion = nn.CrossEntropyLoss()
    batches = [(rng.standard_normal((10, 6)), rng.integers(0, 4, 10)) for _ in range(4)]
    for step in range(20):
        x, y = batches[step % 4]
        opt.zero_grad()
        loss = criterion(model(x), y)
        model.backward(criterion.backward())
        opt.step()
        ref_loss, grads = reference.loss_and_grads(x, y)
        ref_opt.step(reference.p, grads)
        assert loss == pytest.approx(ref_loss, rel=1e-5), f"step {step}"
    for name, value in model.state_dict().items():
        if "num_batches" not in name:
            np.testing.assert_allclose(value, reference.p[name], rtol=1e-5, atol=1e-8, err_msg=name)
    model.eval()
    ref_eval, _ = reference.loss_and_grads(batches[0][0], batches[0][1], training=False)
    assert criterion(model(batches[0][0]), batches[0][1]) == pytest.approx(ref_eval, rel=1e-5)


def _run_steps(device, steps=6):
    pk.manual_seed(11)
    model = _mlp(p=0.2, dtype=np.float32, device=device)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    criterion = nn.CrossEntropyLoss().to(device)
    rng = np.random.default_rng(3)
    losses = []
    for _ in range(steps):
        x = rng.standard_normal((8, 6)).astype(np.float32)
        y = rng.integers(0, 4, 8)
        opt.zero_grad()
        losses.append(criterion(model(x), y))
        model.backward(criterion.backward())
        opt.step()
    return losses, model.state_dict()


def test_cuda_emu_same_losses_as_cpu():
    cpu_losses, cpu_state = _run_steps("cpu")
    emu_losses, emu_state = _run_steps("cuda-emu")
    np.testing.assert_allclose(emu_losses, cpu_losses, rtol=1e-4)
    for name in cpu_state:
        if name in ("0.bias", "4.bias", "1.running_mean", "5.running_mean"):
            # A bias feeding batch norm has zero gradient up to rounding noise,
            # which Adam normalises into steps of size lr: it drifts differently
            # on each backend (and shifts the running mean) without changing
            # any output.
            continue
        np.testing.assert_allclose(emu_state[name], cpu_state[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_digits_mlp_reaches_97_percent():
    pytest.importorskip("sklearn", reason="the digits data set comes from scikit-learn "
                                          "(pip install pykernels[test])")
    start = time.perf_counter()
    pk.manual_seed(0)
    x, y = data.load_digits()
    full = data.TensorDataset(x, y)
    train_set, test_set = data.random_split(full, [0.8, 0.2], seed=0)
    scaler = data.Standardizer().fit(train_set)
    train_set, test_set = scaler.transform(train_set), scaler.transform(test_set)
    model = nn.Sequential(nn.Linear(64, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(128, 10))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loader = data.DataLoader(train_set, batch_size=32, shuffle=True, seed=0)
    history = train.fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=30, progress=False)
    result = train.evaluate(model, data.DataLoader(test_set, batch_size=256), nn.CrossEntropyLoss())
    elapsed = time.perf_counter() - start
    assert history["loss"][-1] < history["loss"][0]
    assert result["accuracy"] >= 0.97, f"test accuracy {result['accuracy']:.4f}"
    assert elapsed < 60, f"took {elapsed:.1f} s"


def test_mlp_values_and_gradients_match_pytorch():
    torch = pytest.importorskip("torch")
    pk.manual_seed(4)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.GELU(), nn.Dropout(0.0),
                          nn.Linear(16, 8, activation="tanh"), nn.Linear(8, 4)).double()
    ref = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.BatchNorm1d(16), torch.nn.GELU(),
                              torch.nn.Dropout(0.0), torch.nn.Linear(16, 8), torch.nn.Tanh(),
                              torch.nn.Linear(8, 4)).double()
    names = {"0": "0", "1": "1", "4": "4", "5": "6"}  # pk index -> torch index
    state = {f"{names[k.split('.')[0]]}.{k.split('.', 1)[1]}": torch.tensor(v)
             for k, v in model.state_dict().items()}
    ref.load_state_dict(state)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 6)), rng.integers(0, 4, 12)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.05)
    loss = criterion(model(x), y)
    model.backward(criterion.backward())
    ref_loss = torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y), label_smoothing=0.05)
    ref_loss.backward()
    assert loss == pytest.approx(ref_loss.item(), rel=1e-12)
    ref_params = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        q = ref_params[f"{names[name.split('.')[0]]}.{name.split('.', 1)[1]}"]
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(model[1].running_var, ref[1].running_var.numpy(), rtol=1e-12)
