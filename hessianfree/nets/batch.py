"""One cached minibatch and everything derived from it.

Every derivative a network computes on "the cached minibatch" (the loss,
its gradient, Gauss-Newton and Hessian products, K-FAC's statistics, the
finite-difference checks) reads one :class:`Batch`.  The batch owns

* the checked inputs and targets (user layout, batch first);
* the activations and activation derivatives of every layer at the weights
  it was cached with (internal layout: time-major for recurrent networks),
  and the loss curvature scaled by one over ``n_examples``;
* ``version``, the network's weights version at caching time
  (:attr:`hessianfree.nets.ffnet.FFNet.weights_version`), which keys everything built
  lazily on the batch: a recurrent layer's stacked inputs (``stacked``) and
  the Hessian product's second-order state (``second_order``);
* the curvature subset (``curvature``, itself a :class:`Batch`, or the
  batch itself) and, for a minibatch larger than ``chunk_size``, the rule
  that splits it into chunks (each chunk is again a :class:`Batch`, built
  for one pass and dropped: :mod:`hessianfree.nets.chunking`);
* a :class:`Workspace` of scratch arrays reused by every pass, shared by
  the batch, its curvature subset and its chunks.

A batch is created by :meth:`hessianfree.FFNet.cache_minibatch` (or for one
chunk by :mod:`hessianfree.nets.chunking`) and passed explicitly to the passes;
the network holds the current one in ``net.batch``.  Nothing else about
the minibatch lives on the network.
"""

import math
import numbers

import numpy as np

from hessianfree.base import backend
from hessianfree.base import validation as val


class Workspace:
    """Scratch arrays reused by every derivative pass on one cached
    minibatch, keyed by ``(name, index, shape)``."""

    def __init__(self, xp, dtype):
        self.xp, self.dtype = xp, dtype
        self._arrays = {}

    def buffer(self, name, i, shape):
        """An uninitialised array of ``shape`` for the pass-local role
        ``(name, i)``; the same array on every call with the same key."""
        key = (name, i, shape)
        buf = self._arrays.get(key)
        if buf is None:
            buf = self._arrays[key] = self.xp.empty(shape, dtype=self.dtype)
        return buf

    def ones(self, n):
        """A vector of ``n`` ones (for the bias gradients)."""
        key = ("ones", 0, (n,))
        buf = self._arrays.get(key)
        if buf is None:
            buf = self._arrays[key] = self.xp.ones((n,), dtype=self.dtype)
        return buf

    def __len__(self):
        return len(self._arrays)


class Batch:
    """A cached minibatch (or a curvature subset or chunk of one).

    Parameters
    ----------
    inputs, targets : arrays
        Checked data in the user layout (batch first).
    version : int
        The network's weights version the activations belong to.
    n_examples : int, optional
        Number of examples the derivatives average over; for a chunk, the
        whole (curvature) minibatch's.  Default: ``len(inputs)``.
    chunk_size : int, optional
        Split derivative passes into chunks of this many examples when the
        batch is larger (then ``acts`` stays None).
    workspace : Workspace
        Scratch arrays (shared with the parent batch for subsets and
        chunks).

    Attributes
    ----------
    acts, d_acts : list of arrays or None
        Every layer's activations and activation derivatives (internal
        layout); None for a chunked batch.
    user_acts : list of arrays or None
        ``acts`` as the user sees them (views, batch first).
    d2_loss : list of arrays or None
        Diagonal loss curvature per layer, scaled by ``scale``.
    scale : float
        ``1 / n_examples`` in the network's dtype.
    curvature_indices : (k,) int array or None
        The subset's example indices (None: the whole batch).
    stacked : dict
        Arrays derived from ``acts`` that a network builds on first use
        (a recurrent layer's stacked inputs, :mod:`hessianfree.nets.stacked`).
    weight_arrays : dict
        Arrays derived from the weights that every product on the batch
        reuses, ``{key: (weights_version, array)}`` (a recurrent layer's
        transposed outgoing weights, :func:`hessianfree.nets.stacked.backward`).
    second_order : object or None
        The Hessian product's state (:mod:`hessianfree.nets.hessian`), built on
        first use at ``version``.
    """

    def __init__(self, inputs, targets, version, n_examples=None, chunk_size=None,
                 workspace=None):
        self.inputs, self.targets, self.version = inputs, targets, version
        self.n_examples = int(inputs.shape[0]) if n_examples is None else int(n_examples)
        self.chunk_size = chunk_size
        self.workspace = workspace
        self.scale = workspace.dtype.type(1.0 / self.n_examples)
        self.acts = self.d_acts = self.user_acts = self.d2_loss = None
        self.stacked, self.weight_arrays = {}, {}
        self.second_order = None
        self.subset, self.curvature_indices = None, None

    @property
    def size(self):
        """Number of examples in this batch."""
        return int(self.inputs.shape[0])

    @property
    def chunked(self):
        """True when the derivative passes run chunk by chunk."""
        return self.acts is None

    def buffer(self, name, i, shape):
        """:meth:`Workspace.buffer` of this batch's workspace."""
        return self.workspace.buffer(name, i, shape)

    def set_activations(self, acts, d_acts, user_acts, d2_loss):
        """Store the forward pass's results: activations and derivatives
        (internal layout), the activations' user-layout views and the
        scaled loss curvature (internal layout); returns the batch."""
        self.acts, self.d_acts, self.user_acts = acts, d_acts, user_acts
        self.d2_loss = d2_loss
        return self

    @property
    def curvature(self):
        """The batch the curvature products use: the subset that
        :meth:`hessianfree.nets.ffnet.FFNet.cache_curvature_batch` chose,
        else the batch itself.  (A property, not a reference to ``self``:
        such a cycle would keep every chunk's activations alive until
        Python's cycle collector happened to run.)"""
        return self if self.subset is None else self.subset

    def n_curvature(self):
        """Number of examples the curvature products average over."""
        if self.curvature_indices is None:
            return self.size
        return len(self.curvature_indices)


