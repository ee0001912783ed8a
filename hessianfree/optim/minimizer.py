"""Hessian-free minimization of any smooth objective.

:func:`minimize` runs the pieces that :class:`~hessianfree.optim.optimizers.HessianFree`
uses for networks (:func:`~hessianfree.optim.cg.conjugate_gradient`,
:func:`~hessianfree.optim.linesearch.backtrack_cg_iterates`,
:func:`~hessianfree.optim.damping.update_damping`,
:func:`~hessianfree.optim.linesearch.armijo_line_search`) on a user's function of a
flat parameter vector, given its gradient and a curvature-vector product
(exact Hessian or Gauss-Newton), and answers with a
:class:`scipy.optimize.OptimizeResult` like :func:`scipy.optimize.minimize`.
"""

import dataclasses
import inspect
import math

import numpy as np
from scipy.optimize import OptimizeResult

from hessianfree.base import validation as val
from hessianfree.optim.cg import CONVERGED_RESIDUAL, NONFINITE, conjugate_gradient
from hessianfree.optim.damping import (MAX_DAMPING, MIN_DAMPING, reduction_ratio,
                                 update_damping)
from hessianfree.optim.linesearch import armijo_line_search, backtrack_cg_iterates

#: ``OptimizeResult.message`` values (``status`` is the position in this tuple).
MESSAGES = ("Optimization terminated successfully: gradient norm <= gtol.",
            ("Optimization terminated successfully: relative change of the "
             "objective <= ftol."),
            "Maximum number of iterations has been exceeded.",
            ("The damping reached max_damping without a step that lowers the "
             "objective."),
            "NaN or inf in the objective, gradient or curvature product.",
            "Stopped by the callback (it returned True or raised StopIteration).")
#: ``status`` of a run that the callback stopped (not a success).
CALLBACK_STOP = 5


@dataclasses.dataclass
class _Problem:
    """The user's callables, wrapped to count evaluations and to return
    float64 values."""

    fun: object
    jac: object
    prod: object
    args: tuple
    nfev: int = 0
    njev: int = 0
    nhev: int = 0

    prod_name: str = "hessp"
    #: ``(x, gradient)`` of the last call of a ``fun`` that returns both.
    last: tuple = None

    def f(self, x):
        self.nfev += 1
        value = self.fun(x, *self.args)
        if self.jac is True:
            if not (isinstance(value, tuple) and len(value) == 2):
                raise TypeError(f"with jac=True, fun must return a pair (value, "
                                f"gradient), got {val.describe(value)}")
            value, gradient = value
            self.last = (x.copy(), _as_vector(gradient, "jac (the gradient fun "
                                              "returned with jac=True)", x.size))
        return float(value)

    def g(self, x):
        self.njev += 1
        if self.jac is not True:
            return _as_vector(self.jac(x, *self.args), "jac", x.size)
        if self.last is None or not np.array_equal(self.last[0], x):
            self.f(x)
        return self.last[1]

    def matvec(self, x, damping):
        """``matvec(v, out)`` computing :math:`(B(x) + \\lambda I) v`."""
        def product(v, out):
            if not v.any():  # CG's first product with a zero start
                out.fill(0)
                return out
            self.nhev += 1
            Bv = _as_vector(self.prod(x, v, *self.args), self.prod_name, x.size)
            return np.add(Bv, damping * v, out=out)
        return product


def _as_vector(value, name, n):
    """``value`` (what the user's ``name`` returned) as a float64 vector of
    shape ``(n,)``; TypeError for complex or non-numeric values, ValueError
    for another shape."""
    value = np.asarray(value)
    if value.dtype.kind not in "biuf":
        raise TypeError(f"{name} must return real numbers, got an array of dtype "
                        f"{value.dtype}" + (" (complex values are not supported)"
                                            if value.dtype.kind == "c" else ""))
    if value.shape != (n,):
        raise ValueError(f"{name} must return an array of shape ({n},), like x, got "
                         f"shape {value.shape}")
    return value.astype(np.float64, copy=False)


