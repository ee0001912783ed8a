"""The mnist demo's test error and time on the embedded digits, with its
settings and with the ones it had before.

For each seed it runs ``hf.demos.mnist(model_args={"rng": seed})`` (what
``python -m hessianfree.demos mnist --seed N`` runs) and, with
``--previous``, right after it the same demo with the previous settings:
``classifier_settings()`` as it is (the variance schedule from 2,000 images,
curvature on a tenth, CG from 5 iterations), up to 40 epochs, one-hot
targets (``label_smoothing=0``).  It prints the load average, one line per
run (test error, epochs, wall time of the demo function) and a ``RESULT``
line with the range of the errors and the total times.

Usage: ``OPENBLAS_NUM_THREADS=1 python bench/mnist_demo.py [--seeds 0 1 2 3]
[--unseeded 0] [--previous]``; take the times on a quiet machine only.
"""

import argparse
import contextlib
import io
import os
import time

import hessianfree as hf
from hessianfree.data import datasets


def previous_settings():
    """``run_args`` and keyword arguments that restore the previous settings."""
    optimizer, schedule = hf.presets.classifier_settings()
    return {"optimizer": optimizer, "minibatch_size": schedule, "max_epochs": 40}, \
        {"label_smoothing": 0.0}


def run(data, seed, previous):
    run_args, kwargs = previous_settings() if previous else ({}, {})
    model_args = {} if seed is None else {"rng": seed}
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        net = hf.demos.mnist(model_args=model_args, run_args=run_args, data=data,
                             curves=False, **kwargs)
    seconds = time.perf_counter() - start
    error = net.error(inputs=data.test_images, targets=data.one_hot(data.test_labels),
                      loss_type=hf.loss_funcs.ClassificationError())
    return 100 * error, net.optimizer.state.epoch, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3])
    parser.add_argument("--unseeded", type=int, default=0,
                        help="runs without a seed (the demo's default)")
    parser.add_argument("--previous", action="store_true",
                        help="also run the previous settings after each run")
    args = parser.parse_args()
    data = datasets.load()
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    results = {"current": [], "previous": []}
    for seed in [*args.seeds, *[None] * args.unseeded]:
        for name in ("current", "previous") if args.previous else ("current",):
            error, epochs, seconds = run(data, seed, name == "previous")
            results[name].append((error, seconds))
            print(f"{name:8s} seed={seed} test error {error:.2f}% after {epochs} "
                  f"epochs, {seconds:.1f} s", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")
    summary = " ".join(
        f"{name}_error={min(e for e, _ in rows):.1f}-{max(e for e, _ in rows):.1f} "
        f"{name}_seconds={sum(s for _, s in rows):.1f}"
        for name, rows in results.items() if rows)
    print(f"RESULT {summary}")


if __name__ == "__main__":
    main()
