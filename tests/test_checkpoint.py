"""Checkpoints: round trip, atomic replacement (a crash while saving leaves the
previous checkpoint intact), the format version and SHA-256 checksum (every
truncation and every flipped byte is rejected with CheckpointError naming the
file), loading all or nothing (a failed load changes no model, optimizer or
scheduler), and no unpickling on load."""

import hashlib
import io
import json
import os
import re
import struct
import zipfile

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
    real_write = ckpt._write_archive

    def crashing_write(f, members):
        real_write(f, members)  # a complete temporary file ...
        f.write(b"garbage")
        raise KeyboardInterrupt("simulated crash")  # ... but the process dies before the rename

    monkeypatch.setattr(ckpt, "_write_archive", crashing_write)
    with pytest.raises(KeyboardInterrupt):
        train.save(_model(1), path, epoch=2)
    monkeypatch.undo()
    restored = _model(2)
    got = train.load(path, restored)
    assert got["epoch"] == 1
    np.testing.assert_array_equal(restored[0].weight.data, old[0].weight.data)
    assert os.listdir(tmp_path) == ["run.npz"], "the temporary file was left behind"


def test_crash_while_writing_an_array_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.npz"
    train.save(_model(0), path, epoch=1)
    real_write_array = np.lib.format.write_array
    calls = []

    def failing_write_array(f, array, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            f.write(b"\0" * 10)
            raise OSError("No space left on device")
        real_write_array(f, array, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing_write_array)
    with pytest.raises(OSError, match="No space"):
        train.save(_model(1), path, epoch=2)
    monkeypatch.undo()
    assert train.load(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["run.npz"]


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
    with pytest.raises(train.CheckpointError, match="not a pykernels checkpoint"):
        train.load(path)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(train.CheckpointError, match="not a pykernels checkpoint"):
        train.load(text)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(train.CheckpointError, match="empty.npz"):
        train.load(empty)


def test_save_rejects_unknown_objects(tmp_path):
    with pytest.raises(TypeError, match="cannot save"):
        train.save({"w": np.zeros(2)}, tmp_path / "x.npz", extra={"f": object()})


def test_load_wrong_shape_into_model_raises(tmp_path):
    path = tmp_path / "run.npz"
    train.save(_model(0), path)
    with pytest.raises(ValueError, match="shape"):
        train.load(path, nn.Sequential(nn.Linear(3, 6), nn.Linear(6, 2)))
    # The first layer fits, the second does not: the first is not loaded either.
    target = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 4))
    before = _weights(target)
    with pytest.raises(ValueError, match="shape"):
        train.load(path, target)
    _assert_unchanged(target, before)


# ------------------------------------------------------------ format, checksum, all or nothing

def _trained(seed=0):
    """A model, an optimizer with state and a scheduler, after two steps."""
    model = _model(seed)
    opt = pk.optim.Adam(model.parameters(), lr=0.01)
    sched = pk.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    x = np.random.default_rng(seed).standard_normal((4, 3)).astype(np.float32)
    for _ in range(2):
        opt.zero_grad()
        out = model(x)
        model.backward(np.ones_like(out))
        opt.step()
        sched.step()
    return model, opt, sched


def _weights(model):
    return {k: (id(p.data), p.data.copy()) for k, p in model.named_parameters()}


def _assert_unchanged(model, before):
    after = _weights(model)
    assert after.keys() == before.keys()
    for k in before:
        assert after[k][0] == before[k][0], f"{k} was replaced"
        np.testing.assert_array_equal(after[k][1], before[k][1], err_msg=k)


def _saved_bytes(tmp_path):
    model, opt, sched = _trained()
    path = tmp_path / "run.npz"
    train.save(model, path, optimizer=opt, scheduler=sched, epoch=2)
    return path, path.read_bytes()


def _craft(path, members: dict, trailer=b"pykernels-checkpoint 1 sha256:"):
    """A file in the checkpoint layout with arbitrary members (raw .npy bytes
    or arrays) and a trailer whose checksum is correct."""
    with open(path, "w+b") as f:
        with zipfile.ZipFile(f, "w") as zf:
            for name, value in members.items():
                if isinstance(value, np.ndarray):
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, value, allow_pickle=True)
                    value = buf.getvalue()
                zf.writestr(name, value)
            zf.comment = trailer + b"0" * 64
        ckpt._seal(f)


def _structure(obj):
    return np.frombuffer(json.dumps(obj).encode(), np.uint8)


def test_file_is_an_npz_ending_with_version_and_sha256(tmp_path):
    path, data = _saved_bytes(tmp_path)
    m = re.search(rb"pykernels-checkpoint (\d+) sha256:([0-9a-f]{64})\Z", data)
    assert m and m.group(1) == b"1"
    assert hashlib.sha256(data[:-64]).hexdigest().encode() == m.group(2)
    with np.load(path, allow_pickle=False) as npz:  # still a plain .npz
        assert "__structure__" in npz.files and "a0" in npz.files
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        assert zf.comment == data[-len(zf.comment):]