@dataclasses.dataclass(frozen=True)
class _Options:
    max_iters: int
    cg_iters: int
    gtol: float
    ftol: float
    init_damping: float
    min_damping: float
    max_damping: float
    cg_decay: float
    cg_rel_tol: float


def _check_callables(fun, jac, hessp, gnp):
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {val.describe(fun)}")
    if jac is not True and not callable(jac):
        raise TypeError(f"jac must be callable (the gradient) or True (fun returns "
                        f"the value and the gradient), got {val.describe(jac)}")
    if (hessp is None) == (gnp is None):
        raise ValueError("give exactly one of hessp (Hessian-vector product) and "
                         "gnp (Gauss-Newton-vector product)")
    prod = gnp if hessp is None else hessp
    if not callable(prod):
        raise TypeError(f"{'gnp' if hessp is None else 'hessp'} must be callable, "
                        f"got {val.describe(prod)}")
    return prod


def _check_x0(x0):
    if np.iscomplexobj(x0):
        raise TypeError(f"x0 must hold real numbers, got complex values "
                        f"({val.describe(x0)}); minimize real and imaginary parts "
                        f"as two real variables")
    try:
        x = np.array(x0, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise TypeError(f"x0 must be an array of real numbers: {e}") from None
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError("x0 must be a non-empty array of finite numbers")
    return x


def _options(maxiter, cg_iters, gtol, ftol, init_damping, min_damping, max_damping,
             cg_decay, cg_rel_tol):
    for name, n in (("maxiter", maxiter), ("cg_iters", cg_iters)):
        val.check_positive_int(n, name)
    low, high = (val.check_real(v, name, 0.0) for v, name in
                 ((min_damping, "min_damping"), (max_damping, "max_damping")))
    if low > high:
        raise ValueError(f"min_damping ({min_damping!r}) must not exceed "
                         f"max_damping ({max_damping!r})")
    return _Options(
        max_iters=int(maxiter), cg_iters=int(cg_iters),
        gtol=val.check_real(gtol, "gtol", 0.0), ftol=val.check_real(ftol, "ftol", 0.0),
        init_damping=val.check_real(init_damping, "init_damping", 0.0),
        min_damping=low, max_damping=high,
        cg_decay=val.check_real(cg_decay, "cg_decay", 0.0, 1.0),
        cg_rel_tol=val.check_real(cg_rel_tol, "cg_rel_tol", 0.0))


def _merge_options(given, options):
    """The solver options: ``given`` (the keyword arguments) with the entries
    of the ``options`` dict, as :func:`scipy.optimize.minimize` takes them."""
    if options is None:
        return given
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict of solver options, got "
                        f"{val.describe(options)}")
    unknown = [key for key in options if key not in given]
    if unknown:
        raise ValueError(f"options has unknown keys {', '.join(map(repr, unknown))}; "
                         f"the solver options are {', '.join(given)}")
    defaults = inspect.signature(minimize).parameters
    twice = [key for key in options if given[key] != defaults[key].default]
    if twice:
        raise ValueError(f"{', '.join(twice)} given both as a keyword argument and in "
                         f"options; give each once")
    return {**given, **options}


