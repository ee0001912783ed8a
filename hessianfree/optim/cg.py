"""Conjugate gradient for the damped quadratic model of Hessian-free
optimization.

:func:`conjugate_gradient` minimises

.. math:: \\phi(x) = \\tfrac12 x^T A x - b^T x

for a symmetric matrix :math:`A` that is only available through products
:math:`A v`.  In :class:`hessianfree.optim.optimizers.HessianFree`,
:math:`A = G + \\lambda I` (damped Gauss-Newton matrix) and :math:`b = -\\nabla f`.

The function is written once against an array module: vectors stay NumPy or
CuPy arrays, and only scalars (dot products, two per iteration, in one
transfer) come back to the host.
"""

import functools
import math
from dataclasses import dataclass

import numpy as np

from hessianfree.base import validation as val
from hessianfree.base.backend import array_module
from hessianfree.optim.cg_rules import (  # noqa: F401  (also cg's names)
    GRID_BASE, ORIGINAL_RESIDUAL_FLOOR, STOPPING_ORIGINAL, STOPPING_RELATIVE,
    STORAGE_GEOMETRIC, STORAGE_ORIGINAL, check_rules, original_storage_grid,
    relative_progress_met, residual_floor, storage_grid)

#: Stopped by Martens' (2010, §4.4) relative-progress test.
CONVERGED_RELATIVE_PROGRESS = "converged_relative_progress"
#: The (preconditioned) residual fell below ``res_tol`` times that of ``b``.
CONVERGED_RESIDUAL = "converged_residual"
#: Ran ``max_iters`` iterations.
MAX_ITERS = "max_iters"
#: Met a direction with :math:`d^T A d \le 0`.
NEGATIVE_CURVATURE = "negative_curvature"
#: A NaN or inf appeared (in :math:`A d`, :math:`\alpha`, :math:`\beta` or the
#: residual).
NONFINITE = "nonfinite"
#: The callback asked to stop.
CALLBACK_STOP = "callback_stop"

#: Every status :func:`conjugate_gradient` reports.
STATUSES = (CONVERGED_RELATIVE_PROGRESS, CONVERGED_RESIDUAL, MAX_ITERS,
            NEGATIVE_CURVATURE, NONFINITE, CALLBACK_STOP)

@dataclass(frozen=True)
class CGResult:
    """Outcome of :func:`conjugate_gradient`.

    Attributes
    ----------
    x : (n,) array
        Final iterate (the last finite one if the run hit a non-finite value).
    iterates : list of (int, (n,) array)
        ``(iteration, copy of x)`` at the iterations of
        :func:`~hessianfree.optim.cg_rules.storage_grid` that were reached,
        plus the final iteration (always the last entry).
    n_iters : int
        Number of completed iterations (the iteration number of ``x``).
    values : list of float
        :math:`\\phi` at each stored iterate (same order as ``iterates``), as
        tracked by the iteration (see :func:`conjugate_gradient`, Notes).
    status : str
        One of :data:`STATUSES`.
    """

    x: object
    iterates: list
    n_iters: int
    values: list
    status: str

    @property
    def value(self):
        """:math:`\\phi(x)` of the final iterate."""
        return self.values[-1]


def _check_args(matvec, b, x0, max_iters, precond, min_iters, rel_tol, res_tol):
    if not callable(matvec):
        raise TypeError(f"matvec must be a callable matvec(v, out), got "
                        f"{type(matvec).__name__}")
    if getattr(b, "ndim", None) != 1:
        raise ValueError("b must be a 1-D array of shape (n,), got "
                         f"{getattr(b, 'shape', type(b).__name__)}")
    if b.dtype.kind != "f":
        raise TypeError(f"b must have a floating dtype, got {b.dtype}")
    for name, v in (("x0", x0), ("precond", None if callable(precond) else precond)):
        if v is not None and getattr(v, "shape", None) != b.shape:
            raise ValueError(f"{name} must have the shape of b {b.shape}, got "
                             f"{getattr(v, 'shape', type(v).__name__)}")
        if v is not None and getattr(getattr(v, "dtype", None), "kind", None) not in "fiu":
            raise TypeError(f"{name} must hold real numbers, got dtype "
                            f"{getattr(v, 'dtype', None)}")
    for name, v in (("max_iters", max_iters), ("min_iters", min_iters)):
        val.check_int(v, name, low=0)
    for name, v in (("rel_tol", rel_tol), ("res_tol", res_tol)):
        if v is not None:
            val.check_real(v, name, low=0.0)
    xp = array_module(b)
    if x0 is not None and not bool(xp.isfinite(x0).all()):
        raise ValueError("x0 must be finite")
    if precond is not None and not callable(precond) and not bool((precond > 0).all()):
        raise ValueError("precond must be positive (it is the diagonal of M)")