def _load_bytes(monkeypatch, name, data):
    """pk.train.load of a file holding ``data`` (served from memory: thousands
    of variants are tried, and disk writes would dominate the time)."""
    monkeypatch.setattr(ckpt, "_read_bytes", lambda path: data)
    return train.load(name)


def test_every_truncation_is_rejected(tmp_path, monkeypatch):
    path, data = _saved_bytes(tmp_path)
    for length in range(len(data)):
        with pytest.raises(train.CheckpointError, match="cut.npz"):
            _load_bytes(monkeypatch, "cut.npz", data[:length])
    (tmp_path / "cut.npz").write_bytes(data[:-1])  # and once from a real file
    with pytest.raises(train.CheckpointError, match="cut.npz"):
        train.load(tmp_path / "cut.npz")


def test_every_flipped_byte_is_rejected(tmp_path, monkeypatch):
    path, data = _saved_bytes(tmp_path)
    assert _load_bytes(monkeypatch, "intact.npz", data)["epoch"] == 2
    for pos in range(len(data)):
        for bit in (0x01, 0x80) if pos % 7 == 0 else (0x01,):
            corrupted = bytearray(data)
            corrupted[pos] ^= bit
            try:
                _load_bytes(monkeypatch, "flipped.npz", bytes(corrupted))
            except train.CheckpointError as exc:
                assert "flipped.npz" in str(exc)
            else:
                pytest.fail(f"flipping bit {bit:#x} of byte {pos} of {len(data)} was not detected")


