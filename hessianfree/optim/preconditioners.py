"""Preconditioners for the conjugate gradient runs of Hessian-free
optimization.

A preconditioner is an object with one interface, which
:class:`~hessianfree.optim.optimizers.HessianFree` calls once per update:

* :meth:`Preconditioner.check_network` raises if it cannot serve a network
  (when the optimizer is attached to it, before anything changes);
* :meth:`Preconditioner.prepare` takes the cached minibatch and the current
  damping :math:`\\lambda` and returns what
  :func:`hessianfree.optim.cg.conjugate_gradient` takes as ``precond``: the
  positive diagonal of :math:`M` (CG divides by it) or a function
  ``precond(r, out)`` that writes :math:`M^{-1} r` into ``out``;
* :meth:`Preconditioner.state_dict` / :meth:`~Preconditioner.load_state_dict`
  carry whatever it keeps between updates into a checkpoint, so that a
  resumed run continues bit for bit, and :meth:`~Preconditioner.settings`
  names the options that every process of a data-parallel run must share.

:class:`Diagonal` is Martens' (2010, §4.7) diagonal preconditioner;
:class:`hessianfree.optim.kfac.KFAC` the Kronecker-factored one (Martens & Grosse
2015).  ``HessianFree(preconditioner=...)`` also takes the strings
``"diagonal"`` and ``"kfac"``.
"""

import numpy as np

from hessianfree.base import validation as val
from hessianfree.base.backend import array_module


class Preconditioner:
    """Base class of the CG preconditioners (see the module docstring)."""

    #: Whether :meth:`prepare` needs the mean squared per-example gradient
    #: (``net.calc_grad(squared=True)``, about one more gradient pass).
    uses_squared_gradient = False

    def check_network(self, net):
        """Raise TypeError if this preconditioner cannot serve ``net``."""

    def prepare(self, net, damping, squared_gradient=None):
        """The ``precond`` argument of CG for this update: an array (the
        diagonal of :math:`M`) or a callable ``precond(r, out)``."""
        raise NotImplementedError

    def reset(self):
        """Forget what was learned about the previous network."""

    def settings(self):
        """The options, as a dict of plain values."""
        return {}

    def state_dict(self):
        """What the preconditioner carries between updates (plain values
        and arrays; empty when it carries nothing)."""
        return {}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict`'s result (checked before anything
        changes)."""
        if state not in (None, {}):
            raise ValueError(f"{type(self).__name__} keeps no state, got {state!r}")

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"


def diagonal(squared_gradient, damping, exponent):
    """Martens' (2010, §4.7) diagonal preconditioner.

    Parameters
    ----------
    squared_gradient : (n_params,) array
        Mean of the squared per-example gradients, :math:`\\tfrac1N \\sum_i
        g_i^2` (``net.calc_grad(squared=True)``).
    damping : float
        The current Tikhonov damping :math:`\\lambda`.
    exponent : float in [0, 1]
        :math:`\\alpha`.

    Returns
    -------
    (n_params,) array
        :math:`(\\tfrac1N \\sum_i g_i^2 + \\lambda)^{\\alpha}`, kept at or above
        the dtype's smallest normal number so that :math:`M` stays positive.
    """
    xp = array_module(squared_gradient)
    dtype = squared_gradient.dtype
    P = xp.add(squared_gradient, dtype.type(damping))
    xp.power(P, dtype.type(exponent), out=P)
    return xp.maximum(P, np.finfo(dtype).tiny, out=P)


class Diagonal(Preconditioner):
    """Martens' (2010, §4.7) diagonal preconditioner :math:`M =
    \\big(\\mathrm{diag}(\\tfrac1N \\sum_i g_i^2) + \\lambda I\\big)^{\\alpha}`,
    :math:`g_i` the per-example gradients (:func:`diagonal`).

    Parameters
    ----------
    exponent : float in [0, 1]
        :math:`\\alpha` (0.75 in Martens 2010).
    """

    uses_squared_gradient = True

    def __init__(self, exponent=0.75):
        self.exponent = val.check_real(exponent, "exponent", 0.0, 1.0)

    def prepare(self, net, damping, squared_gradient=None):
        if squared_gradient is None:
            raise ValueError("the diagonal preconditioner needs the squared "
                             "per-example gradient (net.calc_grad(squared=True))")
        return diagonal(squared_gradient, damping, self.exponent)

    def settings(self):
        return {"exponent": self.exponent}
