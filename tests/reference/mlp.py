"""A pure-NumPy MLP with batch normalisation, trained with the torch.optim
update rules, written from the formulas independently of pykernels:

    h1 = relu(bn1(x W1^T + b1)),  h2 = relu(bn2(h1 W2^T + b2)),  z = h2 W3^T + b3
    loss = mean_i (logsumexp(z_i) - z_i[y_i])         (cross-entropy)

Batch norm in training: xhat = (x - mean_B) / sqrt(var_B + eps) with the
biased batch variance, y = gamma xhat + beta; running statistics updated with
the unbiased variance. Float64 throughout.
"""

from __future__ import annotations

import numpy as np

LAYERS = ("0", "4", "8")  # Linear indices in the pk.nn.Sequential under test
NORMS = ("1", "5")        # BatchNorm1d indices


def pk_model_spec():
    """Indices of the layers in the Sequential the tests build:
    Linear, BatchNorm1d, ReLU, Dropout(0), Linear, BatchNorm1d, ReLU, Dropout(0), Linear."""
    return LAYERS, NORMS


class NumpyMLP:
    def __init__(self, state: dict, *, eps=1e-5, momentum=0.1):
        self.p = {k: np.array(v, dtype=np.float64) for k, v in state.items() if "num_batches" not in k}
        self.eps, self.momentum = eps, momentum

    def _bn_forward(self, name, x, training):
        g, b = self.p[f"{name}.weight"], self.p[f"{name}.bias"]
        if training:
            mean, var = x.mean(0), x.var(0)
            n = x.shape[0]
            rm, rv = self.p[f"{name}.running_mean"], self.p[f"{name}.running_var"]
            rm[...] = (1 - self.momentum) * rm + self.momentum * mean
            rv[...] = (1 - self.momentum) * rv + self.momentum * var * n / (n - 1)
        else:
            mean, var = self.p[f"{name}.running_mean"], self.p[f"{name}.running_var"]
        invstd = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mean) * invstd
        return g * xhat + b, (xhat, invstd)

    @staticmethod
    def _bn_backward(dy, g, cache):
        xhat, invstd = cache
        n = dy.shape[0]
        dxhat = dy * g
        dx = invstd / n * (n * dxhat - dxhat.sum(0) - xhat * (dxhat * xhat).sum(0))
        return dx, (dy * xhat).sum(0), dy.sum(0)

    def loss_and_grads(self, x, y, training=True):
        p = self.p
        cache = {}
        h = x
        for i, (lin, bn) in enumerate(zip(LAYERS[:2], NORMS)):
            z = h @ p[f"{lin}.weight"].T + p[f"{lin}.bias"]
            a, bn_cache = self._bn_forward(bn, z, training)
            cache[i] = (h, bn_cache, a)
            h = np.maximum(a, 0)
        logits = h @ p[f"{LAYERS[2]}.weight"].T + p[f"{LAYERS[2]}.bias"]
        shifted = logits - logits.max(1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
        n = x.shape[0]
        loss = -logp[np.arange(n), y].mean()
        d = np.exp(logp)
        d[np.arange(n), y] -= 1
        d /= n
        grads = {f"{LAYERS[2]}.weight": d.T @ h, f"{LAYERS[2]}.bias": d.sum(0)}
        dh = d @ p[f"{LAYERS[2]}.weight"]
        for i in (1, 0):
            lin, bn = LAYERS[i], NORMS[i]
            h_in, bn_cache, a = cache[i]
            da = dh * (a > 0)
            dz, grads[f"{bn}.weight"], grads[f"{bn}.bias"] = self._bn_backward(da, p[f"{bn}.weight"], bn_cache)
            grads[f"{lin}.weight"] = dz.T @ h_in
            grads[f"{lin}.bias"] = dz.sum(0)
            dh = dz @ p[f"{lin}.weight"]
        return loss, grads


class NumpyOptimizer:
    """torch.optim update rules (from the PyTorch documentation's algorithm
    boxes) over a dict of float64 arrays."""

    def __init__(self, kind: str, **hp):
        self.kind, self.hp, self.state, self.t = kind, hp, {}, 0

    def step(self, params: dict, grads: dict) -> None:
        self.t += 1
        t, hp = self.t, self.hp
        for name, g in grads.items():
            p = params[name]
            s = self.state.setdefault(name, {})
            g = g.copy()
            lr, wd = hp["lr"], hp.get("weight_decay", 0.0)
            if self.kind == "adamw":
                p *= 1 - lr * wd
            elif wd:
                g += wd * p
            if self.kind == "sgd":
                mom = hp.get("momentum", 0.0)
                if mom:
                    if "b" not in s:
                        s["b"] = g.copy()
                    else:
                        s["b"] = mom * s["b"] + (1 - hp.get("dampening", 0.0)) * g
                    g = g + mom * s["b"] if hp.get("nesterov") else s["b"]
                p -= lr * g
            elif self.kind in ("adam", "adamw"):
                b1, b2 = hp.get("betas", (0.9, 0.999))
                s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
                s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
                v = s["v"]
                if hp.get("amsgrad"):
                    s["vmax"] = np.maximum(s.get("vmax", 0), s["v"])
                    v = s["vmax"]
                mhat = s["m"] / (1 - b1 ** t)
                vhat = v / (1 - b2 ** t)
                p -= lr * mhat / (np.sqrt(vhat) + hp.get("eps", 1e-8))
            elif self.kind == "rmsprop":
                a, eps = hp.get("alpha", 0.99), hp.get("eps", 1e-8)
                s["sq"] = a * s.get("sq", 0) + (1 - a) * g * g
                if hp.get("centered"):
                    s["ga"] = a * s.get("ga", 0) + (1 - a) * g
                    avg = np.sqrt(s["sq"] - s["ga"] ** 2) + eps
                else:
                    avg = np.sqrt(s["sq"]) + eps
                if hp.get("momentum", 0.0) > 0:
                    s["b"] = hp["momentum"] * s.get("b", 0) + g / avg
                    p -= lr * s["b"]
                else:
                    p -= lr * g / avg
            elif self.kind == "adagrad":
                clr = lr / (1 + (t - 1) * hp.get("lr_decay", 0.0))
                s["sum"] = s.get("sum", hp.get("initial_accumulator_value", 0.0)) + g * g
                p -= clr * g / (np.sqrt(s["sum"]) + hp.get("eps", 1e-10))
            else:
                raise ValueError(self.kind)