@functools.cache
def _fused_kernels(elementwise_kernel):
    """``y += a * v``, ``y -= a * v`` and ``y = v + a * y`` as CuPy
    ``ElementwiseKernel`` objects (``a`` a 0-d array), or None without one."""
    if elementwise_kernel is None:
        return None
    return tuple(elementwise_kernel("A a, V v", "Y y", operation, name)
                 for operation, name in (("y += a * v", "hessianfree_cg_add_scaled"),
                                         ("y -= a * v", "hessianfree_cg_subtract_scaled"),
                                         ("y = v + a * y", "hessianfree_cg_scale_add")))


class _Workspace:
    """Everything one CG run works on: the operator, the vectors (allocated
    once), the :math:`\\phi` history and the stored iterates."""

    def __init__(self, matvec, b, x0, precond):
        xp = self.xp = array_module(b)
        self.matvec, self.b, self.x0, self.precond = matvec, b, x0, precond
        self.x = xp.zeros_like(b) if x0 is None else xp.array(x0, dtype=b.dtype)
        self.Ad = xp.empty_like(b)
        self.r = xp.subtract(b, self._first_product(), out=xp.empty_like(b))
        self.z = self.r if precond is None else xp.empty_like(b)
        self.d = xp.empty_like(b)
        self.tmp = xp.empty_like(b)
        self.kernels = _fused_kernels(getattr(xp, "ElementwiseKernel", None))
        self.largest = float(np.finfo(b.dtype).max)
        self.phis = []
        self.stored = []

    def _first_product(self):
        """``matvec(x0, out)``, checking that ``matvec`` works as documented."""
        try:
            Ax = self.matvec(self.x, self.Ad)
        except TypeError as e:
            raise TypeError(f"matvec must be a callable matvec(v, out) -> (n,) array; "
                            f"calling it failed: {e}") from e
        if getattr(Ax, "shape", None) != self.b.shape:
            raise TypeError(f"matvec must return an array of shape {self.b.shape}, "
                            f"got {type(Ax).__name__}")
        return Ax

    def precondition(self, r=None, out=None):
        """:math:`z = M^{-1} r` (``r`` defaults to the residual, ``out`` to
        ``z``); returns z."""
        r = self.r if r is None else r
        out = self.z if out is None else out
        if callable(self.precond):
            try:
                z = self.precond(r, out)
            except TypeError as e:
                raise TypeError(f"precond must be an array or a callable precond(r, out) "
                                f"-> (n,) array; calling it failed: {e}") from e
            if getattr(z, "shape", None) != r.shape:
                raise TypeError(f"precond(r, out) must return an array of shape "
                                f"{r.shape}, got {type(z).__name__}")
            return z
        if self.precond is not None:
            self.xp.divide(r, self.precond, out=out)
        return out

    def fetch(self, *scalars):
        """Device scalars (0-d arrays) as Python floats, in one transfer."""
        return self.xp.stack(scalars).tolist()

    def axpy(self, alpha, v, y, subtract=False):
        """:math:`y \\leftarrow y \\pm \\alpha v` in place (``alpha`` on the
        device): one fused kernel, or two operations through ``tmp``."""
        if self.kernels is not None:
            self.kernels[1 if subtract else 0](alpha, v, y)
        else:
            xp = self.xp
            (xp.subtract if subtract else xp.add)(y, xp.multiply(v, alpha, out=self.tmp),
                                                  out=y)

    def next_direction(self, beta):
        """:math:`d \\leftarrow z + \\beta d` in place."""
        if self.kernels is not None:
            self.kernels[2](beta, self.z, self.d)
        else:
            self.d *= beta
            self.d += self.z

    def start(self, need_bz):
        """:math:`r_0^T z_0` on the device, then from one transfer :math:`r_0^T
        z_0`, :math:`\\phi_0 = -\\tfrac12 x_0^T(r_0 + b)` and :math:`b^T M^{-1} b`
        (None unless ``need_bz``); sets ``d = z``."""
        xp, b = self.xp, self.b
        rz = xp.dot(self.r, self.precondition())
        scalars = [rz]
        if self.x0 is not None:
            scalars.append(xp.dot(self.x, xp.add(self.r, b, out=self.tmp)))
        if need_bz:
            scalars.append(xp.dot(b, b if self.precond is None else
                                  self.precondition(b, self.d)))
        host = self.fetch(*scalars)
        xp.copyto(self.d, self.z)
        phi0 = -0.5 * host[1] if self.x0 is not None else 0.0
        return rz, host[0], phi0, host[-1] if need_bz else None

    def restart_from_zero(self):
        """Forget the warm start: :math:`x = 0`, :math:`r = b`."""
        self.x0 = None
        self.x.fill(0)
        self.xp.copyto(self.r, self.b)

    def keep_finite(self):
        """If ``x`` is not finite, go back to the last finite stored iterate
        (or ``x0``), dropping later ones and their :math:`\\phi`; returns
        whether it did."""
        xp = self.xp
        if bool(xp.isfinite(self.x).all()):
            return False
        while self.stored and not bool(xp.isfinite(self.stored[-1][1]).all()):
            self.stored.pop()
        i, x_good = self.stored[-1] if self.stored else (0, self.x0)
        if x_good is None:
            self.x.fill(0)
        else:
            xp.copyto(self.x, x_good)
        del self.phis[i + 1:]
        return True


