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

import functools
import numbers
import warnings

import numpy as np

from hessianfree import nonlinearities as nl
from hessianfree import validation as val
from hessianfree.backend import array_module


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


def _as_targets(output, targets):
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


def _zero_where_nan(values, targets):
    """Set ``values`` (a fresh array) to 0 where ``targets`` is NaN."""
    array_module(values).copyto(values, 0, where=np.isnan(targets))
    return values


def _has_target(targets, dtype):
    """1 where a target is given, 0 where it is NaN, in ``dtype``."""
    return (~np.isnan(targets)).astype(dtype)


class SquaredError(LossFunction):
    """Squared error.

    :math:`L = \\frac{1}{2} \\sum_i (y_i - t_i)^2`, so
    :math:`\\partial L / \\partial y_i = y_i - t_i` and
    :math:`\\partial^2 L / \\partial y_i^2 = 1`.
    """

    @output_loss
    def loss(self, output, targets):
        targets = _as_targets(output, targets)
        diff = output - targets
        diff *= diff
        diff *= 0.5
        return _zero_where_nan(diff, targets)

    @output_loss
    def d_loss(self, output, targets):
        targets = _as_targets(output, targets)
        return _zero_where_nan(output - targets, targets)

    @output_loss
    def d2_loss(self, output, targets):
        return _has_target(_as_targets(output, targets), output.dtype)


def _floor(dtype):
    """Smallest output CrossEntropy uses: :math:`\\sqrt{tiny}` of ``dtype``.

    With :math:`y \\ge \\sqrt{tiny}`, :math:`t / y^2` stays finite.
    """
    return np.sqrt(np.finfo(dtype).tiny)


def _check_curvature(curvature, choices):
    """``curvature`` if it is one of ``choices``, else ValueError."""
    if curvature not in choices:
        raise ValueError(f"curvature must be one of {choices}, got {curvature!r}")
    return curvature


def _positive_output_layer(layers, need, advice):
    """The output nonlinearity ``layers[-1]``; ValueError (starting with
    ``need`` and advising an ``advice`` output layer) if it is Linear, Tanh,
    ReLU or SoftLIF (or a Continuous over one), which can output values
    <= 0."""
    output = layers[-1]
    base = output.base if isinstance(output, nl.Continuous) else output
    if isinstance(base, (nl.Linear, nl.Tanh, nl.ReLU, nl.SoftLIF)):
        raise ValueError(f"{need}, but the output layer is {output!r}, which can "  # noqa: TRY004
                         f"output values <= 0; use a {advice} output layer")
    return output


def _cross_entropy_d2(output, targets):
    """:math:`t_i / y_i^2`, the exact second derivative of cross-entropy."""
    targets = _as_targets(output, targets)
    y = np.maximum(output, _floor(output.dtype))
    return _zero_where_nan(targets / (y * y), targets)


