"""Module: the base of layers and models (``torch.nn.Module``), with explicit
backward passes.

``forward(x)`` computes the output and keeps what ``backward`` will need (and
nothing more); ``backward(grad_out)`` returns the gradient with respect to the
input and adds the parameter gradients into each ``Parameter.grad``, so several
backward passes before ``zero_grad`` accumulate, as in PyTorch.

Attributes that are Parameters or Modules are registered by assignment;
buffers (running statistics...) with ``register_buffer``. ``self.device`` is
where the parameters live; layers pass it to the kernels so that "cuda-emu"
(NumPy arrays run through the emulated CUDA kernels) works like "cuda".
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterator

import numpy as np

from .._arrays import check_device, to_device, to_numpy
from .parameter import Parameter


class Module:
    training: bool
    # False: the gradient of this module's input is never used (its input is
    # data), so backward may skip computing it and return None. Linear skips
    # its grad_x GEMM; Sequential hands the setting to its first module.
    needs_input_grad = True

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "device", "cpu")

    # -------------------------------------------------------------- registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 f"before assigning {name!r}")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            self._buffers[name] = value  # e.g. a running statistic updated with +=
            object.__setattr__(self, name, value)
            return
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, param) -> None:
        """Register a Parameter, or None for an absent one (e.g. bias=False)."""
        object.__setattr__(self, name, param)
        if param is not None:
            self._parameters[name] = param

    def register_buffer(self, name: str, array) -> None:
        """A state array that is saved in state_dict and moved by to(), but not trained."""
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    def _set_buffer(self, name: str, array) -> None:
        self._buffers[name] = array
        object.__setattr__(self, name, array)

    # -------------------------------------------------------------- running
    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, grad_out):
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -------------------------------------------------------------- traversal
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def children(self) -> Iterator["Module"]:
        yield from self._modules.values()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        seen = set()
        for mod_name, mod in self.named_modules(prefix):
            for name, p in mod._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, object]]:
        for mod_name, mod in self.named_modules(prefix):
            for name, b in mod._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self):
        for _, b in self.named_buffers():
            yield b

    # -------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget gradients (set to None, PyTorch's default, or to zero)."""
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad[...] = 0

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze every parameter."""
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
            if not requires_grad:
                p.grad = None
        return self

    # -------------------------------------------------------------- moving
    def to(self, device: str | None = None, dtype=None) -> "Module":
        """Move parameters, gradients and buffers to a device ("cpu", "cuda",
        "cuda-emu") and/or cast floating-point ones to dtype, in place.
        Optimizers hold the Parameter objects, so they follow (their state is
        moved on their next step)."""
        if device is None and dtype is None:
            return self
        for m in self.modules():
            target = m.device if device is None else check_device(device)
            for p in m._parameters.values():
                p.to(target, dtype)
            for name, b in list(m._buffers.items()):
                if b is not None:
                    cast = dtype if dtype is not None and b.dtype.kind == "f" else None
                    m._set_buffer(name, to_device(b, target, cast))
            object.__setattr__(m, "device", target)
            m._moved()
        return self

    def _moved(self) -> None:
        """Hook for layers that cache device-dependent state: drop it."""

    def double(self) -> "Module":
        return self.to(dtype=np.float64)

    def float(self) -> "Module":
        return self.to(dtype=np.float32)

    # -------------------------------------------------------------- state
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Parameters and buffers by dotted name, as host NumPy copies (safe to
        keep while training goes on, and to save)."""
        state = OrderedDict()
        for mod_name, mod in self.named_modules():
            for table in (mod._parameters, mod._buffers):
                for name, v in table.items():
                    if v is None:
                        continue
                    array = v.data if isinstance(v, Parameter) else v
                    state[f"{mod_name}.{name}" if mod_name else name] = np.array(to_numpy(array), copy=True)
        return state

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values into this module's parameters and buffers, checking
        every shape and dtype; with strict, missing or unexpected keys raise
        KeyError. Returns (missing_keys, unexpected_keys)."""
        own = OrderedDict()
        for mod_name, mod in self.named_modules():
            for table in (mod._parameters, mod._buffers):
                for name, v in table.items():
                    if v is not None:
                        own[f"{mod_name}.{name}" if mod_name else name] = (mod, table, name, v)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"state_dict does not match {type(self).__name__}: missing keys "
                           f"{missing}, unexpected keys {unexpected}")
        # Every value is checked and converted before any is applied, so a bad
        # entry leaves the module exactly as it was.
        updates = []
        for key, (mod, table, name, current) in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            target = current.data if isinstance(current, Parameter) else current
            shape = tuple(getattr(value, "shape", np.shape(value)))
            if shape != tuple(target.shape):
                raise ValueError(f"state_dict['{key}'] has shape {shape}, the module's is "
                                 f"{tuple(target.shape)}")
            vdtype = np.dtype(getattr(value, "dtype", np.asarray(value).dtype))
            if vdtype != target.dtype and not (vdtype.kind == target.dtype.kind == "i"):
                raise TypeError(f"state_dict['{key}'] has dtype {vdtype}, the module's is {target.dtype}")
            updates.append((mod, name, current, to_device(value, mod.device, target.dtype)))
        for mod, name, current, array in updates:
            if isinstance(current, Parameter):
                current.data = array
                current.grad = None
            else:
                mod._set_buffer(name, array)
        return missing, unexpected

    # -------------------------------------------------------------- printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied in order (``torch.nn.Sequential``); backward runs them in reverse."""

    def __init__(self, *modules: Module):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (OrderedDict, dict)):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential takes Modules, got {type(m).__name__} for {name!r}")
            setattr(self, name, m)

    def __getitem__(self, index):
        layers = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module: Module) -> "Sequential":
        setattr(self, str(len(self._modules)), module)
        module.to(self.device)
        return self

    @property
    def needs_input_grad(self) -> bool:
        first = next(iter(self._modules.values()), None)
        return True if first is None else first.needs_input_grad

    @needs_input_grad.setter
    def needs_input_grad(self, flag: bool) -> None:
        first = next(iter(self._modules.values()), None)
        if first is not None:
            first.needs_input_grad = bool(flag)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def backward(self, grad_out):
        for m in reversed(list(self._modules.values())):
            grad_out = m.backward(grad_out)
        return grad_out


