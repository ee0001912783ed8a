"""Printing, files and resuming in a data-parallel run.

Usage: ``mpiexec -prepend-rank -n K python check_io.py DIR OUT.json``.  Trains
3 epochs with ``print_period=1`` and ``file_output=DIR/run``, then resumes to
6 epochs, and compares with 6 uninterrupted epochs.  Only rank 0 may print
(the test reads the rank prefixes) and write files.
"""

import os
import sys

from mpi4py import MPI

import hessianfree as hf
from hessianfree.parallel import distributed

from common import make_data, make_net, rel_diff, shard, write_json

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
directory, out = sys.argv[1], sys.argv[2]
sizes = [5 + 3 * r for r in range(comm.Get_size())]
train = shard(make_data("ff", sum(sizes), seed=1), sizes, rank)


def train_net(max_epochs, file_output=None, resume=False, net=None, opt=None):
    net = make_net("ff") if net is None else net
    opt = hf.opt.HessianFree(CG_iter=10, plotting=False) if opt is None else opt
    net.run_epochs(*train, opt, max_epochs=max_epochs, print_period=1,
                   file_output=file_output, resume=resume, plotting=True, comm=comm)
    return net


with distributed.abort_on_error(comm):
    prefix = os.path.join(directory, "run")
    train_net(3, prefix)
    comm.Barrier()
    files = sorted(os.listdir(directory))
    resumed = train_net(6, prefix, resume=True)  # a fresh net and optimizer
    whole = train_net(6)
    digests = comm.gather(distributed.weights_digest(resumed), root=0)
    if rank == 0:
        write_json({"files_after_3_epochs": files,
                    "resumed_vs_whole": rel_diff(resumed.W, whole.W),
                    "identical_W_on_all_ranks": len(set(digests)) == 1}, out)
