"""Bounded-memory derivatives: the cached minibatch processed in chunks.

With a chunk size in force (``net.chunk_size``, or the attached optimizer's
``HessianFree(chunk_size=...)``) and a cached minibatch larger than it, the
network's :class:`~hessianfree.nets.batch.Batch` keeps only the inputs and
targets.  The error, the gradient, every curvature product and K-FAC's
statistics then run over the batch's *parts* (:func:`parts`): one chunk of
examples at a time, each a :class:`~hessianfree.nets.batch.Batch` of its own
whose forward pass is run when it is made, with its derivatives scaled by
one over the number of examples of the whole (curvature) minibatch, so that
summing the parts' contributions gives the results on the whole minibatch
up to float rounding while only one chunk's activations are held in memory.
An unchunked batch has one part, itself (or its curvature subset).

The price is a forward pass per chunk in every curvature product, which an
unchunked batch reuses from its cache; with ``curvature="hessian"`` also
the gradient pass that each chunk's second-order state needs
(:mod:`hessianfree.nets.hessian`), once per chunk and product.
"""

from hessianfree.nets import batch as batches
from hessianfree.nets import work
from hessianfree.layers.nl_base import Plant


def check_chunkable(net):
    """Raise NotImplementedError if the network has a Plant layer
    (closed-loop minibatches cannot be split)."""
    plants = [i for i, layer in enumerate(net.layers) if isinstance(layer, Plant)]
    if plants:
        raise NotImplementedError(f"chunk_size: layer {plants[0]} is a Plant; "
                                  f"closed-loop minibatches cannot be chunked")


def chunk_indices(n, chunk_size, indices=None):
    """Slices (``indices`` None) or index arrays of consecutive chunks of
    ``n`` examples (the examples ``indices`` when given)."""
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        yield slice(start, stop) if indices is None else indices[start:stop]


def _take(xp, x, chunk):
    return x[chunk] if isinstance(chunk, slice) else x[xp.asarray(chunk)]


def parts(net, batch, curvature=False):
    """The batches whose contributions sum to a derivative on ``batch``.

    Parameters
    ----------
    net : FFNet or RNNet
    batch : hessianfree.nets.batch.Batch
        The cached minibatch.
    curvature : bool
        The curvature products' examples (``batch.curvature``) instead of
        all of them.

    Yields
    ------
    hessianfree.nets.batch.Batch
        ``batch`` itself (or its curvature subset) when it is not chunked;
        otherwise one new batch per chunk at the current weights, scaled by
        one over the number of examples of all the chunks together.
    """
    if not batch.chunked:
        yield batch.curvature if curvature else batch
        return
    indices = batch.curvature_indices if curvature else None
    n = batch.size if indices is None else len(indices)
    for chunk in chunk_indices(n, batch.chunk_size, indices):
        yield batches.evaluate(net, _take(net.xp, batch.inputs, chunk),
                               _take(net.xp, batch.targets, chunk), n_examples=n,
                               workspace=batch.workspace)


def error(net, batch, W, loss):
    """``loss`` of the cached ``batch`` at ``W`` (None: ``net.W``), before the
    reduction over processes: from the cached activations while they belong
    to the current weights, else from a forward pass, chunk by chunk for a
    chunked batch (the mean over all its examples, as
    :meth:`~hessianfree.losses.loss_funcs.LossFunction.batch_loss` gives on the
    whole)."""
    if W is None:
        if not batch.chunked and batch.version == net.weights_version:
            return float(loss.batch_loss(batch.user_acts, batch.targets))
        W = net.W
    work.count(net, "error", batch.size)
    if not batch.chunked:
        return float(loss.batch_loss(net._forward(batch.inputs, W, False), batch.targets))
    total = 0.0
    for chunk in chunk_indices(batch.size, batch.chunk_size):
        targets = batch.targets[chunk]
        acts = net._forward(batch.inputs[chunk], W, False)
        total += loss.batch_loss(acts, targets) * (targets.shape[0] / batch.size)
    return float(total)
