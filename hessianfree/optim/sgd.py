"""First-order gradient descent, public as ``hf.opt.SGD``."""

import warnings

from hessianfree.base import validation as val
from hessianfree.base.backend import array_module
from hessianfree.optim.optimizer_base import (UPDATE_ACCEPTED, UPDATE_NONFINITE, NonFiniteWarning,
                                        Optimizer, all_finite, check_number)


class SGD(Optimizer):
    """First-order gradient descent: :math:`\\delta = -\\eta \\nabla f`.

    Parameters
    ----------
    l_rate : float
        Learning rate :math:`\\eta > 0`.
    plotting : bool
        If True, append ``"learning rate"`` to :attr:`~Optimizer.plots` each update.
    """

    def __init__(self, l_rate=1, plotting=False):
        self.l_rate = check_number("l_rate", l_rate, low_open=True)
        super().__init__()
        self.plotting = val.check_bool(plotting, "plotting")

    def compute_update(self, printing=False):
        """Return :math:`-\\eta \\nabla f` on the cached minibatch (zeros and a
        :class:`NonFiniteWarning` if the gradient is not finite)."""
        net = self._require_net()
        grad = net.calc_grad()
        xp = array_module(grad)
        if all_finite(grad):
            delta = xp.multiply(grad, -self.l_rate)
            self.last_status = UPDATE_ACCEPTED
        else:
            warnings.warn("SGD: the gradient (net.calc_grad()) holds NaN or inf; "
                          "returning a zero update", NonFiniteWarning, stacklevel=2)
            delta = xp.zeros_like(grad)
            self.last_status = UPDATE_NONFINITE
        if self.plotting:
            self._record("learning rate", self.l_rate)
        if printing:
            print(f"SGD: learning rate {self.l_rate:g}, gradient norm "
                  f"{float(xp.linalg.norm(grad)):.4g}")
        return delta
