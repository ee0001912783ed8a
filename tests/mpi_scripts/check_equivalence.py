"""Data-parallel results against one process on the concatenated data.

Usage::

    mpiexec -n K python check_equivalence.py KIND SIZES OUT.json

``KIND`` is ``ff`` or ``rnn``; ``SIZES`` the comma-separated shard size of
each rank.  Rank 0 writes the largest relative differences to ``OUT.json``.
"""

import sys

import numpy as np
from mpi4py import MPI

import hessianfree as hf
from hessianfree.parallel import distributed

from common import make_data, make_net, parse_sizes, rel_diff, shard, write_json

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
kind, sizes, out = sys.argv[1], parse_sizes(sys.argv[2], comm), sys.argv[3]
n_total = sum(sizes)
train = make_data(kind, n_total, seed=1)
test = list(make_data(kind, n_total + 5, seed=2))
test[1] = test[1].copy()
test[1][::4] = np.nan  # examples without a target
test_sizes = [n + 5 * (r == 0) for r, n in enumerate(sizes)]
my_train, my_test = shard(train, sizes, rank), shard(test, test_sizes, rank)
results = {}



def primitives():
    """calc_grad, calc_grad(squared), calc_G (whole batch and curvature
    subset), error (cached, at other weights, on test data with
    ClassificationError) and explicit_G."""
    net = distributed.attach(make_net(kind, seed=rank), comm)  # W from rank 0
    ref = make_net(kind)
    ref.W[...] = net.W
    v = np.random.default_rng(3).standard_normal(net.n_params)
    W2 = net.W + 0.05 * v
    net.cache_minibatch(*my_train)
    ref.cache_minibatch(*train)
    cls = hf.loss_funcs.ClassificationError()
    got = {"grad": net.calc_grad(), "grad_sq": np.concatenate(net.calc_grad(squared=True)),
           "G": net.calc_G(v, damping=0.3), "error": net.error(),
           "error_W": net.error(W=W2),
           "test_error": net.error(inputs=my_test[0], targets=my_test[1]),
           "test_class": net.error(inputs=my_test[0], targets=my_test[1], loss_type=cls),
           "explicit_G": net.explicit_G(damping=0.3)}
    local = np.arange(0, sizes[rank], 2)
    net.cache_curvature_batch(local)
    got["G_subset"] = net.calc_G(v, damping=0.3)
    if rank != 0:
        return
    want = {"grad": ref.calc_grad(), "grad_sq": np.concatenate(ref.calc_grad(squared=True)),
            "G": ref.calc_G(v, damping=0.3), "error": ref.error(),
            "error_W": ref.error(W=W2),
            "test_error": ref.error(inputs=test[0], targets=test[1]),
            "test_class": ref.error(inputs=test[0], targets=test[1], loss_type=cls),
            "explicit_G": ref.explicit_G(damping=0.3)}
    starts = np.cumsum([0] + sizes[:-1])
    ref.cache_curvature_batch(np.concatenate(
        [start + np.arange(0, n, 2) for start, n in zip(starts, sizes)]))
    want["G_subset"] = ref.calc_G(v, damping=0.3)
    for name in want:
        results[name] = rel_diff(got[name], want[name])


def full_batch_training():
    """run_epochs over the shards (with test shards) against run_epochs on
    all the data."""
    net = make_net(kind, seed=rank)
    opt = hf.opt.HessianFree(CG_iter=20, plotting=False)
    errors = net.run_epochs(*my_train, opt, max_epochs=6, test=my_test,
                            print_period=None, comm=comm)
    results_all = comm.gather((distributed.weights_digest(net), errors), root=0)
    results["comm_restored"] = net.comm is None
    if rank != 0:
        return
    ref = make_net(kind)
    ref_errors = ref.run_epochs(*train, hf.opt.HessianFree(CG_iter=20, plotting=False),
                                max_epochs=6, test=test, print_period=None)
    results["train_W"] = rel_diff(net.W, ref.W)
    results["train_best_W"] = rel_diff(net.best_W, ref.best_W)
    results["train_errors"] = rel_diff(errors, ref_errors)
    results["train_damping"] = rel_diff(opt.damping, ref.optimizer.damping)
    results["identical_W_on_all_ranks"] = len({d for d, _ in results_all}) == 1
    results["identical_errors_on_all_ranks"] = all(e == errors for _, e in results_all)
    results["n_epochs"] = len(errors)


def preconditioned_training():
    """The same with Martens' diagonal preconditioner (squared per-example
    gradients reduced across processes)."""
    net = make_net(kind, seed=rank)
    opt = hf.opt.HessianFree(CG_iter=20, plotting=False, preconditioner=True)
    net.run_epochs(*my_train, opt, max_epochs=4, print_period=None, comm=comm)
    if rank == 0:
        ref = make_net(kind)
        ref.run_epochs(*train, hf.opt.HessianFree(CG_iter=20, plotting=False,
                                                  preconditioner=True),
                       max_epochs=4, print_period=None)
        results["precond_W"] = rel_diff(net.W, ref.W)
        results["precond_moved"] = rel_diff(net.W, make_net(kind).W)


def kfac_training():
    """The same with the K-FAC preconditioner (factors reduced across
    processes; the empirical-Fisher variant, which draws no random targets,
    so that one process can match exactly)."""
    net = make_net(kind, seed=rank)
    opt = hf.opt.HessianFree(CG_iter=20, plotting=False,
                             preconditioner=hf.kfac.KFAC(period=2, sampled=False))
    net.run_epochs(*my_train, opt, max_epochs=4, print_period=None, comm=comm)
    if rank == 0:
        ref = make_net(kind)
        ref_opt = hf.opt.HessianFree(CG_iter=20, plotting=False,
                                     preconditioner=hf.kfac.KFAC(period=2, sampled=False))
        ref.run_epochs(*train, ref_opt, max_epochs=4, print_period=None)
        results["kfac_W"] = rel_diff(net.W, ref.W)


def minibatch_training():
    """Epoch by epoch with a global minibatch: one process trained on the
    concatenation of the ranks' minibatches takes the same steps."""
    net = make_net(kind, seed=rank)
    net.rng = np.random.default_rng(100 + rank)
    opt = hf.opt.HessianFree(CG_iter=20, plotting=False)
    ref = make_net(kind)
    ref_opt = hf.opt.HessianFree(CG_iter=20, plotting=False)
    minibatch = (2 * n_total) // 3
    batch_sizes = []
    for _ in range(5):
        net.run_epochs(*my_train, opt, max_epochs=1, minibatch_size=minibatch,
                       print_period=None, comm=comm)
        batches = comm.gather((net.inputs, net.targets), root=0)
        if rank == 0:
            batch_in = np.concatenate([b[0] for b in batches])
            batch_t = np.concatenate([b[1] for b in batches])
            batch_sizes.append(len(batch_in))
            ref.run_epochs(batch_in, batch_t, ref_opt, max_epochs=1, print_period=None)
    if rank == 0:
        results["minibatch_W"] = rel_diff(net.W, ref.W)
        results["minibatch_sizes"] = batch_sizes
        results["minibatch_expected"] = minibatch


with distributed.abort_on_error(comm):
    primitives()
    full_batch_training()
    preconditioned_training()
    if kind == "ff":  # K-FAC serves feed-forward networks only
        kfac_training()
    minibatch_training()
    if rank == 0:
        write_json(results, out)
