"""Finite-difference checks of gradients, Jacobians and curvature products.

These are the numerical checkers behind :meth:`FFNet.check_grad`,
:meth:`FFNet.check_J` and :meth:`FFNet.check_G` (and their recurrent
versions), and the test suite uses them too.  They are meant for small
networks in float64: each check costs one or two forward passes per
parameter.
"""

import collections

import numpy as np

from hessianfree.base import backend
from hessianfree.nets import batch as batches
from hessianfree.base import validation as val


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


# --------------------------------------------------- checks of a network
# The functions below work on any network with FFNet's internals
# (FFNet, RNNet); the networks expose them as methods of the same names.
def _host_float64(x):
    return backend.to_numpy(x).astype(np.float64)


def _eps(net):
    return 1e-6 if net.dtype == np.float64 else 1e-3


def _tols(net):
    return (1e-4, 1e-6) if net.dtype == np.float64 else (5e-2, 5e-3)


def check_grad(net, grad):
    """Compare ``grad`` with a finite-difference gradient of ``net.error``.

    Raises
    ------
    DerivativeCheckError
        If they disagree (use ``debug=True``/float64 for tight checks).
    """
    val.check_vector(grad, "grad", net.n_params)
    W0 = _host_float64(net.W)
    numeric = central_difference(lambda W: net.error(net._W_as(W)), W0, _eps(net))[0]
    assert_close("gradient", _host_float64(grad), numeric, *_tols(net))


def curvature_data(net):
    """Inputs and targets of the batch ``net.calc_G`` uses."""
    batch = net._require_batch()
    if batch.curvature_indices is None:
        return batch.inputs, batch.targets
    idx = net.xp.asarray(batch.curvature_indices)
    return batch.inputs[idx], batch.targets[idx]


def curvature_batch(net):
    """The curvature batch with its activations (a new unchunked batch when
    the cached one is chunked)."""
    batch = net._require_batch()
    if not batch.chunked:
        return batch.curvature
    return batches.evaluate(net, *curvature_data(net))


def fd_jacobian(net):
    """Finite-difference Jacobian of all layers' activations (but the
    input's, concatenated) on the curvature batch, with respect to ``W``."""
    inputs = curvature_data(net)[0]

    def all_acts(W):
        acts = net.forward(inputs, net._W_as(W))
        return np.concatenate([_host_float64(a).ravel() for a in acts[1:]])
    return central_difference(all_acts, _host_float64(net.W), _eps(net))


def check_J(net):
    """Compare the R-forward pass with a finite-difference Jacobian.

    Raises
    ------
    DerivativeCheckError
    """
    batch = curvature_batch(net)
    numeric = fd_jacobian(net)
    analytic = np.zeros_like(numeric)
    for k in range(net.n_params):
        e_k = net.xp.zeros(net.n_params, dtype=net.dtype)
        e_k[k] = 1
        R_acts = net._R_forward(e_k, batch)
        analytic[:, k] = np.concatenate(
            [_host_float64(net._external(a)).ravel() for a in R_acts[1:]])
    assert_close("Jacobian (R-forward)", analytic, numeric, *_tols(net))


def explicit_G(net, damping=0):
    """The damped Gauss-Newton matrix :math:`J^T H_L J + \\lambda I` formed
    explicitly from a finite-difference Jacobian (small networks only)."""
    net._require_batch()
    J = fd_jacobian(net)
    inputs, targets = curvature_data(net)
    acts = net.forward(inputs)
    d2_loss = net.loss_type.d2_loss(acts, targets)
    d2 = np.concatenate([
        np.zeros(acts[i].size) if d is None
        else _host_float64(d).ravel() / targets.shape[0]
        for i, d in enumerate(d2_loss) if i > 0])
    G = net._combine([J.T @ (d2[:, None] * J)], targets.shape[0])[0]
    return G + damping * np.eye(net.n_params)


def check_G(net, G_v, v, damping=0):
    """Compare a curvature product ``G_v`` with :func:`explicit_G` times ``v``.

    Raises
    ------
    DerivativeCheckError
    """
    val.check_vector(G_v, "G_v", net.n_params)
    val.check_vector(v, "v", net.n_params)
    damping = val.check_real(damping, "damping")
    expected = explicit_G(net, damping) @ _host_float64(v)
    assert_close("Gauss-Newton product", _host_float64(G_v), expected, *_tols(net))


