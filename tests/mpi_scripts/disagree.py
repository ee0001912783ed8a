"""Processes that were given different arguments.  Usage:
``mpiexec -n 2 python disagree.py DIR CASE... OUT.json``.

For each case, rank 1 passes something different from rank 0 (or sees a
different checkpoint, or rank 0 cannot write its output files); every
process must raise before the first collective call of training, instead of
waiting for the other in an Allreduce for ever or ending the job with
MPI_Abort.  Rank 0 writes ``{case: [message on rank 0, message on rank 1,
...]}`` (``"no error"`` where run_epochs returned).
"""

import os
import sys

import numpy as np
from mpi4py import MPI

import hessianfree as hf

from common import make_data, make_net, shard, write_json

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
directory, cases, out = sys.argv[1], sys.argv[2:-1], sys.argv[-1]
sizes = [6] * comm.Get_size()
x, t = shard(make_data("ff", sum(sizes), seed=1), sizes, rank)
prefix = os.path.join(directory, f"rank{rank}", "run")
os.makedirs(os.path.dirname(prefix), exist_ok=True)


def other(mine, theirs):
    return theirs if rank == 1 else mine


def hf_opt(**kwargs):
    return hf.opt.HessianFree(CG_iter=kwargs.pop("CG_iter", 5), plotting=False, **kwargs)


def case(name):
    """Arguments of ``run_epochs`` for ``name`` (rank 1 differs)."""
    net, run = make_net("ff"), dict(inputs=x, targets=t, optimizer=hf_opt(),
                                    max_epochs=3, print_period=None)
    if name == "max_epochs":
        run["max_epochs"] = other(3, 5)
    elif name == "target_err":
        run["target_err"] = other(1e-6, 0.5)
    elif name == "max_failures":
        run["max_failures"] = other(10, 2)
    elif name == "minibatch_size":
        run["minibatch_size"] = other(None, 4)
    elif name == "test_err":
        run.update(test=(x, t), test_err=other(None, hf.loss_funcs.ClassificationError()))
    elif name == "layers":
        net = other(net, hf.FFNet([3, 6, 2], layers=hf.nl.Tanh(), dtype=np.float64))
    elif name == "n_params":
        net = other(net, hf.FFNet([3, 7, 2], dtype=np.float64))
    elif name == "CG_iter":
        run["optimizer"] = other(hf_opt(), hf_opt(CG_iter=9))
    elif name == "optimizer_class":
        run["optimizer"] = other(hf_opt(), hf.opt.SGD())
    elif name == "bad_inputs":
        run["inputs"] = other(x, np.concatenate([x, x[:, :1]], axis=1))
    elif name == "checkpoint_on_rank_0_only":
        run.update(file_output=prefix, resume=True)
    elif name == "auto_on_one_rank":
        run["minibatch_size"] = other(None, "auto")
    elif name == "callback_not_callable":
        run["callback"] = other(lambda net, epoch: False, 5)
    elif name == "unwritable_on_rank_0":
        run["file_output"] = os.path.join(directory, f"missing{rank}", "run")
        if rank == 1:
            os.makedirs(os.path.dirname(run["file_output"]), exist_ok=True)
    elif name == "kfac_period":
        run["optimizer"] = hf_opt(preconditioner=hf.kfac.KFAC(period=other(1, 3)))
    elif name == "kfac_decay":
        run["optimizer"] = hf_opt(preconditioner=hf.kfac.KFAC(decay=other(0.95, 0.9)))
    elif name == "kfac_vs_diagonal":
        run["optimizer"] = hf_opt(preconditioner=other(hf.kfac.KFAC(period=1), "diagonal"))
    return net, run


if "checkpoint_on_rank_0_only" in cases:
    # a checkpoint that only rank 0 writes (to its own directory)
    make_net("ff").run_epochs(x, t, hf_opt(), max_epochs=2, file_output=prefix,
                              print_period=None, comm=comm)
results = {}
for name in cases:
    net, run = case(name)
    try:
        net.run_epochs(comm=comm, **run)
        message = "no error"
    except (TypeError, ValueError) as e:
        message = str(e)
    results[name] = comm.gather(message, root=0)
if rank == 0:
    write_json(results, out)
