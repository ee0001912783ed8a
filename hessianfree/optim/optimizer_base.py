"""The optimizer protocol: the base class :class:`Optimizer`, the outcomes
of an update and the warning for a non-finite quantity.

An optimizer is attached to a network (which sets ``optimizer.net``); each
epoch the network caches a minibatch, calls ``compute_update()`` and *adds*
the returned vector to ``net.W``.  The optimizers themselves are public in
:mod:`hessianfree.optim.optimizers` (``hf.opt``), which re-exports these names.
"""

import math

from hessianfree.base import validation as val
from hessianfree.base.backend import array_module


class NonFiniteWarning(RuntimeWarning):
    """A NaN or inf appeared in a quantity the optimizer needs; the update
    was skipped (a zero update was returned)."""


#: Default number of failed updates in a row (NaN or inf) after which the
#: training loop stops (``run_epochs(..., max_failures=...)``).
MAX_FAILURES = 10

#: :attr:`Optimizer.last_status` after an update that was taken.
UPDATE_ACCEPTED = "accepted"
#: :attr:`Optimizer.last_status` after a zero update because the step did not
#: lower the error (a normal event for
#: :class:`~hessianfree.optim.optimizers.HessianFree`).
UPDATE_REJECTED = "rejected"
#: :attr:`Optimizer.last_status` after a zero (or discarded) update because a
#: NaN or inf appeared.
UPDATE_NONFINITE = "nonfinite"


def all_finite(x):
    """True if no entry of the array ``x`` is NaN or inf."""
    return bool(array_module(x).isfinite(x).all())


def check_number(name, value, low=0.0, high=math.inf, low_open=False):
    """``float(value)`` if it is a finite number in the bounds: TypeError for
    a non-number, ValueError for a number out of bounds
    (:func:`hessianfree.base.validation.check_real`)."""
    return val.check_real(value, name, low, high, low_open)


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
    last_status : str or None
        Outcome of the latest update:
        :data:`~hessianfree.optim.optimizer_base.UPDATE_ACCEPTED`,
        :data:`~hessianfree.optim.optimizer_base.UPDATE_REJECTED` or
        :data:`~hessianfree.optim.optimizer_base.UPDATE_NONFINITE`; None before
        the first one.
    progress : callable or None
        ``progress(i, max_iters)``, called after each inner iteration (CG
        iteration for :class:`~hessianfree.optim.optimizers.HessianFree`) of an
        update; the training loop sets it to drive its progress bar.
    """

    net = None
    last_status = None
    progress = None

    def __init__(self):
        self.net = None
        self.plots = {}

    def forget_network(self):
        """Drop state that belongs to the previous network (called when the
        optimizer is assigned to another one)."""

    def state_dict(self):
        """What the optimizer carries from one update to the next, for a
        checkpoint.

        Returns
        -------
        dict
            Numbers, strings, lists and dicts, plus arrays (or None where an
            array is absent).  The base class holds the plot series,
            ``{"plots": {name: [float, ...]}}``.
        """
        return {"plots": {name: list(series) for name, series in self.plots.items()}}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned.

        Parameters
        ----------
        state : dict
            A dict from :meth:`state_dict` of the same optimizer class.  It is
            checked completely before anything changes.

        Raises
        ------
        TypeError, ValueError
            If ``state`` is not such a dict.
        """
        self.plots = self._parse_plots(state)

    @staticmethod
    def _parse_plots(state):
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(), got "
                            f"{type(state).__name__}")
        plots = state.get("plots", {})
        if not isinstance(plots, dict) or not all(
                isinstance(name, str) and isinstance(series, (list, tuple))
                for name, series in plots.items()):
            raise ValueError("state['plots'] must be a dict of name -> list of floats")
        try:
            return {name: [float(v) for v in series] for name, series in plots.items()}
        except (TypeError, ValueError) as e:
            raise ValueError(f"state['plots'] must hold numbers: {e}") from e

    def discard_update(self):
        """Tell the optimizer that the training loop threw its last update
        away because a NaN or inf appeared after it (in the update itself or
        in the error at the new weights).

        Sets :attr:`last_status` to
        :data:`~hessianfree.optim.optimizer_base.UPDATE_NONFINITE`; subclasses also
        make the next update more cautious.
        """
        self.last_status = UPDATE_NONFINITE

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
