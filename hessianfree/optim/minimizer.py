"""Hessian-free minimization of any smooth objective.

:func:`minimize` minimizes a user's function of a flat parameter vector,
given its gradient and a curvature-vector product (exact Hessian or
Gauss-Newton), and answers with a :class:`scipy.optimize.OptimizeResult`
like :func:`scipy.optimize.minimize`.  Two methods:

``"trust-region"`` (the default)
    Steihaug-Toint truncated CG in a trust region, a rejected step retried
    on the same CG path at the smaller radius without new curvature
    products (:mod:`hessianfree.optim.trust_region`).
``"damping"``
    The pieces that :class:`~hessianfree.optim.optimizers.HessianFree` uses
    for networks (:func:`~hessianfree.optim.cg.conjugate_gradient`,
    :func:`~hessianfree.optim.linesearch.backtrack_cg_iterates`,
    :func:`~hessianfree.optim.damping.update_damping`,
    :func:`~hessianfree.optim.linesearch.armijo_line_search`).
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
from hessianfree.optim import trust_region as tr

#: ``OptimizeResult.message`` values (``status`` is the position in this tuple).
MESSAGES = ("Optimization terminated successfully: gradient norm <= gtol.",
            ("Optimization terminated successfully: relative change of the "
             "objective <= ftol."),
            "Maximum number of iterations has been exceeded.",
            ("The damping reached max_damping without a step that lowers the "
             "objective."),
            "NaN or inf in the objective, gradient or curvature product.",
            "Stopped by the callback (it returned True or raised StopIteration).",
            ("The trust radius shrank to rounding level without a step that "
             "lowers the objective."))
#: ``status`` of a run that the callback stopped (not a success).
CALLBACK_STOP = 5
#: The methods of :func:`minimize`.
METHODS = ("trust-region", "damping")
#: Reduction ratio above which a trust-region step is taken (Nocedal & Wright
#: 2006, Alg. 4.1, :math:`\eta`).
ACCEPT_RATIO = 0.15
#: The options that belong to one method only.
_METHOD_OPTIONS = {"trust-region": ("initial_trust_radius", "max_trust_radius"),
                   "damping": ("init_damping", "min_damping", "max_damping",
                               "cg_decay", "cg_rel_tol")}


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
    method: str
    max_iters: int
    cg_iters: int
    gtol: float
    ftol: float
    initial_trust_radius: float
    max_trust_radius: float
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


def _options(method, maxiter, cg_iters, gtol, ftol, initial_trust_radius,
             max_trust_radius, init_damping, min_damping, max_damping, cg_decay,
             cg_rel_tol):
    for name, n in (("maxiter", maxiter), ("cg_iters", cg_iters)):
        val.check_positive_int(n, name)
    radius, max_radius = (val.check_real(v, name, 0.0) for v, name in
                          ((initial_trust_radius, "initial_trust_radius"),
                           (max_trust_radius, "max_trust_radius")))
    if not 0 < radius <= max_radius < math.inf:
        raise ValueError(f"need 0 < initial_trust_radius <= max_trust_radius < inf, got "
                         f"{initial_trust_radius!r} and {max_trust_radius!r}")
    low, high = (val.check_real(v, name, 0.0) for v, name in
                 ((min_damping, "min_damping"), (max_damping, "max_damping")))
    if low > high:
        raise ValueError(f"min_damping ({min_damping!r}) must not exceed "
                         f"max_damping ({max_damping!r})")
    return _Options(
        method=method, max_iters=int(maxiter), cg_iters=int(cg_iters),
        gtol=val.check_real(gtol, "gtol", 0.0), ftol=val.check_real(ftol, "ftol", 0.0),
        initial_trust_radius=radius, max_trust_radius=max_radius,
        init_damping=val.check_real(init_damping, "init_damping", 0.0),
        min_damping=low, max_damping=high,
        cg_decay=val.check_real(cg_decay, "cg_decay", 0.0, 1.0),
        cg_rel_tol=val.check_real(cg_rel_tol, "cg_rel_tol", 0.0))


def _merge_options(given, options):
    """The solver options: ``given`` (the keyword arguments) with the entries
    of the ``options`` dict, as :func:`scipy.optimize.minimize` takes them;
    an option of the other method than ``given["method"]`` is refused."""
    merged = given if options is None else _with_options_dict(given, options)
    if merged["method"] not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {merged['method']!r}")
    defaults = inspect.signature(minimize).parameters
    for method, keys in _METHOD_OPTIONS.items():
        other = [key for key in keys if merged[key] != defaults[key].default]
        if method != merged["method"] and other:
            verb = "is an option" if len(other) == 1 else "are options"
            raise ValueError(f"{', '.join(other)} {verb} of method={method!r}, not of "
                             f"method={merged['method']!r}")
    return merged


def _with_options_dict(given, options):
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict of solver options, got "
                        f"{val.describe(options)}")
    unknown = [key for key in options if key not in given or key == "method"]
    if unknown:
        raise ValueError(f"options has unknown keys {', '.join(map(repr, unknown))}; "
                         f"the solver options are {', '.join(k for k in given if k != 'method')}")
    defaults = inspect.signature(minimize).parameters
    twice = [key for key in options if given[key] != defaults[key].default]
    if twice:
        raise ValueError(f"{', '.join(twice)} given both as a keyword argument and in "
                         f"options; give each once")
    return {**given, **options}


def minimize(fun, x0, jac, hessp=None, gnp=None, *, args=(), method="trust-region",
             maxiter=200, cg_iters=250, gtol=1e-5, ftol=0.0, initial_trust_radius=1.0,
             max_trust_radius=1000.0, init_damping=1.0, min_damping=MIN_DAMPING,
             max_damping=MAX_DAMPING, cg_decay=0.95, cg_rel_tol=5e-4, callback=None,
             options=None):
    """Minimize ``fun`` by Hessian-free (truncated Newton) steps.

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
        :func:`scipy.optimize.minimize`.  It may be indefinite: the
        trust-region method follows a direction of negative curvature to the
        trust-region boundary; the damping method stops CG there and raises
        the damping until the damped model is bounded below.
    gnp : callable ``gnp(x, p, *args) -> (n,) array``, optional
        Product with a positive semi-definite curvature matrix such as the
        Gauss-Newton matrix :math:`J^T H_L J` (Schraudolph 2002).  Give
        exactly one of ``hessp`` and ``gnp``.
    args : tuple
        Extra arguments passed to ``fun``, ``jac`` and the product.
    method : {"trust-region", "damping"}
        ``"trust-region"``: Steihaug-Toint CG in a trust region (see Notes).
        ``"damping"``: the network optimizer's damped CG steps
        (:class:`~hessianfree.optim.optimizers.HessianFree`'s pieces).
    maxiter : int
        Maximum number of outer (Newton) iterations.
    cg_iters : int
        Maximum number of CG iterations per outer iteration.
    gtol : float
        Stop successfully when :math:`\\|\\nabla f\\|_2 \\le` ``gtol``.
    ftol : float
        Stop successfully when an accepted step changes ``fun`` by at most
        ``ftol`` times :math:`\\max(1, |f|)` (0 disables the test).
    initial_trust_radius, max_trust_radius : float
        The trust-region method's first and largest radius (as SciPy's
        trust-region methods take them).
    init_damping : float
        Damping method: initial Tikhonov damping :math:`\\lambda` (Martens
        2010, §4.1).
    min_damping, max_damping : float
        Damping method: bounds on :math:`\\lambda`; the run stops
        (unsuccessfully) when the damping is at ``max_damping`` and still no
        step lowers ``fun``.
    cg_decay : float in [0, 1]
        Damping method: warm start each CG run from this times the previous
        solution (Martens 2010, §4.5; 0 starts from zero).
    cg_rel_tol : float
        Damping method: :math:`\\epsilon` of Martens' (2010, §4.4)
        relative-progress stop.
    callback : callable ``callback(x) -> bool``, optional
        Called after each iteration with the current point (a copy);
        returning True or raising ``StopIteration`` stops the run with
        ``status`` :data:`CALLBACK_STOP` and ``success`` False.
    options : dict, optional
        The solver options as a dict, as :func:`scipy.optimize.minimize`
        takes them: any of the keyword arguments from ``maxiter`` to
        ``cg_rel_tol``.  An unknown key, one also given as a keyword argument
        with another value, or an option of the other method raises
        ValueError naming it.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x``, ``fun``, ``jac`` (gradient at ``x``), ``nit`` (outer
        iterations), ``nfev``, ``njev``, ``nhev`` (curvature products),
        ``success``, ``status`` (index in :data:`MESSAGES`: 0 and 1 success,
        2 ``maxiter`` reached, 3 the damping at ``max_damping``, 4 NaN or
        inf, :data:`CALLBACK_STOP` stopped by the callback, 6 the trust
        radius at rounding level), ``message``, and ``trust_radius`` or
        ``damping`` (the final radius or :math:`\\lambda`).  With
        ``jac=True`` ``nfev`` counts the calls of ``fun`` and ``njev`` the
        gradients used.

    Notes
    -----
    Trust region: each iteration runs Steihaug-Toint CG on :math:`B s =
    -\\nabla f` from :math:`s = 0` until the residual is below
    :math:`\\min(\\tfrac12, \\|\\nabla f\\|^{1/2})\\,\\|\\nabla f\\|`, the path
    leaves the trust region or meets negative curvature (Nocedal & Wright
    2006, Alg. 7.2).  The step is taken when the reduction ratio against
    the quadratic model exceeds :data:`ACCEPT_RATIO`; the radius follows
    Nocedal & Wright's Alg. 4.1.  A rejected step is retried on the same CG
    path cut at the smaller radius, which costs a function value but no
    curvature product (:mod:`hessianfree.optim.trust_region`).

    Damping: each iteration solves :math:`(B + \\lambda I)\\,\\delta =
    -\\nabla f` by CG, picks among the CG iterates by backtracking (Martens
    2010, §4.6), compares the actual reduction with that of the undamped
    model :math:`q(\\delta) = \\nabla f^T \\delta + \\tfrac12 \\delta^T B
    \\delta` to adapt :math:`\\lambda` by the Levenberg-Marquardt rule (§4.1),
    and scales the step by an Armijo line search (Martens & Sutskever 2012,
    §8.8).  A step that does not lower ``fun`` is rejected and
    :math:`\\lambda` grows.
    """
    prod = _check_callables(fun, jac, hessp, gnp)
    x = _check_x0(x0)
    opts = _options(**_merge_options(dict(
        method=method, maxiter=maxiter, cg_iters=cg_iters, gtol=gtol, ftol=ftol,
        initial_trust_radius=initial_trust_radius, max_trust_radius=max_trust_radius,
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
    if opts.method == "trust-region":
        step_function, state = _trust_step, {"trust_radius": opts.initial_trust_radius}
    else:
        step_function, state = _damped_step, {"damping": opts.init_damping, "warm": None}
    status, nit = 2, 0
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
        step = step_function(problem, x, f, g, state, opts)
        state = step["state"]
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
    state.pop("warm", None)
    return OptimizeResult(x=x, fun=f, jac=g, nit=nit, nfev=problem.nfev,
                          njev=problem.njev, nhev=problem.nhev, status=status,
                          success=status in (0, 1), message=MESSAGES[status], **state)


def _trust_step(problem, x, f, g, state, opts):
    """One trust-region iteration: Steihaug-Toint CG once, then the step on
    its path at the current radius, retried at smaller radii on the same
    path until the reduction ratio exceeds :data:`ACCEPT_RATIO`."""
    radius = state["trust_radius"]
    matvec = problem.matvec(x, 0.0)
    g_norm = float(np.linalg.norm(g))
    path, cg_status = tr.steihaug_path(lambda v: matvec(v, np.empty_like(v)), g, radius,
                                       min(0.5, math.sqrt(g_norm)) * g_norm, opts.cg_iters)
    if cg_status == tr.NONFINITE:
        return {"state": state, "status": 4, "accepted": False}
    floor = np.finfo(np.float64).eps * max(1.0, float(np.linalg.norm(x)))
    while True:
        delta, predicted, on_boundary = tr.point_on_path(path, radius)
        value = problem.f(x + delta)
        rho = reduction_ratio(value - f, predicted)
        radius = tr.next_radius(radius, rho, float(np.linalg.norm(delta)), on_boundary,
                                opts.max_trust_radius)
        if rho > ACCEPT_RATIO and value < f:
            return {"state": {"trust_radius": radius}, "status": None, "accepted": True,
                    "delta": delta, "value": value}
        if radius <= floor:
            return {"state": {"trust_radius": radius}, "status": 6, "accepted": False}


def _damped_step(problem, x, f, g, state, opts):
    """One iteration of the damping method; returns a dict with the new
    damping and warm start, whether the step was accepted (and its
    ``delta`` and ``value``), and a final ``status`` when the run must
    stop."""
    damping, warm = state["damping"], state["warm"]
    cg = conjugate_gradient(problem.matvec(x, damping), -g, warm,
                            max_iters=opts.cg_iters, rel_tol=opts.cg_rel_tol)
    if cg.status == NONFINITE:
        return {"state": {"damping": damping, "warm": None}, "status": 4,
                "accepted": False}

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
        return {"state": {"damping": new_damping, "warm": None}, "accepted": False,
                "status": 3 if stuck else None}
    return {"state": {"damping": new_damping, "warm": warm}, "accepted": True,
            "status": None, "delta": alpha * delta, "value": value}
