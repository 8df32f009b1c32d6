"""The package-level random state: a 64-bit seed, a Philox counter offset, and
a NumPy Generator for weight initialisation and default shuffles.

Like ``torch.manual_seed``: ``pk.manual_seed(seed)`` fixes every random draw
that is not given an explicit seed (dropout masks; shuffling and
initialisation use the same seed). Dropout calls without a seed take
``(seed, offset)`` from here and advance the offset past the Philox counters
they use (ceil(n / 4) for n elements), so successive calls draw independent
masks and the sequence of masks after ``manual_seed(s)`` is reproducible.
``numpy_generator()`` is a NumPy Generator re-created from the seed by every
manual_seed: initial weights (pk.nn.init) and the orders of loaders and splits
given no seed of their own come from it, so they are reproducible too.
"""

from __future__ import annotations

import threading

import numpy as np

# torch.initial_seed() of a fresh PyTorch process (its default_generator seed).
DEFAULT_SEED = 67280421310721
_MASK64 = (1 << 64) - 1

_lock = threading.Lock()
_seed = DEFAULT_SEED
_offset = 0
_generator = np.random.default_rng(DEFAULT_SEED)


def normalize_seed(seed, name: str = "seed") -> int:
    """A seed as an unsigned 64-bit integer. As torch.manual_seed, values in
    [-2**63, 2**64) are accepted and a negative seed s maps to 0xffff_ffff_ffff_ffff + s."""
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise TypeError(f"argument '{name}' must be an int, got {type(seed).__name__}")
    seed = int(seed)
    if not -(1 << 63) <= seed <= _MASK64:
        raise ValueError(f"argument '{name}' must be in [-2**63, 2**64), got {seed}")
    if seed < 0:
        seed = _MASK64 + seed
    return seed


def manual_seed(seed) -> int:
    """Seed pykernels' generator and restart its counter; returns the seed used
    (as an unsigned 64-bit integer). Like ``torch.manual_seed``."""
    global _seed, _offset, _generator
    value = normalize_seed(seed)
    with _lock:
        _seed = value
        _offset = 0
        _generator = np.random.default_rng(value)
    return value


def initial_seed() -> int:
    """The seed last given to manual_seed (or the default). Like ``torch.initial_seed``."""
    return _seed


def philox_seed_offset(blocks: int) -> tuple[int, int]:
    """Reserve ``blocks`` Philox counters: returns (seed, first offset) and
    advances the package offset past them."""
    global _offset
    if blocks < 0:
        raise ValueError(f"argument 'blocks' must be non-negative, got {blocks}")
    with _lock:
        start = _offset
        _offset = (_offset + blocks) & _MASK64
        return _seed, start


def numpy_generator() -> np.random.Generator:
    """The Generator behind initialisation and default shuffles (reset by manual_seed)."""
    return _generator


def get_rng_state() -> dict:
    """Seed, Philox offset and Generator state, for set_rng_state."""
    with _lock:
        return {"seed": _seed, "offset": _offset, "generator": _generator.bit_generator.state}


def set_rng_state(state: dict) -> None:
    global _seed, _offset, _generator
    generator = np.random.default_rng()
    generator.bit_generator.state = state["generator"]
    with _lock:
        _seed = normalize_seed(state["seed"])
        _offset = int(state["offset"])
        _generator = generator
