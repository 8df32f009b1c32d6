"""Checkpoints: round trip, atomic replacement (a crash while saving leaves the
previous checkpoint intact), and no unpickling on load."""

import os

import numpy as np
import pytest

import pykernels as pk
from pykernels import nn, train
from pykernels.train import checkpoint as ckpt


def _model(seed):
    pk.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2))


def test_round_trip(tmp_path):
    path = tmp_path / "run.npz"
    model = _model(0)
    history = train.History()
    history.append(loss=1.0, accuracy=0.5)
    extra = {"tuple": (1, 2.5), "nested": [{"a": np.arange(3)}, None, "s"], 4: "int key"}
    train.save(model, path, epoch=3, history=history, extra=extra)
    other = _model(1)
    got = train.load(path, other)
    for (_, p), (_, q) in zip(model.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert got["epoch"] == 3
    assert got["history"]["history"]["loss"] == [1.0]
    assert got["extra"]["tuple"] == (1, 2.5) and got["extra"][4] == "int key"
    np.testing.assert_array_equal(got["extra"]["nested"][0]["a"], np.arange(3))
    assert os.listdir(tmp_path) == ["run.npz"]


def test_crash_during_save_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    old = _model(0)
    train.save(old, path, epoch=1)
    real_savez = np.savez

    def crashing_savez(f, **members):
        real_savez(f, **members)  # a complete temporary file ...
        f.write(b"garbage")
        raise KeyboardInterrupt("simulated crash")  # ... but the process dies before the rename

    monkeypatch.setattr(ckpt.np, "savez", crashing_savez)
    with pytest.raises(KeyboardInterrupt):
        train.save(_model(1), path, epoch=2)
    monkeypatch.undo()
    restored = _model(2)
    got = train.load(path, restored)
    assert got["epoch"] == 1
    np.testing.assert_array_equal(restored[0].weight.data, old[0].weight.data)
    assert os.listdir(tmp_path) == ["run.npz"], "the temporary file was left behind"


def test_crash_at_rename_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    train.save(_model(0), path, epoch=1)

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        train.save(_model(1), path, epoch=2)
    monkeypatch.undo()
    assert train.load(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["run.npz"]


def test_load_rejects_foreign_files(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(ValueError, match="not a pykernels checkpoint"):
        train.load(path)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, __structure__=np.frombuffer(b'{"model": {"__array__": 0}}', np.uint8),
             a0=np.array([object()], dtype=object))
    with pytest.raises(ValueError):
        train.load(pickled)


def test_save_rejects_unknown_objects(tmp_path):
    with pytest.raises(TypeError, match="cannot save"):
        train.save({"w": np.zeros(2)}, tmp_path / "x.npz", extra={"f": object()})


def test_load_wrong_shape_into_model_raises(tmp_path):
    path = tmp_path / "run.npz"
    train.save(_model(0), path)
    with pytest.raises(ValueError, match="shape"):
        train.load(path, nn.Sequential(nn.Linear(3, 6), nn.Linear(6, 2)))
