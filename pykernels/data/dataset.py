"""Datasets: indexable collections of samples, as ``torch.utils.data``.

A dataset returns one sample per index; datasets that can return a whole batch
at once implement ``__getitems__(indices)`` (as PyTorch 2 does), which the
DataLoader uses to gather a batch with one fancy-indexing call per array
instead of stacking samples one by one.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .. import random as pk_random


class Dataset:
    """Base class (``torch.utils.data.Dataset``): ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} does not implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not implement __len__")


class TensorDataset(Dataset):
    """Samples are rows of equally long arrays (``torch.utils.data.TensorDataset``)."""

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        arrays = tuple(np.asarray(a) for a in arrays)
        n = len(arrays[0]) if arrays[0].ndim else None
        for i, a in enumerate(arrays):
            if a.ndim == 0 or len(a) != n:
                raise ValueError(f"argument {i} has {len(a) if a.ndim else 0} rows but argument 0 "
                                 f"has {n}: every array needs the same first dimension")
        self.arrays = arrays

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def __getitems__(self, indices):
        indices = np.asarray(indices, dtype=np.int64)
        return tuple(a[indices] for a in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __repr__(self):
        shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"TensorDataset({shapes})"


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (``torch.utils.data.Subset``)."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def __getitems__(self, indices):
        indices = self.indices[np.asarray(indices, dtype=np.int64)]
        if hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(indices)
        return collate([self.dataset[int(i)] for i in indices])

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def arrays(self):
        """The underlying arrays restricted to this subset, when the base has arrays."""
        return self.__getitems__(np.arange(len(self)))


def collate(samples):
    """Stack a list of samples (tuples of arrays or scalars) into a batch."""
    first = samples[0]
    if isinstance(first, tuple):
        return tuple(np.stack([np.asarray(s[i]) for s in samples]) for i in range(len(first)))
    return np.stack([np.asarray(s) for s in samples])


def _split_lengths(lengths, n: int) -> list[int]:
    lengths = list(lengths)
    if not lengths:
        raise ValueError("argument 'lengths' is empty")
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in lengths):
        counts = [int(v) for v in lengths]
        if any(v < 0 for v in counts):
            raise ValueError(f"argument 'lengths' has a negative count: {counts}")
        if sum(counts) != n:
            raise ValueError(f"argument 'lengths' sums to {sum(counts)}, but the dataset has {n} samples")
        return counts
    fractions = [float(v) for v in lengths]
    if any(not 0 <= f <= 1 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-9):
        raise ValueError(f"argument 'lengths' must be counts summing to {n} or fractions summing to 1, "
                         f"got {lengths}")
    # PyTorch's rule: floor each share, then hand the remainder out round-robin.
    counts = [int(math.floor(n * f)) for f in fractions]
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    return counts


def random_split(dataset: Dataset, lengths, *, seed=None) -> list[Subset]:
    """Split into non-overlapping random subsets (``torch.utils.data.random_split``).

    ``lengths`` are counts summing to len(dataset), or fractions summing to 1
    (each share floored, the remainder given out one by one from the first).
    ``seed`` fixes the permutation; without it the package generator
    (pk.manual_seed) draws it.
    """
    n = len(dataset)
    counts = _split_lengths(lengths, n)
    rng = np.random.default_rng(seed) if seed is not None else pk_random.numpy_generator()
    perm = rng.permutation(n)
    subsets, start = [], 0
    for c in counts:
        subsets.append(Subset(dataset, perm[start:start + c]))
        start += c
    return subsets
