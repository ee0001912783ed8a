"""Optimizers that turn the network's derivatives on a cached minibatch into a
weight update.

An optimizer is attached to a network (which sets ``optimizer.net``); each
epoch the network caches a minibatch, calls ``compute_update()`` and *adds*
the returned vector to its flat parameter vector ``net.W``.  Optimizers never
write ``net.W`` themselves: trial points are evaluated with
``net.error(W=...)``.

:class:`HessianFree` composes the pure pieces in :mod:`hessianfree.cg`,
:mod:`hessianfree.linesearch` and :mod:`hessianfree.damping`; its mutable
state lives in one :class:`HFState` record.
"""

import dataclasses
import math
import warnings

from hessianfree.backend import array_module
from hessianfree.cg import NONFINITE, conjugate_gradient
from hessianfree.damping import (MAX_DAMPING, MIN_DAMPING, reduction_ratio,
                                 update_damping)
from hessianfree.linesearch import armijo_line_search, backtrack_cg_iterates


class NonFiniteWarning(RuntimeWarning):
    """A NaN or inf appeared in a quantity the optimizer needs; the update
    was skipped (a zero update was returned)."""


def _all_finite(x):
    return bool(array_module(x).isfinite(x).all())


def _check_number(name, value, low=0.0, high=math.inf, low_open=False):
    """``float(value)`` if it is a finite number in the bounds, else ValueError."""
    try:
        number = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and low <= number <= high) or \
            (low_open and number == low):
        bounds = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name} must be a finite number in {bounds}, got {value!r}")
    return number


class Optimizer:
    """Base class for optimizers.

    Attributes
    ----------
    net : FFNet or RNNet or None
        The network being optimised; set when the optimizer is assigned to a
        network (``net.optimizer = opt``), None before.
    plots : dict of str to list of float
        Named series, one value appended per :meth:`compute_update` call when
        plotting; a ``" (log)"`` suffix asks for a log axis.
    """

    net = None

    def __init__(self):
        self.net = None
        self.plots = {}

    def compute_update(self, printing=False):
        """Compute a weight update for the minibatch cached in ``self.net``.

        Parameters
        ----------
        printing : bool
            If True, print a short summary of the update.

        Returns
        -------
        (n_params,) array
            Finite update that the network adds to ``net.W``.
        """
        raise NotImplementedError("Optimizer subclasses must implement compute_update")

    def _require_net(self):
        if self.net is None:
            raise RuntimeError(f"{type(self).__name__}.net is None: assign the "
                               "optimizer to a network first (net.optimizer = opt)")
        return self.net

    def _record(self, name, value):
        value = float(value)
        self.plots.setdefault(name, []).append(value if math.isfinite(value)
                                               else math.nan)


@dataclasses.dataclass(frozen=True)
class HFState:
    """State that :class:`HessianFree` carries from one update to the next
    (enough to checkpoint and resume it).

    Attributes
    ----------
    damping : float
        Tikhonov damping :math:`\\lambda` (Martens 2010, §4.1).
    init_delta : (n_params,) array or None
        Warm start for the next CG run (Martens 2010, §4.5): the last CG
        solution times ``cg_decay``; None means start from zero.
    epoch : int
        Number of :meth:`HessianFree.compute_update` calls so far.
    n_failures : int
        Number of those calls that returned a zero (rejected) update.
    """

    damping: float
    init_delta: object = None
    epoch: int = 0
    n_failures: int = 0


