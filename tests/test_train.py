"""pk.train.fit: history, validation, early stopping restoring the best
weights, checkpoints, gradient accumulation and clipping, scheduler stepping,
progress output, and History.plot; pk.nn.utils.clip_grad_norm_."""

import math

import numpy as np
import pytest

import pykernels as pk
from pykernels import data, nn, optim, train
from pykernels.optim import lr_scheduler


def _spiral_loaders(seed=0, n=300, batch=32):
    x, y = data.make_spiral(n, noise=0.05, seed=seed)
    tr, va = data.random_split(data.TensorDataset(x, y), [0.8, 0.2], seed=seed)
    return (data.DataLoader(tr, batch_size=batch, shuffle=True, seed=seed),
            data.DataLoader(va, batch_size=256))


def _mlp(width=32, dtype=np.float32):
    return nn.Sequential(nn.Linear(2, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, 2)).to(dtype=dtype)


def test_fit_records_history_and_learns(capsys):
    pk.manual_seed(0)
    tr, va = _spiral_loaders()
    model = _mlp()
    history = train.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), tr,
                        epochs=60, val_loader=va, progress=False)
    assert history.epochs == 60
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"}
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["val_accuracy"][-1] > 0.8
    assert capsys.readouterr().err == ""  # progress=False: silent
    assert model.training
    assert model.needs_input_grad  # fit skips the input gradient only while it runs


def test_progress_lines(capsys):
    pk.manual_seed(0)
    tr, va = _spiral_loaders(n=64)
    model = _mlp()
    train.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), tr, epochs=2,
              val_loader=va, progress=True)
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "val_acc" in err


def test_early_stopping_stops_and_restores_best_weights():
    pk.manual_seed(1)
    rng = np.random.default_rng(1)
    # Random labels: the model memorises the training set and the validation
    # loss rises after a few epochs.
    xt, yt = rng.standard_normal((64, 2)).astype(np.float32), rng.integers(0, 2, 64)
    xv, yv = rng.standard_normal((64, 2)).astype(np.float32), rng.integers(0, 2, 64)
    tr = data.DataLoader(data.TensorDataset(xt, yt), batch_size=16, shuffle=True, seed=0)
    va = data.DataLoader(data.TensorDataset(xv, yv), batch_size=64)
    model = _mlp(width=128)
    stopper = train.EarlyStopping(patience=3)
    history = train.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=3e-2), tr,
                        epochs=200, val_loader=va, early_stopping=stopper, progress=False)
    assert history.stopped_epoch is not None and history.epochs < 200
    val = history["val_loss"]
    best = int(np.argmin(val))
    assert history.best_epoch == best and history.epochs == best + 1 + 3
    restored = train.evaluate(model, va, nn.CrossEntropyLoss())["loss"]
    assert restored == pytest.approx(val[best], rel=1e-6)
    assert restored < val[-1]


def test_early_stopping_patience_int_and_train_loss_monitor():
    stopper = train.EarlyStopping(patience=2)

    class Stub:
        def state_dict(self):
            return {}

    assert [stopper.update(v, i, Stub()) for i, v in enumerate([3, 2, 2.5, 2.1, 1.0])] == \
        [False, False, False, True, False]
    with pytest.raises(ValueError, match="patience"):
        train.EarlyStopping(patience=-1)


