"""Learning-rate schedules (``torch.optim.lr_scheduler``), with PyTorch's
formulas: ``step()`` applies the same recursive update to each group's lr as
PyTorch does, so the same calls give the same learning rates to the last bit;
``step(epoch)`` uses the closed form where PyTorch has one.

Closed forms (eta_0 = the group's initial lr, t = last_epoch):
    StepLR             eta_0 * gamma ** (t // step_size)
    ExponentialLR      eta_0 * gamma ** t
    CosineAnnealingLR  eta_min + (eta_0 - eta_min) * (1 + cos(pi t / T_max)) / 2
    LinearLR           eta_0 * (start + (end - start) * min(t, total_iters) / total_iters)
    LambdaLR           eta_0 * lr_lambda(t)
    WarmupInverseSqrtLR eta_0 * min(s / warmup, sqrt(warmup / s)),  s = t + 1
    NoamLR             eta_0 * factor * d_model**-0.5 * min(s**-0.5, s * warmup**-1.5),
                       s = max(t, 1)   (Vaswani et al. 2017, eq. 3; the
                       Annotated Transformer's LambdaLR with base lr 1)
ReduceLROnPlateau multiplies lr by ``factor`` after ``patience`` epochs without
improvement of the metric passed to ``step(metric)``.
"""

from __future__ import annotations

import math

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "LambdaLR",
           "ReduceLROnPlateau", "WarmupInverseSqrtLR", "NoamLR"]


class LRScheduler:
    """Base class: keeps base_lrs and last_epoch, writes each group's "lr"."""

    def __init__(self, optimizer, last_epoch: int = -1):
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"argument 'optimizer' must be an optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param_groups[{i}] has no 'initial_lr': resuming with "
                                   f"last_epoch={last_epoch} needs the optimizer's state loaded first")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        self.step()
        self._is_initial = False

    def get_lr(self) -> list:
        raise NotImplementedError

    def _lrs(self) -> list:
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self, epoch=None) -> None:
        """Advance one epoch (or step), or jump to ``epoch``."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = int(epoch)
            closed = getattr(self, "_get_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = self._lrs()

    def get_last_lr(self) -> list:
        return self._last_lr

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self.get_last_lr()})"


class StepLR(LRScheduler):
    """lr * gamma every step_size epochs (``torch.optim.lr_scheduler.StepLR``)."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if step_size < 1:
            raise ValueError(f"argument 'step_size' must be at least 1, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr * gamma every epoch (``torch.optim.lr_scheduler.ExponentialLR``)."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._lrs()
        return [lr * self.gamma for lr in self._lrs()]

    def _get_closed_form_lr(self):
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine from the initial lr down to eta_min over T_max epochs, then back up
    (``torch.optim.lr_scheduler.CosineAnnealingLR``, SGDR without restarts)."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        if T_max < 1:
            raise ValueError(f"argument 'T_max' must be at least 1, got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._lrs()
        if self._step_count == 1 and t > 0:
            return [lo + (base - lo) * (1 + math.cos(t * math.pi / T)) / 2 for base in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:
            return [lr + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for base, lr in zip(self.base_lrs, self._lrs())]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (lr - lo) + lo
                for lr in self._lrs()]

    def _get_closed_form_lr(self):
        lo = self.eta_min
        return [lo + (base - lo) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Factor going linearly from start_factor to end_factor over total_iters
    epochs (``torch.optim.lr_scheduler.LinearLR``): a linear warmup."""

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not 0 < start_factor <= 1:
            raise ValueError(f"argument 'start_factor' must be in (0, 1], got {start_factor}")
        if not 0 <= end_factor <= 1:
            raise ValueError(f"argument 'end_factor' must be in [0, 1], got {end_factor}")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._lrs()
        d = self.end_factor - self.start_factor
        scale = 1.0 + d / (self.total_iters * self.start_factor + (self.last_epoch - 1) * d)
        return [lr * scale for lr in self._lrs()]

    def _get_closed_form_lr(self):
        f = self.start_factor + (self.end_factor - self.start_factor) * \
            min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * f for base in self.base_lrs]


class LambdaLR(LRScheduler):
    """base lr * lr_lambda(epoch), one function or one per group
    (``torch.optim.lr_scheduler.LambdaLR``)."""

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"argument 'lr_lambda' has {len(lr_lambda)} functions for {n} groups")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def _factor(self, i: int) -> float:
        return self.lr_lambdas[i](self.last_epoch)

    def get_lr(self):
        return [base * self._factor(i) for i, base in enumerate(self.base_lrs)]


class WarmupInverseSqrtLR(LambdaLR):
    """Linear warmup to the initial lr over ``warmup_steps`` steps, then decay
    as 1/sqrt(step): factor min(s / warmup, sqrt(warmup / s)) with s = step + 1
    (fairseq's inverse_sqrt schedule with a warmup from 0). Step it per batch."""

    def __init__(self, optimizer, warmup_steps: int, last_epoch: int = -1):
        if warmup_steps < 1:
            raise ValueError(f"argument 'warmup_steps' must be at least 1, got {warmup_steps}")
        self.warmup_steps = int(warmup_steps)
        w = self.warmup_steps
        super().__init__(optimizer, lambda t: min((t + 1) / w, math.sqrt(w / (t + 1))), last_epoch)


class NoamLR(LambdaLR):
    """The Transformer schedule (Vaswani et al. 2017):
    lr = initial lr * factor * d_model**-0.5 * min(s**-0.5, s * warmup**-1.5),
    s = max(step, 1). With an initial lr of 1 this is the paper's rate. Step it
    per batch."""

    def __init__(self, optimizer, d_model: int, warmup_steps: int = 4000, factor: float = 1.0,
                 last_epoch: int = -1):
        if warmup_steps < 1:
            raise ValueError(f"argument 'warmup_steps' must be at least 1, got {warmup_steps}")
        if d_model < 1:
            raise ValueError(f"argument 'd_model' must be at least 1, got {d_model}")
        self.d_model, self.warmup_steps, self.factor = d_model, int(warmup_steps), factor
        d, w, f = d_model, self.warmup_steps, factor

        def rate(t):
            s = max(t, 1)
            return f * (d ** -0.5 * min(s ** -0.5, s * w ** -1.5))
        super().__init__(optimizer, rate, last_epoch)


class ReduceLROnPlateau:
    """Multiply lr by ``factor`` when the metric given to ``step(metric)`` has not
    improved for ``patience`` epochs (``torch.optim.lr_scheduler.ReduceLROnPlateau``)."""

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr=0, eps: float = 1e-8):
        if factor >= 1.0:
            raise ValueError(f"argument 'factor' must be < 1.0, got {factor}")
        if mode not in ("min", "max"):
            raise ValueError(f"argument 'mode' must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"argument 'threshold_mode' must be 'rel' or 'abs', got {threshold_mode!r}")
        self.optimizer = optimizer
        self.factor = factor
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"argument 'min_lr' has {len(min_lr)} values for {n} groups")
            self.min_lrs = list(min_lr)
        else:
            self.min_lrs = [min_lr] * n
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.patience, self.cooldown, self.eps = patience, cooldown, eps
        self.last_epoch = 0
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min":
            return a < best * (1.0 - self.threshold) if self.threshold_mode == "rel" else a < best - self.threshold
        return a > best * (1.0 + self.threshold) if self.threshold_mode == "rel" else a > best + self.threshold

    def step(self, metrics) -> None:
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for i, group in enumerate(self.optimizer.param_groups):
                old = float(group["lr"])
                new = max(old * self.factor, self.min_lrs[i])
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list:
        return self._last_lr

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)