class CrossEntropy(LossFunction):
    """Cross-entropy error.

    :math:`L = -\\sum_i t_i \\log y_i`, so
    :math:`\\partial L / \\partial y_i = -t_i / y_i` and
    :math:`\\partial^2 L / \\partial y_i^2 = t_i / y_i^2`.

    Outputs are clipped below at :math:`\\sqrt{tiny}` of their dtype
    (about 1e-19 in float32, 1e-154 in float64) so that all three stay
    finite.  The outputs should be probabilities: use a :class:`~hessianfree.nonlinearities.Softmax`
    output layer (see :meth:`check_layers`).

    Parameters
    ----------
    curvature : {"hessian", "fisher"}
        What :meth:`d2_loss` returns for the Gauss-Newton product.
        ``"hessian"`` (default, the classic behaviour): the exact second
        derivative :math:`t_i / y_i^2` with respect to the outputs.
        ``"fisher"`` (recommended with a Softmax output): the expected second
        derivative
        :math:`E_{t \\sim y}[t_i / y_i^2] = 1 / y_i` (zero where the
        target is NaN).  Through a Softmax Jacobian :math:`S = diag(y) -
        y y^T` it gives :math:`S\\,diag(1/y)\\,S = diag(y) - y y^T`, the
        Gauss-Newton matrix of softmax and cross-entropy taken at the logits
        (the matching-loss form of Schraudolph 2002 that Martens 2010 uses),
        which is far better conditioned: the exact second derivative's
        Gauss-Newton matrix (split at the outputs) is the outer product of
        the per-example gradients and grows without bound as a wrongly
        confident :math:`y_i \\to 0`.  On Fashion-MNIST ``"fisher"`` reached
        85% accuracy 1.5-3 times sooner (``docs/tuning.rst``).  Loss and
        gradient do not depend on this choice.
    """

    CURVATURES = ("hessian", "fisher")

    def __init__(self, curvature="hessian"):
        self.curvature = _check_curvature(curvature, self.CURVATURES)

    @output_loss
    def loss(self, output, targets):
        targets = _as_targets(output, targets)
        values = np.log(np.maximum(output, _floor(output.dtype)))
        values *= targets
        values *= -1
        return _zero_where_nan(values, targets)

    @output_loss
    def d_loss(self, output, targets):
        targets = _as_targets(output, targets)
        values = -targets / np.maximum(output, _floor(output.dtype))
        return _zero_where_nan(values, targets)

    @output_loss
    def d2_loss(self, output, targets):
        if self.curvature == "hessian":
            return _cross_entropy_d2(output, targets)
        targets = _as_targets(output, targets)
        y = np.maximum(output, _floor(output.dtype))
        return _zero_where_nan(1 / y, targets)

    @output_loss
    def d2_loss_exact(self, output, targets):
        return _cross_entropy_d2(output, targets)

    def check_targets(self, targets, name="targets"):
        """Targets must be probabilities, in [0, 1]: with :math:`t_i > 1` or
        :math:`t_i < 0` the loss has no lower bound."""
        check_target_range(self, targets, name, 0.0, 1.0)

    def check_layers(self, layers):
        """Refuse output layers that can output values <= 0.

        Raises
        ------
        ValueError
            If the output nonlinearity is Linear, Tanh, ReLU or SoftLIF (or
            a :class:`~hessianfree.nonlinearities.Continuous` over one).

        Warns
        -----
        UserWarning
            If the output layer is not Softmax: cross-entropy assumes
            outputs that sum to 1.
        """
        if not layers:
            return
        output = _positive_output_layer(layers, "CrossEntropy needs positive outputs",
                                        "Softmax")
        if not isinstance(output, nl.Softmax):
            warnings.warn(f"CrossEntropy assumes normalised outputs (a "
                          f"Softmax output layer), but the output layer is "
                          f"{output!r}", UserWarning, stacklevel=3)


def _targets_and_clipped(output, targets):
    """The checked targets, and ``output`` clipped into
    :math:`[\\sqrt{tiny}, 1 - \\epsilon_-]` of its dtype (``epsneg``: the largest
    value below 1 is :math:`1 - \\epsilon_-`), so that :math:`\\log y`,
    :math:`\\log(1 - y)` and :math:`1 / (y (1 - y))` stay finite."""
    clipped = np.clip(output, _floor(output.dtype), 1 - np.finfo(output.dtype).epsneg)
    return _as_targets(output, targets), clipped


def _binary_d2_exact(t, y):
    """:math:`t / y^2 + (1 - t) / (1 - y)^2`, the exact second derivative of
    the binary cross-entropy (zero where ``t`` is NaN)."""
    return _zero_where_nan(t / (y * y) + (1 - t) / ((1 - y) * (1 - y)), t)