def _positions(data):
    """Byte offsets of named places in a checkpoint file."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    info = zf.getinfo("a0.npy")
    # The local header is 30 bytes plus the name and extra field; the .npy data follows.
    at = info.header_offset
    name_len, extra_len = struct.unpack("<HH", data[at + 26:at + 30])
    npy = info.header_offset + 30 + name_len + extra_len
    header_len = struct.unpack("<H", data[npy + 8:npy + 10])[0]
    eocd = data.rindex(b"PK\x05\x06")
    central = data.index(b"PK\x01\x02")
    trailer = data.rindex(b"pykernels-checkpoint")
    return {
        "local header signature": info.header_offset + 1,
        "local header timestamp": info.header_offset + 10,
        "npy magic": npy + 2,
        "npy header (dtype, shape)": npy + 10 + header_len // 2,
        "array data": npy + 10 + header_len + 5,
        "central directory signature": central + 2,
        "central directory timestamp": central + 12,
        "central directory CRC": central + 16,
        "central directory name": central + 46,
        "end of central directory record": eocd + 12,
        "trailer comment length": eocd + 20,
        "trailer magic": trailer + 3,
        "trailer version": trailer + len("pykernels-checkpoint "),
        "trailer digest": len(data) - 10,
        "last byte": len(data) - 1,
    }


PLACES = ["local header signature", "local header timestamp", "npy magic",
          "npy header (dtype, shape)", "array data", "central directory signature",
          "central directory timestamp", "central directory CRC", "central directory name",
          "end of central directory record", "trailer comment length", "trailer magic",
          "trailer version", "trailer digest", "last byte"]


@pytest.mark.parametrize("where", PLACES)
def test_flipped_byte_at_named_places(tmp_path, where):
    path, data = _saved_bytes(tmp_path)
    pos = _positions(data)[where]
    corrupted = bytearray(data)
    corrupted[pos] ^= 0x04
    path.write_bytes(bytes(corrupted))
    model, opt, sched = _trained(seed=5)
    before = _weights(model)
    with pytest.raises(train.CheckpointError, match="run.npz") as info:
        train.load(path, model, optimizer=opt, scheduler=sched)
    _assert_unchanged(model, before)
    if where in ("array data", "npy header (dtype, shape)", "central directory timestamp"):
        assert "checksum" in str(info.value)


def test_wrong_format_version_is_rejected(tmp_path):
    path = tmp_path / "future.npz"
    _craft(path, {"__structure__.npy": _structure({"__dict__": [["model", {"__dict__": []}]]})},
           trailer=b"pykernels-checkpoint 2 sha256:")
    with pytest.raises(train.CheckpointError, match="future.npz.*format version 2"):
        train.load(path)
    _craft(path, {"__structure__.npy": _structure({"__dict__": [["model", {"__dict__": []}]]})})
    assert train.load(path) == {"model": {}}  # the same file with version 1 loads


def test_missing_version_is_rejected(tmp_path):
    path = tmp_path / "noversion.npz"
    _craft(path, {"__structure__.npy": _structure({"__dict__": [["model", {"__dict__": []}]]})},
           trailer=b"pykernels-checkpoint sha256:")
    with pytest.raises(train.CheckpointError, match="noversion.npz.*trailer"):
        train.load(path)


def test_checkpoint_of_the_older_format_is_rejected(tmp_path):
    """Before format version 1, checkpoints were a bare .npz (no trailer):
    they cannot be verified, so they are refused with a message saying why."""
    path = tmp_path / "old.npz"
    weight = np.ones((2, 3), np.float32)
    model = {"__dict__": [["w", {"__array__": 0}]]}
    np.savez(path, __structure__=_structure({"__dict__": [["model", model]]}), a0=weight)
    with pytest.raises(train.CheckpointError, match="old.npz.*older"):
        train.load(path)


UNPICKLED = []


def _record_unpickling():
    UNPICKLED.append(1)
    return 0


class _Payload:
    def __reduce__(self):
        return (_record_unpickling, ())


@pytest.mark.parametrize("members,needle", [
    ({"__structure__.npy": _structure({"__dict__": [["model", {"__array__": 0}]]}),
      "a0.npy": np.array([_Payload()], dtype=object)}, "malformed"),  # pickled, valid checksum
    ({"__structure__.npy": _structure({"__dict__": [["model", {"__array__": 3}]]}),
      "a0.npy": np.zeros(2)}, "malformed"),  # reference to a missing array
    ({"__structure__.npy": _structure({"__dict__": [["model", {"__dict__": []}]]}),
      "a0.npy": np.zeros(2), "evil.npy": np.zeros(2)}, "malformed"),  # unexpected member
    ({"__structure__.npy": np.frombuffer(b"{not json", np.uint8)}, "malformed"),
    ({"a0.npy": np.zeros(2)}, "malformed"),  # no structure
    ({"__structure__.npy": _structure([1, 2])}, "malformed"),  # not a dict with a model
    ({"__structure__.npy": b"\x93NUMPY garbage"}, "malformed"),
], ids=["pickle", "missing array", "extra member", "bad json", "no structure", "not a checkpoint dict",
        "bad npy"])
def test_verified_but_malformed_files_are_rejected(tmp_path, members, needle):
    path = tmp_path / "crafted.npz"
    _craft(path, members)
    with pytest.raises(train.CheckpointError, match=f"crafted.npz.*{needle}"):
        train.load(path)
    assert not UNPICKLED, "loading a checkpoint unpickled an object"


def test_failed_optimizer_load_leaves_model_and_optimizer_unchanged(tmp_path):
    """The model's state loads, then the optimizer's is rejected halfway (its
    last parameters have other shapes): everything is restored."""
    source, _, _ = _trained(seed=1)
    other = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 4))  # same first layer, other last layer
    other_opt = pk.optim.Adam(other.parameters(), lr=0.01)
    for p in other.parameters():
        p.grad = np.ones_like(p.data)
    other_opt.step()
    path = tmp_path / "mixed.npz"
    train.save(source, path, optimizer=other_opt,
               scheduler=pk.optim.lr_scheduler.StepLR(other_opt, step_size=3))

    model, opt, sched = _trained(seed=2)
    before = _weights(model)
    state_before = {id(p): {k: (id(v), np.array(v, copy=True)) if isinstance(v, np.ndarray) else v
                            for k, v in s.items()} for p, s in opt.state.items()}
    lr_before = [g["lr"] for g in opt.param_groups]
    sched_before = dict(vars(sched))
    with pytest.raises(ValueError, match="shape"):
        train.load(path, model, optimizer=opt, scheduler=sched)
    _assert_unchanged(model, before)
    assert [g["lr"] for g in opt.param_groups] == lr_before
    assert {id(p) for p in opt.state} == set(state_before)
    for p, s in opt.state.items():
        for k, v in s.items():
            if isinstance(v, np.ndarray):
                assert id(v) == state_before[id(p)][k][0]
                np.testing.assert_array_equal(v, state_before[id(p)][k][1])
            else:
                assert v == state_before[id(p)][k]
    assert vars(sched) == sched_before
    opt.step()  # still usable


def test_missing_optimizer_state_leaves_model_unchanged(tmp_path):
    path = tmp_path / "model_only.npz"
    train.save(_trained(seed=3)[0], path)
    model, opt, _ = _trained(seed=4)
    before = _weights(model)
    with pytest.raises(KeyError, match="optimizer"):
        train.load(path, model, optimizer=opt)
    _assert_unchanged(model, before)


def test_full_round_trip_resumes_identically(tmp_path):
    model, opt, sched = _trained(seed=6)
    path = tmp_path / "resume.npz"
    train.save(model, path, optimizer=opt, scheduler=sched, epoch=2)
    model2, opt2, sched2 = _trained(seed=7)
    got = train.load(path, model2, optimizer=opt2, scheduler=sched2)
    assert got["epoch"] == 2
    x = np.random.default_rng(8).standard_normal((4, 3)).astype(np.float32)
    for m, o, s in ((model, opt, sched), (model2, opt2, sched2)):
        o.zero_grad()
        out = m(x)
        m.backward(np.ones_like(out))
        o.step()
        s.step()
    for (_, p), (_, q) in zip(model.named_parameters(), model2.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert sched.get_last_lr() == sched2.get_last_lr()
