"""Levenberg-Marquardt adaptation of the Tikhonov damping
:math:`\\lambda` (Martens 2010, §4.1).

HF minimises the damped model
:math:`q_\\lambda(\\delta) = \\nabla f^T\\delta
+ \\tfrac12\\delta^T (G + \\lambda I)\\delta`.
After a step, the reduction ratio :math:`\\rho` compares the actual change of
the objective with the change the (damped or undamped) model predicted; the damping
shrinks when the model is trustworthy and grows when it is not.
"""

import math
import numbers

#: Default lower bound on the damping.  Small enough not to matter for any
#: loss scaled like a mean over a batch, but keeps :math:`\lambda` from
#: underflowing to zero after many good steps.
MIN_DAMPING = 1e-8
#: Default upper bound on the damping.  At :math:`\lambda = 10^8` the CG
#: solution is a gradient step of length about :math:`10^{-8}\|\nabla f\|`,
#: i.e. the update has effectively stopped; growing further only delays
#: recovery once the model becomes good again.
MAX_DAMPING = 1e8
#: Damping decrease factor of the original ``hessianfree`` 0.4.0 (Martens
#: 2010, §4.1, uses 2/3).
ORIGINAL_DECREASE = 0.66


def reduction_ratio(actual, predicted):
    """Reduction ratio :math:`\\rho` (Martens 2010, §4.1).

    .. math:: \\rho = \\frac{f(\\theta + \\delta) - f(\\theta)}{q(\\delta) - q(0)}

    Parameters
    ----------
    actual : float
        :math:`f(\\theta + \\delta) - f(\\theta)` (negative when the step helped).
    predicted : float
        :math:`q(\\delta) - q(0)` (negative for a useful model step).

    Returns
    -------
    float
        :math:`\\rho`, or ``-inf`` ("bad model") if either quantity is
        non-finite or ``predicted >= 0``: a model that predicts no decrease
        gives no usable ratio.
    """
    actual, predicted = float(actual), float(predicted)
    if not (math.isfinite(actual) and math.isfinite(predicted)) or predicted >= 0:
        return -math.inf
    return actual / predicted


def _check_rule(lower, upper, increase, decrease, min_damping, max_damping):
    if not lower < upper:
        raise ValueError(f"lower ({lower!r}) must be less than upper ({upper!r})")
    if not 1 < increase < math.inf:
        raise ValueError(f"increase must be a finite number > 1, got {increase!r}")
    if not 0 < decrease < 1:
        raise ValueError(f"decrease must be in (0, 1), got {decrease!r}")
    if not 0 <= min_damping <= max_damping < math.inf:
        raise ValueError("need 0 <= min_damping <= max_damping < inf, got "
                         f"min_damping={min_damping!r}, max_damping={max_damping!r}")


def update_damping(damping, rho, *, lower=0.25, upper=0.75, increase=1.5,
                   decrease=2 / 3, min_damping=MIN_DAMPING, max_damping=MAX_DAMPING):
    """Levenberg-Marquardt damping rule (Martens 2010, §4.1).

    .. math::

        \\lambda \\leftarrow \\begin{cases}
            \\tfrac32\\lambda & \\rho < \\tfrac14 \\\\
            \\tfrac23\\lambda & \\rho > \\tfrac34 \\\\
            \\lambda & \\text{otherwise}
        \\end{cases}

    then clipped to ``[min_damping, max_damping]``.

    Parameters
    ----------
    damping : float
        Current :math:`\\lambda \\ge 0`.
    rho : float
        Reduction ratio (:func:`reduction_ratio`); NaN counts as bad.
    lower, upper : float
        Thresholds on :math:`\\rho` (``lower < upper``).
    increase : float
        Factor > 1 applied when :math:`\\rho <` ``lower``.
    decrease : float
        Factor in (0, 1) applied when :math:`\\rho >` ``upper``.
    min_damping, max_damping : float
        Floor and ceiling (defaults :data:`MIN_DAMPING` = 1e-8 and
        :data:`MAX_DAMPING` = 1e8).

    Returns
    -------
    float
        The new damping.
    """
    _check_rule(lower, upper, increase, decrease, min_damping, max_damping)
    for name, value in (("damping", damping), ("rho", rho)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {value!r}")
    damping, rho = float(damping), float(rho)
    if not 0 <= damping < math.inf:
        raise ValueError(f"damping must be a finite number >= 0, got {damping!r}")
    if math.isnan(rho) or rho < lower:
        damping *= increase
    elif rho > upper:
        damping *= decrease
    return min(max(damping, min_damping), max_damping)
