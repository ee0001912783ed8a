"""The pathological long-term-dependency problems.

Hochreiter & Schmidhuber (1997) designed these tasks so that the only
information that matters lies far back in the sequence, behind ``T`` steps
of distractors; Martens & Sutskever (2011, section 5) showed that
Hessian-free optimization with structural damping trains plain ``tanh``
recurrent networks on them.  Each generator returns ``(inputs, targets)``
as ``(n_sequences, n_steps, units)`` float arrays; a NaN target means "no
target on this step" (see :class:`~hessianfree.losses.loss_funcs.LossFunction`).

========================  ======  =======  ====================  ================
task                      inputs  outputs  steps                 solved when
========================  ======  =======  ====================  ================
``addition``              2       1        ``T + T // 10``       test MSE < 0.01
``multiplication``        2       1        ``T + T // 10``       test MSE < 0.01
``xor``                   2       2        ``T + T // 10``       test error < 1%
``temporal_order``        8       4        ``T + T // 10``       test error < 1%
``temporal_order_3bit``   8       8        ``T + T // 10``       test error < 1%
``random_permutation``    100     100      ``T``                 test error < 1%
``memorization``          4       2        ``T + 10``            test error < 1%
``memorization_20bit``    7       5        ``T + 20``            test error < 1%
========================  ======  =======  ====================  ================

``criterion="paper"`` (:func:`test_error`, :func:`solved`) is Martens &
Sutskever's criterion instead: the fraction of wrong test sequences below
:data:`~hessianfree.data.task_specs.PAPER_THRESHOLD` (0.001), where a sequence
is wrong when a scored step is misclassified, or for the regression tasks when its output is off
by more than :data:`~hessianfree.data.task_specs.PAPER_TOLERANCE` (0.04).

The first five have variable lengths, as in the papers: each sequence's
length is drawn uniformly from ``T, ..., T + T // 10``; the arrays are padded
to the longest with more distractors, and the target sits on each
sequence's own last step (a recurrent network is causal, so the padding
cannot influence it).  The error of the success criterion is measured only
where :meth:`~hessianfree.data.task_specs.Task.scored` leaves targets: every
target for most tasks, the last step for ``random_permutation``.

Use :func:`generate` for the data, :func:`tanh_rnn` for Martens &
Sutskever's network and :func:`test_error` /
:attr:`~hessianfree.data.task_specs.Task.threshold` for the criterion.
"""

import numpy as np

from hessianfree.losses import loss_funcs
from hessianfree.layers import nonlinearities as nl
from hessianfree.base import validation as val
from hessianfree.base.backend import to_numpy
from hessianfree.nets.rnnet import RNNet
from hessianfree.data.task_specs import (  # noqa: F401
    CRITERIA, MEMORY_20BIT_LENGTH, MEMORY_20BIT_SYMBOLS, MEMORY_BITS, PAPER_THRESHOLD,
    PAPER_TOLERANCE, PERMUTATION_SYMBOLS, TASKS, Task, get_task, threshold)

#: Symbols of the temporal order tasks: 4 distractors, then X, Y, start, end.
_DISTRACTORS, _X, _START, _END = 4, 4, 6, 7
def _as_generator(rng):
    """A ``numpy.random.Generator`` from None, an int seed, a Generator or a
    RandomState (which seeds a Generator from its stream)."""
    if isinstance(rng, np.random.RandomState):
        return np.random.default_rng(rng.randint(2 ** 31))
    if rng is None or isinstance(rng, (int, np.integer, np.random.Generator)) \
            and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be None, an int seed, a numpy Generator or a "
                    f"RandomState, got {type(rng).__name__}")


def _lengths(T, n, rng):
    """Per-sequence lengths in ``T, ..., T + T // 10`` and the padded length."""
    n_steps = T + T // 10
    return rng.integers(T, n_steps + 1, size=n), n_steps


def _positions(n, low, high, rng):
    """One step per sequence, uniform in ``[low, high)`` (at least one step)."""
    return rng.integers(low, max(high, low + 1), size=n)