def evaluate(net, inputs, targets, n_examples=None, chunk_size=None, workspace=None):
    """A :class:`Batch` of checked data at ``net``'s current weights, with
    the forward pass run (``net._internal_forward``), unless ``chunk_size``
    asks for chunks; the other arguments as for :class:`Batch`."""
    if workspace is None:
        workspace = Workspace(net.xp, net.dtype)
    batch = Batch(inputs, targets, net.weights_version, n_examples, chunk_size, workspace)
    if chunk_size is not None and batch.size > chunk_size:
        return batch
    return _with_activations(net, batch, *net._internal_forward(inputs))


def _with_activations(net, batch, acts, d_acts):
    """Give ``batch`` its activations (internal layout), their user-layout
    views and the loss curvature scaled by one over ``n_examples``."""
    user_acts = [None if a is None else net._external(a) for a in acts]
    d2 = net.loss_type.d2_loss(user_acts, batch.targets)
    return batch.set_activations(acts, d_acts, user_acts,
                                 net._to_internal(d2, batch.scale))


def random_rows(rng, n, fraction):
    """Sorted indices of a random ``fraction`` of ``n`` examples, drawn with
    ``rng`` (at least one); None when ``fraction`` is None or the subset
    would hold all ``n``."""
    if fraction is None:
        return None
    size = max(1, math.ceil(fraction * n))
    return None if size >= n else np.sort(rng.permutation(n)[:size])


def subset(net, batch, indices):
    """A :class:`Batch` of the examples ``indices`` (checked) of ``batch``
    that takes their rows of the cached activations; for a chunked batch, a
    batch of their data alone (chunked too if it is still large)."""
    idx = net.xp.asarray(indices)
    if batch.chunked:
        return Batch(batch.inputs[idx], batch.targets[idx], batch.version,
                     chunk_size=batch.chunk_size, workspace=batch.workspace)
    part = Batch(batch.inputs[idx], batch.targets[idx], batch.version,
                 workspace=batch.workspace)
    take = [None if a is None else net._take(a, idx) for a in batch.acts]
    d_take = [None if d is None else net._take(d, idx) for d in batch.d_acts]
    return _with_activations(net, part, take, d_take)


def select_curvature(net, batch, indices):
    """Make the examples ``indices`` (checked; None: all) of ``batch`` its
    curvature batch (:func:`subset`; a chunked batch only keeps the
    indices)."""
    batch.subset, batch.curvature_indices = None, indices
    if indices is None or batch.chunked:
        return
    batch.subset = subset(net, batch, indices)


def check_chunk_size(chunk_size, name="chunk_size"):
    """``chunk_size`` as an int, or None; it must be a positive integer."""
    return None if chunk_size is None else val.check_positive_int(chunk_size, name)


def check_indices(indices, name, n):
    """``indices`` as a non-empty 1-D int host array with values in [0, n)."""
    try:
        indices = np.asarray(backend.to_numpy(indices) if hasattr(
            indices, "__cuda_array_interface__") else indices)
    except (TypeError, ValueError):
        indices = None
    if indices is None or indices.ndim != 1 or indices.size == 0 or \
            indices.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a non-empty 1-D array of example indices")
    if indices.min() < 0 or indices.max() >= n:
        raise ValueError(f"{name} must lie in [0, {n})")
    return indices


def minibatch_indices(rng, minibatch, n):
    """Example indices for ``cache_minibatch(..., minibatch)``: ``minibatch``
    examples drawn with ``rng`` when it is a number, else the checked
    indices it lists."""
    if isinstance(minibatch, numbers.Integral) and \
            not isinstance(minibatch, (bool, np.bool_)):
        size = val.check_positive_int(minibatch, "minibatch")
        return rng.permutation(n)[:min(size, n)]
    return check_indices(minibatch, "minibatch", n)


def select_minibatch(rng, n_examples, minibatch_size):
    """Indices of an epoch's random minibatch of ``minibatch_size``
    examples, or None for all ``n_examples`` of them."""
    if minibatch_size is None or minibatch_size >= n_examples:
        return None
    return np.sort(rng.permutation(n_examples)[:minibatch_size])
