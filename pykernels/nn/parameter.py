"""Parameter: a trainable array with its gradient (``torch.nn.Parameter``).

``grad`` is None until a backward pass produces one; later backward passes add
to it (gradient accumulation) until ``zero_grad``. A frozen parameter
(requires_grad False) is given no gradient and optimizers skip it.
"""

from __future__ import annotations

from .._arrays import check_device, to_device


class Parameter:
    __slots__ = ("data", "grad", "requires_grad", "device")

    def __init__(self, data, requires_grad: bool = True, device: str = "cpu"):
        self.device = check_device(device)
        self.data = to_device(data, device)
        if self.data.dtype.kind != "f":
            raise TypeError(f"a Parameter holds floating-point values, got {self.data.dtype}")
        self.grad = None
        self.requires_grad = bool(requires_grad)

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self) -> int:
        return int(self.data.size)

    def accumulate_grad(self, g, *, owned: bool = True) -> None:
        """Add g to .grad (or make it .grad). ``owned``: g is a fresh array this
        parameter may keep; otherwise it is copied first."""
        if not self.requires_grad:
            return
        if g.shape != self.data.shape:
            raise ValueError(f"gradient of shape {g.shape} for a parameter of shape {self.data.shape}")
        if self.grad is None:
            self.grad = g if owned else g.copy()
        else:
            self.grad += g

    def to(self, device: str, dtype=None) -> "Parameter":
        """Move (in place) to a device and/or dtype; the gradient follows."""
        self.data = to_device(self.data, check_device(device), dtype)
        if self.grad is not None:
            self.grad = to_device(self.grad, device, dtype)
        self.device = device
        return self

    def __repr__(self):
        flag = "" if self.requires_grad else ", requires_grad=False"
        return f"Parameter(shape={tuple(self.shape)}, dtype={self.dtype}, device={self.device!r}{flag})"
