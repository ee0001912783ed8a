"""Which CG iterates Hessian-free optimization keeps, and when CG stops.

Backtracking (Martens 2010, §4.6) chooses among iterates that CG stored on a
grid of iterations; CG stops by Martens' relative-progress test (§4.4) or a
residual test.  Two variants of each exist: the original ``hessianfree``
0.4.0's (:data:`STORAGE_ORIGINAL`, :data:`STOPPING_ORIGINAL`) and the
paper's (:data:`STORAGE_GEOMETRIC`, :data:`STOPPING_RELATIVE`);
:func:`hessianfree.optim.cg.conjugate_gradient` takes them by name.
"""

import math

import numpy as np

from hessianfree.base import validation as val

#: Growth factor of the iterate storage grid (Martens 2010, §4.6).
GRID_BASE = 1.3

#: Storage grid of the original ``hessianfree`` 0.4.0 (see
#: :func:`original_storage_grid`); the default of
#: :class:`hessianfree.optim.optimizers.HessianFree`.
STORAGE_ORIGINAL = "original"
#: Storage grid :math:`\lceil 1.3^k \rceil` (see :func:`storage_grid`).
STORAGE_GEOMETRIC = "geometric"
#: Stopping rules of the original ``hessianfree`` 0.4.0: relative progress
#: with a 0-based iteration count and a floor gap, and an absolute floor
#: :data:`ORIGINAL_RESIDUAL_FLOOR` on the squared residual norm.
STOPPING_ORIGINAL = "original"
#: Relative progress with a ceiling gap, and a residual norm relative to that
#: of ``b`` (``res_tol``).
STOPPING_RELATIVE = "relative"
#: Squared residual norm :math:`r^T M^{-1} r` below which the original rules
#: stop.
ORIGINAL_RESIDUAL_FLOOR = 1e-20



def storage_grid(max_iters, base=GRID_BASE):
    """Iteration numbers at which CG keeps a copy of its iterate.

    The grid :math:`\\lceil 1.3^k \\rceil,\\ k = 0, 1, \\dots` of Martens (2010,
    §4.6) is dense early and geometric later, so backtracking can choose among
    O(log n) candidates.

    Parameters
    ----------
    max_iters : int
        Largest iteration number.
    base : float
        Growth factor (> 1).

    Returns
    -------
    list of int
        Sorted, unique iteration numbers in ``[1, max_iters]``.
    """
    grid, k = [], 0
    while True:
        i = math.ceil(base ** k)
        if i > max_iters:
            return grid
        if not grid or i != grid[-1]:
            grid.append(i)
        k += 1


def original_storage_grid(max_iters):
    """Iteration numbers at which the original ``hessianfree`` 0.4.0 keeps a
    copy of the CG iterate.

    The original counts iterations from 0 and stores after its iterations
    :math:`j = 5, 6, 7, 9, 11, 14, 18, 23, \\dots`, each
    :math:`\\lfloor 1.3 j_{prev} \\rfloor`; after iteration :math:`j` the
    iterate has had :math:`j + 1` updates, which is the number returned here.

    Parameters
    ----------
    max_iters : int
        Largest iteration number (number of updates).

    Returns
    -------
    list of int
        Sorted iteration numbers in ``[6, max_iters]``: 6, 7, 8, 10, 12, 15, ...
    """
    grid, j = [], 5
    while j + 1 <= max_iters:
        grid.append(j + 1)
        j = int(j * GRID_BASE)
    return grid


def relative_progress_met(values, i, rel_tol, rule=STOPPING_RELATIVE):
    """Martens' (2010, §4.4) relative-progress termination test.

    With :math:`k = \\max(10, \\lceil 0.1 i \\rceil)`, stop when :math:`i > k`,
    :math:`\\phi_i < 0` and

    .. math:: \\frac{\\phi_i - \\phi_{i-k}}{\\phi_i} < k \\, \\epsilon .

    With ``rule="original"`` (the original ``hessianfree`` 0.4.0), the count
    is 0-based, :math:`j = i - 1`, the gap is :math:`k = \\max(10,
    \\lfloor 0.1 j \\rfloor)`, and the test needs :math:`j > k` and
    :math:`\\phi_{i-k} < 0` instead of :math:`\\phi_i < 0`.

    Parameters
    ----------
    values : sequence of float
        :math:`\\phi_0, \\dots, \\phi_i` (indexed by iteration).
    i : int
        Current iteration.
    rel_tol : float
        :math:`\\epsilon` (Martens uses 0.0005, the original package 5e-6).
    rule : {"relative", "original"}
        Which variant (:data:`STOPPING_RELATIVE` or :data:`STOPPING_ORIGINAL`).

    Returns
    -------
    bool
    """
    if rule == STOPPING_ORIGINAL:
        k = max(10, int(0.1 * (i - 1)))
        if i - 1 <= k or values[i - k] >= 0:
            return False
    else:
        k = max(10, math.ceil(0.1 * i))
        if i <= k or values[i] >= 0:
            return False
    return (values[i] - values[i - k]) / values[i] < k * rel_tol


def check_rules(storage, stopping, names=("storage", "stopping")):
    """Raise TypeError or ValueError unless ``storage`` and ``stopping`` name
    rules of :func:`~hessianfree.optim.cg.conjugate_gradient` (``names``: the parameter names to
    report)."""
    val.check_choice(storage, names[0], (STORAGE_ORIGINAL, STORAGE_GEOMETRIC))
    val.check_choice(stopping, names[1], (STOPPING_ORIGINAL, STOPPING_RELATIVE))



def residual_floor(rz0, bz, res_tol, dtype, stopping):
    """Threshold on :math:`r^T M^{-1} r` below which CG has converged (``bz``:
    :math:`b^T M^{-1} b`)."""
    if stopping == STOPPING_ORIGINAL:
        return ORIGINAL_RESIDUAL_FLOOR
    if res_tol is None:
        res_tol = math.sqrt(np.finfo(dtype).eps)
    return res_tol ** 2 * (bz if bz > 0 else rz0)
