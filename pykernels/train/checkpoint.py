"""Checkpoints: model (and optimizer, scheduler, history...) state saved to one
file, written atomically, versioned and checksummed, loaded all or nothing.

Format (version 1): a ZIP archive readable by ``numpy.load`` (an .npz): one
.npy member per array ("a0.npy", "a1.npy", ...) and the nesting (dicts, lists,
tuples, numbers, strings) as JSON in "__structure__.npy", the arrays stored
as {"__array__": index}. The archive comment, the last bytes of the file, is
the trailer

    pykernels-checkpoint 1 sha256:<64 hex digits>

where 1 is the format version and the digest is the SHA-256 of every byte of
the file before the 64 digits: the arrays' headers (dtype, shape) and data,
the JSON, the ZIP headers and directory, and the trailer's own prefix. Any
changed, missing or added byte makes the load fail.

Atomic save: the file is written to a temporary file in the same directory,
flushed and fsync'ed, then renamed over the target with os.replace (atomic on
POSIX and Windows), and the directory is fsync'ed. A crash or an error during
the save leaves the previous checkpoint intact and no partial file under the
target name.

Load: the whole file is read and verified (trailer, version, checksum, then
the archive's members and structure) before anything is decoded, and the
states are given to the model, optimizer and scheduler only after the file
was read completely; if one of them rejects its state (a shape that does not
match, ...), the ones already loaded are restored, so a failed load changes
nothing. A truncated, corrupted or unverifiable file raises CheckpointError (a
ValueError) naming the file. Loading never unpickles, so it cannot run code.
Files without the trailer (written before format version 1) are rejected:
they cannot be verified.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import zipfile

import numpy as np

from .._arrays import to_numpy

FORMAT_VERSION = 1
_MAGIC = b"pykernels-checkpoint"
_DIGEST_HEX = 64
_TRAILER = re.compile(rb"pykernels-checkpoint ([0-9]{1,9}) sha256:([0-9a-f]{64})\Z")
_STRUCTURE = "__structure__"
_CHUNK = 1 << 20


class CheckpointError(ValueError):
    """A checkpoint file that cannot be loaded: truncated, corrupted, of an
    unsupported format version, or not a pykernels checkpoint."""


# ------------------------------------------------------------------ encoding
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


def _decode(obj, arrays: list):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if "__array__" in obj:
            index = obj["__array__"]
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(arrays):
                raise ValueError(f"array reference {index!r} out of range")
            return arrays[index]
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__dict__"]}
    return obj


def _state(obj):
    return obj.state_dict() if hasattr(obj, "state_dict") else obj


# ------------------------------------------------------------------ saving
def _trailer(digest_hex: bytes) -> bytes:
    return _MAGIC + b" %d sha256:" % FORMAT_VERSION + digest_hex


def _write_archive(f, members: dict) -> None:
    """The ZIP archive (as numpy.savez writes it: stored, ZIP64 members), its
    comment a trailer whose digest is still a placeholder."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in members.items():
            with zf.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
        zf.comment = _trailer(b"0" * _DIGEST_HEX)


def _seal(f) -> None:
    """Writes the SHA-256 of the file's bytes before the digest into the trailer."""
    end = f.seek(0, os.SEEK_END)
    covered = end - _DIGEST_HEX
    f.seek(0)
    digest = hashlib.sha256()
    remaining = covered
    while remaining:
        block = f.read(min(_CHUNK, remaining))
        if not block:
            raise OSError("the checkpoint file shrank while it was being written")
        digest.update(block)
        remaining -= len(block)
    f.seek(covered)
    f.write(digest.hexdigest().encode())


def save(model, path, *, optimizer=None, scheduler=None, epoch=None, history=None, extra=None) -> None:
    """Write a checkpoint of ``model`` (a Module or a state dict) and, if given,
    the optimizer's and scheduler's state, the epoch, a History and a dict of
    extra values (arrays, numbers, strings, lists, tuples, dicts), atomically,
    in format version 1 with a SHA-256 checksum (see the module docstring).
    On any error the previous file at ``path``, if any, is left as it was."""
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
    members = {_STRUCTURE: np.frombuffer(json.dumps(structure).encode(), dtype=np.uint8)}
    members.update((f"a{i}", a) for i, a in enumerate(arrays))

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w+b") as f:
            _write_archive(f, members)
            _seal(f)
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