class HessianFree(Optimizer):
    """Hessian-free (truncated Newton) optimization (Martens 2010; Martens &
    Sutskever 2012).

    Each update solves :math:`(G + \\lambda I)\\,\\delta = -\\nabla f` approximately
    with conjugate gradient (:math:`G` the Gauss-Newton matrix, only used
    through ``net.calc_G``), backtracks over the CG iterates, adapts
    :math:`\\lambda` by the Levenberg-Marquardt rule and scales the step by an
    Armijo line search.

    Parameters
    ----------
    CG_iter : int
        Maximum number of CG iterations per update.
    init_damping : float
        Initial Tikhonov damping :math:`\\lambda \\ge 0`.
    plotting : bool
        If True, append to :attr:`plots` each update: ``"damping (log)"``,
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
        Bounds on :math:`\\lambda` (see :mod:`hessianfree.damping`).
    cg_rel_tol : float
        :math:`\\epsilon` of the CG relative-progress stop (Martens 2010, §4.4).

    Attributes
    ----------
    state : HFState
        Damping, warm start and counters.
    last_cg : hessianfree.cg.CGResult or None
        Result of the latest CG run.
    """

    def __init__(self, CG_iter=250, init_damping=1, plotting=True, cg_decay=0.95,
                 use_backtracking=True, use_linesearch=True, min_damping=MIN_DAMPING,
                 max_damping=MAX_DAMPING, cg_rel_tol=5e-4):
        if isinstance(CG_iter, bool) or not isinstance(CG_iter, int) or CG_iter < 1:
            raise ValueError(f"CG_iter must be an integer >= 1, got {CG_iter!r}")
        init_damping = _check_number("init_damping", init_damping)
        self.cg_decay = _check_number("cg_decay", cg_decay, 0.0, 1.0)
        self.min_damping = _check_number("min_damping", min_damping)
        self.max_damping = _check_number("max_damping", max_damping, self.min_damping)
        self.cg_rel_tol = _check_number("cg_rel_tol", cg_rel_tol)
        super().__init__()
        self.CG_iter, self.plotting = CG_iter, bool(plotting)
        self.use_backtracking = bool(use_backtracking)
        self.use_linesearch = bool(use_linesearch)
        self.state = HFState(damping=init_damping)
        self.last_cg = None

    @property
    def damping(self):
        """Current Tikhonov damping :math:`\\lambda` (stored in :attr:`state`)."""
        return self.state.damping

    @damping.setter
    def damping(self, value):
        value = _check_number("damping", value)
        self.state = dataclasses.replace(self.state, damping=value)

    def conjugate_gradient(self, init_delta, grad, iters=250, printing=False):
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

        Returns
        -------
        list of (int, (n_params,) array)
            ``(iteration, delta)`` pairs on the geometric grid of Martens
            (2010, §4.6), for backtracking; the last pair is the final
            solution.  The full :class:`~hessianfree.cg.CGResult` is kept in
            :attr:`last_cg`.
        """
        net = self._require_net()
        damping = self.damping

        def matvec(v, out):
            return net.calc_G(v, damping=damping, out=out)

        self.last_cg = conjugate_gradient(matvec, -grad, init_delta, max_iters=iters,
                                          rel_tol=self.cg_rel_tol)
        if printing:
            print(f"CG: {self.last_cg.n_iters} iterations ({self.last_cg.status}), "
                  f"model value {self.last_cg.value:.4g}")
        return self.last_cg.iterates

    def _warm_start(self, grad):
        init_delta = self.state.init_delta
        if init_delta is None or init_delta.shape != grad.shape:
            return None
        return init_delta

    def compute_update(self, printing=False):
        """Compute one Hessian-free update on the cached minibatch.

        Steps: gradient and error; CG from the warm start; backtracking over
        the CG iterates (:func:`~hessianfree.linesearch.backtrack_cg_iterates`);
        reduction ratio :math:`\\rho` against the undamped model
        :math:`q(\\delta) = \\nabla f^T\\delta + \\tfrac12\\delta^T G\\delta` (one
        extra ``calc_G`` call with ``damping=0``, also used by the debug
        check); Levenberg-Marquardt damping update; Armijo line search.

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
        grad, f0 = net.calc_grad(), float(net.error())
        if not _all_finite(grad):
            return self._reject(net, "the gradient (net.calc_grad())", printing)
        if not math.isfinite(f0):
            return self._reject(net, "the current error (net.error())", printing)
        if net.debug:
            net.check_grad(grad)
        self.conjugate_gradient(self._warm_start(grad), grad, self.CG_iter)
        if self.last_cg.status == NONFINITE:
            return self._reject(net, "the curvature product in CG (net.calc_G())",
                                printing, cg_ran=True)
        return self._take_step(net, grad, f0, printing)

    def _objective(self, net):
        """``objective(delta) = net.error(W + delta)``, using one trial buffer."""
        xp = array_module(net.W)
        trial = xp.empty_like(net.W)

        def objective(delta):
            return net.error(W=xp.add(net.W, delta, out=trial))
        return objective

    def _choose_iterate(self, objective):
        iterates = self.last_cg.iterates
        if self.use_backtracking:
            index, value = backtrack_cg_iterates(iterates, objective)
        else:
            index, value = len(iterates) - 1, float(objective(iterates[-1][1]))
        return iterates[index], value

    def _predicted_change(self, net, grad, delta):
        """Undamped model change :math:`q(\\delta) - q(0)` (Martens 2010, §4.1)."""
        xp = array_module(delta)
        G_delta = net.calc_G(delta, damping=0)
        if net.debug:
            net.check_G(G_delta, delta, 0)
        return float(xp.dot(grad, delta) + 0.5 * xp.dot(delta, G_delta))

    def _take_step(self, net, grad, f0, printing):
        objective = self._objective(net)
        (iteration, delta), value = self._choose_iterate(objective)
        predicted = self._predicted_change(net, grad, delta)
        if not math.isfinite(predicted):
            return self._reject(net, "the curvature product for the reduction "
                                "ratio (net.calc_G(delta, damping=0))", printing,
                                cg_ran=True, stacklevel=4)
        rho = reduction_ratio(value - f0, predicted)
        damping = update_damping(self.damping, rho, min_damping=self.min_damping,
                                 max_damping=self.max_damping)
        slope = float(array_module(grad).dot(grad, delta))
        if self.use_linesearch:
            alpha, value = armijo_line_search(objective, f0, slope, delta,
                                              value_at_one=value)
        else:
            alpha = 1.0 if value < f0 else 0.0
        accepted = alpha > 0 and value < f0
        if not accepted:
            alpha, damping = 0.0, max(damping, self._raised_damping())
        self._finish(damping, accepted, alpha, rho, self._next_warm_start())
        if printing:
            print(f"HF: CG {self.last_cg.n_iters} it ({self.last_cg.status}), "
                  f"backtracked to it {iteration}, rho {rho:.3g}, damping "
                  f"{damping:.3g}, step {alpha:.3g}, error {f0:.6g} -> "
                  f"{value if accepted else f0:.6g}")
        if not accepted:
            return array_module(net.W).zeros_like(net.W)
        return array_module(delta).multiply(delta, alpha)

    def _next_warm_start(self):
        """``cg_decay`` times the last CG solution (Martens 2010, §4.5)."""
        x = self.last_cg.x
        return array_module(x).multiply(x, self.cg_decay)

    def _raised_damping(self):
        return update_damping(self.damping, -math.inf, min_damping=self.min_damping,
                              max_damping=self.max_damping)

    def _finish(self, damping, accepted, alpha, rho, init_delta, cg_iters=None):
        """Store the new state and append the plot series."""
        self.state = HFState(damping=damping, init_delta=init_delta,
                             epoch=self.state.epoch + 1,
                             n_failures=self.state.n_failures + (not accepted))
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
        damping = self._raised_damping()
        warnings.warn(f"HessianFree: {quantity} holds NaN or inf; returning a zero "
                      f"update and raising the damping to {damping:.3g}",
                      NonFiniteWarning, stacklevel=stacklevel)
        init_delta = None if cg_ran else self.state.init_delta
        self._finish(damping, False, 0.0, math.nan, init_delta,
                     cg_iters=self.last_cg.n_iters if cg_ran else 0)
        if printing:
            print(f"HF: skipped update ({quantity} not finite), damping {damping:.3g}")
        return array_module(net.W).zeros_like(net.W)


