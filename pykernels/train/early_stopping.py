"""Early stopping: stop after ``patience`` epochs in a row without improvement of a
monitored metric, remembering the weights of the best epoch (Keras's
EarlyStopping with restore_best_weights; improvement means better than the
best so far by more than min_delta)."""

from __future__ import annotations

import math


class EarlyStopping:
    def __init__(self, patience: int = 5, *, min_delta: float = 0.0, monitor=None, mode: str = "min",
                 restore_best_weights: bool = True):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"argument 'patience' must be a non-negative int, got {patience!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"argument 'mode' must be 'min' or 'max', got {mode!r}")
        self.patience = patience
        self.min_delta = abs(float(min_delta))
        self.monitor = monitor  # None: "val_loss" when validating, else "loss"
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self.reset()

    def reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = None
        self.best_state = None
        self.wait = 0

    def improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float, epoch: int, model) -> bool:
        """Record an epoch's metric; True when training should stop."""
        if math.isnan(value):
            self.wait += 1
        elif self.improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_state = model.state_dict()
        else:
            self.wait += 1
        return self.wait >= self.patience
