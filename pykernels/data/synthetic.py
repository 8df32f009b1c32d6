"""Two-dimensional toy classification sets, as in the TensorFlow Playground
(playground.tensorflow.org, src/dataset.ts), with labels 0/1 (the Playground's
-1/+1) and an n_classes generalisation for spirals and blobs.

noise is the Playground's slider divided by 100 (0 to 0.5). Each function
returns (x float (n, 2), y int64 (n,)); ``seed`` fixes the draw, otherwise the
package generator (pk.manual_seed) is used.
"""

from __future__ import annotations

import numpy as np

from .. import random as pk_random


def _rng(seed):
    return np.random.default_rng(seed) if seed is not None else pk_random.numpy_generator()


def _check(n_samples, noise, n_classes=2):
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 0:
        raise ValueError(f"argument 'n_samples' must be a non-negative int, got {n_samples!r}")
    if not noise >= 0:
        raise ValueError(f"argument 'noise' must be non-negative, got {noise!r}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"argument 'n_classes' must be an int of at least 2, got {n_classes!r}")


def _per_class(n_samples, n_classes):
    counts = [n_samples // n_classes] * n_classes
    for i in range(n_samples % n_classes):
        counts[i] += 1
    return counts


def _pack(parts, dtype):
    x = np.concatenate([p[0] for p in parts]).astype(dtype) if parts else np.empty((0, 2), dtype)
    y = np.concatenate([p[1] for p in parts]).astype(np.int64) if parts else np.empty(0, np.int64)
    return x, y


def make_spiral(n_samples=500, *, noise=0.0, n_classes=2, seed=None, dtype=np.float32):
    """Interleaved spiral arms: r = 5 i / n, t = 3.5 pi i / n + 2 pi k / n_classes,
    plus uniform noise in [-noise, noise] on each coordinate."""
    _check(n_samples, noise, n_classes)
    rng = _rng(seed)
    parts = []
    for k, n in enumerate(_per_class(n_samples, n_classes)):
        i = np.arange(n, dtype=np.float64)
        r = i / max(n, 1) * 5.0
        t = 1.75 * i / max(n, 1) * 2.0 * np.pi + 2.0 * np.pi * k / n_classes
        xy = np.stack([r * np.sin(t), r * np.cos(t)], axis=1) + rng.uniform(-1, 1, (n, 2)) * noise
        parts.append((xy, np.full(n, k)))
    return _pack(parts, dtype)


def make_circles(n_samples=500, *, noise=0.0, seed=None, dtype=np.float32):
    """A disc of radius 2.5 (class 1) inside a ring 3.5..5 (class 0); the label
    is decided after adding noise in [-5, 5] * noise, as the Playground does."""
    _check(n_samples, noise)
    rng = _rng(seed)
    radius = 5.0
    parts = []
    for lo, hi, n in ((0.0, 0.5 * radius, n_samples - n_samples // 2), (0.7 * radius, radius, n_samples // 2)):
        r = rng.uniform(lo, hi, n)
        angle = rng.uniform(0, 2 * np.pi, n)
        xy = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
        noisy = xy + rng.uniform(-radius, radius, (n, 2)) * noise
        label = (np.hypot(noisy[:, 0], noisy[:, 1]) < radius * 0.5).astype(np.int64)
        parts.append((xy, label))
    return _pack(parts, dtype)


def make_xor(n_samples=500, *, noise=0.0, seed=None, dtype=np.float32):
    """Points uniform in [-5, 5]^2 pushed 0.3 away from the axes; class 1 where
    x * y >= 0 (after noise in [-5, 5] * noise)."""
    _check(n_samples, noise)
    rng = _rng(seed)
    xy = rng.uniform(-5, 5, (n_samples, 2))
    xy += np.where(xy > 0, 0.3, -0.3)
    noisy = xy + rng.uniform(-5, 5, (n_samples, 2)) * noise
    label = (noisy[:, 0] * noisy[:, 1] >= 0).astype(np.int64)
    return _pack([(xy, label)], dtype)


def make_blobs(n_samples=500, *, noise=0.0, n_classes=2, seed=None, dtype=np.float32):
    """Gaussian blobs of variance 0.5 + 7 * noise (the Playground's scale from
    0.5 at noise 0 to 4 at noise 0.5) around centres on a circle of radius
    2 sqrt 2; with two classes the centres are (2, 2) (class 0) and (-2, -2)."""
    _check(n_samples, noise, n_classes)
    rng = _rng(seed)
    std = np.sqrt(0.5 + 7.0 * noise)
    parts = []
    for k, n in enumerate(_per_class(n_samples, n_classes)):
        angle = np.pi / 4 + 2 * np.pi * k / n_classes
        centre = 2 * np.sqrt(2) * np.array([np.cos(angle), np.sin(angle)])
        parts.append((rng.normal(centre, std, (n, 2)), np.full(n, k)))
    return _pack(parts, dtype)


def load_digits(*, dtype=np.float32):
    """scikit-learn's 8x8 handwritten digits (1797 images, 10 classes) as
    (x (1797, 64) scaled to [0, 1], y int64). Needs scikit-learn
    (pip install pykernels[datasets])."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as exc:
        raise ImportError("load_digits needs scikit-learn: pip install pykernels[datasets]") from exc
    bunch = sk_load_digits()
    return (bunch.data / 16.0).astype(dtype), bunch.target.astype(np.int64)


DATASETS = {"spiral": make_spiral, "circles": make_circles, "xor": make_xor, "blobs": make_blobs,
            "digits": load_digits}
