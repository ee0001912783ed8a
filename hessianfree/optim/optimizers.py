"""Optimizers that turn the network's derivatives on a cached minibatch into a
weight update.

An optimizer is attached to a network (which sets ``optimizer.net``); each
epoch the network caches a minibatch, calls ``compute_update()`` and *adds*
the returned vector to its flat parameter vector ``net.W``.  Optimizers never
write ``net.W`` themselves: trial points are evaluated with
``net.error(W=...)``.

:class:`HessianFree` composes the pure pieces in :mod:`hessianfree.optim.cg`,
:mod:`hessianfree.optim.linesearch` and :mod:`hessianfree.optim.damping`; its mutable
state lives in one :class:`HFState` record.  The base class
:class:`Optimizer` (in :mod:`hessianfree.optim.optimizer_base`) and :class:`SGD`
(in :mod:`hessianfree.optim.sgd`) are re-exported here.
"""

import copy
import dataclasses
import math
import warnings

import numpy as np

from hessianfree.optim import kfac
from hessianfree.optim import schedule
from hessianfree.base import validation as val
from hessianfree.base.backend import array_module
from hessianfree.optim import hf_state
from hessianfree.optim.cg import NONFINITE, conjugate_gradient
from hessianfree.nets.batch import check_chunk_size
from hessianfree.nets.curvature import check_kind, product_function
from hessianfree.optim.damping import MAX_DAMPING, MIN_DAMPING, ORIGINAL_DECREASE
from hessianfree.optim.hf_state import HFState
from hessianfree.optim.update_rules import (RATIO_DAMPED, RULE_SETS,  # noqa: F401
                                      START_WARM, check_update_rules)
from hessianfree.optim.step import (StepRules, checked_product, draw_objective_batch,
                                    error_along, error_on, select_step)
from hessianfree.optim.optimizer_base import (UPDATE_ACCEPTED, UPDATE_NONFINITE,
                                        UPDATE_REJECTED, NonFiniteWarning, Optimizer,
                                        all_finite, check_number)
from hessianfree.optim.preconditioners import Diagonal, Preconditioner
from hessianfree.optim.sgd import SGD

__all__ = ["HessianFree", "NonFiniteWarning", "Optimizer", "SGD", "UPDATE_ACCEPTED",
           "UPDATE_NONFINITE", "UPDATE_REJECTED"]


def _cg_callback(progress, iters):
    """A CG callback that reports each iteration to ``progress(i, iters)``
    (None when no one listens)."""
    if progress is None:
        return None

    def callback(i, x, phi):
        progress(i, iters)
        return False
    return callback


def resolve_preconditioner(preconditioner, exponent=0.75):
    """The :class:`~hessianfree.optim.preconditioners.Preconditioner` (or None)
    that the ``preconditioner`` argument of :class:`HessianFree` names:
    False/None none, True/``"diagonal"`` a
    :class:`~hessianfree.optim.preconditioners.Diagonal` with ``exponent``,
    ``"kfac"`` a default :class:`~hessianfree.optim.kfac.KFAC`, or the object
    itself."""
    if isinstance(preconditioner, Preconditioner):
        return preconditioner
    if preconditioner is None or isinstance(preconditioner, (bool, np.bool_)):
        return Diagonal(exponent) if preconditioner else None
    if isinstance(preconditioner, str) and preconditioner in ("diagonal", "kfac"):
        return kfac.KFAC() if preconditioner == "kfac" else Diagonal(exponent)
    raise ValueError(f"preconditioner must be True, False, 'diagonal', 'kfac' or a "
                     f"hessianfree.optim.preconditioners.Preconditioner (Diagonal, "
                     f"hessianfree.optim.kfac.KFAC), got {preconditioner!r}")


def _gradient(net, opt):
    """The gradient, and the mean squared per-example gradients when ``opt``'s
    preconditioner uses them (else None); the statistics a minibatch
    schedule asked for go to ``opt.last_gradient_statistics``."""
    squared = opt.preconditioner is not None and opt.preconditioner.uses_squared_gradient
    if not (squared or opt.gradient_statistics):
        return net.calc_grad(), None
    grad, sq_grad = net.calc_grad(squared=True)
    if opt.gradient_statistics:
        opt.last_gradient_statistics = schedule.gradient_statistics(
            grad, sq_grad, int(net.batch.size))
    return grad, sq_grad if squared else None


