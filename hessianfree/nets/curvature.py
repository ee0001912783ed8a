"""Curvature matrices of a network's loss as SciPy linear operators.

:func:`curvature_operator` wraps the network's curvature-vector products on
its cached minibatch (:meth:`~hessianfree.nets.ffnet.FFNet.calc_G`, the
Gauss-Newton matrix, or :meth:`~hessianfree.nets.ffnet.FFNet.calc_Hv`, the exact
Hessian) in a :class:`scipy.sparse.linalg.LinearOperator`, so
that SciPy's iterative solvers and eigensolvers (``eigsh``, ``cg``,
``minres``, ...) or a user's own can work with it.
"""

import numpy as np
from scipy.sparse.linalg import LinearOperator

from hessianfree.base import backend
from hessianfree.base import validation as val

#: Curvature matrices :func:`curvature_operator` knows.
KINDS = ("gauss-newton", "hessian")


def check_kind(kind, name="kind"):
    """Return ``kind`` if it names a curvature matrix, else raise."""
    if not isinstance(kind, str):
        raise TypeError(f"{name} must be one of {KINDS}, got {val.describe(kind)}")
    if kind not in KINDS:
        raise ValueError(f"{name} must be one of {KINDS}, got {kind!r}")
    return kind


def product_function(net, kind):
    """``product(v, damping, out)`` computing the ``kind`` curvature matrix of
    ``net`` times ``v`` plus ``damping * v``."""
    return net.calc_G if check_kind(kind) == "gauss-newton" else net.calc_Hv


def curvature_operator(net, kind="gauss-newton", damping=0):
    """The curvature matrix of ``net``'s loss on its cached minibatch as a
    :class:`scipy.sparse.linalg.LinearOperator`.

    Parameters
    ----------
    net : FFNet or RNNet
        A network with a cached minibatch (``net.cache_minibatch``).
    kind : {"gauss-newton", "hessian"}
        ``"gauss-newton"``: :math:`G = J^T H_L J` (Schraudolph 2002),
        positive semi-definite for a convex loss, as used by
        :class:`~hessianfree.optim.optimizers.HessianFree` by default.
        ``"hessian"``: the exact Hessian :math:`\\nabla^2_W f` (Pearlmutter
        1994), which may be indefinite (use ``eigsh(..., which="SA")`` for its
        most negative eigenvalues).
    damping : float
        Add :math:`\\lambda I` (Tikhonov damping, :math:`\\lambda \\ge 0`).

    Returns
    -------
    scipy.sparse.linalg.LinearOperator
        Symmetric, of shape ``(n_params, n_params)`` and the network's dtype.
        ``matvec`` takes and returns NumPy arrays (moved to and from the
        GPU when the network runs there).  The matrix is real, so a complex
        vector :math:`a + ib` gets :math:`Ba + iBb` (two products) and a
        complex result; a vector of non-numbers raises TypeError.  Each product is computed when it
        is asked for, at the network's weights and cached minibatch *at that
        time* (including a curvature subset, see
        :meth:`~hessianfree.nets.ffnet.FFNet.cache_curvature_batch`).

    Notes
    -----
    Each ``matvec`` costs one curvature product, about two gradient
    evaluations (the Hessian about 1.5 times more).
    ``eigsh(op, k=10, which="LA")`` gives the ten largest eigenvalues, a
    common diagnostic of sharpness.
    """
    product = product_function(net, kind)
    damping = val.check_real(damping, "damping", 0.0)
    net._require_batch()
    n = net.n_params

    def real_product(v):
        return backend.to_numpy(product(net.xp.asarray(v, dtype=net.dtype),
                                        damping=damping))

    def matvec(v):
        v = np.asarray(v).reshape(-1)
        if v.dtype.kind not in "biufc":
            raise TypeError(f"v must hold numbers, got an array of dtype {v.dtype}")
        if v.shape != (n,):
            raise ValueError(f"v must have shape ({n},), got {v.shape}")
        if v.dtype.kind == "c":  # a real matrix: B (a + ib) = B a + i B b
            return real_product(v.real) + 1j * real_product(v.imag)
        return real_product(v)

    return LinearOperator((n, n), matvec=matvec, rmatvec=matvec, dtype=net.dtype)
