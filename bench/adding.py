"""Time to solve the adding problem with Hessian-free optimization (CPU).

The task, network and optimizer are those of ``hf.demos.adding``: 10,000
sequences (9,000 training, 1,000 test), ``RNNet([2, 32, 64, 1])`` with
layers Linear / ReLU / Continuous(ReLU, tau=20) (recurrent, spectral radius
1) / ReLU, squared error plus structural damping 1e-4 on layer 2,
``HessianFree(CG_iter=60, init_damping=20)``, minibatches of 1,024,
``RandomState(0)``.

For each sequence length T it prints the training wall time at which the
test mean squared error (on the last step, where the target is) first
drops below the threshold (0.01), next to the error of the trivial
predictor (the mean training sum, about 1/6).  Only training is on the
clock: choosing the minibatch, caching it and computing and applying the
update.  The test evaluation after every epoch is timed separately.  The
machine's load average is printed too: other processes inflate wall time.

Usage: ``python bench/adding.py [--T 50 100] [--threshold 0.01]
[--max-epochs 60] [--seed 0] [--rules original|alternative] [--minibatch 1024]
[--sequences 10000]``.
"""

import argparse
import os
import time

import numpy as np

import hessianfree as hf
from hessianfree import demos
from hessianfree.base.backend import to_numpy


def test_mse(net, test):
    """Mean squared error of the network's last-step output on ``test``."""
    outputs = to_numpy(net.forward(test[0])[-1])
    return float(np.mean((outputs[:, -1, 0] - test[1][:, -1, 0]) ** 2))


def solve(T, threshold, max_epochs, n_sequences=10000, minibatch_size=1024, seed=0,
          rules="original"):
    """Train on the adding problem of length ``T`` until the test MSE is
    below ``threshold``; return a dict of the measurements."""
    rng = np.random.RandomState(seed)
    inputs, targets = demos.adding_data(T, n_sequences, rng)
    n_test = n_sequences // 10
    test = inputs[:n_test], targets[:n_test]
    train_in, train_t = inputs[n_test:], targets[n_test:]
    trivial = float(np.mean((test[1][:, -1, 0] - np.nanmean(train_t)) ** 2))

    optimizer = hf.opt.HessianFree(CG_iter=60, init_damping=20, plotting=False,
                                   **hf.opt.RULE_SETS[rules])
    net = demos.adding_network(optimizer, rng)
    net.optimizer = optimizer
    train_s = cpu_s = test_s = 0.0
    cg_iters = 0
    result = dict(T=T, trivial=trivial, solved_s=None, solved_epoch=None)
    for epoch in range(max_epochs):
        start, start_cpu = time.perf_counter(), time.process_time()
        batch = np.sort(net.rng.permutation(len(train_in))[:minibatch_size])
        net.cache_minibatch(train_in[batch], train_t[batch])
        net.W += optimizer.compute_update()
        train_s += time.perf_counter() - start
        cpu_s += time.process_time() - start_cpu

        start = time.perf_counter()
        mse = test_mse(net, test)
        test_s += time.perf_counter() - start
        cg_iters += optimizer.last_cg.n_iters
        print(f"  T={T} epoch {epoch + 1:3d}: test MSE {mse:.5f}, training "
              f"{train_s:6.1f} s, CG iterations so far {cg_iters}", flush=True)
        if mse < threshold:
            result.update(solved_s=train_s, solved_epoch=epoch + 1)
            break
    result.update(mse=mse, epochs=epoch + 1, train_s=train_s, cpu_s=cpu_s,
                  test_s=test_s)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--T", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--threshold", type=float, default=0.01)
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minibatch", type=int, default=1024)
    parser.add_argument("--sequences", type=int, default=10000,
                        help="sequences generated (a tenth for the test set)")
    parser.add_argument("--rules", choices=sorted(hf.opt.RULE_SETS), default="original",
                        help="HessianFree's CG and damping rules (hf.opt.RULE_SETS)")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    results = [solve(T, args.threshold, args.max_epochs, n_sequences=args.sequences,
                     minibatch_size=args.minibatch, seed=args.seed, rules=args.rules)
               for T in args.T]
    print(f"\nadding problem, HessianFree ({args.rules} rules, seed {args.seed}) on the "
          f"CPU ({os.cpu_count()} cores, "
          f"load average {load:.1f} at the start), test MSE threshold "
          f"{args.threshold}")
    print("   T  trivial MSE  epochs  training s (CPU s)  test-eval s  final MSE")
    for r in results:
        solved = (f"{r['solved_epoch']:6d}  {r['solved_s']:10.1f} ({r['cpu_s']:6.1f})"
                  if r["solved_s"] is not None
                  else f"{'-':>6s}  {'not solved':>10s} ({r['cpu_s']:6.1f})")
        print(f"{r['T']:4d}  {r['trivial']:11.4f}  {solved}  {r['test_s']:11.1f}  "
              f"{r['mse']:9.5f}")


if __name__ == "__main__":
    main()
