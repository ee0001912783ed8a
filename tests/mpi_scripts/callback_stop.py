"""A callback that asks to stop on one process only.  Usage:
``mpiexec -n 2 python callback_stop.py OUT.json``.

Rank 1's callback returns True after epoch 1, rank 0's never does; both
processes must stop after that epoch (not one waiting for the other in the
next epoch's Allreduce for ever).  Rank 0 writes, for every rank, the
number of epochs run, the epochs its callback saw and its weights' digest.
"""

import sys

from mpi4py import MPI

import hessianfree as hf
from hessianfree.parallel import distributed

from common import make_data, make_net, shard, write_json

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
sizes = [6] * comm.Get_size()
x, t = shard(make_data("ff", sum(sizes), seed=1), sizes, rank)
seen = []


def callback(net, epoch):
    seen.append(epoch)
    return rank == 1 and epoch == 1


net = make_net("ff")
errors = net.run_epochs(x, t, hf.opt.HessianFree(CG_iter=5, plotting=False), max_epochs=6,
                        print_period=None, callback=callback, comm=comm)
everyone = comm.gather({"n_epochs": len(errors), "seen": seen, "errors": errors,
                        "digest": distributed.weights_digest(net)}, root=0)
if rank == 0:
    write_json({"ranks": everyone}, sys.argv[1])
