"""Trust-region pieces of :func:`hessianfree.optim.minimizer.minimize`.

:func:`steihaug_path` runs Steihaug-Toint truncated conjugate gradient on the
Newton system :math:`B s = -g` from :math:`s = 0` (Nocedal & Wright 2006,
Alg. 7.2) and keeps its whole path: the CG iterates joined by their search
directions, ending where the path leaves the trust region, follows a
direction of negative curvature, or meets the forcing tolerance.  Along
that path :math:`\\|s\\|` grows monotonically (Steihaug 1983, Thm. 2.1), so
:func:`point_on_path` can cut it at any smaller radius and give the model
value there from the CG recurrences alone.  A rejected step is then retried
on the same path at the reduced radius without a single new curvature
product: the trust-region form of Martens' (2010, §4.6) backtracking over
the CG iterates.  :func:`next_radius` is the classic radius rule (Nocedal &
Wright 2006, Alg. 4.1).

All functions are pure (NumPy, float64 vectors).
"""

import dataclasses
import math

import numpy as np

#: :func:`steihaug_path` statuses.
CONVERGED = "converged"
#: The path reached the trust region's boundary.
BOUNDARY = "boundary"
#: CG met a direction of negative curvature (the path follows it to the boundary).
NEGATIVE_CURVATURE = "negative_curvature"
#: CG ran its iterations without converging.
MAX_ITERS = "max_iters"
#: A curvature product or step was not finite.
NONFINITE = "nonfinite"

#: Radius rule of :func:`next_radius`: shrink below this reduction ratio,
#: grow above the other (when the step reached the boundary).
SHRINK_BELOW, GROW_ABOVE = 0.25, 0.75
#: Factors of :func:`next_radius`.
SHRINK, GROW = 0.25, 2.0


@dataclasses.dataclass(frozen=True)
class Segment:
    """One piece of the CG path: the points ``start + tau * direction`` for
    ``0 <= tau <= length``, where the quadratic model
    :math:`m(s) = g^T s + \\tfrac12 s^T B s` is
    ``model - tau * rr + tau**2 * curvature / 2``."""

    start: np.ndarray
    direction: np.ndarray
    rr: float
    curvature: float
    model: float
    length: float


def steihaug_path(product, g, radius, tol, max_iters):
    """Steihaug-Toint CG on :math:`B s = -g`, keeping the path.

    Parameters
    ----------
    product : callable ``product(v) -> (n,) array``
        :math:`B v`.
    g : (n,) array
        The gradient (nonzero).
    radius : float
        Trust-region radius :math:`\\Delta`.
    tol : float
        Stop once the residual norm :math:`\\|B s + g\\|` is at most this.
    max_iters : int
        Most CG iterations (curvature products).

    Returns
    -------
    segments : list of Segment
        The path from :math:`s = 0`; the last segment ends where CG stopped
        (length 0 at a converged or last iterate, infinite along a direction
        of negative curvature, the CG step length when it crossed the
        boundary).
    status : str
        :data:`CONVERGED`, :data:`BOUNDARY`, :data:`NEGATIVE_CURVATURE`,
        :data:`MAX_ITERS` or :data:`NONFINITE` (a product held NaN or inf;
        the path so far is returned).
    """
    s = np.zeros_like(g)
    r = -g  # residual -g - B s
    d = r.copy()
    rr, model = float(r @ r), 0.0
    segments = []
    for _ in range(max_iters):
        Bd = product(d)
        curvature = float(d @ Bd)
        if not (math.isfinite(curvature) and np.isfinite(Bd).all()):
            return segments + [Segment(s, d, rr, 0.0, model, 0.0)], NONFINITE
        if curvature <= 0:
            return segments + [Segment(s, d, rr, curvature, model, math.inf)], \
                NEGATIVE_CURVATURE
        alpha = rr / curvature
        segments.append(Segment(s, d, rr, curvature, model, alpha))
        s_next = s + alpha * d
        if np.linalg.norm(s_next) >= radius:
            return segments, BOUNDARY
        model -= 0.5 * alpha * rr
        r = r - alpha * Bd
        s, rr_next = s_next, float(r @ r)
        if math.sqrt(rr_next) <= tol:
            return segments + [Segment(s, d, rr_next, 0.0, model, 0.0)], CONVERGED
        d = r + (rr_next / rr) * d
        rr = rr_next
    return segments + [Segment(s, d, rr, 0.0, model, 0.0)], MAX_ITERS


def point_on_path(segments, radius):
    """Where the CG path leaves the ball of ``radius`` (or its end, if it
    stays inside).

    Returns
    -------
    step : (n,) array
    model_change : float
        :math:`m(s) - m(0)` at ``step``.
    on_boundary : bool
        Whether ``step`` lies on the sphere of ``radius``.
    """
    for seg in segments:
        if seg.length == 0:
            break
        zz, zd, dd = seg.start @ seg.start, seg.start @ seg.direction, \
            seg.direction @ seg.direction
        tau = (math.sqrt(max(zd * zd + dd * (radius * radius - zz), 0.0)) - zd) / dd
        if tau <= seg.length:
            return (seg.start + tau * seg.direction,
                    seg.model - tau * seg.rr + 0.5 * tau * tau * seg.curvature, True)
    last = segments[-1]
    if last.length == 0:
        return last.start, last.model, False
    return (last.start + last.length * last.direction,  # unreachable but for rounding
            last.model - last.length * last.rr
            + 0.5 * last.length ** 2 * last.curvature, False)


def next_radius(radius, rho, step_norm, on_boundary, max_radius):
    """The radius after a step of norm ``step_norm`` with reduction ratio
    ``rho``: a quarter of the step below :data:`SHRINK_BELOW`, twice the
    radius (at most ``max_radius``) above :data:`GROW_ABOVE` when the step
    reached the boundary, else unchanged (Nocedal & Wright 2006, Alg. 4.1)."""
    if not rho >= SHRINK_BELOW:  # NaN shrinks too
        return SHRINK * min(radius, step_norm)
    if rho > GROW_ABOVE and on_boundary:
        return min(GROW * radius, max_radius)
    return radius