def minimize(fun, x0, jac, hessp=None, gnp=None, *, args=(), maxiter=200,
             cg_iters=250, gtol=1e-5, ftol=0.0, init_damping=1.0,
             min_damping=MIN_DAMPING, max_damping=MAX_DAMPING, cg_decay=0.95,
             cg_rel_tol=5e-4, callback=None, options=None):
    """Minimize ``fun`` by Hessian-free (damped truncated Newton) steps.

    Parameters
    ----------
    fun : callable ``fun(x, *args) -> float``
        Objective (with ``jac=True``: ``fun(x, *args) -> (float, (n,) array)``,
        the value and the gradient).
    x0 : (n,) array_like
        Starting point (copied; the iterates are float64).  Complex values
        raise TypeError.
    jac : callable ``jac(x, *args) -> (n,) array``, or True
        Gradient of ``fun``; it must return real numbers of the shape of
        ``x`` (else TypeError or ValueError naming ``jac``).  True: ``fun``
        returns the gradient with the value, as for
        :func:`scipy.optimize.minimize`.
    hessp : callable ``hessp(x, p, *args) -> (n,) array``, optional
        Hessian-vector product :math:`\\nabla^2 f(x)\\,p`, as for
        :func:`scipy.optimize.minimize`.  It may be indefinite: CG stops at a
        direction of negative curvature and the damping grows until the
        damped model is bounded below.
    gnp : callable ``gnp(x, p, *args) -> (n,) array``, optional
        Product with a positive semi-definite curvature matrix such as the
        Gauss-Newton matrix :math:`J^T H_L J` (Schraudolph 2002).  Give
        exactly one of ``hessp`` and ``gnp``.
    args : tuple
        Extra arguments passed to ``fun``, ``jac`` and the product.
    maxiter : int
        Maximum number of outer (Newton) iterations.
    cg_iters : int
        Maximum number of CG iterations per outer iteration.
    gtol : float
        Stop successfully when :math:`\\|\\nabla f\\|_2 \\le` ``gtol``.
    ftol : float
        Stop successfully when an accepted step changes ``fun`` by at most
        ``ftol`` times :math:`\\max(1, |f|)` (0 disables the test).
    init_damping : float
        Initial Tikhonov damping :math:`\\lambda` (Martens 2010, §4.1).
    min_damping, max_damping : float
        Bounds on :math:`\\lambda`; the run stops (unsuccessfully) when the
        damping is at ``max_damping`` and still no step lowers ``fun``.
    cg_decay : float in [0, 1]
        Warm start each CG run from this times the previous solution
        (Martens 2010, §4.5; 0 starts from zero).
    cg_rel_tol : float
        :math:`\\epsilon` of Martens' (2010, §4.4) relative-progress stop.
    callback : callable ``callback(x) -> bool``, optional
        Called after each iteration with the current point (a copy);
        returning True or raising ``StopIteration`` stops the run with
        ``status`` :data:`CALLBACK_STOP` and ``success`` False.
    options : dict, optional
        The solver options as a dict, as :func:`scipy.optimize.minimize`
        takes them: any of ``maxiter``, ``cg_iters``, ``gtol``, ``ftol``,
        ``init_damping``, ``min_damping``, ``max_damping``, ``cg_decay`` and
        ``cg_rel_tol``.  An unknown key, or one also given as a keyword
        argument with another value, raises ValueError naming it.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x``, ``fun``, ``jac`` (gradient at ``x``), ``nit`` (outer
        iterations), ``nfev``, ``njev``, ``nhev`` (curvature products, those
        of CG and of the reduction ratio), ``success``, ``status`` (index in
        :data:`MESSAGES`: 0 and 1 success, 2 ``maxiter`` reached, 3 the
        damping at ``max_damping``, 4 NaN or inf, :data:`CALLBACK_STOP`
        stopped by the callback), ``message`` and ``damping`` (final
        :math:`\\lambda`).  With ``jac=True`` ``nfev`` counts the calls of
        ``fun`` and ``njev`` the gradients used.

    Notes
    -----
    Each iteration solves :math:`(B + \\lambda I)\\,\\delta = -\\nabla f` by CG,
    picks among the CG iterates by backtracking (Martens 2010, §4.6),
    compares the actual reduction with that of the undamped model
    :math:`q(\\delta) = \\nabla f^T \\delta + \\tfrac12 \\delta^T B \\delta` to
    adapt :math:`\\lambda` by the Levenberg-Marquardt rule (§4.1), and scales
    the step by an Armijo line search (Martens & Sutskever 2012, §8.8).  A
    step that does not lower ``fun`` is rejected and :math:`\\lambda` grows.
    """
    prod = _check_callables(fun, jac, hessp, gnp)
    x = _check_x0(x0)
    opts = _options(**_merge_options(dict(
        maxiter=maxiter, cg_iters=cg_iters, gtol=gtol, ftol=ftol,
        init_damping=init_damping, min_damping=min_damping, max_damping=max_damping,
        cg_decay=cg_decay, cg_rel_tol=cg_rel_tol), options))
    if not isinstance(args, tuple):
        args = (args,)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {val.describe(callback)}")
    problem = _Problem(fun, jac, prod, args, prod_name="gnp" if hessp is None else "hessp")
    return _run(problem, x, opts, callback)


