"""Bounded-memory derivatives: the cached minibatch processed in chunks.

With ``net.chunk_size`` set (directly or by ``HessianFree(chunk_size=...)``)
and a cached minibatch larger than it, the network keeps only the inputs and
targets of the minibatch.  The error, the gradient and every curvature
product then run the forward pass (and the backward and R-passes) over one
chunk of examples at a time and sum the chunks' contributions, each scaled
by one over the number of examples of the whole minibatch, so the results
equal those on the whole minibatch up to float rounding while only one
chunk's activations are held in memory.  The price is a forward pass per
chunk in every curvature product, which the unchunked network reuses from
its cache.
"""

import math

from hessianfree import validation as val
from hessianfree.nl_base import Plant


def check_chunk_size(chunk_size, name="chunk_size"):
    """``chunk_size`` as an int, or None; it must be a positive integer."""
    return None if chunk_size is None else val.check_positive_int(chunk_size, name)


def cache_chunked(net, inputs, targets):
    """Keep a minibatch of more than ``net.chunk_size`` examples as its
    inputs and targets only (checked, user layout); return whether it did.

    Raises
    ------
    NotImplementedError
        If the network has a Plant layer (closed-loop minibatches cannot be
        split).
    """
    size = check_chunk_size(net.chunk_size, "net.chunk_size")
    net._hv_state = net._chunked = None
    if size is None or inputs.shape[0] <= size:
        return False
    plants = [i for i, layer in enumerate(net.layers) if isinstance(layer, Plant)]
    if plants:
        raise NotImplementedError(f"chunk_size: layer {plants[0]} is a Plant; "
                                  f"closed-loop minibatches cannot be chunked")
    net.inputs, net.targets = inputs, targets
    net.activations = net.d_activations = net._cache_W = None
    net._buffers = {}
    net._batch = net._curv = net._curv_indices = None
    net._chunked = ChunkedBatch(inputs, targets, size)
    return True


class ChunkedBatch:
    """A cached minibatch kept as inputs and targets.

    Attributes
    ----------
    inputs, targets : arrays
        The minibatch (user layout, batch first).
    chunk_size : int
        Examples per chunk.
    curvature_indices : (k,) int array or None
        The examples the curvature products use (None: all).
    """

    def __init__(self, inputs, targets, chunk_size):
        self.inputs, self.targets, self.chunk_size = inputs, targets, chunk_size
        self.curvature_indices = None

    def chunks(self, indices=None):
        """Index arrays (or slices) of consecutive chunks of the examples
        ``indices`` (default: all)."""
        n = self.inputs.shape[0] if indices is None else len(indices)
        for start in range(0, n, self.chunk_size):
            stop = min(start + self.chunk_size, n)
            yield slice(start, stop) if indices is None else indices[start:stop]

    def n_chunks(self, indices=None):
        n = self.inputs.shape[0] if indices is None else len(indices)
        return math.ceil(n / self.chunk_size)


def _take(net, x, chunk):
    if isinstance(chunk, slice):
        return x[chunk]
    return x[net.xp.asarray(chunk)]


def chunk_caches(net, indices=None, deriv=True):
    """``(cache, user_acts, targets)`` for each chunk of the examples
    ``indices`` of the network's chunked minibatch, at ``net.W``; the caches'
    scale is one over the number of those examples, so that summing over the
    chunks gives means over all of them."""
    batch = net._chunked
    n = batch.inputs.shape[0] if indices is None else len(indices)
    for chunk in batch.chunks(indices):
        inputs, targets = _take(net, batch.inputs, chunk), _take(net, batch.targets, chunk)
        acts, d_acts = net._internal_forward(inputs)
        user_acts = [None if a is None else net._external(a) for a in acts]
        yield net._make_cache(acts, d_acts, user_acts, targets, n_examples=n), \
            user_acts, targets


def error(net, W, loss):
    """``loss`` of the chunked minibatch at ``W`` (the mean over all its
    examples, as :meth:`~hessianfree.loss_funcs.LossFunction.batch_loss` gives on the whole)."""
    batch = net._chunked
    n = batch.inputs.shape[0]
    total = 0.0
    for chunk in batch.chunks():
        inputs, targets = _take(net, batch.inputs, chunk), _take(net, batch.targets, chunk)
        acts = net._forward(inputs, W, False)
        total += loss.batch_loss(acts, targets) * (targets.shape[0] / n)
    return total


def gradient(net, squared):
    """Gradient (and the squared per-example statistic) of the chunked
    minibatch, summed over chunks; not yet reduced over processes."""
    xp = net.xp
    grad = xp.zeros(net.n_params, dtype=net.dtype)
    sq = xp.zeros(net.n_params, dtype=net.dtype) if squared else None
    for cache, user_acts, targets in chunk_caches(net):
        part = net._local_gradient(cache, user_acts, targets, squared)
        if squared:
            grad += part[0]
            sq += part[1]
        else:
            grad += part
    return (grad, sq) if squared else grad


def product(net, local_product, v, out):
    """A curvature product (``local_product(v, out, cache)``) of the
    chunked curvature batch, summed over chunks into ``out``."""
    out[...] = 0
    part = net.xp.empty_like(out)
    for cache, _, _ in chunk_caches(net, net._chunked.curvature_indices):
        out += local_product(v, part, cache)
    return out
