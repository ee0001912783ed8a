"""Input derivatives against ``torch.func`` (CPU), on the same weights.

For input sizes 2, 10 and 50, widths 16, 64 and 256, three hidden Tanh layers
and a linear output of ``--n-out`` units (1 by default), a batch of 1,000
examples, in float32 and float64, this times

* the Jacobian of the outputs with respect to the inputs:
  ``net.input_derivatives(x)`` in forward and backward mode against
  ``vmap(jacfwd(f))`` and ``vmap(jacrev(f))``;
* the Hessian: ``net.input_derivatives(x, hessian=True)`` in forward and
  backward mode against ``vmap(torch.func.hessian(f))`` (forward over
  reverse);

and checks that both libraries agree (largest difference relative to the
largest entry).  Each time is the median of ``--repeats`` runs after a
warm-up, the calls of one configuration taken in turns; the ratio ``torch /
ours`` above 1 means we are faster.  Both libraries run with ``--threads``
threads (1 by default: on a busy shared machine multithreaded small matrix
products mostly wait for their threads to be scheduled).  The load average
is printed first and last: compare ratios from one run only.

Each configuration ends with one line
``RESULT dtype=... n_in=... width=... n_out=... grad_fwd_s=... grad_bwd_s=...
jacfwd_s=... jacrev_s=... hess_fwd_s=... hess_bwd_s=... torch_hessian_s=...
grad_speedup=... hess_speedup=... max_rel_diff=...`` where ``grad_speedup``
is ``jacrev`` over our faster mode and ``hess_speedup`` ``torch.func.hessian``
over our faster mode.

Usage: ``python bench/input_derivatives.py [--repeats 5] [--n-out 1]
[--sizes 2,10,50] [--widths 16,64,256] [--dtypes float32,float64]
[--threads 1]``.
"""

import argparse
import os
import time

import numpy as np
import threadpoolctl
import torch
from torch.func import hessian, jacfwd, jacrev, vmap

import hessianfree as hf

BATCH = 1000
HIDDEN = 3


def interleaved_times(calls, repeats, heavy=3.0):
    """Median wall time of each callable, timed in turns (one call of each
    per round, after a warm-up round) so that a change of load on a shared
    machine affects all of them alike.  A callable whose warm-up took more
    than ``heavy`` seconds is timed once, in the first round."""
    times = {name: [] for name in calls}
    once = set()
    for name, call in calls.items():
        start = time.perf_counter()
        call()
        if time.perf_counter() - start > heavy:
            once.add(name)
    for r in range(repeats):
        for name, call in calls.items():
            if name in once and r > 0:
                continue
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def make_net(n_in, width, n_out, dtype, seed):
    shape = [n_in] + [width] * HIDDEN + [n_out]
    layers = [hf.nl.Linear()] + [hf.nl.Tanh()] * HIDDEN + [hf.nl.Linear()]
    return hf.FFNet(shape, layers=layers, dtype=dtype, rng=np.random.default_rng(seed),
                    W_init_params=dict(init_type="uniform", coeff=1.5, biases=0.1))


def torch_function(net):
    """``f(x)`` for one example (torch tensor ``(n_in,)``) with the net's
    weights."""
    params = [(torch.from_numpy(np.array(W)), torch.from_numpy(np.array(b)))
              for W, b in (net.get_weights(net.W, (i, i + 1))
                           for i in range(len(net.shape) - 1))]

    def f(x):
        for W, b in params[:-1]:
            x = torch.tanh(x @ W + b)
        W, b = params[-1]
        return x @ W + b
    return f


def rel_diff(ours, theirs):
    theirs = theirs.numpy().astype(np.float64)
    return float(np.abs(ours.astype(np.float64) - theirs).max() / np.abs(theirs).max())


def run_case(n_in, width, n_out, dtype, repeats):
    net = make_net(n_in, width, n_out, dtype, seed=n_in * 1000 + width)
    x = np.random.default_rng(0).standard_normal((BATCH, n_in)).astype(dtype)
    xt = torch.from_numpy(x)
    f = torch_function(net)
    torch_calls = {"jacfwd": vmap(jacfwd(f)), "jacrev": vmap(jacrev(f)),
                   "torch_hessian": vmap(hessian(f))}
    calls = {}
    for mode in ("forward", "backward"):
        key = mode[:3]
        calls[f"grad_{key}"] = lambda mode=mode: net.input_derivatives(x, mode=mode)
        calls[f"hess_{key}"] = lambda mode=mode: net.input_derivatives(
            x, hessian=True, mode=mode)
    for name, call in torch_calls.items():
        calls[name] = lambda call=call: call(xt)
    with torch.no_grad():
        t = interleaved_times(calls, repeats)
        J_t, H_t = torch_calls["jacrev"](xt), torch_calls["torch_hessian"](xt)
    diff = 0.0
    for mode in ("forward", "backward"):
        r = net.input_derivatives(x, hessian=True, mode=mode)
        diff = max(diff, rel_diff(r.jacobian, J_t), rel_diff(r.hessian, H_t))
    return t, diff


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-out", type=int, default=1)
    parser.add_argument("--sizes", default="2,10,50")
    parser.add_argument("--widths", default="16,64,256")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    threadpoolctl.threadpool_limits(args.threads)
    torch.set_num_threads(args.threads)
    blas = threadpoolctl.threadpool_info()
    print(f"load average: {os.getloadavg()}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; numpy {np.__version__}, BLAS threads "
          f"{[pool['num_threads'] for pool in blas]}")
    header = (f"{'dtype':8}{'n_in':>5}{'width':>6} | {'ours fwd':>9}{'ours bwd':>9}"
              f"{'jacfwd':>9}{'jacrev':>9}{'ratio':>7} | {'ours fwd':>9}{'ours bwd':>9}"
              f"{'hessian':>9}{'ratio':>7} | {'rel diff':>9}")
    print("times in ms; ratio = torch (jacrev / hessian) over our faster mode")
    print(f"{'':19} | {'Jacobian':^43} | {'Hessian':^34} |")
    print(header)
    for dtype in args.dtypes.split(","):
        for n_in in map(int, args.sizes.split(",")):
            for width in map(int, args.widths.split(",")):
                t, diff = run_case(n_in, width, args.n_out, np.dtype(dtype), args.repeats)
                g = t["jacrev"] / min(t["grad_for"], t["grad_bac"])
                h = t["torch_hessian"] / min(t["hess_for"], t["hess_bac"])
                ms = {k: 1e3 * v for k, v in t.items()}
                print(f"{dtype:8}{n_in:5d}{width:6d} | {ms['grad_for']:9.2f}"
                      f"{ms['grad_bac']:9.2f}{ms['jacfwd']:9.2f}{ms['jacrev']:9.2f}{g:7.2f}"
                      f" | {ms['hess_for']:9.2f}{ms['hess_bac']:9.2f}"
                      f"{ms['torch_hessian']:9.2f}{h:7.2f} | {diff:9.1e}", flush=True)
                print(f"RESULT dtype={dtype} n_in={n_in} width={width} n_out={args.n_out} "
                      f"grad_fwd_s={t['grad_for']:.5f} grad_bwd_s={t['grad_bac']:.5f} "
                      f"jacfwd_s={t['jacfwd']:.5f} jacrev_s={t['jacrev']:.5f} "
                      f"hess_fwd_s={t['hess_for']:.5f} hess_bwd_s={t['hess_bac']:.5f} "
                      f"torch_hessian_s={t['torch_hessian']:.5f} grad_speedup={g:.2f} "
                      f"hess_speedup={h:.2f} max_rel_diff={diff:.1e}", flush=True)
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