def _callback_stops(callback, x):
    """Whether ``callback(x)`` asks to stop (returns True or raises
    StopIteration)."""
    try:
        return bool(callback(x.copy()))
    except StopIteration:
        return True


def _run(problem, x, opts, callback):
    f, g = problem.f(x), problem.g(x)
    damping, warm, status, nit = opts.init_damping, None, 2, 0
    while status == 2:
        if not (math.isfinite(f) and np.isfinite(g).all()):
            status = 4
            break
        if np.linalg.norm(g) <= opts.gtol:
            status = 0
            break
        if nit >= opts.max_iters:
            break
        nit += 1
        step = _step(problem, x, f, g, damping, warm, opts)
        damping, warm = step["damping"], step["warm"]
        if step["status"] is not None:
            status = step["status"]
        elif step["accepted"]:
            f_old, f = f, step["value"]
            x = x + step["delta"]
            g = problem.g(x)
            if opts.ftol > 0 and f_old - f <= opts.ftol * max(1.0, abs(f)):
                status = 1
        if callback is not None and _callback_stops(callback, x) and status == 2:
            status = CALLBACK_STOP
    return OptimizeResult(x=x, fun=f, jac=g, nit=nit, nfev=problem.nfev,
                          njev=problem.njev, nhev=problem.nhev, status=status,
                          success=status in (0, 1), message=MESSAGES[status],
                          damping=damping)


def _step(problem, x, f, g, damping, warm, opts):
    """One outer iteration; returns a dict with the new damping and warm
    start, whether the step was accepted (and its ``delta`` and ``value``),
    and a final ``status`` when the run must stop."""
    cg = conjugate_gradient(problem.matvec(x, damping), -g, warm,
                            max_iters=opts.cg_iters, rel_tol=opts.cg_rel_tol)
    if cg.status == NONFINITE:
        return {"damping": damping, "warm": None, "status": 4, "accepted": False}

    def objective(delta):
        return problem.f(x + delta)

    index, value = backtrack_cg_iterates(cg.iterates, objective)
    delta = cg.iterates[index][1]
    Bdelta = problem.matvec(x, 0.0)(delta, np.empty_like(delta))
    predicted = float(g @ delta + 0.5 * (delta @ Bdelta))
    rho = reduction_ratio(value - f, predicted)
    new_damping = update_damping(damping, rho, min_damping=opts.min_damping,
                                 max_damping=opts.max_damping)
    alpha, value = armijo_line_search(objective, f, float(g @ delta), delta,
                                      value_at_one=value)
    accepted = alpha > 0 and value < f
    warm = None if opts.cg_decay == 0 else cg.x * opts.cg_decay
    if not accepted:
        stuck = damping >= opts.max_damping and cg.status != CONVERGED_RESIDUAL
        new_damping = update_damping(damping, -math.inf, min_damping=opts.min_damping,
                                     max_damping=opts.max_damping)
        return {"damping": new_damping, "warm": None, "accepted": False,
                "status": 3 if stuck else None}
    return {"damping": new_damping, "warm": warm, "accepted": True, "status": None,
            "delta": alpha * delta, "value": value}
