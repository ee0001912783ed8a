"""Curvature-product speed against the matrix-product limit.

Builds the MNIST-demo network ``[784, 1024, 512, 256, 32, 10]`` (ReLU hidden
layers, Softmax output, CrossEntropy), caches a batch of N=2000 float32
examples, and prints the time of ``calc_G`` and ``calc_grad`` divided by the
time of the same matrix products issued directly with NumPy:

* ``calc_G``: 4 GEMMs per weight matrix (``R_a @ W``, ``a @ V``,
  ``a^T @ delta``, ``delta @ W^T``), 2 for the first one (its input has no
  R-term and needs no backpropagated error);
* ``calc_grad``: 2 GEMMs per weight matrix, 1 for the first.

Then the recurrent case: ``RNNet([1, 100, 1])`` with Logistic units, a batch
of 500 sequences of 200 steps, ``calc_G`` against the 4 recurrent GEMMs per
time step (``R_a[t-1] @ W_rec``, ``a[t-1] @ V_rec``, ``delta[t+1] @ W_rec^T``,
``a[t-1]^T @ delta[t]``, each ``(500, 100) x (100, 100)``) issued directly
with NumPy, one time step after the other.  Timings alternate between the
two and the median of the per-pair ratios is printed, which keeps the ratio
meaningful on a busy machine.

Usage: ``python bench/calc_G.py [--N 2000] [--repeats 20] [--rnn-N 500]
[--rnn-T 200] [--only ff|rnn] [--clock wall|cpu]``.
"""

import argparse
import time

import numpy as np

import hessianfree as hf

SHAPE = [784, 1024, 512, 256, 32, 10]
#: The timer: wall time, or this process's CPU time with ``--clock cpu``
#: (far steadier when the machine is shared: waiting for a core is not counted).
CLOCK = [time.perf_counter]


def best_time(func, repeats):
    """Median wall time of ``func()`` over ``repeats`` runs (after a warm-up)."""
    func()
    times = []
    for _ in range(repeats):
        start = CLOCK[0]()
        func()
        times.append(CLOCK[0]() - start)
    return float(np.median(times))


def direct_gemms(shape, N, rng, dtype=np.float32, xp=np):
    """Callables issuing the calc_G and calc_grad GEMMs directly with the
    array module ``xp`` (NumPy, or CuPy for ``bench/gpu_calc_G.py``)."""
    def rand(*size):
        return xp.asarray(rng.standard_normal(size).astype(dtype))
    acts = [rand(N, n) for n in shape]
    deltas = [rand(N, n) for n in shape]
    Ws = [rand(a, b) for a, b in zip(shape, shape[1:])]
    outs = [xp.empty((N, n), dtype) for n in shape]
    grads = [xp.empty_like(W) for W in Ws]

    def G():
        for i, W in enumerate(Ws):
            xp.matmul(acts[i], W, out=outs[i + 1])            # a @ V
            if i > 0:
                xp.matmul(acts[i], W, out=outs[i + 1])        # R_a @ W
                xp.matmul(deltas[i + 1], W.T, out=outs[i])    # delta @ W^T
            xp.matmul(acts[i].T, deltas[i + 1], out=grads[i])  # a^T @ delta

    def grad():
        for i, W in enumerate(Ws):
            if i > 0:
                xp.matmul(deltas[i + 1], W.T, out=outs[i])
            xp.matmul(acts[i].T, deltas[i + 1], out=grads[i])
    return G, grad


RNN_SHAPE = [1, 100, 1]


def paired_times(func, limit, repeats):
    """Median times of ``func()`` and ``limit()`` and the median of their
    ratios, timing them alternately (after a warm-up of each)."""
    func()
    limit()
    times, ratios = [], []
    for _ in range(repeats):
        pair = []
        for f in (func, limit):
            start = CLOCK[0]()
            f()
            pair.append(CLOCK[0]() - start)
        times.append(pair)
        ratios.append(pair[0] / pair[1])
    times = np.median(np.asarray(times), axis=0)
    return float(times[0]), float(times[1]), float(np.median(ratios))