class Flatten(Module):
    """Flatten dimensions start_dim..end_dim into one (``torch.nn.Flatten``); a view."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim
        self._shape = None

    def forward(self, x):
        self._shape = x.shape
        nd = x.ndim
        s = self.start_dim % nd if nd else 0
        e = self.end_dim % nd if nd else 0
        if s > e:
            return x
        flat = 1
        for d in x.shape[s:e + 1]:
            flat *= d
        return x.reshape(x.shape[:s] + (flat,) + x.shape[e + 1:])

    def backward(self, grad_out):
        if self._shape is None:
            raise RuntimeError("Flatten.backward called before forward")
        return grad_out.reshape(self._shape)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """y = x (``torch.nn.Identity``)."""

    def forward(self, x):
        return x

    def backward(self, grad_out):
        return grad_out


class Residual(Module):
    """y = x + module(x): a skip connection around ``module`` (whose output has
    x's shape). Backward: grad_x = grad_y + module.backward(grad_y)."""

    def __init__(self, module: Module):
        super().__init__()
        self.module = module

    def forward(self, x):
        y = self.module(x)
        if y.shape != x.shape:
            raise ValueError(f"Residual: the wrapped module maps shape {x.shape} to {y.shape}; "
                             f"a skip connection needs the same shape")
        # A new array: the inner module may keep its output for its backward
        # (Softmax) or return x itself (Identity), so neither is written to.
        return y + x

    def backward(self, grad_out):
        return self.module.backward(grad_out) + grad_out
