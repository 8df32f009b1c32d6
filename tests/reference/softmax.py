"""References for softmax / log_softmax and their backward, in float64, from
the definitions (torch.softmax, torch.log_softmax)."""

import numpy as np


def log_softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    if x.size == 0:
        return x.copy()
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    return np.exp(log_softmax(x, axis))


def softmax_backward(grad_y, y, axis=-1):
    g = np.asarray(grad_y, np.float64)
    y = np.asarray(y, np.float64)
    return y * (g - np.sum(g * y, axis=axis, keepdims=True))


def log_softmax_backward(grad_y, y, axis=-1):
    g = np.asarray(grad_y, np.float64)
    y = np.asarray(y, np.float64)
    return g - np.exp(y) * np.sum(g, axis=axis, keepdims=True)