def recurrent_gemms(n, N, T, rng, dtype=np.float32):
    """A callable issuing the 4 recurrent GEMMs of every time step directly."""
    acts = rng.standard_normal((T, N, n)).astype(dtype)
    R_acts = rng.standard_normal((T, N, n)).astype(dtype)
    deltas = rng.standard_normal((T, N, n)).astype(dtype)
    W, V = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    out, grad = np.empty((N, n), dtype), np.empty((n, n), dtype)

    def gemms():
        for t in range(1, T):
            np.matmul(R_acts[t - 1], W, out=out)        # R_a[t-1] @ W_rec
            np.matmul(acts[t - 1], V, out=out)          # a[t-1] @ V_rec
            np.matmul(deltas[t], W.T, out=out)          # delta[t] @ W_rec^T
            np.matmul(acts[t - 1].T, deltas[t], out=grad)  # a[t-1]^T @ delta[t]
    return gemms


def rnn_case(N, T, repeats):
    """Print the recurrent calc_G time over the recurrent GEMM limit."""
    rng = np.random.default_rng(0)
    net = hf.RNNet(RNN_SHAPE, layers=hf.nl.Logistic(), rng=rng)
    x = rng.standard_normal((N, T, RNN_SHAPE[0])).astype(np.float32)
    t = rng.random((N, T, RNN_SHAPE[-1])).astype(np.float32)
    net.cache_minibatch(x, t)
    v = rng.standard_normal(net.n_params).astype(np.float32)
    out = np.empty_like(v)
    t_G, t_limit, ratio = paired_times(lambda: net.calc_G(v, damping=1.0, out=out),
                                       recurrent_gemms(RNN_SHAPE[1], N, T, rng), repeats)
    print(f"network RNNet{RNN_SHAPE} Logistic, N={N}, T={T}, float32, "
          f"median of {repeats} pairs")
    print(f"calc_G:    {t_G * 1e3:8.2f} ms   recurrent GEMM limit "
          f"{t_limit * 1e3:8.2f} ms   ratio {ratio:.3f}")


def ff_case(args):
    """Print the feed-forward calc_G and calc_grad times over their limits."""
    rng = np.random.default_rng(0)

    net = hf.FFNet(SHAPE, layers=[hf.nl.Linear()] + [hf.nl.ReLU()] * 4 + [hf.nl.Softmax()],
                   loss_type=hf.loss_funcs.CrossEntropy(), rng=rng)
    x = rng.random((args.N, SHAPE[0]), dtype=np.float32)
    t = np.eye(SHAPE[-1], dtype=np.float32)[rng.integers(0, SHAPE[-1], args.N)]
    net.cache_minibatch(x, t)
    v = rng.standard_normal(net.n_params).astype(np.float32)
    out = np.empty_like(v)

    limit_G, limit_grad = direct_gemms(SHAPE, args.N, rng)
    t_G = best_time(lambda: net.calc_G(v, damping=1.0, out=out), args.repeats)
    t_limit_G = best_time(limit_G, args.repeats)
    t_grad = best_time(net.calc_grad, args.repeats)
    t_limit_grad = best_time(limit_grad, args.repeats)

    print(f"network {SHAPE}, N={args.N}, float32, median of {args.repeats}")
    print(f"calc_G:    {t_G * 1e3:8.2f} ms   GEMM limit {t_limit_G * 1e3:8.2f} ms   "
          f"ratio {t_G / t_limit_G:.3f}")
    print(f"calc_grad: {t_grad * 1e3:8.2f} ms   GEMM limit {t_limit_grad * 1e3:8.2f} ms   "
          f"ratio {t_grad / t_limit_grad:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rnn-N", type=int, default=500)
    parser.add_argument("--rnn-T", type=int, default=200)
    parser.add_argument("--only", choices=["ff", "rnn"])
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args()
    if args.clock == "cpu":
        CLOCK[0] = time.process_time
    if args.only != "rnn":
        ff_case(args)
    if args.only != "ff":
        rnn_case(args.rnn_N, args.rnn_T, args.repeats)


if __name__ == "__main__":
    main()
