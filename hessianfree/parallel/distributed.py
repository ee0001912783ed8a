"""Data-parallel Hessian-free training over MPI processes.

Every quantity that Hessian-free optimization takes from the data is a mean
over examples: the loss, its gradient, the Gauss-Newton product
:math:`G v = \\frac{1}{N} \\sum_n J_n^T H_n J_n v` and the squared
per-example gradients of the diagonal preconditioner (Martens 2010, §4).
So ``K`` processes that each hold a shard of the data can compute the local
means on their shards and combine them, weighted by their example counts
:math:`N_r`,

.. math:: x = \\frac{\\sum_r N_r x_r}{\\sum_r N_r},

with one ``MPI_Allreduce``.  Everything else -- conjugate gradient,
backtracking, damping, line search -- then runs redundantly, and identically,
on every process: each CG iteration moves one vector of ``n_params`` values
(plus the count) between the processes.

With a communicator attached (``net.comm``, set by :func:`attach` or by
``run_epochs(..., comm=comm)``), :meth:`~hessianfree.FFNet.calc_grad`,
:meth:`~hessianfree.FFNet.calc_G` and :meth:`~hessianfree.FFNet.error`
return these combined means, for :class:`~hessianfree.FFNet` and
:class:`~hessianfree.RNNet` alike.  Launch a training script with::

    mpiexec -n 4 python -m mpi4py train.py

Identical weights: MPI's sum reduction hands every process the same bits
(each element is summed once and distributed, or summed pairwise, and IEEE
addition is commutative), so every process takes the same decisions and the
same steps.  :func:`attach` broadcasts the initial weights from rank 0 and
:func:`run_epochs` checks at the end that the weights agree bit for bit.

A world of size 1 runs exactly the single-process code: no reduction is
called.
"""

import contextlib
import dataclasses
import hashlib
import os
import sys
import time
import traceback

import numpy as np

from hessianfree.parallel import agreement
from hessianfree.base import backend
from hessianfree.base import gpu
from hessianfree.losses import loss_funcs
from hessianfree.run import training
from hessianfree.nets import reduction
from hessianfree.nets.reduction import LocalReduction, minibatch_shares  # noqa: F401

INSTALL_HINT = 'install the MPI extra: pip install "hessianfree[mpi]"'
#: Seconds between printing a failing process's traceback and MPI_Abort.
ABORT_DELAY = 0.5


