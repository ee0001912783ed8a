"""Minibatch schedules for :meth:`FFNet.run_epochs`: the minibatch grows as
the gradient's noise starts to dominate it, and the CG budget and curvature
subset follow.

:class:`VarianceSchedule` is the dynamic sample size rule of Byrd, Chin,
Nocedal & Wu (2012, "Sample size selection in optimization methods for
machine learning", §3): with per-example gradients :math:`g_i` on a
minibatch :math:`S`, the minibatch gradient :math:`g_S` is a descent
direction for the whole training set with high probability when

.. math:: \\frac{\\|\\mathrm{Var}_{i \\in S}(g_i)\\|_1}{|S|} \\le \\theta^2 \\|g_S\\|^2 ;

when it fails, the next minibatch gets the size that would satisfy it,
:math:`|\\hat S| = \\|\\mathrm{Var}_{i \\in S}(g_i)\\|_1 / (\\theta^2 \\|g_S\\|^2)`.
The statistics come from ``net.calc_grad(squared=True)`` (the mean of the
squared per-example gradients).
"""

import math

from hessianfree.base import validation as val
from hessianfree.base.backend import array_module
from hessianfree.nets.batch import random_rows


def sample_variance_l1(grad, sq_grad, n):
    """:math:`\\|\\mathrm{Var}_{i \\in S}(g_i)\\|_1`, the summed sample
    variance of the per-example gradients.

    Parameters
    ----------
    grad : (n_params,) array
        Mean per-example gradient :math:`\\tfrac1n \\sum_i g_i`.
    sq_grad : (n_params,) array
        Mean of their squares :math:`\\tfrac1n \\sum_i g_i^2`.
    n : int
        Number of examples (> 1).

    Returns
    -------
    float
        :math:`\\tfrac{n}{n - 1} \\sum_k (\\overline{g^2}_k - \\bar g_k^2)`,
        at least 0.
    """
    xp = array_module(grad)
    total = float(xp.sum(sq_grad, dtype=xp.float64)) - float(xp.dot(grad, grad))
    return max(total, 0.0) * n / max(n - 1, 1)


def gradient_statistics(grad, sq_grad, n):
    """``(n, ||grad||^2, summed sample variance)``: what
    :meth:`VarianceSchedule.observe` takes."""
    return n, float(array_module(grad).dot(grad, grad)), \
        sample_variance_l1(grad, sq_grad, n)


def with_sample_size(statistics, n):
    """:func:`gradient_statistics` for the same means taken over ``n``
    examples: a data-parallel run's optimizer reduces the means over every
    process's minibatch share but counts only its own share.

    Parameters
    ----------
    statistics : tuple
        ``(n_counted, ||grad||^2, summed sample variance)``.
    n : int
        The number of examples the means are over.

    Returns
    -------
    tuple
        ``(n, ||grad||^2, summed sample variance)``, the variance's
        :math:`n / (n - 1)` factor taken for ``n``.
    """
    counted, grad_sq_norm, variance_l1 = statistics
    summed = variance_l1 * max(counted - 1, 1) / counted
    return n, grad_sq_norm, summed * n / max(n - 1, 1)


def select_curvature_batch(net, fraction):
    """Draw an update's curvature subset: a random ``fraction`` of the
    cached minibatch, with ``net.rng`` (Martens 2010, §4.3); the whole
    minibatch if ``fraction`` is None or covers it.  With a growing
    minibatch the subset grows with it."""
    if fraction is None:
        return
    net.cache_curvature_batch(random_rows(net.rng, int(net.inputs.shape[0]), fraction))


def required_sample_size(variance_l1, grad_sq_norm, theta):
    """Byrd et al.'s (2012, eq. 3.8) sample size :math:`\\|\\mathrm{Var}\\|_1 /
    (\\theta^2 \\|g_S\\|^2)` (``inf`` for a zero gradient)."""
    if grad_sq_norm <= 0:
        return math.inf
    return variance_l1 / (theta ** 2 * grad_sq_norm)


#: Optimizer attributes that :meth:`VarianceSchedule.prepare` sets for one update.
_LENT = ("gradient_statistics", "cg_budget")