def _curvature_only_losses(loss):
    """Members of ``loss`` that enter only the curvature (StructuralDamping:
    zero value and gradient at the current weights)."""
    from hessianfree.losses import loss_funcs
    members = loss.set if isinstance(loss, loss_funcs.LossSet) else [loss]
    return [m for m in members if isinstance(m, loss_funcs.StructuralDamping)]


def explicit_hessian(net, damping=0):
    """Form the damped Hessian of ``net``'s loss on its curvature batch from
    finite differences of the gradient, for checks on small networks.

    The gradient is recomputed at each perturbed weight vector on a copy of
    the network (the network itself is not changed).  Curvature-only terms
    (:class:`~hessianfree.losses.loss_funcs.StructuralDamping`) add their
    Gauss-Newton matrix, which is their exact Hessian since their value and
    gradient vanish at the current weights.

    Returns
    -------
    (n_params, n_params) ndarray
        Symmetrised float64 :math:`H + \\lambda I`.
    """
    import copy

    from hessianfree.losses import loss_funcs
    shared = (net.xp, net.comm, net.reduction, getattr(net, "_optimizer", None))
    probe = copy.deepcopy(net, {id(x): x for x in shared if x is not None})
    if getattr(probe, "truncation", None) is not None:
        probe.truncation = None  # the Hessian is of the loss, not of a truncated gradient
    inputs, targets = curvature_data(net)

    def gradient(W):
        probe.W[...] = probe._W_as(W)
        probe.cache_minibatch(inputs, targets)
        return _host_float64(probe.calc_grad())

    H = central_difference(gradient, _host_float64(net.W), _eps(net))
    H = 0.5 * (H + H.T)
    extra = _curvature_only_losses(net.loss_type)
    if extra:
        probe.W[...] = net.W
        probe.loss_type = loss_funcs.LossSet(extra)
        probe.cache_minibatch(inputs, targets)
        H += explicit_G(probe)
    return H + damping * np.eye(H.shape[0])


def check_product(net, kind, product, v):
    """Check an undamped ``kind`` (``"gauss-newton"`` or ``"hessian"``)
    curvature product ``product`` of ``v`` against finite differences
    (:func:`check_G` or :func:`check_Hv`)."""
    if kind == "hessian":
        check_Hv(net, product, v)
    else:
        net.check_G(product, v, 0)


def check_Hv(net, H_v, v, damping=0):
    """Compare a Hessian product ``H_v`` with :func:`explicit_hessian` times
    ``v``.

    Raises
    ------
    DerivativeCheckError
    """
    val.check_vector(H_v, "H_v", net.n_params)
    val.check_vector(v, "v", net.n_params)
    expected = explicit_hessian(net, damping) @ _host_float64(v)
    assert_close("Hessian product", _host_float64(H_v), expected, *_tols(net))


TaylorTestResult = collections.namedtuple(
    "TaylorTestResult", ["first_order", "second_order", "steps", "remainders"])
TaylorTestResult.__doc__ = """Result of :func:`input_taylor_test` (a named tuple)."""
TaylorTestResult.first_order.__doc__ = (
    "Observed order of the first-order remainder: 2 when the Jacobian is right, "
    "inf when the remainder stays at rounding level.")
TaylorTestResult.second_order.__doc__ = (
    "Observed order of the second-order remainder: 3 when the Hessian is right, "
    "inf when the remainder stays at rounding level.")
TaylorTestResult.steps.__doc__ = "(n_steps,) ndarray: the step sizes h, decreasing."
TaylorTestResult.remainders.__doc__ = (
    "(n_steps, 3) ndarray: E_0, E_1, E_2 at each step (largest over examples and "
    "outputs).")