def conjugate_gradient(matvec, b, x0, *, max_iters, precond=None, min_iters=1,
                       rel_tol=5e-4, store_iterates=True, callback=None,
                       res_tol=None, storage=STORAGE_GEOMETRIC,
                       stopping=STOPPING_RELATIVE, keep_worse_start=True):
    """Minimise :math:`\\phi(x) = \\tfrac12 x^T A x - b^T x` by (preconditioned)
    conjugate gradient.

    Parameters
    ----------
    matvec : callable ``matvec(v, out) -> (n,) array``
        Product :math:`A v` for a symmetric :math:`A`.  ``out`` is a
        preallocated buffer that it may write into (and return); it must not
        modify ``v``.
    b : (n,) array
        Right-hand side (NumPy or CuPy; it fixes dtype and array module).
    x0 : (n,) array or None
        Starting point (warm start, Martens 2010 §4.5); None means zeros.
        Not modified.
    max_iters : int
        Maximum number of iterations (>= 0).
    precond : (n,) array or callable ``precond(r, out) -> (n,) array``, optional
        Positive diagonal :math:`P` of the preconditioner
        :math:`M = \\mathrm{diag}(P)`, applied as :math:`z = r / P`; or a
        function that writes :math:`M^{-1} r` for a symmetric positive
        definite :math:`M` into ``out`` and returns it (e.g. the K-FAC
        preconditioner of :mod:`hessianfree.optim.kfac`).
    min_iters : int
        The relative-progress test is not applied before this iteration.
    rel_tol : float
        :math:`\\epsilon` of the relative-progress test
        (:func:`~hessianfree.optim.cg_rules.relative_progress_met`, Martens 2010 §4.4).
    store_iterates : bool
        Keep copies on the storage grid (``storage``) for backtracking; if
        False only the final iterate is returned in ``iterates``.
    callback : callable ``callback(i, x, phi) -> bool``, optional
        Called after each iteration; returning True stops the run.  ``x`` is
        the working buffer: copy it to keep it (after an overflow it may
        hold inf: see Notes).
    res_tol : float, optional
        Stop once :math:`\\|r\\|_{M^{-1}} \\le` ``res_tol`` :math:`\\|b\\|_{M^{-1}}`
        (default :math:`\\sqrt{\\epsilon_{mach}}` of ``b.dtype``).  Only used
        with ``stopping="relative"``.
    storage : {"geometric", "original"}
        Iterations whose iterates are kept: :func:`~hessianfree.optim.cg_rules.storage_grid` or
        :func:`~hessianfree.optim.cg_rules.original_storage_grid`.
    keep_worse_start : bool
        False: a start with :math:`\\phi(x_0) > 0 = \\phi(0)` is dropped for
        zeros (one more host transfer).  From such a start, CG stopped early
        can end where the model still predicts an increase, which
        Hessian-free's reduction ratio counts as a failure (its damping then
        grows, and with it the next start's :math:`\\phi`).
    stopping : {"relative", "original"}
        ``"relative"``: :func:`~hessianfree.optim.cg_rules.relative_progress_met`
        and the relative residual test of ``res_tol``.  ``"original"``: the
        original package's variant of the progress test (``rule="original"``) and a stop once
        :math:`r^T M^{-1} r <` :data:`~hessianfree.optim.cg_rules.ORIGINAL_RESIDUAL_FLOOR`.

    Returns
    -------
    CGResult

    Notes
    -----
    Textbook PCG (Nocedal & Wright 2006, Alg. 5.3) with the early exits of
    Martens (2010): relative progress (§4.4), negative or zero curvature
    :math:`d^T A d \\le 0` (the iterate so far is returned) and non-finite
    values (the last finite iterate is returned).  :math:`\\phi` follows
    :math:`\\phi_i = \\phi_{i-1} - \\tfrac12 \\alpha_i r_{i-1}^T z_{i-1}` from
    :math:`\\phi_0 = -\\tfrac12 x_0^T(r_0 + b)`, so an iteration costs one ``matvec``, one
    preconditioner application, two dot products (:math:`d^T A d`,
    :math:`r^T z`, fetched together: one host synchronisation; :math:`\\alpha`
    and :math:`\\beta` stay on the device) and, with CuPy, three fused vector
    updates.  Nothing is allocated per iteration but scalars and the stored
    copies.  A NaN or inf in :math:`d^T A d`, :math:`r^T z` or
    :math:`\\alpha`, or :math:`|\\phi|` beyond ``b.dtype``'s range, stops
    the run before ``x`` moves.  ``x``, which nothing reads and which stays
    non-finite once it is, is checked at the end: if it overflowed, the
    result is the last finite stored iterate (or ``x0``), as if the run had
    stopped there.  NumPy floating-point warnings are silenced inside (a NaN
    or inf shows up as the status :data:`NONFINITE` instead).
    """
    _check_args(matvec, b, x0, max_iters, precond, min_iters, rel_tol, res_tol)
    check_rules(storage, stopping)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        # NaN and inf are reported through the status, not NumPy warnings
        return _run(matvec, b, x0, max_iters, precond, min_iters, rel_tol,
                    store_iterates, callback, res_tol, storage, stopping,
                    bool(keep_worse_start))


