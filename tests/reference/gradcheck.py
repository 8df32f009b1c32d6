"""Central finite differences for modules with explicit backward passes, in
float64: for a fixed upstream gradient g, f(x, params) = sum(module(x) * g),
and every partial derivative of f is compared with what backward returns for
the input and accumulates into each parameter's .grad."""

from __future__ import annotations

import numpy as np


def numerical_grad(f, a: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """df/da by central differences, perturbing a in place."""
    grad = np.zeros_like(a, dtype=np.float64)
    flat = a.reshape(-1)
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def check_module_gradients(module, x, *, rng, before_forward=None, rtol=1e-6, atol=1e-8, eps=1e-6):
    """Assert backward's input and parameter gradients equal finite differences.

    before_forward() runs before every forward pass (e.g. re-seeding dropout so
    every evaluation draws the same mask)."""
    x = np.array(x, dtype=np.float64)
    prep = before_forward or (lambda: None)
    prep()
    y = module(x)
    g = rng.standard_normal(y.shape)

    def f():
        prep()
        return float(np.sum(module(x) * g))

    module.zero_grad()
    prep()
    module(x)
    grad_x = module.backward(g.copy())
    np.testing.assert_allclose(grad_x, numerical_grad(f, x, eps), rtol=rtol, atol=atol,
                               err_msg=f"{type(module).__name__}: gradient of the input")
    for name, p in module.named_parameters():
        if not p.requires_grad:
            assert p.grad is None, f"frozen parameter {name} got a gradient"
            continue
        analytic = p.grad
        assert analytic is not None, f"parameter {name} got no gradient"
        np.testing.assert_allclose(analytic, numerical_grad(f, p.data, eps), rtol=rtol, atol=atol,
                                   err_msg=f"{type(module).__name__}: gradient of {name}")
