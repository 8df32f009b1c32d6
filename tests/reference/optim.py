"""Reference optimizers for pk.ops.*_step, in float64, written from the
pseudo-code of the torch.optim documentation (SGD, Adam, AdamW, RMSprop,
Adagrad) and torch.nn.utils.clip_grad_norm_.

Each optimizer is a small class holding its state; ``step(params, grads)``
returns the new parameters (lists of float64 arrays) and counts steps from 1.
"""

import numpy as np


def _f64(xs):
    return [np.asarray(x, dtype=np.float64) for x in xs]


class SGD:
    """The docs' pseudo-code adds maximize at the end (theta + lr * g); PyTorch's
    code negates the gradient first, which differs when weight decay is on (the
    decay then still pulls towards zero). We follow the code, as the other
    optimizers' docs do."""

    def __init__(self, *, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0,
                 maximize=False):
        self.hp = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                       weight_decay=weight_decay, maximize=maximize)
        self.t = 0
        self.b = None

    def step(self, params, grads):
        h = self.hp
        self.t += 1
        out, new_b = [], []
        for i, (theta, g) in enumerate(zip(_f64(params), _f64(grads))):
            if h["maximize"]:
                g = -g
            if h["weight_decay"] != 0:
                g = g + h["weight_decay"] * theta
            if h["momentum"] != 0:
                if self.t > 1:
                    b = h["momentum"] * self.b[i] + (1 - h["dampening"]) * g
                else:
                    b = g
                new_b.append(b)
                g = g + h["momentum"] * b if h["nesterov"] else b
            out.append(theta - h["lr"] * g)
        self.b = new_b
        return out


class Adam:
    """Adam, or AdamW with decoupled_weight_decay (the docs' AdamW algorithm)."""

    def __init__(self, *, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, amsgrad=False, maximize=False):
        self.hp = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                       decoupled=decoupled_weight_decay, amsgrad=amsgrad, maximize=maximize)
        self.t = 0
        self.m = self.v = self.vmax = None

    def step(self, params, grads):
        h = self.hp
        params, grads = _f64(params), _f64(grads)
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
            self.vmax = [np.zeros_like(p) for p in params]
        self.t += 1
        t, b1, b2 = self.t, h["beta1"], h["beta2"]
        out = []
        for i, (theta, g) in enumerate(zip(params, grads)):
            if h["maximize"]:
                g = -g
            if h["weight_decay"] != 0:
                if h["decoupled"]:
                    theta = theta - h["lr"] * h["weight_decay"] * theta
                else:
                    g = g + h["weight_decay"] * theta
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            m_hat = self.m[i] / (1 - b1 ** t)
            if h["amsgrad"]:
                self.vmax[i] = np.maximum(self.vmax[i], self.v[i])
                v_hat = self.vmax[i] / (1 - b2 ** t)
            else:
                v_hat = self.v[i] / (1 - b2 ** t)
            out.append(theta - h["lr"] * m_hat / (np.sqrt(v_hat) + h["eps"]))
        return out


class RMSprop:
    def __init__(self, *, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        self.hp = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                       momentum=momentum, centered=centered, maximize=maximize)
        self.v = self.b = self.gave = None

    def step(self, params, grads):
        h = self.hp
        params, grads = _f64(params), _f64(grads)
        if self.v is None:
            self.v = [np.zeros_like(p) for p in params]
            self.b = [np.zeros_like(p) for p in params]
            self.gave = [np.zeros_like(p) for p in params]
        a = h["alpha"]
        out = []
        for i, (theta, g) in enumerate(zip(params, grads)):
            if h["maximize"]:
                g = -g
            if h["weight_decay"] != 0:
                g = g + h["weight_decay"] * theta
            self.v[i] = a * self.v[i] + (1 - a) * g ** 2
            v_tilde = self.v[i]
            if h["centered"]:
                self.gave[i] = self.gave[i] * a + (1 - a) * g
                v_tilde = v_tilde - self.gave[i] ** 2
            if h["momentum"] > 0:
                self.b[i] = h["momentum"] * self.b[i] + g / (np.sqrt(v_tilde) + h["eps"])
                theta = theta - h["lr"] * self.b[i]
            else:
                theta = theta - h["lr"] * g / (np.sqrt(v_tilde) + h["eps"])
            out.append(theta)
        return out


class Adagrad:
    def __init__(self, *, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, maximize=False):
        self.hp = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                       maximize=maximize)
        self.init = initial_accumulator_value
        self.t = 0
        self.sums = None

    def step(self, params, grads):
        h = self.hp
        params, grads = _f64(params), _f64(grads)
        if self.sums is None:
            self.sums = [np.full_like(p, self.init) for p in params]
        self.t += 1
        gamma = h["lr"] / (1 + (self.t - 1) * h["lr_decay"])
        out = []
        for i, (theta, g) in enumerate(zip(params, grads)):
            if h["maximize"]:
                g = -g
            if h["weight_decay"] != 0:
                g = g + h["weight_decay"] * theta
            self.sums[i] = self.sums[i] + g * g
            out.append(theta - gamma * g / (np.sqrt(self.sums[i]) + h["eps"]))
        return out


def global_norm(tensors):
    return float(np.sqrt(sum(float(np.sum(np.asarray(t, np.float64) ** 2)) for t in tensors)))


def clip_grad_norm(grads, max_norm, eps=1e-6):
    """(clipped float64 grads, total norm), as torch.nn.utils.clip_grad_norm_."""
    total = global_norm(grads)
    with np.errstate(divide="ignore"):  # total + eps == 0: no clipping, as torch's inf coef
        coef = min(np.float64(max_norm) / np.float64(total + eps), 1.0)
    return [np.asarray(g, np.float64) * coef for g in grads], total
