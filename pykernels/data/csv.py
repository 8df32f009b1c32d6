"""Images and labels exported from a spreadsheet as two CSV files.

images.csv: one image per row, comma-separated pixel values 0..255 (uint8);
labels.csv: one integer class label per row (the first column is used). An
optional header row of non-numbers is skipped in each file. Pixels are scaled
to [0, 1]; ``shape`` reshapes each row (e.g. (1, 28, 28)).
"""

from __future__ import annotations

import os

import numpy as np

from .dataset import TensorDataset


def _has_header(path) -> bool:
    with open(path, newline="") as f:
        for line in f:
            if line.strip():
                first = line.strip().split(",")[0].strip().strip('"')
                try:
                    float(first)
                except ValueError:
                    return True
                return False
    return False


def _read(path, what: str) -> np.ndarray:
    path = os.fspath(path)
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1 if _has_header(path) else 0,
                          dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{what} file {path!r} is not a CSV of numbers: {exc}") from exc
    return data


class CSVDataset(TensorDataset):
    """Pixels from ``images_csv`` scaled to [0, 1] and labels from ``labels_csv``.

    Raises ValueError naming the file if the pixels are not integers in
    0..255, labels are not non-negative integers, or the row counts differ.
    """

    def __init__(self, images_csv, labels_csv, *, shape=None, dtype=np.float32):
        pixels = _read(images_csv, "images")
        labels = _read(labels_csv, "labels")
        if pixels.size and (pixels.min() < 0 or pixels.max() > 255 or np.any(pixels != np.round(pixels))):
            raise ValueError(f"images file {os.fspath(images_csv)!r} must hold integers in 0..255")
        labels = labels[:, 0] if labels.size else labels.reshape(0)
        if labels.size and (labels.min() < 0 or np.any(labels != np.round(labels))):
            raise ValueError(f"labels file {os.fspath(labels_csv)!r} must hold non-negative integers")
        if len(labels) != len(pixels):
            raise ValueError(f"images file has {len(pixels)} rows but labels file has {len(labels)}")
        x = (pixels / 255.0).astype(dtype)
        if shape is not None:
            shape = tuple(int(s) for s in shape)
            if int(np.prod(shape)) != x.shape[1]:
                raise ValueError(f"argument 'shape' {shape} does not hold {x.shape[1]} pixels per row")
            x = x.reshape((len(x),) + shape)
        super().__init__(x, labels.astype(np.int64))
        self.num_classes = int(labels.max()) + 1 if labels.size else 0
