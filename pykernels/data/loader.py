"""Batches of a dataset, shuffled and moved to a device (``torch.utils.data.DataLoader``).

Shuffling draws a new permutation each epoch from a Generator that lives as long
as the loader: seeded by ``seed`` when given, otherwise from pk.manual_seed's
generator when the loader is created, so a fixed seed gives the same batches
in every run.
"""

from __future__ import annotations

import math

import numpy as np

from .. import random as pk_random
from .._arrays import check_device, to_device
from .dataset import Dataset, collate


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` samples.

    shuffle: a new random order each epoch; drop_last: skip a final short
    batch; seed: fixes the shuffle order; device: where batches are put
    ("cpu", "cuda-emu" as NumPy arrays, "cuda" as CuPy arrays); dtype: cast
    floating-point arrays of each batch to this dtype (labels keep theirs).
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed=None, device: str = "cpu", dtype=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"argument 'batch_size' must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"argument 'batch_size' must be at least 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.device = check_device(device)
        self.dtype = np.dtype(dtype) if dtype is not None else None
        if seed is None:
            seed = int(pk_random.numpy_generator().integers(0, 2**63))
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _fetch(self, indices):
        if hasattr(self.dataset, "__getitems__"):
            batch = self.dataset.__getitems__(indices)
        else:
            batch = collate([self.dataset[int(i)] for i in indices])
        single = not isinstance(batch, tuple)
        batch = (batch,) if single else batch
        moved = tuple(self._move(a) for a in batch)
        return moved[0] if single else moved

    def _move(self, a):
        a = np.asarray(a) if not hasattr(a, "__cuda_array_interface__") else a
        dtype = self.dtype if self.dtype is not None and a.dtype.kind == "f" else None
        return to_device(a, self.device, dtype)

    def __iter__(self):
        n = len(self.dataset)
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            yield self._fetch(order[b * self.batch_size:(b + 1) * self.batch_size])

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, batch_size="
                f"{self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last}, "
                f"device={self.device!r})")