class HessianFree(Optimizer):
    """Hessian-free (truncated Newton) optimization (Martens 2010; Martens &
    Sutskever 2012).

    Each update solves :math:`(G + \\lambda I)\\,\\delta = -\\nabla f` approximately
    with conjugate gradient (:math:`G` the Gauss-Newton matrix, only used
    through ``net.calc_G``), backtracks over the CG iterates, adapts
    :math:`\\lambda` by the Levenberg-Marquardt rule and scales the step by an
    Armijo line search.  The defaults of ``cg_storage``, ``cg_stopping``,
    ``cg_rel_tol``, ``damping_decrease`` and ``ratio_model`` are the original
    ``hessianfree`` 0.4.0's rules (:mod:`hessianfree.optim.update_rules`;
    ``docs/tuning.rst`` compares them with the alternatives).

    Parameters
    ----------
    CG_iter : int
        Maximum number of CG iterations per update.
    init_damping : float
        Initial Tikhonov damping :math:`\\lambda \\ge 0`.
    plotting : bool
        If True, append to :attr:`~Optimizer.plots` each update: ``"damping (log)"``,
        ``"CG iterations"``, ``"step size"`` (line-search :math:`\\alpha`, 0 for
        a rejected update) and ``"reduction ratio"`` (:math:`\\rho`, NaN when
        undefined).
    cg_decay : float
        Warm start the next CG run from this times the last CG solution
        (Martens 2010, §4.5; 0.95 as in Martens & Sutskever 2012, §10).
    use_backtracking : bool
        Choose among the stored CG iterates (Martens 2010, §4.6); otherwise
        take the last one.
    use_linesearch : bool
        Armijo line search along the chosen iterate (Martens & Sutskever
        2012, §8.8); otherwise take the full step if it lowers the error.
    min_damping, max_damping : float
        Bounds on :math:`\\lambda` (see :mod:`hessianfree.optim.damping`).
    cg_rel_tol : float, optional
        :math:`\\epsilon` of the CG relative-progress stop (Martens 2010, §4.4);
        None means :data:`~hessianfree.optim.update_rules.ORIGINAL_CG_REL_TOL`
        (5e-6) with ``cg_stopping="original"`` and
        :data:`~hessianfree.optim.update_rules.PAPER_CG_REL_TOL` (5e-4) with
        ``cg_stopping="relative"``.
    curvature_fraction : float in (0, 1], optional
        Compute the curvature products (every CG iteration and the reduction
        ratio) on a random subset of this fraction of the cached minibatch,
        drawn afresh each update with ``net.rng`` (Martens 2010, §4.3); the
        gradient and the error use the whole minibatch, the step selection
        too unless ``objective_fraction``.  None (default) uses the whole minibatch.  Each CG
        iteration then costs about this fraction as much; see
        ``docs/tuning.rst`` for measurements.
    objective_fraction : float in (0, 1], optional
        Evaluate the error for backtracking, the reduction ratio and the
        line search on a random subset of this fraction of the cached
        minibatch, drawn afresh each update with ``net.rng`` independently of
        the curvature subset (as Martens & Sutskever's code evaluates them on
        other sequences than the gradient's); :attr:`last_error` is then that
        subset's error.  None (default) uses the whole minibatch.
    preconditioner : bool, "diagonal", "kfac" or a Preconditioner
        True/``"diagonal"``/``Diagonal(...)``: Martens' (2010, §4.7) diagonal
        :math:`M = \\left(\\mathrm{diag}\\big(\\tfrac1N\\sum_i g_i^2\\big)
        + \\lambda I\\right)^{\\alpha}`, :math:`g_i` the per-example gradients
        (``net.calc_grad(squared=True)``, about one more gradient).
        ``"kfac"``/``KFAC(...)``: Martens & Grosse's (2015) Kronecker
        factors (:mod:`hessianfree.optim.kfac`; feed-forward networks only).
        See :mod:`hessianfree.optim.preconditioners`; the attribute holds the
        object (or None).
    precond_exponent : float in [0, 1]
        :math:`\\alpha` above (0.75 in Martens 2010), for
        ``preconditioner=True`` or ``"diagonal"``.
    curvature : {"gauss-newton", "hessian"}
        ``net.calc_G`` (default, Martens 2010, §4.1-4.2) or the exact
        ``net.calc_Hv``; ``docs/curvature.rst`` compares them.
    chunk_size : int, optional
        Process cached minibatches of more examples in chunks of this many
        (:mod:`hessianfree.nets.chunking`) while this optimizer is attached to
        the network (``net.chunk_size`` stays as it is).
    cg_storage : {"original", "geometric"}
        CG iterates kept for backtracking: the original package's iterations
        (:func:`hessianfree.optim.cg_rules.original_storage_grid`, 0-based 5, 6, 7, 9,
        11, 14, ...) or :math:`\\lceil 1.3^k \\rceil`
        (:func:`hessianfree.optim.cg_rules.storage_grid`).
    cg_stopping : {"original", "relative"}
        CG stopping rules (``stopping`` of
        :func:`hessianfree.optim.cg.conjugate_gradient`): the original package's
        (progress test on a 0-based count, squared residual norm below 1e-20)
        or a progress test on a 1-based count with a residual norm relative
        to the gradient's.
    cg_start : {"warm", "warm-if-better"}
        CG starts from ``cg_decay`` times the last solution (the original
        package), or from zeros when that start's model value is positive
        (``keep_worse_start=False`` of
        :func:`hessianfree.optim.cg.conjugate_gradient`; see docs/pathological.rst).
    damping_decrease : float in (0, 1)
        Factor applied to :math:`\\lambda` when :math:`\\rho > 3/4` (0.66 in
        the original package, 2/3 in Martens 2010).
    ratio_model : {"damped", "undamped"}
        Which quadratic model predicts the change of the error in the
        reduction ratio :math:`\\rho`: the damped
        :math:`q_\\lambda(\\delta) = \\nabla f^T\\delta + \\tfrac12\\delta^T(G +
        \\lambda I)\\delta` (Martens 2010, §4.1; the original package) or the
        undamped :math:`q_0`.

    Attributes
    ----------
    state : HFState
        Damping, warm start and counters.
    last_cg : hessianfree.optim.cg.CGResult or None
        Result of the latest CG run.
    last_error : float or None
        Error on the minibatch after the latest update (from the line
        search; the training loop reuses it).
    gradient_statistics, cg_budget : bool, int or None
        Set by a minibatch schedule (:mod:`hessianfree.optim.schedule`): put
        :func:`~hessianfree.optim.schedule.gradient_statistics` into
        ``last_gradient_statistics`` each update; cap CG at this.
    """

    last_error = None
    last_gradient_statistics = None
    gradient_statistics = False
    cg_budget = None

    def __init__(self, CG_iter=250, init_damping=1, plotting=True, cg_decay=0.95,
                 use_backtracking=True, use_linesearch=True, min_damping=MIN_DAMPING,
                 max_damping=MAX_DAMPING, cg_rel_tol=None, curvature_fraction=None,
                 preconditioner=False, precond_exponent=0.75, curvature="gauss-newton",
                 chunk_size=None, cg_storage="original", cg_stopping="original",
                 damping_decrease=ORIGINAL_DECREASE, ratio_model=RATIO_DAMPED,
                 objective_fraction=None, cg_start="warm"):
        val.check_positive_int(CG_iter, "CG_iter")
        for name, fraction in (("curvature_fraction", curvature_fraction),
                               ("objective_fraction", objective_fraction)):
            setattr(self, name, None if fraction is None else
                    check_number(name, fraction, 0.0, 1.0, low_open=True))
        for name, flag in (("plotting", plotting), ("use_backtracking", use_backtracking),
                           ("use_linesearch", use_linesearch)):
            val.check_bool(flag, name)
        self.precond_exponent = check_number("precond_exponent", precond_exponent,
                                             0.0, 1.0)
        self.preconditioner = resolve_preconditioner(preconditioner,
                                                     self.precond_exponent)
        init_damping = check_number("init_damping", init_damping)
        self.cg_decay = check_number("cg_decay", cg_decay, 0.0, 1.0)
        self.min_damping = check_number("min_damping", min_damping)
        self.max_damping = check_number("max_damping", max_damping)
        if self.min_damping > self.max_damping:
            raise ValueError(f"min_damping ({min_damping!r}) must not exceed "
                             f"max_damping ({max_damping!r})")
        vars(self).update(check_update_rules(cg_storage, cg_stopping, cg_rel_tol,
                                             damping_decrease, ratio_model, cg_start))
        self.curvature = check_kind(curvature, "curvature")
        self.chunk_size = check_chunk_size(chunk_size)
        super().__init__()
        self.CG_iter, self.plotting = CG_iter, bool(plotting)
        self.use_backtracking = bool(use_backtracking)
        self.use_linesearch = bool(use_linesearch)
        self.state = HFState(damping=init_damping)
        self.last_cg = None

    def forget_network(self):
        """Drop the CG warm start and the preconditioner's state (of the last
        network)."""
        self.state = dataclasses.replace(self.state, init_delta=None)
        if self.preconditioner is not None:
            self.preconditioner.reset()

    def check_network(self, net):
        """Raise TypeError if a part of this optimizer cannot serve ``net``
        (called when it is attached, before anything changes)."""
        if self.preconditioner is not None:
            self.preconditioner.check_network(net)

    def settings(self):
        """Every option, as plain values (the preconditioner's under
        ``"preconditioner"``), for comparing optimizers across processes."""
        names = ("CG_iter", "cg_decay", "use_backtracking", "use_linesearch",
                 "min_damping", "max_damping", "cg_rel_tol", "curvature_fraction",
                 "precond_exponent", "curvature", "chunk_size", "cg_storage",
                 "cg_stopping", "damping_decrease", "ratio_model", "objective_fraction",
                 "cg_start")
        settings = {name: getattr(self, name) for name in names}
        settings["preconditioner"] = None if self.preconditioner is None else {
            "type": type(self.preconditioner).__name__,
            **self.preconditioner.settings()}
        return settings

    @property
    def damping(self):
        """Current Tikhonov damping :math:`\\lambda` (stored in :attr:`state`)."""
        return self.state.damping

    @damping.setter
    def damping(self, value):
        value = check_number("damping", value)
        self.state = dataclasses.replace(self.state, damping=value)

    def state_dict(self):
        """The fields of :attr:`state` (:class:`HFState`), the plot series and
        the preconditioner's state; see :meth:`Optimizer.state_dict`."""
        state = {**super().state_dict(), **hf_state.as_dict(self.state)}
        if self.preconditioner is not None:
            state["preconditioner"] = self.preconditioner.state_dict()
        return state

    def load_state_dict(self, state):
        """Restore :attr:`state`, the plot series and the preconditioner's
        state from :meth:`state_dict`.

        Everything is checked before anything changes (the preconditioner
        is restored into a copy, which then replaces it); ``init_delta``
        moves to the network's array module and dtype when a network is
        attached.
        """
        plots = self._parse_plots(state)
        hf = hf_state.from_dict(state, None if self.net is None else self.net.W)
        precond = self.preconditioner
        if precond is not None:
            precond = copy.copy(precond)
            precond.load_state_dict(state.get("preconditioner", {}))
        self.state, self.plots, self.preconditioner = hf, plots, precond

    def discard_update(self):
        """Raise the damping and drop the warm start after the training loop
        threw the last update away (see :meth:`Optimizer.discard_update`)."""
        counted = self.last_status != UPDATE_ACCEPTED  # already a failure
        super().discard_update()
        self.state = HFState(damping=self.step_rules().raised_damping(self.damping),
                             init_delta=None, epoch=self.state.epoch,
                             n_failures=self.state.n_failures + (not counted))
        if self.plotting and self.plots.get("step size"):
            self.plots["step size"][-1] = 0.0

    def conjugate_gradient(self, init_delta, grad, iters=250, printing=False,
                           precond=None):
        """Approximately solve :math:`(G + \\lambda I)\\,\\delta = -\\nabla f` by CG.

        Parameters
        ----------
        init_delta : (n_params,) array or None
            Starting point (warm start); None means zeros.
        grad : (n_params,) array
            Gradient :math:`\\nabla f` at ``net.W``.
        iters : int
            Maximum number of CG iterations.
        printing : bool
            Print the number of iterations and the stopping status.
        precond : (n_params,) array, optional
            Positive diagonal preconditioner :math:`M` (CG works with
            :math:`M^{-1} r`); see :func:`hessianfree.optim.preconditioners.diagonal`.

        Returns
        -------
        list of (int, (n_params,) array)
            ``(iteration, delta)`` pairs on the storage grid (``cg_storage``,
            Martens 2010, §4.6), for backtracking; the last pair is the final
            solution.  As in the original package, ``iteration`` counts from
            0: ``delta`` is the iterate after ``iteration + 1`` CG steps.  The
            full :class:`~hessianfree.optim.cg.CGResult` (counting steps from 1) is
            kept in :attr:`last_cg`.
        """
        net = self._require_net()
        damping = self.damping
        val.check_vector(grad, "grad", net.W.shape[0])
        if init_delta is not None:
            val.check_vector(init_delta, "init_delta", net.W.shape[0])

        product = product_function(net, self.curvature)
        matvec = lambda v, out: product(v, damping=damping, out=out)  # noqa: E731
        self.last_cg = conjugate_gradient(matvec, -grad, init_delta, max_iters=iters,
                                          precond=precond, rel_tol=self.cg_rel_tol,
                                          callback=_cg_callback(self.progress, iters),
                                          storage=self.cg_storage,
                                          stopping=self.cg_stopping,
                                          keep_worse_start=self.cg_start == START_WARM)
        if printing:
            print(f"CG: {self.last_cg.n_iters} iterations ({self.last_cg.status}), "
                  f"model value {self.last_cg.value:.4g}")
        return [(max(i - 1, 0), x) for i, x in self.last_cg.iterates]

    def _warm_start(self, grad):
        init_delta = self.state.init_delta
        if init_delta is None or init_delta.shape != grad.shape:
            return None
        return init_delta

    def compute_update(self, printing=False):
        """Compute one Hessian-free update on the cached minibatch.

        Steps: gradient (with the squared per-example gradients when
        ``preconditioner``) and error; the curvature subset of the minibatch
        (``curvature_fraction``); CG from the warm start, preconditioned by
        ``preconditioner.prepare`` (:mod:`hessianfree.optim.preconditioners`); the
        step and the next damping from the CG iterates
        (:func:`hessianfree.optim.step.select_step`: backtracking, reduction ratio
        :math:`\\rho` against the damped model :math:`q_\\lambda(\\delta) =
        \\nabla f^T\\delta + \\tfrac12\\delta^T (G + \\lambda I)\\delta` or the
        undamped one, ``ratio_model``, with one extra curvature product, also
        used by the debug check; Levenberg-Marquardt damping update; Armijo
        line search).

        A step that does not lower the error is rejected: the update is zero
        and the damping grows.  A non-finite gradient, error or curvature
        product also gives a zero update, raises the damping and emits a
        :class:`NonFiniteWarning` naming the quantity.

        Parameters
        ----------
        printing : bool
            Print CG iterations and status, the backtracked iteration,
            :math:`\\rho`, the damping and the step size.

        Returns
        -------
        (n_params,) array
            Finite update for the network to add to ``net.W``.
        """
        net = self._require_net()
        self.last_error = None
        grad, sq_grad = _gradient(net, self)
        f0 = float(net.error())
        if not all_finite(grad):
            return self._reject(net, "the gradient (net.calc_grad())", printing)
        if not math.isfinite(f0):
            return self._reject(net, "the current error (net.error())", printing)
        if net.debug and getattr(net, "truncation", None) is None:
            net.check_grad(grad)  # a truncated gradient is not the loss's gradient
        schedule.select_curvature_batch(net, self.curvature_fraction)
        objective_batch = draw_objective_batch(net, self.objective_fraction)
        precond = None if self.preconditioner is None else \
            self.preconditioner.prepare(net, self.damping, sq_grad)
        self.conjugate_gradient(self._warm_start(grad), grad,
                                min(self.CG_iter, self.cg_budget or self.CG_iter),
                                precond=precond)
        if self.last_cg.status == NONFINITE:
            return self._reject(net, "the curvature product in CG (net.calc_G())",
                                printing, cg_ran=True)
        if objective_batch is not None:
            f0 = error_on(net, objective_batch)
        return self._take_step(net, grad, f0, printing, objective_batch)

    def step_rules(self):
        """The rules that choose the step and the next damping, as a
        :class:`~hessianfree.optim.step.StepRules` (from this optimizer's options)."""
        return StepRules(self.use_backtracking, self.use_linesearch, self.ratio_model,
                         self.damping_decrease, self.min_damping, self.max_damping)

    def _take_step(self, net, grad, f0, printing, objective_batch):
        step = select_step(self.last_cg.iterates, error_along(net, objective_batch), f0,
                           grad, checked_product(net, self.curvature), self.damping,
                           self.step_rules())
        if not math.isfinite(step.predicted):
            return self._reject(net, "the curvature product for the reduction "
                                "ratio (net.calc_G(delta, damping=0))", printing,
                                cg_ran=True, stacklevel=4)
        self._finish(step.damping, step.accepted, step.alpha, step.rho,
                     self._next_warm_start())
        if printing:
            print(f"HF: CG {self.last_cg.n_iters} it ({self.last_cg.status}), "
                  f"backtracked to it {step.iteration}, rho {step.rho:.3g}, damping "
                  f"{step.damping:.3g}, step {step.alpha:.3g}, error {f0:.6g} -> "
                  f"{step.value:.6g}")
        self.last_error = step.value
        if not step.accepted:
            return array_module(net.W).zeros_like(net.W)
        return array_module(step.delta).multiply(step.delta, step.alpha)

    def _next_warm_start(self):
        """``cg_decay`` times the last CG solution (Martens 2010, §4.5)."""
        x = self.last_cg.x
        return array_module(x).multiply(x, self.cg_decay)

    def _finish(self, damping, accepted, alpha, rho, init_delta, cg_iters=None):
        """Store the new state and append the plot series."""
        self.state = HFState(damping=damping, init_delta=init_delta,
                             epoch=self.state.epoch + 1,
                             n_failures=self.state.n_failures + (not accepted))
        self.last_status = UPDATE_ACCEPTED if accepted else UPDATE_REJECTED
        if self.plotting:
            if cg_iters is None:
                cg_iters = self.last_cg.n_iters
            self._record("damping (log)", damping)
            self._record("CG iterations", cg_iters)
            self._record("step size", alpha)
            self._record("reduction ratio", rho)

    def _reject(self, net, quantity, printing, cg_ran=False, stacklevel=3):
        """Zero update after a non-finite ``quantity``: warn and raise the
        damping.  If CG ran into it, its solution is not trusted as the next
        warm start."""
        damping = self.step_rules().raised_damping(self.damping)
        warnings.warn(f"HessianFree: {quantity} holds NaN or inf; returning a zero "
                      f"update and raising the damping to {damping:.3g}",
                      NonFiniteWarning, stacklevel=stacklevel)
        init_delta = None if cg_ran else self.state.init_delta
        self._finish(damping, False, 0.0, math.nan, init_delta,
                     cg_iters=self.last_cg.n_iters if cg_ran else 0)
        self.last_status = UPDATE_NONFINITE
        if printing:
            print(f"HF: skipped update ({quantity} not finite), damping {damping:.3g}")
        return array_module(net.W).zeros_like(net.W)