class VarianceSchedule:
    """Grow the minibatch by Byrd et al.'s (2012) variance test;
    ``run_epochs(..., minibatch_size="auto")`` uses one with the defaults.

    After every update the optimizer reports the gradient statistics of its
    minibatch (:class:`~hessianfree.optim.optimizers.HessianFree` computes them
    with ``calc_grad(squared=True)`` when a schedule asks); if the test
    fails the next minibatch grows to the size that satisfies it, by at most
    ``max_growth`` times at once, never above ``max_size`` (or the training
    set) and never shrinking.  The CG budget follows as
    :math:`\\mathrm{cg\\_iters} \\sqrt{|S| / \\mathrm{initial}}` (capped by the
    optimizer's ``CG_iter``), and the curvature subset, a fraction of the
    minibatch (``curvature_fraction``), grows with it.

    Every run starts from ``initial`` (:meth:`restart`; a resumed run from
    the size in its checkpoint), and the settings the schedule gives the
    optimizer for an update (the CG cap, the request for gradient
    statistics) last for that update only: a later run of the same optimizer
    without a schedule runs CG up to its own ``CG_iter``.

    Parameters
    ----------
    initial : int
        First minibatch size (at most ``max_size``).
    theta : float in (0, 1]
        :math:`\\theta` of the test: smaller means larger minibatches.
    max_size : int, optional
        Largest minibatch (default: the training set).
    max_growth : float >= 1
        Largest growth factor from one update to the next.
    cg_iters : int, optional
        CG budget at ``initial`` (default: the optimizer's ``CG_iter``, not
        scaled).

    Attributes
    ----------
    size : int
        The minibatch size of the next update.
    """

    def __init__(self, initial=1000, theta=0.5, max_size=None, max_growth=2.0,
                 cg_iters=None):
        self.initial = val.check_positive_int(initial, "initial")
        self.theta = val.check_real(theta, "theta", 0.0, 1.0, low_open=True)
        self.max_size = None if max_size is None else \
            val.check_positive_int(max_size, "max_size")
        self.max_growth = val.check_real(max_growth, "max_growth", 1.0)
        self.cg_iters = None if cg_iters is None else \
            val.check_positive_int(cg_iters, "cg_iters")
        if self.max_size is not None and self.initial > self.max_size:
            raise ValueError(f"initial ({initial!r}) must not exceed max_size "
                             f"({max_size!r})")
        self.size = self.initial
        self._lent = None  # (optimizer, its settings before prepare)

    def restart(self):
        """Start from ``initial`` again (``run_epochs`` calls it, through
        :func:`resolve`, when a run starts)."""
        self.give_back()
        self.size = self.initial

    def cg_budget(self, max_iters):
        """CG iterations for a minibatch of :attr:`size` (at most
        ``max_iters``)."""
        if self.cg_iters is None:
            return max_iters
        return min(max_iters, max(1, round(self.cg_iters *
                                          math.sqrt(self.size / self.initial))))

    def observe(self, n, grad_sq_norm, variance_l1, n_examples=None):
        """Apply the variance test to an update's minibatch statistics and
        set :attr:`size` for the next one.

        Parameters
        ----------
        n : int
            Size of the minibatch the statistics came from.
        grad_sq_norm : float
            :math:`\\|g_S\\|^2`.
        variance_l1 : float
            :math:`\\|\\mathrm{Var}_{i \\in S}(g_i)\\|_1`
            (:func:`sample_variance_l1`).
        n_examples : int, optional
            Size of the training set (an upper bound for :attr:`size`).

        Returns
        -------
        int
            The new :attr:`size`.
        """
        self.give_back()
        wanted = required_sample_size(variance_l1, grad_sq_norm, self.theta)
        if wanted > n:
            grown = min(wanted, self.max_growth * n)
            limits = [v for v in (self.max_size, n_examples) if v is not None]
            self.size = max(self.size, math.ceil(min([grown] + limits)))
        return self.size

    def prepare(self, optimizer):
        """Ask ``optimizer`` for the gradient statistics of the next update
        and set its CG budget; returns the minibatch size to draw.

        Both settings hold for that update only: :meth:`observe` (which
        the training loop calls after the update) gives the optimizer its
        own settings back.
        """
        self.give_back()
        self._lent = (optimizer, {name: vars(optimizer)[name] for name in _LENT
                                  if name in vars(optimizer)})
        optimizer.gradient_statistics = True
        optimizer.last_gradient_statistics = None
        if hasattr(optimizer, "CG_iter"):
            optimizer.cg_budget = self.cg_budget(optimizer.CG_iter)
        return self.size

    def give_back(self):
        """Restore the optimizer settings that :meth:`prepare` changed (the
        training loop calls it after every update, also one that raised)."""
        if self._lent is None:
            return
        optimizer, saved = self._lent
        self._lent = None
        for name in _LENT:
            if name in saved:
                setattr(optimizer, name, saved[name])
            else:
                vars(optimizer).pop(name, None)  # the class's default again

    def observe_update(self, optimizer, n_examples):
        """:meth:`observe` the statistics ``optimizer`` reported for its last
        update (nothing if it reported none)."""
        stats = getattr(optimizer, "last_gradient_statistics", None)
        if stats is not None:
            self.observe(*stats, n_examples=n_examples)


def resolve(minibatch_size):
    """A :class:`VarianceSchedule` for ``run_epochs``' ``minibatch_size``
    (``"auto"`` or a schedule), else None.  ``run_epochs`` calls it when a
    run starts: a schedule it is given is restarted
    (:meth:`VarianceSchedule.restart`), so a reused one starts from its
    ``initial`` size again."""
    if isinstance(minibatch_size, VarianceSchedule):
        minibatch_size.restart()
        return minibatch_size
    if isinstance(minibatch_size, str):
        if minibatch_size != "auto":
            raise ValueError(f"minibatch_size must be a positive integer, None, "
                             f"'auto' or a VarianceSchedule, got {minibatch_size!r}")
        return VarianceSchedule()
    return None