def _mpi():
    """The ``mpi4py.MPI`` module (ImportError with an install hint if absent)."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(f"hessianfree.parallel.distributed needs mpi4py ({e}); "
                          f"{INSTALL_HINT}") from e
    return MPI


def check_comm(comm):
    """Return ``comm`` if it is an mpi4py intra-communicator, else raise
    TypeError (or ValueError for ``MPI.COMM_NULL``)."""
    MPI = _mpi()
    if not isinstance(comm, MPI.Intracomm):
        raise TypeError("comm must be an mpi4py intra-communicator such as "
                        f"mpi4py.MPI.COMM_WORLD, got {type(comm).__name__}")
    if comm == MPI.COMM_NULL:
        raise ValueError("comm is MPI.COMM_NULL")
    return comm


def is_root(net):
    """True unless ``net`` is attached to a communicator in which this
    process is not rank 0 (only rank 0 prints, plots and writes files)."""
    comm = getattr(net, "comm", None)
    return comm is None or comm.Get_rank() == 0


# ------------------------------------------------------------ reductions
@dataclasses.dataclass
class ReductionStats:
    """Counters of the reductions this process took part in.

    Attributes
    ----------
    calls : int
        Number of ``Allreduce`` calls.
    bytes : int
        Bytes this process contributed to them (the payloads).
    seconds : float
        Wall time spent in them, including waiting for slower processes.
    """

    calls: int = 0
    bytes: int = 0
    seconds: float = 0.0


#: Reduction counters of this process (see :func:`reset_stats`).
stats = ReductionStats()


def reset_stats():
    """Zero :data:`stats` (in place)."""
    stats.calls, stats.bytes, stats.seconds = 0, 0, 0.0


def _allreduce_sum(comm, buf):
    """In-place ``Allreduce`` sum of the host array ``buf``, counted in
    :data:`stats`."""
    MPI = _mpi()
    start = time.perf_counter()
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    stats.calls += 1
    stats.bytes += buf.nbytes
    stats.seconds += time.perf_counter() - start


def allreduce_mean(comm, arrays, n_examples, buffers=None):
    """Example-weighted mean over the processes, in place.

    Parameters
    ----------
    comm : mpi4py.MPI.Intracomm
        The processes to combine.
    arrays : list of arrays (NumPy or CuPy, one dtype)
        Means over this process's ``n_examples`` examples (e.g. a gradient
        and the squared per-example gradients); overwritten with
        :math:`\\sum_r N_r x_r / \\sum_r N_r`.
    n_examples : int
        :math:`N_r`, the number of examples this process averaged over.
    buffers : dict, optional
        Host buffers kept between calls, by size and dtype (a network's
        reduction keeps one, so CG's per-iteration products allocate
        nothing).

    Returns
    -------
    list of arrays
        ``arrays``.

    Notes
    -----
    One ``Allreduce`` of ``sum(a.size for a in arrays) + 1`` values of the
    arrays' dtype (the last one carries :math:`N_r`), through host memory;
    nothing at all for a single process.
    """
    if comm.Get_size() == 1:
        return arrays
    sizes = [a.size for a in arrays]
    key = (sum(sizes) + 1, np.dtype(arrays[0].dtype))
    buf = None if buffers is None else buffers.get(key)
    if buf is None:
        buf = np.empty(key[0], dtype=key[1])
        if buffers is not None:
            buffers[key] = buf
    ends = np.cumsum(sizes)
    for a, end, size in zip(arrays, ends, sizes):
        backend.copy_to_host(a, buf[end - size:end])
    buf[:-1] *= n_examples
    buf[-1] = n_examples
    _allreduce_sum(comm, buf)
    buf[:-1] /= buf[-1]
    for a, end, size in zip(arrays, ends, sizes):
        backend.copy_from_host(buf[end - size:end], a)
    return arrays


def n_averaged(loss, targets):
    """Number of examples ``loss.batch_loss`` averages over: the batch size,
    or for :class:`~hessianfree.losses.loss_funcs.ClassificationError` the
    examples (and time steps) that have a target."""
    if isinstance(loss, loss_funcs.ClassificationError):
        xp = backend.array_module(targets)
        return int((~xp.isnan(targets).all(axis=-1)).sum())
    return int(targets.shape[0])


def allreduce_error(comm, value, loss, targets):
    """Example-weighted mean over the processes of a loss value
    (``loss.batch_loss`` on this process's ``targets``); one ``Allreduce``
    of two float64 values, none for a single process."""
    if comm.Get_size() == 1:
        return value
    n = n_averaged(loss, targets)
    buf = np.array([value * n if n else 0.0, n], dtype=np.float64)
    _allreduce_sum(comm, buf)
    return float(buf[0] / buf[1]) if buf[1] else 0.0


class MPIReduction(LocalReduction):
    """The :class:`~hessianfree.nets.reduction.LocalReduction` interface over the
    processes of ``comm`` (what ``net.comm = comm`` gives the network):
    :func:`allreduce_mean` and :func:`allreduce_error`; ``shard_sizes`` is
    an ``allgather`` and ``any`` a logical-or ``allreduce``."""

    def __init__(self, comm):
        self.comm = comm
        self._buffers = {}  # allreduce_mean's host buffers, kept between calls

    @property
    def is_root(self):
        return self.comm.Get_rank() == 0

    @property
    def rank(self):
        return self.comm.Get_rank()

    def mean(self, arrays, n_examples):
        return allreduce_mean(self.comm, arrays, n_examples, self._buffers)

    def mean_error(self, value, loss, targets):
        return allreduce_error(self.comm, value, loss, targets)

    def shard_sizes(self, n_examples):
        return [int(n) for n in self.comm.allgather(int(n_examples))]

    def any(self, flag):
        return bool(self.comm.allreduce(bool(flag), op=_mpi().LOR))


# ------------------------------------------------------- attach / detach
def attach(net, comm):
    """Make ``net`` data-parallel over ``comm`` (every process calls this).

    Sets ``net.comm`` and broadcasts the weights from rank 0, so that every
    process starts from the same ones.  From then on ``calc_grad``,
    ``calc_G`` and ``error`` are collective: every process must call them,
    in the same order, each on its own shard of the data.

    Parameters
    ----------
    net : FFNet or RNNet
    comm : mpi4py.MPI.Intracomm

    Returns
    -------
    net
    """
    net.comm = check_comm(comm)
    broadcast_weights(net)
    return net


def detach(net):
    """Make ``net`` compute on its own data again (``net.comm = None``)."""
    net.comm = None
    return net


def broadcast_weights(net, root=0):
    """Copy ``net.W`` of rank ``root`` to every process of ``net.comm``."""
    comm = net.comm
    if comm is None or comm.Get_size() == 1:
        return
    W = np.ascontiguousarray(backend.to_numpy(net.W))
    comm.Bcast(W, root=root)
    net.W[...] = net.xp.asarray(W)
    net.weights_changed()


def weights_digest(net):
    """A short hash of the bits of ``net.W``."""
    return hashlib.sha256(np.ascontiguousarray(backend.to_numpy(net.W)).tobytes()
                          ).hexdigest()[:16]


def check_synchronized(net):
    """Raise RuntimeError (on every process) unless all processes of
    ``net.comm`` hold bit-identical weights."""
    comm = net.comm
    if comm is None or comm.Get_size() == 1:
        return
    digests = comm.allgather(weights_digest(net))
    if len(set(digests)) > 1:
        raise RuntimeError(f"the processes' weights differ (digests by rank: "
                           f"{digests}); the MPI library's Allreduce did not give "
                           f"every process the same sums")


# ---------------------------------------------------------------- faults
@contextlib.contextmanager
def abort_on_error(comm):
    """Turn an exception on one process into the end of all of them.

    A process that raises while the others wait for it in a collective
    would leave them waiting for ever; inside this context it prints its
    rank and traceback to stderr, waits :data:`ABORT_DELAY` seconds for the
    launcher to forward them, and calls ``comm.Abort(1)``, which ends every
    process of the job (``mpiexec`` then exits with a non-zero status).
    For a world of size 1 the exception simply propagates.
    """
    try:
        yield
    except BaseException:
        if comm.Get_size() == 1:
            raise
        print(f"hessianfree.parallel.distributed: rank {comm.Get_rank()} of "
              f"{comm.Get_size()} raised; aborting all ranks", file=sys.stderr)
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(ABORT_DELAY)  # let the launcher forward the traceback first
        comm.Abort(1)
        os._exit(1)  # some MPI libraries return from Abort and kill later


# ------------------------------------------------------------- training
def _local_arguments(net, comm, kwargs):
    """The ``run_epochs`` arguments for this process: no printing or
    plotting except on rank 0.

    Every process checks its own arguments -- all the checks that
    :func:`hessianfree.run.training.run_epochs` makes, and on rank 0 whether the
    output files can be written -- then all compare what they are about to
    do (:func:`hessianfree.parallel.agreement.describe_run`) in one ``allgather``,
    the first collective call of the run.  If any process got unusable
    arguments, or they disagree, every process raises (no process is left
    waiting in a collective call): the process with the bad argument its
    own error, every other one a ValueError that names that process and
    quotes the error; for a disagreement, the same ValueError everywhere."""
    try:
        mine, problem = agreement.describe_run(net, kwargs,
                                               root=comm.Get_rank() == 0), None
    except Exception as e:  # every process learns of it below
        mine, problem = None, e
    everyone = comm.allgather((mine, None if problem is None else
                               f"{type(problem).__name__}: {problem}"))
    if problem is not None:
        raise problem
    failed = [(r, message) for r, (_, message) in enumerate(everyone) if message]
    if failed:
        raise ValueError(f"run_epochs on rank {failed[0][0]}: {failed[0][1]}")
    agreement.check_agreement([run for run, _ in everyone])
    kwargs = dict(kwargs)
    if comm.Get_rank() != 0:
        kwargs["print_period"], kwargs["plotting"] = None, False
    return kwargs


def run_epochs(net, comm, **kwargs):
    """Data-parallel :func:`hessianfree.run.training.run_epochs` (what
    ``run_epochs(..., comm=comm)`` calls).

    Every process passes its own shard of the training (and test) data.
    ``minibatch_size`` is the total over all processes (a number, or a
    schedule whose sizes are totals); each process draws its share (in
    proportion to its shard size) from its own shard with its ``net.rng``.
    Only rank 0 prints, plots and writes files; with ``resume=True`` every
    process reads the checkpoint.  Before the first collective call, every
    process checks its own arguments (all of them: this function is the
    whole entry point, nothing needs checking before it) and all compare
    what decides their collective calls
    (:func:`hessianfree.parallel.agreement.describe_run`); a bad argument anywhere,
    or any difference, raises on every process.  During training the
    processes decide together whether to stop: a ``callback`` that returns
    True on any process stops all of them after that epoch.  An exception
    later on, on any process, ends all of them (:func:`abort_on_error`).
    ``net.comm`` is restored to its previous value afterwards.

    Returns
    -------
    list of float
        The errors after each epoch (the same on every process).
    """
    comm = check_comm(comm)
    if comm.Get_size() == 1:
        return training.run_epochs(net, **kwargs)
    previous = getattr(net, "comm", None)
    try:
        kwargs = _local_arguments(net, comm, kwargs)
        with abort_on_error(comm):
            attach(net, comm)
            errors = training.run_epochs(net, **kwargs)
            check_synchronized(net)
    finally:
        net.comm = previous
    return errors


def select_device(comm):
    """Give each process of a node its own GPU (round robin over the node's
    devices); call it on every process before building networks with
    ``use_GPU=True``.

    Returns
    -------
    int
        The CUDA device id this process now uses.
    """
    MPI = _mpi()
    if not gpu.gpu_enabled:
        raise RuntimeError(f"select_device: {gpu.unavailable_reason}; "
                           f"{gpu.INSTALL_HINT}")
    node = check_comm(comm).Split_type(MPI.COMM_TYPE_SHARED)
    try:
        local_rank = node.Get_rank()
    finally:
        node.Free()
    device = local_rank % gpu.cupy.cuda.runtime.getDeviceCount()
    gpu.cupy.cuda.Device(device).use()
    return device


reduction.register_comm_reduction(MPIReduction)
