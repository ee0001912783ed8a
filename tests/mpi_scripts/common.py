"""Networks and sharded data shared by the scripts that tests/test_distributed.py
runs under ``mpiexec``.  Every process builds the same data set from the same
seed and keeps its own slice; the reference single-process run uses all of it."""

import json
import sys

import numpy as np

import hessianfree as hf

N_STEPS = 4  # time steps of the recurrent data


def make_net(kind, seed=0):
    """A small float64 network of ``kind`` "ff" or "rnn"."""
    rng = np.random.default_rng(seed)
    if kind == "ff":
        return hf.FFNet([3, 6, 2], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Logistic()],
                        rng=rng, dtype=np.float64)
    return hf.RNNet([2, 5, 2], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Logistic()],
                    rng=rng, dtype=np.float64,
                    W_init_params={"coeff": 0.5, "init_type": "gaussian"},
                    W_rec_params={"coeff": 0.3, "init_type": "gaussian"})


def make_data(kind, n, seed):
    """``n`` examples (inputs, targets) for the network of ``kind``."""
    rng = np.random.default_rng(seed)
    if kind == "ff":
        x = rng.standard_normal((n, 3))
        t = np.stack([np.sin(x[:, 0]) * 0.4 + 0.5, (x[:, 1] * x[:, 2] > 0) * 0.8 + 0.1],
                     axis=1)
    else:
        x = rng.standard_normal((n, N_STEPS, 2))
        t = np.stack([np.cumsum(x[..., 0], axis=1) * 0.2 + 0.5,
                      (x[..., 1] > 0) * 0.8 + 0.1], axis=-1)
    return x, t


def bounds(sizes):
    """``(start, stop)`` of each rank's slice for shard ``sizes``."""
    stops = np.cumsum(sizes)
    return [(int(stop - size), int(stop)) for size, stop in zip(sizes, stops)]


def shard(arrays, sizes, rank):
    start, stop = bounds(sizes)[rank]
    return tuple(a[start:stop] for a in arrays)


def parse_sizes(text, comm):
    sizes = [int(n) for n in text.split(",")]
    if len(sizes) != comm.Get_size():
        raise SystemExit(f"{len(sizes)} shard sizes for {comm.Get_size()} processes")
    return sizes


def rel_diff(a, b):
    """Largest difference of ``a`` and ``b`` relative to the size of ``b``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def write_json(results, filename):
    with open(filename, "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results), file=sys.stdout, flush=True)
