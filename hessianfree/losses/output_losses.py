"""Losses on the output layer: squared error (and the reconstruction error,
its sum without the 1/2), cross-entropy (categorical and binary) and the
classification error.

Each compares ``activities[-1]`` with the targets (NaN: no target) and is
written once for the output layer with
:func:`~hessianfree.losses.loss_funcs.output_loss`.
They are public as ``hf.loss_funcs.SquaredError`` etc.
"""

import warnings

import numpy as np

from hessianfree.layers import nonlinearities as nl
from hessianfree.base.backend import array_module
from hessianfree.losses.loss_base import (LossFunction, as_targets, check_target_range,
                                   has_target, output_loss, zero_where_nan)


class SquaredError(LossFunction):
    """Squared error.

    :math:`L = \\frac{1}{2} \\sum_i (y_i - t_i)^2`, so
    :math:`\\partial L / \\partial y_i = y_i - t_i` and
    :math:`\\partial^2 L / \\partial y_i^2 = 1`.
    """

    @output_loss
    def loss(self, output, targets):
        targets = as_targets(output, targets)
        diff = output - targets
        diff *= diff
        diff *= 0.5
        return zero_where_nan(diff, targets)

    @output_loss
    def d_loss(self, output, targets):
        targets = as_targets(output, targets)
        return zero_where_nan(output - targets, targets)

    @output_loss
    def d2_loss(self, output, targets):
        return has_target(as_targets(output, targets), output.dtype)


def _doubled(values):
    """Each entry of a loss list times 2 (None stays None)."""
    return [None if v is None else 2 * v for v in values]


class ReconstructionError(SquaredError):
    """Martens' (2010) reconstruction error of an autoencoder: the squared
    error summed over the pixels of an image,
    :math:`L = \\sum_i (y_i - t_i)^2`.

    :class:`SquaredError` without its 1/2, so its ``batch_loss`` (the mean
    over the images) is the measure Martens reports, as
    :func:`hessianfree.presets.reconstruction_error` computes it for a whole
    data set; meant for ``run_epochs(test_err=ReconstructionError())``.
    """

    def loss(self, activities, targets):
        return _doubled(super().loss(activities, targets))

    def d_loss(self, activities, targets):
        return _doubled(super().d_loss(activities, targets))

    def d2_loss(self, activities, targets):
        return _doubled(super().d2_loss(activities, targets))


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
    targets = as_targets(output, targets)
    y = np.maximum(output, _floor(output.dtype))
    return zero_where_nan(targets / (y * y), targets)


class CrossEntropy(LossFunction):
    """Cross-entropy error.

    :math:`L = -\\sum_i t_i \\log y_i`, so
    :math:`\\partial L / \\partial y_i = -t_i / y_i` and
    :math:`\\partial^2 L / \\partial y_i^2 = t_i / y_i^2`.

    Outputs are clipped below at :math:`\\sqrt{tiny}` of their dtype
    (about 1e-19 in float32, 1e-154 in float64) so that all three stay
    finite.  The outputs should be probabilities: use a
    :class:`~hessianfree.layers.nonlinearities.Softmax`
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
        targets = as_targets(output, targets)
        values = np.log(np.maximum(output, _floor(output.dtype)))
        values *= targets
        values *= -1
        return zero_where_nan(values, targets)

    @output_loss
    def d_loss(self, output, targets):
        targets = as_targets(output, targets)
        values = -targets / np.maximum(output, _floor(output.dtype))
        return zero_where_nan(values, targets)

    @output_loss
    def d2_loss(self, output, targets):
        if self.curvature == "hessian":
            return _cross_entropy_d2(output, targets)
        targets = as_targets(output, targets)
        y = np.maximum(output, _floor(output.dtype))
        return zero_where_nan(1 / y, targets)

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
            a :class:`~hessianfree.layers.nonlinearities.Continuous` over one).

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
    return as_targets(output, targets), clipped


def _binary_d2_exact(t, y):
    """:math:`t / y^2 + (1 - t) / (1 - y)^2`, the exact second derivative of
    the binary cross-entropy (zero where ``t`` is NaN)."""
    return zero_where_nan(t / (y * y) + (1 - t) / ((1 - y) * (1 - y)), t)


class BinaryCrossEntropy(LossFunction):
    """Cross-entropy of independent binary (Bernoulli) outputs.

    .. math:: L = -\\sum_i \\left[t_i \\log y_i + (1 - t_i) \\log(1 - y_i)\\right]

    for outputs :math:`y_i \\in (0, 1)` (a :class:`~hessianfree.layers.nonlinearities.Logistic`
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
        return zero_where_nan(-(t * np.log(y) + (1 - t) * np.log1p(-y)), t)

    @output_loss
    def d_loss(self, output, targets):
        t, y = _targets_and_clipped(output, targets)
        return zero_where_nan((y - t) / (y * (1 - y)), t)

    @output_loss
    def d2_loss(self, output, targets):
        t, y = _targets_and_clipped(output, targets)
        if self.curvature == "fisher":
            return zero_where_nan(1 / (y * (1 - y)), t)
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
        :class:`~hessianfree.layers.nonlinearities.Continuous` over one)."""
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
        targets = as_targets(output, targets)
        missing = np.isnan(targets)
        xp = array_module(output)
        t = xp.where(missing, -np.inf, targets)
        counted = ~missing.all(axis=-1)
        wrong = output.argmax(axis=-1) != t.argmax(axis=-1)
        wrong |= ~xp.isfinite(output).all(axis=-1)  # NaN's argmax could match
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
