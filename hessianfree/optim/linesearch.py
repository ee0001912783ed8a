"""Choosing the step after CG: backtracking over the CG iterates and an
Armijo line search along the chosen direction.

Both functions take the objective as a callable ``objective(step) -> float``
(the loss at the current parameters plus ``step``), so they work for any
array module.  A non-finite objective value always counts as a failure,
never as an improvement.
"""

import math

from hessianfree.base import validation as val
from hessianfree.base.backend import array_module


def _finite_or_inf(value):
    """``float(value)``, with NaN and infinities mapped to ``+inf``."""
    value = float(value)
    return value if math.isfinite(value) else math.inf


def backtrack_cg_iterates(iterates, objective):
    """Pick among stored CG iterates by walking back from the last one
    (Martens 2010, §4.6).

    The objective is evaluated at the last iterate, then at each earlier one
    for as long as that lowers it; the walk stops at the first iterate that
    is no better than its successor.  Non-finite values count as ``+inf``, so
    the walk steps over them.

    Parameters
    ----------
    iterates : sequence of (int, (n,) array)
        ``(iteration, delta)`` pairs in increasing iteration order (as in
        :attr:`hessianfree.optim.cg.CGResult.iterates`).
    objective : callable ``objective(delta) -> float``
        Loss at the current parameters plus ``delta``.

    Returns
    -------
    index : int
        Position in ``iterates`` of the chosen iterate.
    value : float
        Its objective value (``inf``, at index 0, if every value was
        non-finite).

    Notes
    -----
    The iterates of CG minimise the quadratic model ever better, but the true
    objective may prefer an earlier, shorter one; evaluating from the end
    backwards usually costs only a few evaluations.
    """
    if len(iterates) == 0:
        raise ValueError("iterates must hold at least one (iteration, delta) pair")
    index = len(iterates) - 1
    value = _finite_or_inf(objective(iterates[index][1]))
    while index > 0:
        previous = _finite_or_inf(objective(iterates[index - 1][1]))
        if math.isfinite(value) and previous >= value:
            break
        index, value = index - 1, previous
    return index, value


def _check_armijo(c, shrink, max_steps):
    if not 0 < c < 1:
        raise ValueError(f"c must be in (0, 1), got {c!r}")
    if not 0 < shrink < 1:
        raise ValueError(f"shrink must be in (0, 1), got {shrink!r}")
    val.check_int(max_steps, "max_steps", low=1)


def armijo_line_search(objective, f0, slope, delta, *, c=1e-2, shrink=0.8,
                       max_steps=60, value_at_one=None):
    """Backtracking line search with the Armijo sufficient-decrease condition
    (Martens & Sutskever 2012, §8.8).

    Finds the largest :math:`\\alpha \\in \\{1, s, s^2, \\dots, s^{m-1}\\}` with

    .. math::

        f(\\theta + \\alpha\\delta) \\le f(\\theta) + c\\,\\alpha\\,\\nabla f^T \\delta.

    Parameters
    ----------
    objective : callable ``objective(step) -> float``
        Loss at the current parameters plus ``step`` (the step buffer is
        reused between calls).
    f0 : float
        :math:`f(\\theta)`.
    slope : float
        Directional derivative :math:`\\nabla f^T \\delta` (negative for a
        descent direction).
    delta : (n,) array
        Search direction.
    c : float
        Sufficient-decrease constant in (0, 1); Martens & Sutskever use 0.01.
    shrink : float
        Factor :math:`s` in (0, 1) between trial steps (0.8 in the paper).
    max_steps : int
        Number :math:`m` of trial steps.
    value_at_one : float, optional
        :math:`f(\\theta + \\delta)` if already known (e.g. from
        :func:`backtrack_cg_iterates`); saves one evaluation.

    Returns
    -------
    alpha : float
        Accepted step length, or 0.0 if ``slope >= 0``, ``f0`` or ``slope``
        is not finite, or no trial step satisfied the condition.
    value : float
        :math:`f(\\theta + \\alpha\\delta)` (``f0`` when ``alpha == 0``).
    """
    _check_armijo(c, shrink, max_steps)
    f0, slope = float(f0), float(slope)
    if not (math.isfinite(f0) and math.isfinite(slope)) or slope >= 0:
        return 0.0, f0
    xp = array_module(delta)
    step = xp.empty_like(delta)
    alpha = 1.0
    for k in range(max_steps):
        if k == 0 and value_at_one is not None:
            value = _finite_or_inf(value_at_one)
        else:
            value = _finite_or_inf(objective(xp.multiply(delta, alpha, out=step)))
        if value <= f0 + c * alpha * slope:
            return alpha, value
        alpha *= shrink
    return 0.0, f0
