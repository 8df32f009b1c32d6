"""Reference for pk.ops.matmul, in float64."""

import numpy as np


def matmul(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None):
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    op_a = a64.T if trans_a else a64
    op_b = b64.T if trans_b else b64
    result = alpha * (op_a @ op_b)
    if beta != 0:
        result = result + beta * c.astype(np.float64)
    return result


def tolerance(dtype, k, magnitude=1.0):
    """atol for a sum of k products of values of the given magnitude: rounding
    grows with k in the worst case (sqrt(k) typically); rtol stays small."""
    eps = np.finfo(dtype).eps
    return 4 * eps * max(k, 1) * magnitude
