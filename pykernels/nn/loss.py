"""Loss modules (``torch.nn.CrossEntropyLoss``, ``NLLLoss``, ``MSELoss``,
``L1Loss``, ``MultiMarginLoss``) on the fused loss kernels.

``loss = criterion(output, target)`` runs one kernel that returns the loss and
its gradient with respect to ``output`` together (for cross-entropy: softmax,
log-likelihood and gradient in one pass over each row); the loss comes back as
a Python float (an array with reduction="none") and ``criterion.backward()``
returns the kept gradient. ``backward(scale)`` multiplies it by a number
first, e.g. 1/k when k batches' gradients are accumulated.
"""

from __future__ import annotations

from .._arrays import to_device
from . import _kernels as K
from .module import Module

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    kernel = ""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"argument 'reduction' must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction
        self._grad = None

    def _options(self) -> dict:
        return {}

    def forward(self, output, target):
        loss, self._grad = K.require(self.kernel)(output, target, reduction=self.reduction,
                                                  **self._options(), **K.dev(self.device))
        if self.reduction == "none":
            return loss
        return float(loss)

    def backward(self, scale: float = 1.0):
        """d loss / d output (times ``scale``)."""
        if self._grad is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before the loss was computed")
        grad, self._grad = self._grad, None
        if scale != 1.0:
            grad *= scale  # the kernel's fresh gradient array: scaled in place
        return grad

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", None if weight is None else to_device(weight, "cpu"))


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy of logits (N, C) with class indices (N,) or class
    probabilities (N, C); class weights, ignore_index and label smoothing as
    ``torch.nn.CrossEntropyLoss``."""

    kernel = "cross_entropy"

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(weight, reduction)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def _options(self):
        return {"weight": self.weight, "ignore_index": self.ignore_index,
                "label_smoothing": self.label_smoothing}


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities (N, C) (``torch.nn.NLLLoss``)."""

    kernel = "nll_loss"

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(weight, reduction)
        self.ignore_index = int(ignore_index)

    def _options(self):
        return {"weight": self.weight, "ignore_index": self.ignore_index}


class MSELoss(_Loss):
    """Mean squared error (``torch.nn.MSELoss``)."""

    kernel = "mse_loss"


class L1Loss(_Loss):
    """Mean absolute error (``torch.nn.L1Loss``)."""

    kernel = "l1_loss"


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss sum_{i != y} max(0, margin - x_y + x_i)^p / C
    (``torch.nn.MultiMarginLoss``)."""

    kernel = "hinge_loss"

    def __init__(self, p: int = 1, margin: float = 1.0, weight=None, reduction: str = "mean"):
        super().__init__(weight, reduction)
        if p not in (1, 2):
            raise ValueError(f"argument 'p' must be 1 or 2, got {p!r}")
        self.p, self.margin = p, float(margin)

    def _options(self):
        return {"p": self.p, "margin": self.margin, "weight": self.weight}
