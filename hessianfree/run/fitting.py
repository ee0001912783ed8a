"""The entry point from a network to its training loop.

:meth:`hessianfree.FFNet.run_epochs` (the original package's way to train)
calls :func:`fit`, importing this module when it is called, so that the
networks sit below the training loop and MPI rather than on top of them.
:func:`fit` hands the run to :func:`hessianfree.run.training.run_epochs`, or with
a communicator to :func:`hessianfree.parallel.distributed.run_epochs`, which checks
the arguments with every process and runs the same loop on each one's shard.
"""

from hessianfree.parallel import distributed
from hessianfree.run import training


def fit(net, comm=None, **kwargs):
    """Train ``net`` on this process, or data-parallel over ``comm``.

    Parameters
    ----------
    net : FFNet or RNNet
    comm : mpi4py.MPI.Intracomm, optional
        Train over the processes of this communicator.
    **kwargs
        The arguments of :func:`hessianfree.run.training.run_epochs`.

    Returns
    -------
    What :func:`hessianfree.run.training.run_epochs` returns.
    """
    if comm is not None:  # every process runs training.run_epochs on its shard
        return distributed.run_epochs(net, comm, **kwargs)
    return training.run_epochs(net, **kwargs)
