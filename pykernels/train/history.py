"""History: per-epoch metrics of a training run (like Keras's History).

``history.history`` maps a metric name ("loss", "accuracy", "val_loss",
"val_accuracy", "lr", "time") to its list of per-epoch values;
``plot(path)`` draws the loss and accuracy curves to a PNG (needs matplotlib).
"""

from __future__ import annotations

import math
import os


class History:
    def __init__(self, history=None, best_epoch=None, stopped_epoch=None):
        self.history: dict[str, list] = {k: list(v) for k, v in (history or {}).items()}
        self.best_epoch = best_epoch
        self.stopped_epoch = stopped_epoch

    def append(self, **metrics) -> None:
        n = self.epochs
        for name, value in metrics.items():
            column = self.history.setdefault(name, [None] * n)
            column.append(None if value is None else float(value))
        for name, column in self.history.items():
            if len(column) < n + 1:
                column.append(None)

    @property
    def epochs(self) -> int:
        return max((len(v) for v in self.history.values()), default=0)

    def __getitem__(self, name: str) -> list:
        return self.history[name]

    def __contains__(self, name: str) -> bool:
        return name in self.history

    def last(self, name: str):
        column = self.history.get(name)
        return column[-1] if column else None

    def as_dict(self) -> dict:
        return {"history": self.history, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(d.get("history"), d.get("best_epoch"), d.get("stopped_epoch"))

    def plot(self, path) -> None:
        """Loss (and accuracy, when recorded) against the epoch, train and
        validation, saved as a PNG. Needs matplotlib (pip install pykernels[train])."""
        try:
            import matplotlib
            matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError("History.plot needs matplotlib: pip install pykernels[train]") from exc
        panels = [name for name in ("loss", "accuracy") if name in self.history]
        if not panels:
            raise ValueError("nothing to plot: the history has neither loss nor accuracy")
        fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
        epochs = list(range(1, self.epochs + 1))
        for ax, name in zip(axes[0], panels):
            for key, label in ((name, "train"), ("val_" + name, "validation")):
                values = self.history.get(key)
                if values and any(v is not None and math.isfinite(v) for v in values):
                    ax.plot(epochs, [math.nan if v is None else v for v in values], marker=".", label=label)
            if self.best_epoch is not None:
                ax.axvline(self.best_epoch + 1, color="grey", linestyle=":", label="best")
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        fig.savefig(os.fspath(path), format="png", dpi=100)
        plt.close(fig)

    def __repr__(self):
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v and v[-1] is not None)
        return f"History({self.epochs} epochs{': ' + last if last else ''})"
