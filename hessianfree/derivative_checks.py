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


def _curvature_only_losses(loss):
    """Members of ``loss`` that enter only the curvature (StructuralDamping:
    zero value and gradient at the current weights)."""
    from hessianfree import loss_funcs
    members = loss.set if isinstance(loss, loss_funcs.LossSet) else [loss]
    return [m for m in members if isinstance(m, loss_funcs.StructuralDamping)]


def explicit_hessian(net, damping=0):
    """Form the damped Hessian of ``net``'s loss on its curvature batch from
    finite differences of the gradient, for checks on small networks.

    The gradient is recomputed at each perturbed weight vector on a copy of
    the network (the network itself is not changed).  Curvature-only terms
    (:class:`~hessianfree.loss_funcs.StructuralDamping`) add their
    Gauss-Newton matrix, which is their exact Hessian since their value and
    gradient vanish at the current weights.

    Returns
    -------
    (n_params, n_params) ndarray
        Symmetrised float64 :math:`H + \\lambda I`.
    """
    import copy

    from hessianfree import loss_funcs
    shared = (net.xp, net.comm, getattr(net, "_optimizer", None))
    probe = copy.deepcopy(net, {id(x): x for x in shared if x is not None})
    inputs, targets = net._curvature_data()

    def gradient(W):
        probe.W[...] = probe.xp.asarray(W, dtype=probe.dtype)
        probe.cache_minibatch(inputs, targets)
        return probe._host_float64(probe.calc_grad())

    W0 = net._host_float64(net.W)
    H = central_difference(gradient, W0, net._check_eps())
    H = 0.5 * (H + H.T)
    extra = _curvature_only_losses(net.loss_type)
    if extra:
        probe.W[...] = net.W
        probe.loss_type = loss_funcs.LossSet(extra)
        probe.cache_minibatch(inputs, targets)
        H += probe.explicit_G()
    return H + damping * np.eye(H.shape[0])


def check_Hv(net, H_v, v, damping=0):
    """Compare a Hessian product ``H_v`` with :func:`explicit_hessian` times
    ``v``.

    Raises
    ------
    DerivativeCheckError
    """
    expected = explicit_hessian(net, damping) @ net._host_float64(v)
    assert_close("Hessian product", net._host_float64(H_v), expected,
                 *net._check_tols())
