"""Faults on one process.  Usage: ``mpiexec -n 2 python raise_on_rank.py MODE``.

- ``collective``: rank 1's loss raises in its third gradient while rank 0
  waits for it in the reduction; every process must end (MPI_Abort).
- ``mismatch``: only rank 0 passes test data; every process raises the same
  ValueError, prints it and exits normally.
- ``bad_minibatch``: rank 1 passes ``minibatch_size=0``; every process
  raises a ValueError naming it, prints it and exits normally.
"""

import sys

from mpi4py import MPI

import hessianfree as hf

from common import make_data, make_net, shard

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
mode = sys.argv[1]


class FailingLoss(hf.loss_funcs.SquaredError):
    """SquaredError whose ``d_loss`` raises on its third call on rank 1."""

    calls = 0

    def d_loss(self, activities, targets):
        self.calls += 1
        if rank == 1 and self.calls == 3:
            raise RuntimeError("injected failure on rank 1")
        return super().d_loss(activities, targets)


sizes = [6] * comm.Get_size()
x, t = shard(make_data("ff", sum(sizes), seed=1), sizes, rank)
net = make_net("ff")
opt = hf.opt.HessianFree(CG_iter=5, plotting=False)
if mode == "collective":
    net.loss_type = FailingLoss()
    net.run_epochs(x, t, opt, max_epochs=20, print_period=None, comm=comm)
elif mode in ("mismatch", "bad_minibatch"):
    test = (x, t) if rank == 0 or mode != "mismatch" else None
    minibatch = 0 if rank == 1 and mode == "bad_minibatch" else None
    try:
        net.run_epochs(x, t, opt, max_epochs=20, test=test, print_period=None,
                       minibatch_size=minibatch, comm=comm)
    except ValueError as e:
        print(f"rank {rank} raised ValueError: {e}", flush=True)
        sys.exit(0)
print(f"rank {rank} finished without an error", flush=True)
