"""The Kronecker factors of K-FAC (Martens & Grosse 2015, §3, §5).

For a connection with inputs :math:`a` (homogeneous, :math:`\\bar a = [a,
1]`, which covers the biases) and the gradients :math:`g` of the loss with
respect to the layer it projects to (back-propagated from targets sampled
from the model's predictive distribution),

.. math:: A = E[\\bar a \\bar a^T], \\quad S = E[g g^T].

:func:`layer_factors` computes them on a network's curvature batch, chunk
by chunk for a chunked one, each distinct layer's factor once;
:mod:`hessianfree.optim.kfac` averages, inverts and applies them.  The pieces are
pure functions over arrays of the network's array module (NumPy or CuPy).
"""

import numpy as np

from hessianfree.nets import chunking
from hessianfree.losses import loss_funcs
from hessianfree.layers import nonlinearities as nl
from hessianfree.base.backend import array_module


# ------------------------------------------------------------ the factors
def input_factor(a, n_examples=None):
    """:math:`A = \\tfrac1N \\sum_n \\bar a_n \\bar a_n^T` with
    :math:`\\bar a = [a, 1]` (Martens & Grosse 2015, §3).

    Parameters
    ----------
    a : (k, n) array
        A connection's input activations, one row per example.
    n_examples : int, optional
        :math:`N` (default ``k``); with a part of a batch, the sum over the
        parts' factors is the factor of the whole batch.

    Returns
    -------
    (n + 1, n + 1) array
        The last row and column hold the mean activation (and 1), the bias's
        share of the factor.
    """
    xp = array_module(a)
    k, n = a.shape
    A = xp.empty((n + 1, n + 1), dtype=a.dtype)
    xp.matmul(a.T, a, out=A[:n, :n])
    mean = a.sum(axis=0)
    A[:n, n] = mean
    A[n, :n] = mean
    A[n, n] = k
    A *= a.dtype.type(1.0 / (k if n_examples is None else n_examples))
    return A


def output_factor(g, n_examples=None):
    """:math:`S = \\tfrac1N \\sum_n g_n g_n^T` of the per-example gradients
    :math:`g` with respect to a layer's summed input.

    Parameters
    ----------
    g : (k, m) array
    n_examples : int, optional
        :math:`N` (default ``k``), as for :func:`input_factor`.

    Returns
    -------
    (m, m) array
    """
    N = g.shape[0] if n_examples is None else n_examples
    return array_module(g).matmul(g.T, g) * g.dtype.type(1.0 / N)


def moving_average(old, new, decay):
    """Exponential average :math:`\\epsilon\\,old + (1 - \\epsilon)\\,new`
    (``new`` itself when there is no ``old``), written into ``old``."""
    if old is None:
        return new
    old *= old.dtype.type(decay)
    old += new * new.dtype.type(1 - decay)
    return old


# ------------------------------------------------ sampling the output side
def sample_output_errors(loss, layers, acts, d2_loss, n_examples, noise):
    """Per-example loss gradients with respect to each layer's activations
    for targets sampled from the model's predictive distribution.

    With a :class:`~hessianfree.losses.loss_funcs.CrossEntropy` loss on a
    :class:`~hessianfree.layers.nonlinearities.Softmax` output the targets are
    one-hot draws from the output :math:`y` (the gradient at the softmax
    input is then :math:`y - t`, whose covariance is the Fisher matrix
    :math:`\\mathrm{diag}(y) - y y^T`).  Otherwise each layer's error is
    :math:`\\sqrt{h} \\circ \\epsilon`, :math:`\\epsilon \\sim \\mathcal N(0, I)`,
    with :math:`h` the loss's diagonal curvature (``d2_loss``): the gradient
    under Gaussian targets of precision :math:`h` (for SquaredError, targets
    from :math:`\\mathcal N(y, I)`).  Either way :math:`E[e e^T]` is the
    loss curvature the Gauss-Newton products use (Martens & Grosse 2015,
    §5).

    Parameters
    ----------
    loss : LossFunction
        The network's loss.
    layers : list of Nonlinearity
    acts : list of (N, n_i) arrays
        Activations of the curvature batch.
    d2_loss : list of arrays or None
        The loss curvature per layer, scaled by ``1 / n_examples``.
    n_examples : int
    noise : list of arrays
        From :func:`draw_output_noise` (the rows of these examples).

    Returns
    -------
    list of arrays or None
        One entry per layer (None where the loss does not act).
    """
    xp = array_module(acts[-1])
    if _samples_categories(loss, layers):
        errors = [None] * len(acts)
        errors[-1] = _categorical_error(acts[-1], xp.asarray(noise[-1], dtype=acts[-1].dtype),
                                        xp)
        return errors
    return [None if d2 is None else
            xp.sqrt(d2 * d2.dtype.type(n_examples)) * xp.asarray(z, dtype=d2.dtype)
            for d2, z in zip(d2_loss, noise)]