class SGD(Optimizer):
    """First-order gradient descent: :math:`\\delta = -\\eta \\nabla f`.

    Parameters
    ----------
    l_rate : float
        Learning rate :math:`\\eta > 0`.
    plotting : bool
        If True, append ``"learning rate"`` to :attr:`plots` each update.
    """

    def __init__(self, l_rate=1, plotting=False):
        self.l_rate = _check_number("l_rate", l_rate, low_open=True)
        super().__init__()
        self.plotting = bool(plotting)

    def compute_update(self, printing=False):
        """Return :math:`-\\eta \\nabla f` on the cached minibatch (zeros and a
        :class:`NonFiniteWarning` if the gradient is not finite)."""
        net = self._require_net()
        grad = net.calc_grad()
        xp = array_module(grad)
        if _all_finite(grad):
            delta = xp.multiply(grad, -self.l_rate)
        else:
            warnings.warn("SGD: the gradient (net.calc_grad()) holds NaN or inf; "
                          "returning a zero update", NonFiniteWarning, stacklevel=2)
            delta = xp.zeros_like(grad)
        if self.plotting:
            self._record("learning rate", self.l_rate)
        if printing:
            print(f"SGD: learning rate {self.l_rate:g}, gradient norm "
                  f"{float(xp.linalg.norm(grad)):.4g}")
        return delta
