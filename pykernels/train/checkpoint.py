"""Checkpoints: model (and optimizer, scheduler, history...) state saved to one
.npz file, written atomically.

Atomic: the file is written to a temporary file in the same directory, flushed
and fsync'ed, then renamed over the target with os.replace (atomic on POSIX and
Windows). A crash or an error during the save leaves the previous checkpoint
intact and no partial file under the target name.

Format: NumPy's .npz with the arrays as members and the nesting (dicts,
lists, tuples, numbers, strings) as JSON in a "__structure__" member; loading
never unpickles, so loading a checkpoint cannot run code.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from .._arrays import to_numpy

_STRUCTURE = "__structure__"


def _encode(obj, arrays: list):
    if hasattr(obj, "__cuda_array_interface__") or isinstance(obj, np.ndarray):
        arrays.append(np.ascontiguousarray(to_numpy(obj)))
        return {"__array__": len(arrays) - 1}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        return {"__dict__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    raise TypeError(f"cannot save a {type(obj).__name__} in a checkpoint "
                    f"(arrays, numbers, strings, lists, tuples and dicts only)")


def _decode(obj, arrays):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if "__array__" in obj:
            return arrays[f"a{obj['__array__']}"]
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__dict__"]}
    return obj


def _state(obj):
    return obj.state_dict() if hasattr(obj, "state_dict") else obj


def save(model, path, *, optimizer=None, scheduler=None, epoch=None, history=None, extra=None) -> None:
    """Write a checkpoint of ``model`` (a Module or a state dict) and, if given,
    the optimizer's and scheduler's state, the epoch, a History and a dict of
    extra values, atomically."""
    checkpoint = {"model": _state(model)}
    if optimizer is not None:
        checkpoint["optimizer"] = _state(optimizer)
    if scheduler is not None:
        checkpoint["scheduler"] = _state(scheduler)
    if epoch is not None:
        checkpoint["epoch"] = int(epoch)
    if history is not None:
        checkpoint["history"] = history.as_dict() if hasattr(history, "as_dict") else history
    if extra is not None:
        checkpoint["extra"] = extra
    arrays: list = []
    structure = _encode(checkpoint, arrays)
    members = {f"a{i}": a for i, a in enumerate(arrays)}
    members[_STRUCTURE] = np.frombuffer(json.dumps(structure).encode(), dtype=np.uint8)

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **members)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        try:
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)


def load(path, model=None, *, optimizer=None, scheduler=None, strict: bool = True) -> dict:
    """Read a checkpoint written by save; returns it as a dict ("model",
    "optimizer", "scheduler", "epoch", "history", "extra" as saved). If a
    model, optimizer or scheduler is given, its state is loaded into it."""
    with np.load(os.fspath(path), allow_pickle=False) as npz:
        if _STRUCTURE not in npz.files:
            raise ValueError(f"{os.fspath(path)!r} is not a pykernels checkpoint")
        structure = json.loads(npz[_STRUCTURE].tobytes().decode())
        arrays = {name: npz[name] for name in npz.files if name != _STRUCTURE}
    checkpoint = _decode(structure, arrays)
    if model is not None:
        model.load_state_dict(checkpoint["model"], strict=strict)
    if optimizer is not None:
        if "optimizer" not in checkpoint:
            raise KeyError(f"checkpoint {os.fspath(path)!r} has no optimizer state")
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        if "scheduler" not in checkpoint:
            raise KeyError(f"checkpoint {os.fspath(path)!r} has no scheduler state")
        scheduler.load_state_dict(checkpoint["scheduler"])
    return checkpoint
