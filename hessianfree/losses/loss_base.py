"""The loss protocol: the base class :class:`LossFunction` and the helpers
the built-in losses share.

The contract (what ``loss``, ``d_loss`` and ``d2_loss`` receive and return)
is described in :mod:`hessianfree.losses.loss_funcs`, the public module that
re-exports every loss.
"""

import functools

import numpy as np

from hessianfree.base.backend import array_module


class LossFunction:
    """Base class: maps the activations of all layers to an error."""

    def loss(self, activities, targets):
        """Loss of each unit (or example) in the network.

        Most losses only use the output layer, ``activities[-1]``; all layers
        are passed so that a loss can also constrain hidden activity.

        Parameters
        ----------
        activities : list of (batch, ..., n_i) arrays or None
            Activations of every layer.
        targets : (batch, ..., n_out) array
            Targets of the output layer; NaN means no target.

        Returns
        -------
        list of arrays or None
            One entry per layer; arrays have the batch on their first axis.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement loss(activities, targets)")

    def d_loss(self, activities, targets):
        """First derivative of the per-example loss w.r.t. the activations.

        Returns
        -------
        list of arrays or None
            Entries shaped like ``activities[i]``.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement d_loss(activities, targets)")

    def d2_loss(self, activities, targets):
        """Diagonal of the second derivative w.r.t. the activations.

        Returns
        -------
        list of arrays or None
            Entries shaped like ``activities[i]``.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement d2_loss(activities, "
            f"targets)")

    def d2_loss_exact(self, activities, targets):
        """Exact diagonal second derivative w.r.t. the activations, for
        Hessian-vector products (``net.calc_Hv``).

        The same as :meth:`d2_loss` unless that is an approximation (as
        ``CrossEntropy(curvature="fisher")``'s is); a custom loss whose
        :meth:`d2_loss` is not the exact second derivative overrides it.
        """
        return self.d2_loss(activities, targets)

    def batch_loss(self, activities, targets):
        """Loss summed over layers, units and time, averaged over the batch.

        Returns
        -------
        float
            :math:`\\frac{1}{B} \\sum` of all non-None :meth:`loss` entries.
        """
        total = 0.0
        for values in self.loss(activities, targets):
            if values is not None:
                total = total + values.sum(dtype=np.float64) / values.shape[0]
        return float(total)

    def check_layers(self, layers):
        """Check that the loss suits the network's layers.

        Called by the network when it is built.  The base class accepts any
        layers.

        Parameters
        ----------
        layers : list of Nonlinearity
            The nonlinearity of every layer, input layer first.

        Raises
        ------
        ValueError
            If the loss cannot be used with these layers.
        """

    def check_targets(self, targets, name="targets"):
        """Check that ``targets`` lie in the loss's domain.

        Called by :meth:`~hessianfree.FFNet.run_epochs` on the training and
        test targets before training starts.  The base class accepts any real
        value (NaN means "no target").

        Parameters
        ----------
        targets : array
            The targets (NumPy or CuPy), already checked for shape and for
            infinities.
        name : str
            How error messages call them (e.g. ``"test[1]"``).

        Raises
        ------
        ValueError
            Naming the loss, its domain and an offending index.
        """

    def __repr__(self):
        return f"{type(self).__name__}()"


def check_target_range(loss, targets, name, low, high):
    """Raise ValueError unless every non-NaN target is in ``[low, high]``;
    the message names ``loss``, the range and the first offending index."""
    bad = (targets < low) | (targets > high)  # False where NaN
    if not bool(bad.any()):
        return
    index = np.unravel_index(int(bad.reshape(-1).argmax()), targets.shape)
    index = tuple(int(i) for i in index)
    raise ValueError(f"{type(loss).__name__} needs {name} in [{low:g}, {high:g}] "
                     f"(NaN: no target), but {name}[{', '.join(map(str, index))}] = "
                     f"{float(targets[index]):g}")


def output_loss(func):
    """Turn a loss method on the output layer into the all-layers form.

    ``func(self, output, targets)`` receives the output layer's activations
    and the targets; the decorated method takes ``(self, activities,
    targets)`` and returns ``[None, ..., None, func(...)]``.
    """
    @functools.wraps(func)
    def all_layers(self, activities, targets):
        result = [None] * len(activities)
        result[-1] = func(self, activities[-1], targets)
        return result
    return all_layers


def as_targets(output, targets):
    """Return ``targets`` in ``output``'s dtype after checking its shape."""
    if targets is None:
        raise TypeError(f"targets must be an array of shape {output.shape}, "
                        f"got None")
    if not hasattr(targets, "shape"):
        targets = array_module(output).asarray(targets)
    if targets.shape != output.shape:
        raise ValueError(f"targets must have the output's shape "
                         f"{output.shape}, got {targets.shape}")
    return targets.astype(output.dtype, copy=False)


def zero_where_nan(values, targets):
    """Set ``values`` (a fresh array) to 0 where ``targets`` is NaN."""
    array_module(values).copyto(values, 0, where=np.isnan(targets))
    return values


def has_target(targets, dtype):
    """1 where a target is given, 0 where it is NaN, in ``dtype``."""
    return (~np.isnan(targets)).astype(dtype)
