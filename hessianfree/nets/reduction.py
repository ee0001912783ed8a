"""Means over examples, on this process alone or across several.

Every quantity the optimizers take from the data -- the loss, its gradient,
the Gauss-Newton product, the squared per-example gradients -- is a mean
over examples.  A network computes it on the examples it holds and hands it
to its ``reduction`` (``net.reduction``), which turns it into the mean over
all the examples of the run.  :class:`LocalReduction` is the single-process
case: there is nothing to combine.  :class:`hessianfree.parallel.distributed.MPIReduction`
combines the processes of an MPI communicator.  The networks and the
training loop depend on this interface only, never on MPI.
"""


class LocalReduction:
    """The reduction of a network that trains on its own data only.

    Subclasses override its members to combine several processes.
    """

    #: Whether this process prints, plots and writes files.
    is_root = True
    #: This process's index among the processes (its MPI rank).
    rank = 0
    #: The MPI communicator the means run over (None: this process alone).
    comm = None

    def mean(self, arrays, n_examples):
        """Means over this process's ``n_examples`` examples -> means over
        every process's examples, in place; returns ``arrays``."""
        return arrays

    def mean_error(self, value, loss, targets):
        """A loss value (``loss.batch_loss`` on this process's ``targets``)
        -> its mean over every process's examples."""
        return value

    def shard_sizes(self, n_examples):
        """The number of training examples of every process, in rank order,
        given this process's ``n_examples``."""
        return [n_examples]

    def any(self, flag):
        """Whether ``flag`` is true on any process: a decision that every
        process then takes together (e.g. to stop training)."""
        return bool(flag)


#: The reduction of every network without a communicator.
LOCAL = LocalReduction()

# The reduction for a communicator is registered by the module that knows
# MPI (hessianfree.parallel.distributed), so that the networks, which call
# for_comm when ``net.comm`` is set, never import it.
_comm_reductions = []


def register_comm_reduction(factory):
    """Use ``factory(comm)`` for the reduction of a network given a
    communicator (:func:`for_comm`)."""
    _comm_reductions.append(factory)


def for_comm(comm):
    """The reduction for ``comm``: :data:`LOCAL` for None, else the
    registered one (:class:`hessianfree.parallel.distributed.MPIReduction`)."""
    if comm is None:
        return LOCAL
    if not _comm_reductions:
        raise RuntimeError("no reduction over a communicator is registered: "
                           "import hessianfree.parallel.distributed first")
    return _comm_reductions[-1](comm)


def is_root(net):
    """Whether this process prints, plots and writes files for ``net``."""
    return getattr(net, "reduction", LOCAL).is_root


def minibatch_shares(minibatch_size, shard_sizes):
    """Split a minibatch over the processes in proportion to their shards.

    Parameters
    ----------
    minibatch_size : int or None
        Total number of examples per epoch over all processes (None: all).
    shard_sizes : list of int
        Number of training examples on each process.

    Returns
    -------
    list of (int or None)
        Examples to draw on each process (largest-remainder rounding, so
        they add up to ``minibatch_size``; at least one per process); None
        everywhere when the minibatch is the whole data.  For one process,
        ``[minibatch_size]`` or ``[None]``.
    """
    total = sum(shard_sizes)
    if minibatch_size is None or minibatch_size >= total:
        return [None] * len(shard_sizes)
    shares = [minibatch_size * n // total for n in shard_sizes]
    remainders = [minibatch_size * n % total for n in shard_sizes]
    order = sorted(range(len(shard_sizes)), key=lambda r: (-remainders[r], r))
    for r in order[:minibatch_size - sum(shares)]:
        shares[r] += 1
    return [max(1, share) for share in shares]