class BinaryCrossEntropy(LossFunction):
    """Cross-entropy of independent binary (Bernoulli) outputs.

    .. math:: L = -\\sum_i \\left[t_i \\log y_i + (1 - t_i) \\log(1 - y_i)\\right]

    for outputs :math:`y_i \\in (0, 1)` (a :class:`~hessianfree.nonlinearities.Logistic`
    output layer) and targets :math:`t_i \\in [0, 1]`, e.g. pixel intensities:
    the loss of Martens' (2010, §6) deep autoencoders.  Then
    :math:`\\partial L / \\partial y_i = (y_i - t_i) / (y_i (1 - y_i))`, and
    through the logistic derivative :math:`y_i (1 - y_i)` the error at the
    output's input :math:`z_i` is simply :math:`y_i - t_i`.  For
    :math:`0 < t_i < 1` the minimum of :math:`L` is the entropy of the
    targets, not zero.

    Outputs are clipped into :math:`[\\sqrt{tiny}, 1 - \\epsilon_-]` of their
    dtype (``np.finfo(dtype).epsneg``, about 6e-8 in float32) so that the
    loss and both derivatives stay finite; an output that the logistic
    rounds to exactly 1 then has zero gradient.

    Parameters
    ----------
    curvature : {"fisher", "hessian"}
        What :meth:`d2_loss` returns for the Gauss-Newton product.
        ``"fisher"`` (default): :math:`1 / (y_i (1 - y_i))`, the expected
        second derivative :math:`E_{t \\sim \\mathrm{Bernoulli}(y)}[\\partial^2
        L / \\partial y_i^2]`.  Through the logistic Jacobian it gives
        :math:`y_i (1 - y_i)`, the exact second derivative of :math:`L` with
        respect to :math:`z_i`: the matching-loss Gauss-Newton matrix
        (Schraudolph 2002) that Martens (2010) uses.  ``"hessian"``: the exact
        second derivative with respect to the outputs,
        :math:`t_i / y_i^2 + (1 - t_i) / (1 - y_i)^2`.  Loss and gradient do
        not depend on this choice.
    """

    CURVATURES = ("fisher", "hessian")

    def __init__(self, curvature="fisher"):
        self.curvature = _check_curvature(curvature, self.CURVATURES)

    @output_loss
    def loss(self, output, targets):
        t, y = _targets_and_clipped(output, targets)
        return _zero_where_nan(-(t * np.log(y) + (1 - t) * np.log1p(-y)), t)

    @output_loss
    def d_loss(self, output, targets):
        t, y = _targets_and_clipped(output, targets)
        return _zero_where_nan((y - t) / (y * (1 - y)), t)

    @output_loss
    def d2_loss(self, output, targets):
        t, y = _targets_and_clipped(output, targets)
        if self.curvature == "fisher":
            return _zero_where_nan(1 / (y * (1 - y)), t)
        return _binary_d2_exact(t, y)

    @output_loss
    def d2_loss_exact(self, output, targets):
        return _binary_d2_exact(*_targets_and_clipped(output, targets))

    def check_targets(self, targets, name="targets"):
        """Targets must lie in [0, 1] (e.g. pixel intensities): outside it
        the loss has no lower bound."""
        check_target_range(self, targets, name, 0.0, 1.0)

    def check_layers(self, layers):
        """Refuse output layers whose values can leave [0, 1]: raises
        ValueError for a Linear, Tanh, ReLU or SoftLIF output layer (or a
        :class:`~hessianfree.nonlinearities.Continuous` over one)."""
        if layers:
            _positive_output_layer(layers, "BinaryCrossEntropy needs outputs in (0, 1)",
                                   "Logistic")

    def __repr__(self):
        return f"{type(self).__name__}(curvature={self.curvature!r})"


class ClassificationError(LossFunction):
    """Classification error (for validation only).

    An example is wrong when :math:`\\arg\\max_i y_i \\ne \\arg\\max_i t_i`
    (over the last axis).  NaN targets are ignored; examples (or time steps)
    whose targets are all NaN are not counted.  :meth:`batch_loss` is the
    fraction of counted examples that are wrong.

    ``d_loss`` and ``d2_loss`` are not defined: this loss only serves as a
    test error (``test_err=ClassificationError()``).
    """

    @output_loss
    def loss(self, output, targets):
        return self._wrong_and_counted(output, targets)[0]

    def _wrong_and_counted(self, output, targets):
        """Per-example 0/1 errors and the mask of examples with targets."""
        targets = _as_targets(output, targets)
        missing = np.isnan(targets)
        xp = array_module(output)
        t = xp.where(missing, -np.inf, targets)
        counted = ~missing.all(axis=-1)
        wrong = output.argmax(axis=-1) != t.argmax(axis=-1)
        return (wrong & counted).astype(output.dtype), counted

    def batch_loss(self, activities, targets):
        """Fraction of the examples (and time steps) with targets that are
        misclassified; 0.0 if none has a target."""
        wrong, counted = self._wrong_and_counted(activities[-1], targets)
        n = int(counted.sum())
        return float(wrong.sum()) / n if n else 0.0

    def d_loss(self, activities, targets):
        raise NotImplementedError("ClassificationError has no derivative; it "
                                  "is for validation only (test_err)")

    def d2_loss(self, activities, targets):
        raise NotImplementedError("ClassificationError has no derivative; it "
                                  "is for validation only (test_err)")


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
    if isinstance(loss_type, LossFunction):
        return loss_type
    if isinstance(loss_type, type) and issubclass(loss_type, LossFunction):
        try:
            return loss_type()
        except TypeError as e:
            raise TypeError(f"loss_type {loss_type.__name__} cannot be created "
                            f"without arguments; pass an instance") from e
    if isinstance(loss_type, (list, tuple)):
        if not loss_type:
            raise ValueError("loss_type is an empty list; give at least one "
                             "LossFunction")
        return LossSet([resolve_loss(member) for member in loss_type])
    raise TypeError(f"loss_type must be a LossFunction or a list of them, got "
                    f"{type(loss_type).__name__}: {loss_type!r}")
