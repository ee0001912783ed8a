"""A recurrent network in closed loop with a plant, data-parallel: each
process's plant simulates its own share of the starting states.

Usage: ``mpiexec -n K python check_plant.py OUT.json``.  Rank 0 compares
with one process whose plant simulates all of them.
"""

import sys

import numpy as np
from mpi4py import MPI

import hessianfree as hf
from hessianfree.parallel import distributed

from common import rel_diff, write_json

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
STEPS = 6


class Cart(hf.nl.Plant):
    """A point mass pushed by the network's first output, starting at
    ``starts`` with zero velocity; the target is position 1."""

    def __init__(self, starts):
        super().__init__()
        self.starts = np.asarray(starts, dtype=np.float64)
        self.shape = (len(self.starts), STEPS, 2)
        self.reset()

    def reset(self, init=None):
        self.state = np.stack([self.starts, np.zeros_like(self.starts)], axis=1)
        self.inputs = []

    def __call__(self, x):
        if x is not None:
            self.state = self.state + 0.1 * np.stack([self.state[:, 1], x[:, 0]], 1)
        self.inputs.append(self.state.copy())
        return self.state

    def get_vecs(self):
        inputs = np.stack(self.inputs, axis=1)
        targets = np.full(inputs.shape[:2] + (1,), 1.0)
        return inputs, targets

    def activation(self, x):
        return x

    def d_activation(self, x, a):
        return np.stack([np.ones_like(x), np.zeros_like(x), np.ones_like(x)], -1)


def make_net(plant):
    return hf.RNNet([2, 4, 1], layers=[plant, hf.nl.Tanh(), hf.nl.Linear()],
                    rng=np.random.default_rng(0), dtype=np.float64)


def first_gradient(plant, comm=None):
    """The gradient on the plant's first closed-loop run."""
    net = make_net(plant)
    net.comm = comm
    net.cache_minibatch(*net._epoch_data(plant, None, None))
    return net.calc_grad(), net.error()


def train(plant, comm=None):
    net = make_net(plant)
    net.run_epochs(plant, None, hf.opt.HessianFree(CG_iter=10, plotting=False),
                   max_epochs=2, print_period=None, comm=comm)
    return net


starts = np.linspace(-1, 0.5, 3 * size + 1)
mine = np.array_split(starts, size)[rank]
with distributed.abort_on_error(comm):
    grad, error = first_gradient(Cart(mine), comm)
    net = train(Cart(mine), comm)
    digests = comm.gather(distributed.weights_digest(net), root=0)
    if rank == 0:
        ref_grad, ref_error = first_gradient(Cart(starts))
        ref = train(Cart(starts))
        write_json({"plant_grad": rel_diff(grad, ref_grad),
                    "plant_error": rel_diff(error, ref_error),
                    "plant_W": rel_diff(net.W, ref.W),
                    "plant_moved": rel_diff(net.W, hf.RNNet(
                        [2, 4, 1], rng=np.random.default_rng(0), dtype=np.float64).W),
                    "identical_W_on_all_ranks": len(set(digests)) == 1}, sys.argv[1])