def _run(matvec, b, x0, max_iters, precond, min_iters, rel_tol, store_iterates,
         callback, res_tol, storage, stopping, keep_worse_start):
    ws = _Workspace(matvec, b, x0, precond)
    rz_dev, rz, phi0, bz = ws.start(need_bz=stopping == STOPPING_RELATIVE)
    if phi0 > 0 and not keep_worse_start:  # worse than x = 0, where phi = 0
        ws.restart_from_zero()
        rz_dev, rz, phi0, bz = ws.start(need_bz=stopping == STOPPING_RELATIVE)
    ws.phis.append(phi0)
    floor = residual_floor(rz, bz, res_tol, b.dtype, stopping)
    if not (math.isfinite(rz) and math.isfinite(phi0)):
        status = NONFINITE
    elif rz <= floor:
        status = CONVERGED_RESIDUAL
    else:
        grid = ((original_storage_grid if storage == STORAGE_ORIGINAL else storage_grid)
                (max_iters) if store_iterates else [])
        status = _iterate(ws, rz_dev, rz, floor, set(grid), max_iters, min_iters,
                          (rel_tol, stopping), callback)
    if ws.keep_finite():
        status = NONFINITE
    n_iters = len(ws.phis) - 1
    stored = ws.stored if store_iterates else []
    if not stored or stored[-1][0] != n_iters:
        stored.append((n_iters, ws.x.copy()))
    return CGResult(x=ws.x, iterates=stored, n_iters=n_iters,
                    values=[ws.phis[i] for i, _ in stored], status=status)


def _iterate(ws, rz_dev, rz, floor, grid, max_iters, min_iters, progress_rule, callback):
    """The CG loop on workspace ``ws``; returns the status.  ``rz_dev`` and
    ``rz``: :math:`r_0^T z_0` on the device and the host; ``progress_rule``:
    ``(rel_tol, stopping)`` of
    :func:`~hessianfree.optim.cg_rules.relative_progress_met`.  ``r`` moves
    before the one transfer of :math:`d^T A d` and :math:`r^T z`, ``x`` after
    their checks."""
    xp, x, r, d = ws.xp, ws.x, ws.r, ws.d
    for i in range(1, max_iters + 1):
        Ad = ws.matvec(d, ws.Ad)
        dAd_dev = xp.dot(d, Ad)
        alpha_dev = rz_dev / dAd_dev
        ws.axpy(alpha_dev, Ad, r, subtract=True)
        rz_new_dev = xp.dot(r, ws.precondition())
        dAd, rz_new = ws.fetch(dAd_dev, rz_new_dev)
        if not math.isfinite(dAd):
            return NONFINITE
        if dAd <= 0:
            return NEGATIVE_CURVATURE
        alpha = rz / dAd
        phi = ws.phis[-1] - 0.5 * alpha * rz
        if not (math.isfinite(alpha) and abs(phi) <= ws.largest and math.isfinite(rz_new)):
            return NONFINITE
        ws.axpy(alpha_dev, d, x)
        ws.phis.append(phi)
        if i in grid:
            ws.stored.append((i, x.copy()))
        if callback is not None and callback(i, x, phi):
            return CALLBACK_STOP
        if rz_new <= floor:
            return CONVERGED_RESIDUAL
        if i >= min_iters and relative_progress_met(ws.phis, i, *progress_rule):
            return CONVERGED_RELATIVE_PROGRESS
        if not math.isfinite(rz_new / rz):
            return NONFINITE
        ws.next_direction(rz_new_dev / rz_dev)
        rz_dev, rz = rz_new_dev, rz_new
    return MAX_ITERS
