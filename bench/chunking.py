"""Peak memory and time of one Hessian-free update on a 60,000-example
minibatch, whole and in chunks (``HessianFree(chunk_size=...)``).

The mnist demo network ``[784, 256, 128, 10]`` (ReLU hidden layers, softmax
output, cross-entropy with the Fisher curvature, float32) on the 60,000
Fashion-MNIST training images (Debian's ``dataset-fashion-mnist``).  Each
configuration runs in a fresh process: load the data, cache the whole set
as the minibatch and compute one update with ``CG_iter`` CG iterations.  It
prints the peak resident set size (``ru_maxrss``) of the process, the part
of it above what the process held after loading the data, the time of the
update, the error after the step and the update's norm, which must agree
between configurations to float32 rounding.  The last line is ``RESULT``
with the peak-memory and time ratios of each chunk size against the whole
minibatch.

Usage: ``python bench/chunking.py [--chunks 0 20000 5000 1000] [--cg-iter 10]``
(0 means no chunking).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(chunk_size, cg_iter):
    import hessianfree as hf

    data = hf.datasets.load("fashion-mnist")
    images = np.ascontiguousarray(data.train_images, dtype=np.float32)
    targets = data.one_hot(data.train_labels).astype(np.float32)
    base = peak_mib()
    net = hf.FFNet([784, 256, 128, 10],
                   layers=[hf.nl.Linear(), hf.nl.ReLU(), hf.nl.ReLU(), hf.nl.Softmax()],
                   loss_type=hf.loss_funcs.CrossEntropy(curvature="fisher"),
                   W_init_params={"init_type": "uniform", "coeff": 1.0},
                   rng=np.random.default_rng(0))
    opt = hf.opt.HessianFree(CG_iter=cg_iter, init_damping=0.1, plotting=False,
                             chunk_size=chunk_size or None)
    net.optimizer = opt
    start = time.perf_counter()
    net.cache_minibatch(images, targets)
    delta = opt.compute_update()
    elapsed = time.perf_counter() - start
    net.W += delta
    error = net.error(inputs=images, targets=targets)
    return {"chunk": chunk_size, "peak": peak_mib(), "base": base, "time": elapsed,
            "error": error, "norm": float(np.linalg.norm(delta)),
            "cg": opt.last_cg.n_iters}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, nargs="+", default=[0, 20000, 5000, 1000])
    parser.add_argument("--cg-iter", type=int, default=10)
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.cg_iter)))
        return
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    for chunk in args.chunks:
        out = subprocess.run([sys.executable, __file__, "--worker", str(chunk),
                              "--cg-iter", str(args.cg_iter)],
                             check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"chunk_size {r['chunk'] or 'none':>6}: peak RSS {r['peak']:7.0f} MiB "
              f"({r['peak'] - r['base']:6.0f} MiB above the loaded data), update "
              f"{r['time']:6.2f} s ({r['cg']} CG iterations), error after "
              f"{r['error']:.6f}, |update| {r['norm']:.6f}")
    whole = rows[0]
    extra = whole["peak"] - whole["base"]
    ratios = " ".join(
        f"peak_extra_ratio_{r['chunk']}={(r['peak'] - r['base']) / extra:.3f} "
        f"time_ratio_{r['chunk']}={r['time'] / whole['time']:.3f}" for r in rows[1:])
    print(f"RESULT examples=60000 whole_peak_mib={whole['peak']:.0f} "
          f"whole_extra_mib={whole['peak'] - whole['base']:.0f} {ratios}")


if __name__ == "__main__":
    main()