def marked_operands(values, first, second, ends=None, combine=np.add, flags=False):
    """Inputs and targets of a two-operand problem (the adding problem and its
    relatives) from its random draws.

    Input 0 holds ``values``; input 1 is 1 on the two marked steps of each
    sequence, ``first`` and ``second``, and 0 elsewhere (with ``flags``, -1
    on the first step and on each sequence's last step).  The target, on each
    sequence's last step only (NaN, "no target", elsewhere), is
    ``combine(a, b)`` of the two marked values.

    Parameters
    ----------
    values : (n, n_steps) float array
        Input 0; the arrays returned have its dtype.
    first, second : (n,) int arrays
        The marked steps.
    ends : (n,) int array, optional
        The last step of each sequence (default: ``n_steps - 1`` for all).
    combine : callable
        ``combine(a, b)`` of the ``(n,)`` marked values: the ``(n,)`` or
        ``(n, n_out)`` targets.
    flags : bool
        Flag the first and last steps with -1 on input 1 (Hochreiter &
        Schmidhuber 1997).

    Returns
    -------
    inputs : (n, n_steps, 2) array
    targets : (n, n_steps, n_out) array
    """
    n, n_steps = values.shape
    rows = np.arange(n)
    ends = np.full(n, n_steps - 1) if ends is None else ends
    x = np.zeros((n, n_steps, 2), dtype=values.dtype)
    x[:, :, 0] = values
    if flags:
        x[:, 0, 1] = -1
    x[rows, first, 1] = x[rows, second, 1] = 1
    if flags:
        x[rows, ends, 1] = -1
    target = combine(x[rows, first, 0], x[rows, second, 0]).reshape(n, -1)
    t = np.full((n, n_steps, target.shape[1]), np.nan, dtype=values.dtype)
    t[rows, ends] = target
    return x, t


def _xor_target(a, b):
    """One-hot over {0, 1} of ``a XOR b``."""
    return np.eye(2)[(a != b).astype(int)]


_COMBINE = {"addition": np.add, "multiplication": np.multiply, "xor": _xor_target}


