"""A minibatch schedule under MPI against one process.  Usage:
``mpiexec -n K python check_schedule.py SIZES OUT.json``.

The processes train with a :class:`hessianfree.optim.schedule.VarianceSchedule`
(sizes are totals over the processes), each drawing its share from its
shard and recording which examples it drew.  Rank 0 then trains one
process on all the data with the same schedule settings, its minibatches
made of exactly the examples the processes drew together: the variance
test sees the same statistics, so it must choose the same sizes, and the
weights must match.  ``minibatch_size="auto"`` runs under MPI as well.
"""

import sys

import numpy as np
from mpi4py import MPI

import hessianfree as hf
from hessianfree.parallel import distributed

from common import bounds, make_data, make_net, parse_sizes, rel_diff, shard, write_json

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
sizes, out = parse_sizes(sys.argv[1], comm), sys.argv[2]
train = make_data("ff", sum(sizes), seed=1)
my_train = shard(train, sizes, rank)
EPOCHS = 8
results = {}


class RecordingRng:
    """A Generator that keeps the permutations it hands out."""

    def __init__(self, seed):
        self.rng, self.permutations = np.random.default_rng(seed), []

    def permutation(self, n):
        self.permutations.append(self.rng.permutation(n))
        return self.permutations[-1]


class ScriptedRng:
    """Permutations that start with given examples, one list per epoch."""

    def __init__(self, starts):
        self.starts = list(starts)

    def permutation(self, n):
        start = self.starts.pop(0)
        return np.concatenate([start, np.setdiff1d(np.arange(n), start)])


def schedule():
    return hf.schedule.VarianceSchedule(initial=6, theta=0.4, max_growth=2.0,
                                        max_size=sum(sizes) - 10, cg_iters=3)


def optimizer():
    return hf.opt.HessianFree(CG_iter=10, plotting=False)


def train_with(net, data, chosen):
    """run_epochs with a schedule; the sizes it chose, epoch by epoch."""
    sched = schedule()
    chosen.append(sched.size)
    return net.run_epochs(*data, optimizer(), max_epochs=EPOCHS, minibatch_size=sched,
                          print_period=None, callback=lambda net, e: chosen.append(sched.size),
                          **({"comm": comm} if data is my_train else {}))


net = make_net("ff")
net.rng = RecordingRng(100 + rank)
chosen = []
errors = train_with(net, my_train, chosen)
# the examples this process drew each epoch, as indices into all the data
start = bounds(sizes)[rank][0]
drawn = [start + np.sort(p[:share]) for p, share in
         zip(net.rng.permutations,
             (hf.reduction.minibatch_shares(size, sizes)[rank] for size in chosen))]
everyone = comm.gather((drawn, distributed.weights_digest(net), chosen), root=0)

auto = make_net("ff")
auto_errors = auto.run_epochs(*my_train, optimizer(), max_epochs=2, minibatch_size="auto",
                              print_period=None, comm=comm)
auto_digests = comm.gather(distributed.weights_digest(auto), root=0)

if rank == 0:
    ref = make_net("ff")
    ref.rng = ScriptedRng(np.concatenate(epoch) for epoch in zip(*(d for d, _, _ in everyone)))
    ref_chosen = []
    ref_errors = train_with(ref, train, ref_chosen)
    results["sizes"] = chosen[:EPOCHS]
    results["ref_sizes"] = ref_chosen[:EPOCHS]
    results["drawn_sizes"] = [int(sum(len(d[e]) for d, _, _ in everyone))
                              for e in range(EPOCHS)]
    results["W"] = rel_diff(net.W, ref.W)
    results["errors"] = rel_diff(errors, ref_errors)
    results["moved"] = rel_diff(net.W, make_net("ff").W)
    results["identical_W_on_all_ranks"] = len({digest for _, digest, _ in everyone}) == 1
    results["same_sizes_on_all_ranks"] = all(c == chosen for _, _, c in everyone)
    ref_auto = make_net("ff")
    ref_auto_errors = ref_auto.run_epochs(*train, optimizer(), max_epochs=2,
                                          minibatch_size="auto", print_period=None)
    results["auto_W"] = rel_diff(auto.W, ref_auto.W)
    results["auto_errors"] = rel_diff(auto_errors, ref_auto_errors)
    results["auto_identical_W_on_all_ranks"] = len(set(auto_digests)) == 1
    write_json(results, out)
