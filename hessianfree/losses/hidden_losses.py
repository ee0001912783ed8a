"""Losses on hidden layers' activations: the sparsity penalties and
structural damping.

They ignore the targets and act on chosen layers (default: every layer but
the first and the last).  They are public as ``hf.loss_funcs.SparseL1``
etc.
"""

import numbers

import numpy as np

from hessianfree.base import validation as val
from hessianfree.base.backend import array_module
from hessianfree.losses.loss_base import LossFunction


def _check_weight(weight):
    """Return ``weight`` as a float, or raise if it is not finite and >= 0."""
    return val.check_real(weight, "weight", low=0.0)


class _HiddenLayerLoss(LossFunction):
    """A loss on chosen layers' activations (default: the hidden layers).

    Parameters
    ----------
    weight : float
        Scale of the loss (>= 0).
    layers : list of int or None
        Indices of the layers it applies to; negative indices count from the
        output layer.  None means every layer except the first and last.
    """

    def __init__(self, weight, layers=None):
        self.weight = _check_weight(weight)
        if layers is not None:
            layers = val.check_sequence(layers, "layers (a list of layer indices)")
            for i in layers:
                if (isinstance(i, (bool, np.bool_))
                        or not isinstance(i, numbers.Integral)):
                    raise TypeError(f"layers must be a list of layer indices "
                                    f"(int), got {layers!r}")
            layers = [int(i) for i in layers]
        self.layers = layers

    def _indices(self, n_layers):
        """The chosen layer indices, as non-negative ints."""
        if self.layers is None:
            return range(1, n_layers - 1)
        bad = [i for i in self.layers if not -n_layers <= i < n_layers]
        if bad:
            raise ValueError(f"layers {self.layers} has indices {bad} out of "
                             f"range for a network with {n_layers} layers")
        return sorted({i % n_layers for i in self.layers})

    def _map(self, func, activities):
        """Apply ``func(a)`` to the chosen, non-None layers; None elsewhere."""
        result = [None] * len(activities)
        for i in self._indices(len(activities)):
            if activities[i] is not None:
                result[i] = func(activities[i])
        return result

    def check_layers(self, layers):
        """Raise ValueError if a layer index is out of range."""
        self._indices(len(layers))

    def __repr__(self):
        return (f"{type(self).__name__}(weight={self.weight!r}, "
                f"layers={self.layers!r})")


class _SparsityLoss(_HiddenLayerLoss):
    """Base of the sparsity penalties: pulls hidden activations to a target.

    Parameters
    ----------
    weight : float
        Relative weight :math:`w` of the constraint.
    layers : list of int or None
        Layers it applies to (default: all except the first and last).
    target : float
        Target activation level.
    """

    def __init__(self, weight, layers=None, target=0.0):
        super().__init__(weight, layers)
        self.target = val.check_real(target, "target")


class SparseL1(_SparsityLoss):
    """L1 penalty on hidden activations.

    :math:`L = w \\sum_i |a_i - target|`, :math:`\\partial L/\\partial a_i =
    w\\,\\mathrm{sign}(a_i - target)`, :math:`\\partial^2 L/\\partial a_i^2
    = 0` (returned as None).

    Takes ``weight`` (:math:`w`), ``layers`` (default: all but the first
    and last layer) and ``target`` (the target activation level).
    """

    def loss(self, activities, targets):
        return self._map(lambda a: self.weight * np.abs(a - self.target),
                         activities)

    def d_loss(self, activities, targets):
        return self._map(lambda a: self.weight * np.sign(a - self.target),
                         activities)

    def d2_loss(self, activities, targets):
        return [None] * len(activities)


class SparseL2(_SparsityLoss):
    """L2 penalty on hidden activations.

    :math:`L = \\frac{w}{2} \\sum_i (a_i - target)^2`,
    :math:`\\partial L/\\partial a_i = w (a_i - target)`,
    :math:`\\partial^2 L/\\partial a_i^2 = w`.

    Takes ``weight`` (:math:`w`), ``layers`` (default: all but the first
    and last layer) and ``target`` (the target activation level).
    """

    def loss(self, activities, targets):
        def penalty(a):
            d = a - self.target
            d *= d
            d *= 0.5 * self.weight
            return d
        return self._map(penalty, activities)

    def d_loss(self, activities, targets):
        return self._map(lambda a: self.weight * (a - self.target), activities)

    def d2_loss(self, activities, targets):
        return self._map(lambda a: array_module(a).full_like(a, self.weight),
                         activities)


class StructuralDamping(_HiddenLayerLoss):
    """Structural damping (Martens & Sutskever 2011, section 3.2).

    Penalises changes of the chosen layers' activations during the update:
    with :math:`\\theta` the current parameters and :math:`\\delta` the
    update, it adds :math:`\\frac{\\lambda \\mu}{2} \\|a(\\theta + \\delta) -
    a(\\theta)\\|^2` to the local quadratic model, where :math:`\\lambda` is
    the optimizer's Tikhonov damping and :math:`\\mu` = ``weight``.  At the
    current parameters this term and its gradient are zero, so ``loss`` and
    ``d_loss`` return None for every layer; it only enters the Gauss-Newton
    curvature product, through ``d2_loss`` :math:`= \\lambda \\mu` on the
    chosen layers.

    Unlike Martens & Sutskever it acts on the output side of the
    nonlinearity (the activations, not the summed inputs).

    Parameters
    ----------
    weight : float
        :math:`\\mu`, scale of the damping relative to the Tikhonov damping.
    layers : list of int or None
        Layers it applies to (default: all except the first and last).
    optimizer : Optimizer or None
        If given, its current ``damping`` attribute is :math:`\\lambda`, so
        the structural damping follows the damping schedule; otherwise
        :math:`\\lambda = 1`.
    """

    def __init__(self, weight, layers=None, optimizer=None):
        super().__init__(weight, layers)
        self.optimizer = optimizer

    def loss(self, activities, targets):
        return [None] * len(activities)

    def d_loss(self, activities, targets):
        return [None] * len(activities)

    def d2_loss(self, activities, targets):
        scale = self.weight
        if self.optimizer is not None:
            scale *= float(self.optimizer.damping)
        return self._map(lambda a: array_module(a).full_like(a, scale),
                         activities)
