"""Loss functions over the activations of all layers.

A loss sees the list of every layer's activations (``activities[i]`` is
``(batch, n_i)`` for a feed-forward net, ``(batch, time, n_i)`` for a
recurrent one; entries may be None) and the targets of the output layer.
Each method returns a list with one entry per layer, None where the loss
does not touch that layer:

- :meth:`LossFunction.loss`: per-unit (or per-example) loss values,
  first axis the batch;
- :meth:`LossFunction.d_loss`: :math:`\\partial L / \\partial a` of the
  per-example loss, shaped like the activations (not divided by the batch
  size);
- :meth:`LossFunction.d2_loss`: the diagonal of
  :math:`\\partial^2 L / \\partial a^2`, shaped like the activations.  It is
  the middle factor of the Gauss-Newton matrix :math:`J^T H_L J`
  (Schraudolph 2002; Martens 2010), so it must be non-negative.

A NaN target means "no target here": it contributes zero to the loss and to
both derivatives.
"""

from hessianfree.base import validation as val
from hessianfree.losses.hidden_losses import SparseL1, SparseL2, StructuralDamping
from hessianfree.losses.loss_base import LossFunction, check_target_range, output_loss
from hessianfree.losses.output_losses import (BinaryCrossEntropy, ClassificationError,
                                       CrossEntropy, ReconstructionError, SquaredError)

__all__ = ["BinaryCrossEntropy", "ClassificationError", "CrossEntropy", "LossFunction",
           "LossSet", "ReconstructionError", "SparseL1", "SparseL2", "SquaredError",
           "StructuralDamping", "check_target_range", "output_loss", "resolve_loss"]


def _add(total, values, owned):
    """Sum two loss entries; ``owned`` says ``total`` may be changed in place.

    Entries of different rank (per-unit and per-example) are summed over
    their trailing axes first.
    """
    if values is None:
        return total, owned
    if total is None:
        return values, False
    while total.ndim > values.ndim:
        total, owned = total.sum(axis=-1), True
    while values.ndim > total.ndim:
        values = values.sum(axis=-1)
    if total.shape != values.shape:
        raise ValueError(f"cannot add loss entries of shapes {total.shape} "
                         f"and {values.shape}")
    if owned:
        total += values
        return total, True
    return total + values, True


class LossSet(LossFunction):
    """The sum of several loss functions (e.g. SquaredError and SparseL2).

    Networks build one when ``loss_type`` is a list.

    Parameters
    ----------
    set : list of LossFunction
        The losses to sum.
    """

    def __init__(self, set):  # noqa: A002 (public name of the parameter)
        members = val.check_sequence(set, "set (a list of LossFunction)")
        if not members:
            raise ValueError("set must contain at least one LossFunction")
        for i, member in enumerate(members):
            if not isinstance(member, LossFunction):
                raise TypeError(f"set[{i}] must be a LossFunction, got "
                                f"{type(member).__name__}: {member!r}")
        self.set = members

    def group_func(self, func_name, activities, targets):
        """Call ``func_name`` on every member and sum the results per layer.

        None entries count as zero (None + x = x).
        """
        totals = [None] * len(activities)
        owned = [False] * len(activities)
        for member in self.set:
            values = getattr(member, func_name)(activities, targets)
            for i, v in enumerate(values):
                totals[i], owned[i] = _add(totals[i], v, owned[i])
        return totals

    def loss(self, activities, targets):
        return self.group_func("loss", activities, targets)

    def d_loss(self, activities, targets):
        return self.group_func("d_loss", activities, targets)

    def d2_loss(self, activities, targets):
        return self.group_func("d2_loss", activities, targets)

    def d2_loss_exact(self, activities, targets):
        return self.group_func("d2_loss_exact", activities, targets)

    def batch_loss(self, activities, targets):
        """Sum of the members' batch losses."""
        return sum(m.batch_loss(activities, targets) for m in self.set)

    def check_layers(self, layers):
        """Check every member."""
        for member in self.set:
            member.check_layers(layers)

    def check_targets(self, targets, name="targets"):
        """Check the targets against every member's domain."""
        for member in self.set:
            member.check_targets(targets, name)

    def __repr__(self):
        return f"LossSet({self.set!r})"


def resolve_loss(loss_type):
    """Return the :class:`LossFunction` a network's ``loss_type`` describes.

    Parameters
    ----------
    loss_type : LossFunction, LossFunction subclass, or list of them
        A list becomes a :class:`LossSet`; a subclass is instantiated with no
        arguments.

    Raises
    ------
    TypeError
        If ``loss_type`` (or one of its entries) is not a LossFunction.
    ValueError
        If ``loss_type`` is an empty list.
    """
    instance = val.instance_of(loss_type, LossFunction, "loss_type")
    if instance is not None:
        return instance
    if isinstance(loss_type, (list, tuple)):
        if not loss_type:
            raise ValueError("loss_type is an empty list; give at least one "
                             "LossFunction")
        return LossSet([resolve_loss(member) for member in loss_type])
    raise TypeError(f"loss_type must be a LossFunction or a list of them, got "
                    f"{type(loss_type).__name__}: {loss_type!r}")