def input_taylor_test(net, x, direction=None, steps=None, mode="forward"):
    """Taylor test of a network's derivatives with respect to its inputs.

    Along a direction :math:`v` (per example) the outputs satisfy

    .. math::

        E_0(h) &= |y(x + h v) - y(x)| = O(h), \\\\
        E_1(h) &= |y(x + h v) - y(x) - h J v| = O(h^2), \\\\
        E_2(h) &= |y(x + h v) - y(x) - h J v
                  - \\tfrac{h^2}{2} v^T H v| = O(h^3),

    with :math:`J` and :math:`H` from :meth:`FFNet.input_derivatives`.  The
    observed order of a remainder is the median, over successive steps, of
    :math:`\\log(E(h_k) / E(h_{k+1})) / \\log(h_k / h_{k+1})`, using only the
    steps where it is above rounding level (100 machine epsilons times the
    largest output).  Use a float64 network: in float32 few steps are
    above rounding level.

    Parameters
    ----------
    net : FFNet
    x : (batch, n_in) array_like
        Points of expansion.
    direction : (batch, n_in) array_like, optional
        Directions :math:`v`; random unit vectors (fixed seed) by default.
    steps : sequence of float, optional
        Step sizes :math:`h`, decreasing; ``0.5 * 2**-k`` for ``k = 0..9``
        by default.
    mode : {"forward", "backward"}
        Passed to :meth:`FFNet.input_derivatives`.

    Returns
    -------
    TaylorTestResult
        ``(first_order, second_order, steps, remainders)``; a correct
        Jacobian gives ``first_order`` near 2 and a correct Hessian
        ``second_order`` near 3.
    """
    xp = net.xp
    x = val.as_batch(x, "x", net.shape[0], 2, net.dtype, xp)
    if direction is None:
        direction = np.random.default_rng(0).standard_normal(x.shape)
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    v = val.as_batch(direction, "direction", net.shape[0], 2, net.dtype, xp)
    if v.shape != x.shape:
        raise ValueError(f"direction must have the shape of x {tuple(x.shape)}, "
                         f"got {tuple(v.shape)}")
    steps = np.asarray(0.5 * 2.0 ** -np.arange(10) if steps is None else steps,
                       dtype=np.float64)
    if steps.ndim != 1 or steps.size < 2 or not np.all(steps > 0) or \
            not np.all(np.diff(steps) < 0):
        raise ValueError(f"steps must be at least 2 decreasing positive numbers, "
                         f"got {steps!r}")
    y0, J, H, _ = net.input_derivatives(x, hessian=True, mode=mode)
    Jv = (J @ v[:, :, None])[..., 0]
    vHv = ((H @ v[:, None, :, None])[..., 0] * v[:, None, :]).sum(axis=-1)
    remainders = np.empty((steps.size, 3))
    for k, h in enumerate(steps):
        diff = net.forward(x + float(h) * v)[-1] - y0
        for order, term in enumerate((diff, diff - h * Jv, diff - h * Jv - h * h / 2 * vHv)):
            remainders[k, order] = float(abs(term).max())
    floor = 100 * np.finfo(net.dtype).eps * float(abs(y0).max())
    orders = [_observed_order(steps, remainders[:, k], floor) for k in (1, 2)]
    return TaylorTestResult(orders[0], orders[1], steps, remainders)


def _observed_order(steps, errors, floor):
    """Median slope of log(error) over log(step) above ``floor`` (inf if the
    error never rises above it)."""
    valid = (errors[:-1] > floor) & (errors[1:] > floor)
    if not valid.any():
        return np.inf
    slopes = np.log(errors[:-1] / errors[1:]) / np.log(steps[:-1] / steps[1:])
    return float(np.median(slopes[valid]))


class CheckMethods:
    """The checks above as methods of a network (``net.check_grad(grad)``,
    ``net.check_J()``, ``net.explicit_G()``, ``net.check_G(G_v, v)``), which
    :class:`~hessianfree.FFNet` inherits; with ``debug=True``
    :class:`~hessianfree.optim.optimizers.HessianFree` calls them on every
    update."""

    def check_grad(self, grad):
        """Compare ``grad`` with a finite-difference gradient of
        :meth:`~hessianfree.nets.ffnet.FFNet.error`
        (:func:`hessianfree.nets.derivative_checks.check_grad`).

        Raises
        ------
        DerivativeCheckError
            If they disagree (use ``debug=True``/float64 for tight checks).
        """
        check_grad(self, grad)

    def check_J(self):
        """Compare the R-forward pass with a finite-difference Jacobian
        (:func:`hessianfree.nets.derivative_checks.check_J`).

        Raises
        ------
        DerivativeCheckError
        """
        check_J(self)

    def explicit_G(self, damping=0):
        """Form the damped Gauss-Newton matrix explicitly from a
        finite-difference Jacobian: :math:`J^T H_L J + \\lambda I`
        (for checks on small networks;
        :func:`hessianfree.nets.derivative_checks.explicit_G`)."""
        return explicit_G(self, damping)

    def check_G(self, G_v, v, damping=0):
        """Compare a curvature product ``G_v`` with the explicitly formed
        :meth:`explicit_G` times ``v``
        (:func:`hessianfree.nets.derivative_checks.check_G`).

        Raises
        ------
        DerivativeCheckError
        """
        check_G(self, G_v, v, damping)