def _two_operands(task, T, n, rng):
    """Addition, multiplication, XOR (Hochreiter & Schmidhuber 1997, exp. 4
    and 5; Martens & Sutskever 2011).

    Input 0 is a value on every step (uniform in [0, 1), or a random bit for
    XOR); input 1 marks two different steps with 1, the first in the first
    tenth of ``T`` (step 1 while ``T < 20``), the second after that and
    before ``T / 2``, and flags the first step and each sequence's last step
    with -1.  The target, on the last step, is the sum,
    the product or the XOR (one-hot over {0, 1}) of the two marked values
    (:func:`marked_operands`).
    """
    lengths, n_steps = _lengths(T, n, rng)
    if task.name == "xor":
        values = rng.integers(0, 2, size=(n, n_steps)).astype(np.float64)
    else:
        values = rng.random((n, n_steps))
    split = max(T // 10, 2)  # the end of the first window, the start of the second
    first = _positions(n, 1, split, rng)
    second = _positions(n, split, T // 2, rng)
    return marked_operands(values, first, second, lengths - 1, _COMBINE[task.name],
                           flags=True)


def _temporal_order(task, T, n, rng):
    """Temporal order with 2 or 3 relevant symbols (Hochreiter & Schmidhuber
    1997, exp. 6a and 6b).

    One-hot inputs over 8 symbols: 4 distractors, X, Y, a start symbol (first
    step) and an end symbol (each sequence's last step).  X or Y appears at
    2 (3) random steps, in ``[0.1 T, 0.2 T)`` and ``[0.5 T, 0.6 T)`` (and
    ``[0.33 T, 0.43 T)`` in between for the 3-bit task); the target, on the
    last step, is the class of the sequence of those symbols (XX, XY, YX,
    YY; 8 classes for 3 bits, the first symbol the least significant bit).
    """
    lengths, n_steps = _lengths(T, n, rng)
    rows = np.arange(n)
    symbols = rng.integers(0, _DISTRACTORS, size=(n, n_steps))
    windows = ([(0.1, 0.2), (0.5, 0.6)] if task.name == "temporal_order"
               else [(0.1, 0.2), (0.33, 0.43), (0.66, 0.76)])
    label = np.zeros(n, dtype=int)
    for k, (low, high) in enumerate(windows):
        where = _positions(n, int(low * T), int(high * T), rng)
        bit = rng.integers(0, 2, size=n)
        symbols[rows, where] = _X + bit
        label += bit << k
    symbols[:, 0] = _START
    symbols[rows, lengths - 1] = _END
    x = np.eye(8)[symbols]
    t = np.full((n, n_steps, task.n_out), np.nan)
    t[rows, lengths - 1] = np.eye(task.n_out)[label]
    return x, t


def _random_permutation(task, T, n, rng):
    """Random permutation problem (Martens & Sutskever 2011).

    One-hot sequences of ``T`` symbols out of 100: the first is 0 or 1, the
    other ``T - 1`` are random among 2-99.  On every step the target is the
    next symbol; on the last step it is the first symbol again, the only
    prediction that is possible (and the only one scored).
    """
    symbols = np.empty((n, T), dtype=int)
    symbols[:, 0] = rng.integers(0, 2, size=n)
    symbols[:, 1:] = rng.integers(2, PERMUTATION_SYMBOLS, size=(n, T - 1))
    eye = np.eye(PERMUTATION_SYMBOLS)
    next_symbols = np.concatenate([symbols[:, 1:], symbols[:, :1]], axis=1)
    return eye[symbols], eye[next_symbols]


def _memorization(task, T, n, rng):
    """Noiseless memorization (Martens & Sutskever 2011), 5-bit and 20-bit.

    5-bit (``memorization``): four input symbols, bit 0, bit 1, "go" and
    blank.  The first 5 steps show 5 random bits, then come blanks, a "go"
    on the step 5 before the last, and 5 more blank steps on which the
    targets are the 5 bits in order (one-hot over {0, 1}; NaN before).  The
    sequence has ``T + 10`` steps, so ``T + 1`` steps separate the last bit
    from the first output.  20-bit (``memorization_20bit``): the same with
    10 symbols out of 5 (seven input symbols: the five, "go" and blank; five
    output classes) and ``T + 20`` steps.
    """
    if task.name == "memorization":
        length, n_symbols = MEMORY_BITS, 2
    else:
        length, n_symbols = MEMORY_20BIT_LENGTH, MEMORY_20BIT_SYMBOLS
    go, blank = n_symbols, n_symbols + 1
    n_steps = T + 2 * length
    pattern = rng.integers(0, n_symbols, size=(n, length))
    symbols = np.full((n, n_steps), blank)
    symbols[:, :length] = pattern
    symbols[:, n_steps - length - 1] = go
    x = np.eye(n_symbols + 2)[symbols]
    t = np.full((n, n_steps, n_symbols), np.nan)
    t[:, n_steps - length:] = np.eye(n_symbols)[pattern]
    return x, t


_GENERATORS = {"addition": _two_operands, "multiplication": _two_operands,
               "xor": _two_operands, "temporal_order": _temporal_order,
               "temporal_order_3bit": _temporal_order,
               "random_permutation": _random_permutation,
               "memorization": _memorization, "memorization_20bit": _memorization}


def generate(task, T, n_sequences, rng=None, dtype=np.float32):
    """Sequences of a pathological problem.

    Parameters
    ----------
    task : str
        One of :data:`~hessianfree.data.task_specs.TASKS`: ``"addition"``, ``"multiplication"``,
        ``"xor"``, ``"temporal_order"``, ``"temporal_order_3bit"``,
        ``"random_permutation"``, ``"memorization"``, ``"memorization_20bit"``.
    T : int
        The time lag: minimum sequence length, or the blank stretch of the
        memorization problem (at least :attr:`Task.min_T`, 10 for the
        variable-length tasks).
    n_sequences : int
        Number of sequences.
    rng : None, int, numpy.random.Generator or numpy.random.RandomState
        Source of randomness; the same seed gives the same data.
    dtype : numpy floating point dtype
        Of both arrays; other dtypes raise TypeError (the targets hold NaN).

    Returns
    -------
    inputs : (n_sequences, n_steps, task.n_in) array
    targets : (n_sequences, n_steps, task.n_out) array
        NaN where there is no target.  ``n_steps`` is in the table of the
        module docstring.

    Notes
    -----
    See the private generator of each task for its encoding; the module
    docstring lists shapes and success criteria.
    """
    spec = get_task(task)
    dtype = _float_dtype(dtype)
    T = val.check_positive_int(T, "T")
    if T < spec.min_T:
        raise ValueError(f"T must be at least {spec.min_T} for {task!r}, got {T}")
    n_sequences = val.check_positive_int(n_sequences, "n_sequences")
    rng = _as_generator(rng)
    x, t = _GENERATORS[task](spec, T, n_sequences, rng)
    return x.astype(dtype), t.astype(dtype)


def _float_dtype(dtype):
    """``dtype`` as a NumPy floating point dtype, else TypeError: the targets
    hold NaN, which no other dtype can."""
    checked = val.float_dtype(dtype)
    if checked is None:
        raise TypeError(f"dtype must be a floating point dtype such as np.float32 "
                        f"(the targets hold NaN where there is no target), got "
                        f"{val.describe(dtype)}")
    return checked


def test_error(task, outputs, targets, criterion="library"):
    """The error the success criterion compares with its threshold
    (:func:`~hessianfree.data.task_specs.threshold`).

    Parameters
    ----------
    task : str
    outputs, targets : (n_sequences, n_steps, n_out) array_like
        Network outputs (NumPy or CuPy) and the generated targets.
    criterion : {"library", "paper"}
        ``"library"``: the criterion of :attr:`~hessianfree.data.task_specs.Task.threshold`.
        ``"paper"``: Martens & Sutskever's, the fraction of wrong sequences.

    Returns
    -------
    float
        ``"library"``: for regression the mean squared error over the
        target steps (NaN if an output there is NaN), for classification
        the fraction of scored steps whose most probable output is not the
        target class; a step with a NaN output counts as wrong (all-NaN
        outputs give 1.0).  ``"paper"``: the fraction of sequences with a
        wrong scored step, where a regression output is wrong when it is
        off by more than :data:`~hessianfree.data.task_specs.PAPER_TOLERANCE`
        (or NaN).  Either way NaN outputs never pass :func:`solved`.
    """
    spec = get_task(task)
    val.check_choice(criterion, "criterion", CRITERIA)
    outputs = np.asarray(to_numpy(outputs), dtype=np.float64)
    targets = spec.scored(np.asarray(to_numpy(targets), dtype=np.float64))
    if outputs.shape != targets.shape:
        raise ValueError(f"outputs have shape {outputs.shape}, targets "
                         f"{targets.shape}; they must match")
    has_target = ~np.isnan(targets).all(axis=-1)
    if not has_target.any():
        raise ValueError("targets hold no scored target (all NaN)")
    if spec.kind == "regression":
        if criterion == "library":
            return float(np.mean((outputs - targets)[has_target] ** 2))
        off = np.abs(outputs - np.nan_to_num(targets)).max(axis=-1)
        wrong = ~(off <= PAPER_TOLERANCE)  # NaN outputs are wrong
    else:
        wrong = outputs.argmax(axis=-1) != np.nan_to_num(targets, nan=-1).argmax(axis=-1)
        wrong |= np.isnan(outputs).any(axis=-1)  # argmax would pick a NaN as the class
    if criterion == "library":
        return float(wrong[has_target].mean())
    wrong &= has_target
    return float(wrong.any(axis=1)[has_target.any(axis=1)].mean())


def solved(task, outputs, targets, criterion="library"):
    """Whether :func:`test_error` is below :func:`~hessianfree.data.task_specs.threshold`."""
    return test_error(task, outputs, targets, criterion) < threshold(task, criterion)


def set_spectral_radius(net, layer, radius):
    """Rescale the recurrent matrix of ``layer`` in ``net.W`` (in place) so
    that its spectral radius (largest eigenvalue magnitude) is ``radius``.

    Martens & Sutskever (2011, section 6) start recurrent networks near the
    edge of stability this way (radius 1.2 after a sparse initialization).
    ``net.get_weights(net.W, (layer, layer))`` is a view into the parameter
    vector, so scaling it changes the network.
    """
    radius = val.check_nonneg_float(radius, "radius")
    W_rec, _ = net.get_weights(net.W, (layer, layer))
    current = np.abs(np.linalg.eigvals(to_numpy(W_rec).astype(np.float64))).max()
    if current == 0:
        raise ValueError(f"the recurrent matrix of layer {layer} is zero")
    W_rec *= W_rec.dtype.type(radius / current)


def tanh_rnn(task, n_hidden=100, spectral_radius=1.2, structural_damping=1 / 30,
             optimizer=None, rng=None, init_scale=1.0, input_scale=1.0, **kwargs):
    """Martens & Sutskever's (2011) network for a pathological problem.

    ``RNNet([task.n_in, n_hidden, task.n_out])`` with a recurrent ``tanh``
    hidden layer, a linear output with squared error (regression) or a
    softmax output with cross-entropy (classification, with the Fisher
    curvature), sparse initialization (Martens 2010: 15 nonzero N(0, 1)
    incoming weights per unit) with the recurrent matrix rescaled to
    ``spectral_radius`` (:func:`set_spectral_radius`), and structural
    damping of weight ``structural_damping`` on the hidden layer that
    follows ``optimizer``'s damping.

    Parameters
    ----------
    task : str
    n_hidden : int
    spectral_radius : float
    structural_damping : float
        :math:`\\mu` of :class:`~hessianfree.losses.loss_funcs.StructuralDamping`
        (1/30 in the paper); 0 leaves it out.
    optimizer : Optimizer, optional
        Whose damping the structural damping follows.
    rng : int, numpy.random.RandomState or Generator, optional
    init_scale : float
        Scale of the sparse feed-forward weights (input to hidden, hidden
        to output); Martens & Sutskever's released code uses
        ``1 / sqrt(15)``.
    input_scale : float
        A further scale of the input-to-hidden weights (0.25 in that code).
    **kwargs
        More :class:`~hessianfree.RNNet` arguments (``use_GPU``, ``dtype``,
        ``debug``, ...).

    Returns
    -------
    RNNet
    """
    spec = get_task(task)
    n_hidden = val.check_positive_int(n_hidden, "n_hidden")
    mu = val.check_nonneg_float(structural_damping, "structural_damping")
    init_scale = val.check_nonneg_float(init_scale, "init_scale")
    input_scale = val.check_nonneg_float(input_scale, "input_scale")
    if spec.kind == "regression":
        output, loss = nl.Linear(), loss_funcs.SquaredError()
    else:
        output, loss = nl.Softmax(), loss_funcs.CrossEntropy(curvature="fisher")
    losses = [loss]
    if mu > 0:
        losses.append(loss_funcs.StructuralDamping(mu, layers=[1], optimizer=optimizer))
    if not isinstance(rng, np.random.RandomState):
        rng = _as_generator(rng)
    net = RNNet([spec.n_in, n_hidden, spec.n_out], rec_layers=[1],
                layers=[nl.Linear(), nl.Tanh(), output],
                W_init_params={"init_type": "sparse"},
                W_rec_params={"init_type": "sparse"},
                loss_type=losses, rng=rng, **kwargs)
    set_spectral_radius(net, 1, spectral_radius)
    for (pre, post), scale in (((0, 1), init_scale * input_scale), ((1, 2), init_scale)):
        if scale != 1:
            W, _ = net.get_weights(net.W, (pre, post))  # a view: scales net.W
            W *= W.dtype.type(scale)
    return net
