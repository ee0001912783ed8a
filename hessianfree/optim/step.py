"""From a CG run to a step: Martens' (2010) choice of the update.

One Hessian-free update solves the damped quadratic model with CG; this
module turns the stored CG iterates into the step the network takes and the
next damping, in four pieces that each have a module of their own:

1. backtracking over the stored CG iterates (Martens 2010, §4.6;
   :func:`hessianfree.optim.linesearch.backtrack_cg_iterates`), or the last one;
2. the reduction ratio :math:`\\rho` of the actual change of the error to the
   quadratic model's prediction (§4.1; :func:`hessianfree.optim.damping.reduction_ratio`),
   the model damped or undamped (``ratio_model``);
3. the Levenberg-Marquardt update of the damping from :math:`\\rho`
   (:func:`hessianfree.optim.damping.update_damping`);
4. the Armijo line search along the chosen iterate (Martens & Sutskever
   2012, §8.8; :func:`hessianfree.optim.linesearch.armijo_line_search`), or the
   full step if it lowers the error.

:func:`select_step` is a pure function of the iterates, the objective, the
gradient and a curvature product; :class:`~hessianfree.optim.optimizers.HessianFree`
records its result.
"""

import dataclasses
import math

from hessianfree.base.backend import array_module
from hessianfree.nets import batch as batches
from hessianfree.nets import chunking
from hessianfree.nets.curvature import product_function
from hessianfree.nets.derivative_checks import check_product
from hessianfree.optim.damping import (MAX_DAMPING, MIN_DAMPING, ORIGINAL_DECREASE,
                                 reduction_ratio, update_damping)
from hessianfree.optim.linesearch import armijo_line_search, backtrack_cg_iterates
from hessianfree.optim.update_rules import RATIO_DAMPED


@dataclasses.dataclass(frozen=True)
class StepRules:
    """How :func:`select_step` chooses (the options of
    :class:`~hessianfree.optim.optimizers.HessianFree` of the same names)."""

    use_backtracking: bool = True
    use_linesearch: bool = True
    ratio_model: str = RATIO_DAMPED
    damping_decrease: float = ORIGINAL_DECREASE
    min_damping: float = MIN_DAMPING
    max_damping: float = MAX_DAMPING

    def next_damping(self, damping, rho):
        """The Levenberg-Marquardt update of ``damping`` after ratio ``rho``."""
        return update_damping(damping, rho, decrease=self.damping_decrease,
                              min_damping=self.min_damping, max_damping=self.max_damping)

    def raised_damping(self, damping):
        """The damping after a failed update (as for :math:`\\rho = -\\infty`)."""
        return update_damping(damping, -math.inf, min_damping=self.min_damping,
                              max_damping=self.max_damping)


@dataclasses.dataclass
class Step:
    """The outcome of :func:`select_step`.

    Attributes
    ----------
    delta : (n_params,) array
        The chosen CG iterate (before the step size).
    iteration : int
        Its iteration, as the CG result stores it.
    alpha : float
        The step size (0 for a rejected step).
    value : float
        The objective after the step (the starting value when rejected).
    rho : float
        The reduction ratio (NaN where undefined).
    damping : float
        The next damping.
    accepted : bool
        Whether the step lowers the objective.
    predicted : float
        The model's predicted change (non-finite: the curvature product
        failed, and nothing else was computed).
    """

    delta: object
    iteration: int
    alpha: float
    value: float
    rho: float
    damping: float
    accepted: bool
    predicted: float


def error_on(net, batch, W=None):
    """The network's loss on ``batch`` (a :class:`~hessianfree.nets.batch.Batch`
    of ``net``'s, e.g. a subset of the cached minibatch) at ``W`` (None:
    ``net.W``, from the cached activations where they belong to it), averaged
    over processes as :meth:`~hessianfree.nets.ffnet.FFNet.error` does."""
    value = chunking.error(net, batch, W, net.loss_type)
    return net.reduction.mean_error(value, net.loss_type, batch.targets)


def error_along(net, batch=None):
    """``objective(delta)``: the error at ``net.W + delta`` on ``batch``
    (None: the cached minibatch), evaluated in one reused trial vector."""
    xp = array_module(net.W)
    trial = xp.empty_like(net.W)
    if batch is None:
        return lambda delta: net.error(W=xp.add(net.W, delta, out=trial))
    return lambda delta: error_on(net, batch, xp.add(net.W, delta, out=trial))


def draw_objective_batch(net, fraction):
    """The examples of the cached minibatch on which an update's step is
    chosen: None (the whole minibatch) if ``fraction`` is None or covers it,
    else a random ``fraction`` of them drawn with ``net.rng``, as a subset
    :class:`~hessianfree.nets.batch.Batch` (:func:`hessianfree.nets.batch.subset`)."""
    if fraction is None:
        return None
    indices = batches.random_rows(net.rng, net.batch.size, fraction)
    return None if indices is None else batches.subset(net, net.batch, indices)


def checked_product(net, curvature):
    """``product(delta, damping)``: the damped curvature product of kind
    ``curvature`` for the step's predicted change, with the debug check of
    the undamped product when ``net.debug``."""
    product = product_function(net, curvature)

    def curvature_product(delta, damping):
        G_delta = product(delta, damping=damping)
        if net.debug:
            check_product(net, curvature, G_delta - damping * delta, delta)
        return G_delta
    return curvature_product


def predicted_change(grad, delta, G_delta):
    """:math:`q(\\delta) - q(0) = \\nabla f^T\\delta + \\tfrac12 \\delta^T G\\delta`
    for the curvature product ``G_delta`` (damped or not)."""
    xp = array_module(delta)
    return float(xp.dot(grad, delta) + 0.5 * xp.dot(delta, G_delta))


def select_step(iterates, objective, f0, grad, curvature_product, damping, rules):
    """Choose the step of one Hessian-free update (see the module docstring).

    Parameters
    ----------
    iterates : list of (int, array)
        The stored CG iterates, the last the final solution.
    objective : callable
        ``objective(delta)``: the error at the weights plus ``delta``.
    f0 : float
        The error at the weights.
    grad : (n_params,) array
        Its gradient.
    curvature_product : callable
        ``curvature_product(delta, damping)``: :math:`(G + \\lambda I)\\delta`.
    damping : float
        The damping :math:`\\lambda` CG ran with.
    rules : StepRules

    Returns
    -------
    Step
    """
    if rules.use_backtracking:
        index, value = backtrack_cg_iterates(iterates, objective)
    else:
        index, value = len(iterates) - 1, float(objective(iterates[-1][1]))
    iteration, delta = iterates[index]
    model_damping = damping if rules.ratio_model == RATIO_DAMPED else 0
    predicted = predicted_change(grad, delta, curvature_product(delta, model_damping))
    if not math.isfinite(predicted):
        return Step(delta, iteration, 0.0, f0, math.nan, damping, False, predicted)
    rho = reduction_ratio(value - f0, predicted)
    new_damping = rules.next_damping(damping, rho)
    if rules.use_linesearch:
        slope = float(array_module(grad).dot(grad, delta))
        alpha, value = armijo_line_search(objective, f0, slope, delta, value_at_one=value)
    else:
        alpha = 1.0 if value < f0 else 0.0
    accepted = alpha > 0 and value < f0
    if not accepted:
        alpha, new_damping = 0.0, max(new_damping, rules.raised_damping(damping))
    return Step(delta, iteration, alpha, value if accepted else f0, rho, new_damping,
                accepted, predicted)
