"""Means over examples, on this process alone or across several.

Every quantity the optimizers take from the data -- the loss, its gradient,
the Gauss-Newton product, the squared per-example gradients -- is a mean
over examples.  A network computes it on the examples it holds and hands it
to its ``reduction`` (``net.reduction``), which turns it into the mean over
all the examples of the run.  :class:`LocalReduction` is the single-process
case: there is nothing to combine.  :class:`hessianfree.distributed.MPIReduction`
combines the processes of an MPI communicator.  The networks and the
training loop depend on this interface only, never on MPI.
"""


class LocalReduction:
    """The reduction of a network that trains on its own data only.

    Subclasses override the three members to combine several processes.
    """

    #: Whether this process prints, plots and writes files.
    is_root = True

    def mean(self, arrays, n_examples):
        """Means over this process's ``n_examples`` examples -> means over
        every process's examples, in place; returns ``arrays``."""
        return arrays

    def mean_error(self, value, loss, targets):
        """A loss value (``loss.batch_loss`` on this process's ``targets``)
        -> its mean over every process's examples."""
        return value


#: The reduction of every network without a communicator.
LOCAL = LocalReduction()


def is_root(net):
    """Whether this process prints, plots and writes files for ``net``."""
    return getattr(net, "reduction", LOCAL).is_root
