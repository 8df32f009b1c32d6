"""z-score standardisation of features: (x - mean) / std per feature, fitted on
the training split only so no statistics leak from validation or test data
(``sklearn.preprocessing.StandardScaler``). Features of zero variance are
divided by 1."""

from __future__ import annotations

import numpy as np

from .dataset import Dataset, TensorDataset


def _features(data) -> np.ndarray:
    if isinstance(data, Dataset):
        arrays = data.arrays if hasattr(data, "arrays") else data.__getitems__(np.arange(len(data)))
        return np.asarray(arrays[0])
    return np.asarray(data)


class Standardizer:
    """Fit per-feature mean and std on training data, then transform any split.

    Features are everything but the first (sample) axis. ``transform`` takes an
    array or a dataset (whose first array is standardised; a new TensorDataset
    is returned).
    """

    def __init__(self, eps: float = 0.0):
        self.eps = float(eps)
        self.mean = None
        self.std = None

    def fit(self, data) -> "Standardizer":
        x = _features(data).astype(np.float64)
        if len(x) == 0:
            raise ValueError("argument 'data' is empty: nothing to fit")
        self.mean = x.mean(axis=0)
        std = np.sqrt(x.var(axis=0) + self.eps)
        self.std = np.where(std > 0, std, 1.0)
        return self

    def transform(self, data):
        if self.mean is None:
            raise RuntimeError("Standardizer.transform called before fit")
        if isinstance(data, Dataset):
            arrays = data.arrays if hasattr(data, "arrays") else data.__getitems__(np.arange(len(data)))
            return TensorDataset(self.transform(arrays[0]), *arrays[1:])
        x = np.asarray(data)
        if x.shape[1:] != self.mean.shape:
            raise ValueError(f"argument 'data' has features of shape {x.shape[1:]}, "
                             f"fitted on {self.mean.shape}")
        dtype = x.dtype if x.dtype.kind == "f" else np.float32
        return ((x - self.mean) / self.std).astype(dtype)

    def fit_transform(self, data):
        return self.fit(data).transform(data)

    def inverse_transform(self, x):
        x = np.asarray(x)
        return (x * self.std + self.mean).astype(x.dtype)

    def state_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "eps": self.eps}

    def load_state_dict(self, state: dict) -> None:
        self.mean = np.asarray(state["mean"])
        self.std = np.asarray(state["std"])
        self.eps = float(state.get("eps", 0.0))