def test_checkpoint_written_every_epoch_and_loadable(tmp_path):
    pk.manual_seed(0)
    tr, va = _spiral_loaders(n=64)
    model = _mlp()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    path = tmp_path / "run.npz"
    train.fit(model, nn.CrossEntropyLoss(), opt, tr, epochs=3, val_loader=va, checkpoint=path, progress=False)
    fresh = _mlp()
    fresh_opt = optim.Adam(fresh.parameters(), lr=1e-2)
    got = train.load(path, fresh, optimizer=fresh_opt)
    assert got["epoch"] == 2 and len(got["history"]["history"]["loss"]) == 3
    for (_, p), (_, q) in zip(model.named_parameters(), fresh.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    for p, q in zip(model.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(opt.state[p]["exp_avg"], fresh_opt.state[q]["exp_avg"])
        assert fresh_opt.state[q]["step"] == opt.state[p]["step"]


def test_gradient_accumulation_equals_big_batch():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 2)), rng.integers(0, 2, 64)
    ds = data.TensorDataset(x, y)
    results = []
    for batch, accum in ((32, 1), (8, 4)):
        pk.manual_seed(5)
        model = _mlp(dtype=np.float64)
        train.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                  data.DataLoader(ds, batch_size=batch), epochs=2, grad_accum_steps=accum, progress=False)
        results.append(model.state_dict())
    for name in results[0]:
        np.testing.assert_allclose(results[1][name], results[0][name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_clip_grad_norm():
    a = nn.Parameter(np.array([3.0, 0.0]))
    b = nn.Parameter(np.array([[0.0, 4.0]]))
    frozen = nn.Parameter(np.array([100.0]), requires_grad=False)
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([[0.0, 4.0]])
    total = nn.utils.clip_grad_norm_([a, b, frozen], max_norm=1.0)
    assert total == pytest.approx(5.0)
    assert math.hypot(*a.grad, *b.grad.ravel()) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad, [0.6, 0.0], rtol=1e-5)
    assert nn.utils.clip_grad_norm_([a, b], max_norm=10.0) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad, [0.6, 0.0], rtol=1e-5)  # below max_norm: unchanged


def test_fit_with_clipping_bounds_the_update():
    pk.manual_seed(0)
    model = _mlp(dtype=np.float64)
    before = [p.data.copy() for p in model.parameters()]
    x = np.random.default_rng(0).standard_normal((16, 2)) * 100
    loader = data.DataLoader(data.TensorDataset(x, np.zeros(16, np.int64)), batch_size=16)
    train.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1.0), loader, epochs=1,
              clip_grad_norm=0.5, progress=False)
    step = math.sqrt(sum(float(((p.data - b) ** 2).sum()) for p, b in zip(model.parameters(), before)))
    assert step == pytest.approx(0.5, rel=1e-4)


def test_scheduler_stepped_per_epoch_and_on_plateau():
    pk.manual_seed(0)
    tr, va = _spiral_loaders(n=64)
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = train.fit(model, nn.CrossEntropyLoss(), opt, tr, epochs=4, val_loader=va,
                        scheduler=lr_scheduler.StepLR(opt, step_size=1, gamma=0.5), progress=False)
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025, 0.0125])

    class Flat(nn.Module):  # a model whose validation loss never improves
        def forward(self, x):
            return np.zeros((len(x), 2), np.float32)

        def backward(self, g):
            return g

    p = nn.Parameter(np.zeros(1, np.float32))
    opt = optim.SGD([p], lr=1.0)
    plateau = lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    history = train.fit(Flat(), nn.CrossEntropyLoss(), opt, tr, epochs=5, val_loader=va,
                        scheduler=plateau, progress=False)
    assert history["lr"] == [1.0, 1.0, 1.0, 0.5, 0.5]
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        train.fit(Flat(), nn.CrossEntropyLoss(), opt, tr, epochs=1, scheduler=plateau,
                  scheduler_interval="step", progress=False)


def test_history_plot(tmp_path):
    pytest.importorskip("matplotlib", reason="History.plot needs matplotlib")
    h = train.History()
    for i in range(5):
        h.append(loss=1 / (i + 1), accuracy=i / 5, val_loss=1.2 / (i + 1), val_accuracy=None, lr=0.1, time=0.01)
    h.best_epoch = 4
    path = tmp_path / "curves.png"
    h.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert train.History.from_dict(h.as_dict()).history == h.history


def test_fit_bad_arguments():
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    tr, _ = _spiral_loaders(n=32)
    with pytest.raises(ValueError, match="grad_accum_steps"):
        train.fit(model, nn.CrossEntropyLoss(), opt, tr, epochs=1, grad_accum_steps=0)