# ------------------------------------------------------------------ reading
def _unverifiable(path: str, data: bytes) -> CheckpointError:
    """The error for a file that does not end with a valid trailer, saying
    what the file looks like."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names, comment = zf.namelist(), zf.comment
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return CheckpointError(f"{path!r} is not a pykernels checkpoint, or it is truncated or "
                               f"corrupted (it does not end with a checkpoint trailer)")
    if comment:
        return CheckpointError(f"checkpoint {path!r} is corrupted (or not a pykernels checkpoint): "
                               f"its trailer {comment[:48]!r} is not 'pykernels-checkpoint "
                               f"<version> sha256:<digest>'")
    if _STRUCTURE + ".npy" in names:
        return CheckpointError(
            f"checkpoint {path!r} has no format version or checksum: it was written by a "
            f"pykernels older than checkpoint format version {FORMAT_VERSION} (or altered), "
            f"and is not loaded because it cannot be verified; save it again with this version")
    return CheckpointError(f"{path!r} is not a pykernels checkpoint (no checkpoint trailer)")


def _verify(path: str, data: bytes) -> None:
    """Trailer, checksum and format version of a checkpoint's bytes. The
    checksum is checked first: a damaged version number is reported as damage."""
    match = _TRAILER.search(data[-128:])
    if match is None:
        raise _unverifiable(path, data)
    stored = match.group(2).decode()
    computed = hashlib.sha256(memoryview(data)[:len(data) - _DIGEST_HEX]).hexdigest()
    if stored != computed:
        raise CheckpointError(f"checkpoint {path!r} is corrupted: its SHA-256 checksum does not "
                              f"match its contents (stored {stored[:16]}..., computed "
                              f"{computed[:16]}...)")
    version = int(match.group(1))
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path!r} has format version {version}; this pykernels "
                              f"reads version {FORMAT_VERSION} only")


def _parse(path: str, data: bytes) -> dict:
    """The checkpoint in verified bytes, every member read before returning."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            names = list(npz.files)
            if _STRUCTURE not in names:
                raise ValueError(f"no {_STRUCTURE!r} member")
            count = len(names) - 1
            expected = {_STRUCTURE} | {f"a{i}" for i in range(count)}
            if len(set(names)) != len(names) or set(names) != expected:
                raise ValueError(f"unexpected members {sorted(set(names) - expected)}")
            structure = json.loads(npz[_STRUCTURE].tobytes().decode("utf-8"))
            arrays = [npz[f"a{i}"] for i in range(count)]
        checkpoint = _decode(structure, arrays)
        if not isinstance(checkpoint, dict) or "model" not in checkpoint:
            raise ValueError("the structure is not a checkpoint (a dict with a 'model' entry)")
        return checkpoint
    except CheckpointError:
        raise
    except (ValueError, KeyError, TypeError, EOFError, OSError, UnicodeDecodeError,
            zipfile.BadZipFile) as exc:
        raise CheckpointError(f"checkpoint {path!r} is malformed: {type(exc).__name__}: {exc}") from exc


def _read_bytes(path: str) -> bytes:
    # Verified and parsed from the same bytes: the file cannot change in between.
    with open(path, "rb") as f:
        return f.read()


def read(path) -> dict:
    """The checkpoint at ``path`` as a dict ("model", "optimizer", "scheduler",
    "epoch", "history", "extra" as saved), fully read and verified; raises
    CheckpointError for a truncated, corrupted or unsupported file."""
    path = os.fspath(path)
    data = _read_bytes(path)
    _verify(path, data)
    return _parse(path, data)


# ------------------------------------------------------------------ applying
def _module_snapshot(model):
    """A function restoring the model's parameters (data and grad) and buffers
    to the arrays they hold now (load_state_dict rebinds, never writes in place)."""
    saved = []
    for _, mod in model.named_modules():
        params = dict(mod._parameters)
        values = {name: (p, p.data, p.grad) for name, p in params.items() if p is not None}
        saved.append((mod, params, values, dict(mod._buffers)))

    def restore():
        for mod, params, values, buffers in saved:
            mod._parameters.clear()
            mod._parameters.update(params)
            for p, data, grad in values.values():
                p.data, p.grad = data, grad
            mod._buffers.clear()
            for name, value in buffers.items():
                if value is None:
                    mod._buffers[name] = None
                else:
                    mod._set_buffer(name, value)
    return restore


def _optimizer_snapshot(optimizer):
    attrs = dict(vars(optimizer))
    state = optimizer.state
    entries = {p: (entry, dict(entry)) for p, entry in state.items()}
    groups = optimizer.param_groups
    group_items = [(g, dict(g)) for g in groups]

    def restore():
        vars(optimizer).clear()
        vars(optimizer).update(attrs)
        state.clear()
        for p, (entry, items) in entries.items():
            entry.clear()
            entry.update(items)
            state[p] = entry
        groups[:] = [g for g, _ in group_items]
        for g, items in group_items:
            g.clear()
            g.update(items)
    return restore


def _plain_snapshot(obj):
    attrs = dict(vars(obj))

    def restore():
        vars(obj).clear()
        vars(obj).update(attrs)
    return restore


def load(path, model=None, *, optimizer=None, scheduler=None, strict: bool = True) -> dict:
    """Read a checkpoint written by save; returns it as a dict ("model",
    "optimizer", "scheduler", "epoch", "history", "extra" as saved). If a
    model, optimizer or scheduler is given, its state is loaded into it.

    All or nothing: the file is read and verified completely first
    (CheckpointError, a ValueError naming the file, if it is truncated,
    corrupted, of another format version or not a checkpoint); then the states
    are loaded, and if one is rejected (KeyError for missing or unexpected
    keys, ValueError / TypeError for a shape or dtype that does not match),
    whatever was already loaded is restored before the error propagates."""
    path = os.fspath(path)
    checkpoint = read(path)
    wanted = [("model", model), ("optimizer", optimizer), ("scheduler", scheduler)]
    for key, target in wanted:
        if target is not None and key not in checkpoint:
            raise KeyError(f"checkpoint {path!r} has no {key} state")
    undo = []
    try:
        if model is not None:
            undo.append(_module_snapshot(model))
            model.load_state_dict(checkpoint["model"], strict=strict)
        if optimizer is not None:
            undo.append(_optimizer_snapshot(optimizer))
            optimizer.load_state_dict(checkpoint["optimizer"])
        if scheduler is not None:
            undo.append(_plain_snapshot(scheduler))
            scheduler.load_state_dict(checkpoint["scheduler"])
    except BaseException:
        for restore in reversed(undo):
            restore()
        raise
    return checkpoint