def _samples_categories(loss, layers):
    members = loss.set if isinstance(loss, loss_funcs.LossSet) else [loss]
    return len(members) == 1 and isinstance(members[0], loss_funcs.CrossEntropy) \
        and isinstance(layers[-1], nl.Softmax)


def draw_output_noise(loss, layers, d2_loss, n_examples, rng):
    """The random numbers :func:`sample_output_errors` turns into sampled
    errors, for all ``n_examples`` examples of a curvature batch at once (so
    that a batch processed in chunks draws exactly what it draws whole).

    Parameters
    ----------
    loss, layers
        As for :func:`sample_output_errors`.
    d2_loss : list of arrays or None
        The loss curvature of (a part of) the batch: which layers the loss
        acts on, and their widths.
    n_examples : int
    rng : numpy.random.Generator or RandomState

    Returns
    -------
    list
        Per layer, host arrays in the network's dtype with one row per
        example: uniform numbers ``(n_examples, 1)`` for the output's
        category draw, else standard normal ``(n_examples, n_i)`` where the
        loss acts (None elsewhere).  They are drawn in float64 with ``rng``
        and cast on the host, so a GPU receives half the bytes of float64.
    """
    dtype = next((d2.dtype for d2 in d2_loss if d2 is not None), np.float64)
    if _samples_categories(loss, layers):
        uniform = rng.random((n_examples, 1)) if hasattr(rng, "random") else \
            rng.random_sample((n_examples, 1))
        return [None] * (len(layers) - 1) + [uniform.astype(dtype)]
    normal = rng.standard_normal if hasattr(rng, "standard_normal") else \
        (lambda shape: rng.randn(*shape))
    return [None if d2 is None else
            normal((n_examples,) + tuple(d2.shape[1:])).astype(dtype) for d2 in d2_loss]


def _categorical_error(y, u, xp):
    """``d_loss`` of cross-entropy, :math:`-t / y`, for one-hot targets
    :math:`t` drawn from each row of ``y`` by the uniform numbers ``u``."""
    cdf = xp.cumsum(y, axis=1)
    cdf /= cdf[:, -1:]
    index = xp.minimum((cdf < u).sum(axis=1), y.shape[1] - 1)
    floor = y.dtype.type(np.sqrt(np.finfo(y.dtype).tiny))
    chosen = xp.maximum(y[xp.arange(y.shape[0]), index], floor)
    error = xp.zeros_like(y)
    error[xp.arange(y.shape[0]), index] = -1 / chosen
    return error


# ------------------------------------------------------ a network's factors
def connection_blocks(net):
    """``(start, n_pre + 1, n_post)`` of each connection's weights-and-biases
    block in ``net``'s parameter vector (weights row-major, then the biases:
    together an ``(n_pre + 1, n_post)`` matrix)."""
    blocks = []
    for pre, post in net._conn_list():
        start, _, stop = net.offsets[(pre, post)]
        blocks.append((start, net.shape[pre] + 1, net.shape[post]))
        assert stop == start + (net.shape[pre] + 1) * net.shape[post]
    return blocks


def layer_factors(net, sampled=True, errors=None):
    """The K-FAC factors ``(A, S)`` of every connection of ``net`` on its
    curvature batch (averaged over the processes of ``net.comm``), chunk by
    chunk for a chunked minibatch (:func:`hessianfree.nets.chunking.parts`).

    Parameters
    ----------
    net : FFNet
        With a cached minibatch (and curvature batch).
    sampled : bool
        Back-propagate the errors of targets drawn from the model
        (:func:`sample_output_errors`, with ``net.rng``); False: the loss
        gradients at the cached targets.
    errors : list of arrays, optional
        Per-example errors per layer (user layout, one row per example of
        the curvature batch) to back-propagate instead.

    Returns
    -------
    list of (array, array)
        ``(A, S)`` per connection, in parameter-vector order.
    """
    batch = net._require_batch()
    n = batch.n_curvature()
    sums, noise, start = None, None, 0
    for part in chunking.parts(net, batch, curvature=True):
        rows = slice(start, start + part.size)
        start += part.size
        if errors is not None:
            part_errors = [None if e is None else e[rows] for e in errors]
        elif sampled:
            if noise is None:  # drawn for the whole batch: chunking draws the same
                noise = draw_output_noise(net.loss_type, net.layers, part.d2_loss, n,
                                          net.rng)
            part_errors = sample_output_errors(
                net.loss_type, net.layers, part.user_acts, part.d2_loss, n,
                [None if z is None else z[rows] for z in noise])
        else:
            part_errors = net.loss_type.d_loss(part.user_acts, part.targets)
        deltas = net._deltas(net._to_internal(part_errors), part)
        conns = net._conn_list()
        factors = {**{("A", pre): input_factor(part.acts[pre], n) for pre, _ in conns},
                   **{("S", post): output_factor(deltas[post], n) for _, post in conns}}
        if sums is None:
            sums = factors
        else:
            for key, F in factors.items():
                sums[key] += F
    net._combine(list(sums.values()), n)
    # connections from (into) the same layer share its A (S): computed once
    return [(sums["A", pre], sums["S", post]) for pre, post in net._conn_list()]
