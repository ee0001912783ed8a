"""Cost of the exact Hessian-vector product against the Gauss-Newton product.

Times ``net.calc_Hv(v)`` and ``net.calc_G(v)`` alternately on the same
cached minibatch and prints the median of the per-pair ratios (which keeps
the ratio meaningful on a busy machine), for the mnist demo network
``[784, 256, 128, 10]`` (ReLU, softmax, cross-entropy, float32, 2,000
examples) and a recurrent ``RNNet([1, 100, 1])`` with tanh units (200
sequences of 100 steps).  The first ``calc_Hv`` on a batch also runs a
gradient pass, whose results later products reuse; its time is printed
separately.  Ends with a ``RESULT`` line.

Usage: ``python bench/hessian.py [--repeats 10]``.
"""

import argparse
import os
import time

import numpy as np

import hessianfree as hf


def timed(func):
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def ratio(net, repeats):
    """(median Hv/G time ratio, first Hv time / G time)."""
    v = np.random.default_rng(1).standard_normal(net.n_params).astype(net.dtype)
    net.weights_changed()  # the next Hessian product builds its state afresh
    first = timed(lambda: net.calc_Hv(v))
    net.calc_G(v)
    G_time = timed(lambda: net.calc_G(v))
    ratios = [timed(lambda: net.calc_Hv(v)) / timed(lambda: net.calc_G(v))
              for _ in range(repeats)]
    return float(np.median(ratios)), first / G_time


def feedforward():
    rng = np.random.default_rng(0)
    net = hf.FFNet([784, 256, 128, 10],
                   layers=[hf.nl.Linear(), hf.nl.ReLU(), hf.nl.ReLU(), hf.nl.Softmax()],
                   loss_type=hf.loss_funcs.CrossEntropy(), rng=rng,
                   W_init_params={"init_type": "uniform", "coeff": 1.0})
    labels = rng.integers(0, 10, 2000)
    net.cache_minibatch(rng.random((2000, 784), dtype=np.float32),
                        np.eye(10, dtype=np.float32)[labels])
    return net


def recurrent():
    rng = np.random.default_rng(0)
    net = hf.RNNet([1, 100, 1], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()],
                   rng=rng)
    x = rng.standard_normal((200, 100, 1)).astype(np.float32)
    net.cache_minibatch(x, np.cumsum(x, axis=1) / 10)
    return net


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = {}
    for name, make in (("ff", feedforward), ("rnn", recurrent)):
        results[name] = ratio(make(), args.repeats)
        print(f"{name}: calc_Hv / calc_G time, median of {args.repeats} pairs: "
              f"{results[name][0]:.2f}; first calc_Hv on the batch: "
              f"{results[name][1]:.2f} calc_G")
    print("RESULT " + " ".join(f"{k}_hv_over_g={r[0]:.3f} {k}_first_hv_over_g={r[1]:.3f}"
                               for k, r in results.items()))


if __name__ == "__main__":
    main()
