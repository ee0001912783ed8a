"""CPU seconds per unit of work on a pathological problem's network, against
the matrix-product floor and against softmax Jacobians formed as matrices.

A unit is Martens & Sutskever's (2011) minibatch: 1,000 sequences through a
gradient or a Gauss-Newton product (:mod:`hessianfree.nets.work`).  For one
task and ``T`` this builds :func:`hessianfree.data.tasks.tanh_rnn`, caches
``--N`` sequences and times ``calc_G`` (one product on all of them is
``N / 1000`` units) and the gradient (caching the sequences, which
computes the activations and their derivatives, and ``calc_grad``) three
ways, alternating:

* the library (a softmax output layer multiplies by its Jacobian
  :math:`\\mathrm{diag}(a) - a a^T` in :math:`O(n)`,
  :class:`~hessianfree.layers.jacobians.SoftmaxJacobian`);
* the same network with the ``(n, n)`` Jacobian of every example and step
  formed (a ``Softmax`` subclass with its own ``d_activation``, the path
  of any other non-element-wise layer);
* the floor: the per-step products of one forward and two backward passes
  issued directly (``bench/pathological_suite.py``'s
  ``gemm_seconds_per_unit``).

It prints seconds per unit of each and the medians of the per-round
ratios, and ``RESULT task=.. T=.. G_s_per_unit=.. G_over_floor=..
G_formed_over_ours=.. grad_s_per_unit=.. grad_over_floor=..
grad_formed_over_ours=..``.
Tasks with one output or a few (addition, temporal order) show how close
the passes come to the floor; random permutation (100-way softmax) shows
the operator.

Usage: ``python bench/unit_cost.py [--task random_permutation] [--T 30]
[--N 200] [--repeats 9]`` (one BLAS thread: ``OPENBLAS_NUM_THREADS=1``).
"""

import argparse
import pathlib
import sys
import time

import numpy as np

import hessianfree as hf
from hessianfree.data import tasks

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from pathological_suite import gemm_seconds_per_unit  # noqa: E402


class FormedSoftmax(hf.nl.Softmax):
    """Softmax whose passes keep the formed Jacobian matrices."""

    def d_activation(self, x, a):
        return super().d_activation(x, a)


def network(task, formed, data, seed=0):
    """The task's network with the sequences ``data`` cached."""
    net = tasks.tanh_rnn(task, rng=seed)
    if formed and isinstance(net.layers[-1], hf.nl.Softmax):
        net.layers[-1] = FormedSoftmax()
    net.cache_minibatch(*data)
    return net


def seconds(net, v, data, calls=3):
    """CPU seconds of one Gauss-Newton product and of one gradient (with
    the caching of ``data`` it needs)."""
    start = time.process_time()
    for _ in range(calls):
        net.calc_G(v, damping=1.0)
    middle = time.process_time()
    for _ in range(calls):
        net.cache_minibatch(*data)
        net.calc_grad()
    return (middle - start) / calls, (time.process_time() - middle) / calls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="random_permutation", choices=tasks.TASKS)
    parser.add_argument("--T", type=int, default=30)
    parser.add_argument("--N", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    data = tasks.generate(args.task, args.T, args.N, rng=0)
    ours, formed = network(args.task, False, data), network(args.task, True, data)
    v = np.random.default_rng(1).standard_normal(ours.n_params).astype(ours.dtype)
    units = args.N / 1000
    shape = ours.shape
    seconds(ours, v, data, 1), seconds(formed, v, data, 1)  # warm up buffers
    rows = []  # per round: G ours, G formed, grad ours, grad formed, floor
    for _ in range(args.repeats):
        floor = gemm_seconds_per_unit(shape[0], shape[1], shape[-1], args.T, repeats=1)
        rows.append([s / units for s in seconds(ours, v, data) + seconds(formed, v, data)]
                    + [floor])
    rows = np.array(rows)[:, [0, 2, 1, 3, 4]]  # G ours, G formed, grad ours, ...
    median = np.median(rows, axis=0)
    print(f"{args.task} T={args.T}, network {shape}, {args.N} sequences")
    print(f"  GEMM floor                    {median[4]:8.4f} CPU s per unit")
    result = f"RESULT task={args.task} T={args.T}"
    for name, col in (("G", 0), ("grad", 2)):
        over_floor = float(np.median(rows[:, col] / rows[:, 4]))
        formed_ratio = float(np.median(rows[:, col + 1] / rows[:, col]))
        print(f"  {name:4s} library                  {median[col]:8.4f} CPU s per unit")
        print(f"  {name:4s} formed softmax Jacobians {median[col + 1]:8.4f} CPU s per unit")
        result += (f" {name}_s_per_unit={median[col]:.4f} {name}_over_floor={over_floor:.2f}"
                   f" {name}_formed_over_ours={formed_ratio:.2f}")
    print(result)


if __name__ == "__main__":
    main()
