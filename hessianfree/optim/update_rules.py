"""Named choices among the update rules of
:class:`hessianfree.optim.optimizers.HessianFree`, and their checks.

Four rules decide how one Hessian-free update turns the CG run into a step
and the next damping: which CG iterates are kept for backtracking
(``cg_storage``, Martens 2010, §4.6), when CG stops (``cg_stopping`` and
``cg_rel_tol``, §4.4), how fast the damping falls after a good step
(``damping_decrease``, §4.1) and which quadratic model predicts the change
of the error in the reduction ratio (``ratio_model``, §4.1).  The defaults
are the original ``hessianfree`` 0.4.0's rules, so that its scripts take
the same steps; :data:`RULE_SETS` names them and the alternative this
library used before, and ``docs/tuning.rst`` compares the two.
"""

from hessianfree.optim import cg
from hessianfree.base import validation as val
from hessianfree.optim.damping import ORIGINAL_DECREASE

#: ``ratio_model``: the reduction ratio's prediction comes from the damped
#: model :math:`q_\lambda(\delta) = \nabla f^T\delta + \tfrac12\delta^T(G +
#: \lambda I)\delta` (Martens 2010, §4.1; the original package).
RATIO_DAMPED = "damped"
#: ``ratio_model``: the prediction comes from the undamped model :math:`q_0`.
RATIO_UNDAMPED = "undamped"
#: ``cg_start``: CG always starts from the decayed last solution (the
#: original package).
START_WARM = "warm"
#: ``cg_start``: from zeros instead when that start's model value is
#: positive (``keep_worse_start=False`` of
#: :func:`hessianfree.optim.cg.conjugate_gradient`).
START_WARM_IF_BETTER = "warm-if-better"
#: Martens' (2010, §4.4) :math:`\epsilon` as the original package sets it.
ORIGINAL_CG_REL_TOL = 5e-6
#: Martens' (2010, §4.4) :math:`\epsilon` as the paper sets it.
PAPER_CG_REL_TOL = 5e-4

#: Named sets of rules, to pass as keyword arguments
#: (``HessianFree(**RULE_SETS["alternative"])``).  ``"original"``: the
#: defaults, the original package's rules.  ``"alternative"``: the rules this
#: library used before, the :math:`\lceil 1.3^k \rceil` storage grid, the
#: relative stopping tests with Martens' 5e-4, the damping decrease 2/3 and
#: the undamped model in the reduction ratio.
RULE_SETS = {
    "original": dict(cg_storage=cg.STORAGE_ORIGINAL, cg_stopping=cg.STOPPING_ORIGINAL,
                     damping_decrease=ORIGINAL_DECREASE, ratio_model=RATIO_DAMPED),
    "alternative": dict(cg_storage=cg.STORAGE_GEOMETRIC, cg_stopping=cg.STOPPING_RELATIVE,
                        damping_decrease=2 / 3, ratio_model=RATIO_UNDAMPED),
}


def check_update_rules(cg_storage, cg_stopping, cg_rel_tol, damping_decrease,
                       ratio_model, cg_start=START_WARM):
    """Check :class:`~hessianfree.optim.optimizers.HessianFree`'s rule arguments.

    Returns
    -------
    dict
        The arguments by name, with ``cg_rel_tol=None`` resolved to
        :data:`ORIGINAL_CG_REL_TOL` (``cg_stopping="original"``) or
        :data:`PAPER_CG_REL_TOL` (``"relative"``) and numbers as floats.

    Raises
    ------
    TypeError, ValueError
        Naming the argument.
    """
    cg.check_rules(cg_storage, cg_stopping, names=("cg_storage", "cg_stopping"))
    val.check_choice(ratio_model, "ratio_model", (RATIO_DAMPED, RATIO_UNDAMPED))
    val.check_choice(cg_start, "cg_start", (START_WARM, START_WARM_IF_BETTER))
    decrease = val.check_real(damping_decrease, "damping_decrease", 0.0, 1.0,
                              low_open=True)
    if decrease == 1.0:
        raise ValueError("damping_decrease must be < 1, got 1.0")
    if cg_rel_tol is None:
        cg_rel_tol = (ORIGINAL_CG_REL_TOL if cg_stopping == cg.STOPPING_ORIGINAL
                      else PAPER_CG_REL_TOL)
    return dict(cg_storage=cg_storage, cg_stopping=cg_stopping,
                cg_rel_tol=val.check_real(cg_rel_tol, "cg_rel_tol", 0.0),
                damping_decrease=decrease, ratio_model=ratio_model, cg_start=cg_start)
