"""Finite-difference checks of gradients, Jacobians and curvature products.

These are the numerical checkers behind :meth:`FFNet.check_grad`,
:meth:`FFNet.check_J` and :meth:`FFNet.check_G` (and their recurrent
versions), and the test suite uses them too.  They are meant for small
networks in float64: each check costs one or two forward passes per
parameter.
"""

import numpy as np


class DerivativeCheckError(ValueError):
    """An analytic derivative disagrees with its finite-difference estimate."""


def central_difference(func, x, eps=1e-6):
    """Jacobian of ``func`` at ``x`` by central differences.

    Parameters
    ----------
    func : callable
        Maps a 1-D float64 array of shape ``(n,)`` to an array (any shape).
    x : (n,) ndarray
        Point of evaluation.
    eps : float
        Step size.

    Returns
    -------
    (m, n) ndarray
        ``J[:, k] = (func(x + eps e_k) - func(x - eps e_k)).ravel() / (2 eps)``.
    """
    x = np.array(x, dtype=np.float64)
    columns = []
    for k in range(x.size):
        x_k = x[k]
        x[k] = x_k + eps
        f_plus = np.ravel(np.asarray(func(x), dtype=np.float64))
        x[k] = x_k - eps
        f_minus = np.ravel(np.asarray(func(x), dtype=np.float64))
        x[k] = x_k
        columns.append((f_plus - f_minus) / (2 * eps))
    return np.stack(columns, axis=1)


def assert_close(name, analytic, numeric, rtol=1e-4, atol=1e-6):
    """Raise :class:`DerivativeCheckError` if two derivatives disagree.

    The tolerance is relative to the larger of the two magnitudes, so a
    check on tiny derivatives does not fail on rounding alone.
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise DerivativeCheckError(
            f"{name}: analytic shape {analytic.shape} != numeric shape "
            f"{numeric.shape}")
    err = np.abs(analytic - numeric)
    bound = atol + rtol * np.maximum(np.abs(analytic), np.abs(numeric))
    if not np.all(np.isfinite(analytic)) or np.any(err > bound):
        err = np.where(np.isnan(err), np.inf, err)  # NaN counts as the worst
        worst = int(np.argmax(err - bound)) if err.size else 0
        raise DerivativeCheckError(
            f"{name} check failed: max abs error {np.max(err, initial=0):.3g} "
            f"(worst entry {worst}: analytic {analytic.ravel()[worst]:.6g}, "
            f"finite difference {numeric.ravel()[worst]:.6g}); "
            f"tolerance rtol={rtol}, atol={atol}")
