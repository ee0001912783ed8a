"""Data-parallel scaling: time per Hessian-free epoch on 1 and 2 MPI processes.

Trains the MNIST-demo network ``[784, 1024, 512, 256, 32, 10]`` (ReLU hidden
layers, Softmax output, CrossEntropy, float32) on the first ``--N``
Fashion-MNIST training images (``/usr/share/datasets/fashion-mnist``, Debian's
``dataset-fashion-mnist``; MNIST-sized random data where it is missing),
full batch, ``--cg`` CG iterations per epoch (``cg_rel_tol=0`` and a small
initial damping, so that every epoch runs them all).  It launches itself
three times:

* ``mpiexec -n 1``: one process, one BLAS thread (the baseline, which runs the
  single-process code);
* ``mpiexec -n 2``: two processes, one BLAS thread each, half the data each;
* one process with two BLAS threads (the other way to use two cores).

It prints the median time per epoch (epochs after the first), the parallel
efficiency :math:`E_2 = T_1 / (2 T_2)`, the bytes each process moved per
curvature product and the time spent in reductions, then the scaling model of
``docs/distributed.rst`` with these figures plugged in: the predicted
efficiency at K = 8, 64, 512 machines on a 100 Gb/s network.

Usage: ``python bench/mpi_scaling.py [--N 6000] [--epochs 3] [--cg 10]``
(needs ``pip install ".[mpi]"``).
"""

import argparse
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

SHAPE = [784, 1024, 512, 256, 32, 10]
FASHION = "/usr/share/datasets/fashion-mnist"
#: Network of the model: bandwidth (bytes/s) and per-message latency (s).
BANDWIDTH = 100e9 / 8
LATENCY = 5e-6
MODEL_K = (8, 64, 512)


def load_fashion(n):
    """First ``n`` Fashion-MNIST training images in [0, 1] and one-hot labels,
    or None if the files are missing."""
    images = os.path.join(FASHION, "train-images-idx3-ubyte.gz")
    labels = os.path.join(FASHION, "train-labels-idx1-ubyte.gz")
    if not (os.path.exists(images) and os.path.exists(labels)):
        return None
    with gzip.open(images) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)[:n]
    with gzip.open(labels) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return x.astype(np.float32) / 255, np.eye(10, dtype=np.float32)[y]


def load_data(n):
    data = load_fashion(n)
    if data is not None:
        return data, "Fashion-MNIST"
    rng = np.random.default_rng(0)
    x = rng.random((n, 784), dtype=np.float32)
    return (x, np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]), "random MNIST-sized"


# ---------------------------------------------------------------- worker
def worker(args):
    """One process of a run: train on this rank's shard, report on rank 0."""
    from mpi4py import MPI

    import hessianfree as hf
    from hessianfree.parallel import distributed

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    (x, t), source = load_data(args.N)
    lo, hi = rank * args.N // size, (rank + 1) * args.N // size
    net = hf.FFNet(SHAPE, layers=[hf.nl.Linear()] + [hf.nl.ReLU()] * 4 + [hf.nl.Softmax()],
                   loss_type=hf.loss_funcs.CrossEntropy(), rng=np.random.default_rng(0),
                   W_init_params={"init_type": "uniform"})
    n_G, t_G = [0], [0.0]
    calc_G = net.calc_G

    def counted_calc_G(*a, **k):  # count and time the curvature products
        start = time.perf_counter()
        result = calc_G(*a, **k)
        n_G[0] += 1
        t_G[0] += time.perf_counter() - start
        return result
    net.calc_G = counted_calc_G
    opt = hf.opt.HessianFree(CG_iter=args.cg, cg_rel_tol=0, init_damping=0.01,
                             plotting=False)
    distributed.reset_stats()
    cpu = time.process_time()
    net.run_epochs(x[lo:hi], t[lo:hi], opt, max_epochs=args.epochs, print_period=None,
                   comm=comm)
    cpu = time.process_time() - cpu
    times = np.diff([0.0] + net.plots["time (s)"])
    if rank == 0:
        stats = distributed.stats
        with open(args.out, "w") as f:
            json.dump({"size": size, "source": source, "n_params": net.n_params,
                       "cpu_s_per_epoch": cpu / args.epochs,
                       **serial_costs(net.n_params, args.cg),
                       "epoch_s": float(np.median(times[1:] if len(times) > 1 else times)),
                       "epochs": times.tolist(), "calc_G_calls": n_G[0],
                       "calc_G_s": t_G[0], "reduce_calls": stats.calls,
                       "reduce_bytes": stats.bytes, "reduce_s": stats.seconds,
                       "train_error": net.plots["training error (log)"][-1]}, f)


def serial_costs(P, iters):
    """Seconds per CG iteration of the work that does not shrink with K:
    CG's vector operations on P values (``cg_s``, without the product) and
    the host-side packing of the reduction buffer (``stage_s``, the
    operations of :func:`hessianfree.parallel.distributed.allreduce_mean`)."""
    from hessianfree.optim.cg import conjugate_gradient

    rng = np.random.default_rng(1)
    d = np.logspace(0, 4, P).astype(np.float32)  # no convergence in ``iters``
    b = rng.standard_normal(P).astype(np.float32)

    def matvec(v, out):
        return np.multiply(d, v, out=out)
    start = time.perf_counter()
    result = conjugate_gradient(matvec, b, None, max_iters=iters, rel_tol=0)
    cg_s = (time.perf_counter() - start) / max(result.n_iters, 1)
    out = np.empty_like(b)
    start = time.perf_counter()
    for _ in range(iters):
        matvec(b, out)
    cg_s -= (time.perf_counter() - start) / iters
    start = time.perf_counter()
    for _ in range(iters):
        buf = np.empty(P + 1, dtype=np.float32)
        np.multiply(b, 3, out=buf[:-1])
        buf[-1] = 3
        buf[:-1] /= buf[-1]
        b[...] = buf[:-1]
    return {"cg_s": max(cg_s, 0.0), "stage_s": (time.perf_counter() - start) / iters}


# ---------------------------------------------------------------- driver
def launch(args, n_procs, threads, use_mpiexec=True):
    """Run the worker and return its JSON report."""
    fd, out = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")]))
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--out", out,
               "--N", str(args.N), "--epochs", str(args.epochs), "--cg", str(args.cg)]
    if use_mpiexec:
        command = [find_mpiexec(), "-n", str(n_procs)] + command
    try:
        subprocess.run(command, env=env, check=True)
        with open(out) as f:
            return json.load(f)
    finally:
        os.remove(out)


def find_mpiexec():
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = beside if os.access(beside, os.X_OK) else shutil.which("mpiexec")
    if found is None:
        raise SystemExit('mpiexec not found: pip install ".[mpi]"')
    return found


def allreduce_seconds(n_bytes, K, bandwidth=BANDWIDTH, latency=LATENCY):
    """Reduce-scatter + allgather (Rabenseifner) time for ``n_bytes``."""
    if K == 1:
        return 0.0
    return 2 * math.log2(K) * latency + 2 * (K - 1) / K * n_bytes / bandwidth


def model(one, N_measured, N_model):
    """Predicted time per CG iteration and efficiency at ``MODEL_K`` for a
    global batch ``N_model``, from the 1-process run on ``N_measured``
    examples (docs/distributed.rst, "A scaling model")."""
    P = one["n_params"]
    t_ex = one["calc_G_s"] / one["calc_G_calls"] / N_measured  # s per example per G v
    serial = one["cg_s"]
    T_1 = t_ex * N_model + serial
    rows = []
    for K in MODEL_K:
        t_comp = t_ex * N_model / K
        t_comm = allreduce_seconds(4 * (P + 1), K)
        T_K = t_comp + serial + one["stage_s"] + t_comm
        rows.append((K, t_comp, t_comm, T_K, T_1 / (K * T_K)))
    return t_ex, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=6000, help="training examples (total)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--cg", type=int, default=10, help="CG iterations per epoch")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    one = launch(args, 1, 1)
    two = launch(args, 2, 1)
    threads = launch(args, 1, 2, use_mpiexec=False)
    P = one["n_params"]
    print(f"network {SHAPE} ({P} parameters), {one['source']}, N={args.N} "
          f"full batch, {args.cg} CG iterations/epoch, float32, {os.cpu_count()} cores")
    print(f"{'run':30s} {'s/epoch':>8s} {'CPU s/epoch':>11s} {'G v calls':>9s} "
          f"{'reduce s':>9s} {'error':>7s}")
    for name, r in (("1 process, 1 thread", one), ("2 processes, 1 thread each", two),
                    ("1 process, 2 BLAS threads", threads)):
        print(f"{name:30s} {r['epoch_s']:8.3f} {r['cpu_s_per_epoch']:11.3f} "
              f"{r['calc_G_calls']:9d} {r['reduce_s']:9.3f} {r['train_error']:7.4f}")
    print(f"load average while running: {os.getloadavg()[0]:.2f} (timings need an "
          f"otherwise idle machine)")
    vector_calls = two["calc_G_calls"] + args.epochs  # + one gradient per epoch
    print(f"parallel efficiency E2 = T1 / (2 T2) = "
          f"{one['epoch_s'] / (2 * two['epoch_s']):.3f}; speed-up "
          f"{one['epoch_s'] / two['epoch_s']:.2f}x (2 BLAS threads: "
          f"{one['epoch_s'] / threads['epoch_s']:.2f}x)")
    print(f"CPU-time efficiency (rank 0's CPU seconds; insensitive to other load) = "
          f"{one['cpu_s_per_epoch'] / (2 * two['cpu_s_per_epoch']):.3f}")
    print(f"bytes sent per curvature product and process: {4 * (P + 1)} "
          f"(one Allreduce of P+1 float32); measured {two['reduce_bytes']} bytes in "
          f"{two['reduce_calls']} reductions ({vector_calls} of them vectors)")
    print(f"share of the 2-process epoch spent in reductions: "
          f"{two['reduce_s'] / (args.epochs * two['epoch_s']):.1%}")
    for N_model in (60000, 10000):
        t_ex, rows = model(one, args.N, N_model)
        print(f"model, global batch {N_model}: {t_ex * 1e6:.1f} us per example per G v, "
              f"CG vector work {one['cg_s'] * 1e3:.2f} ms and buffer packing "
              f"{one['stage_s'] * 1e3:.2f} ms per iteration (measured, 1 core); "
              f"{BANDWIDTH * 8 / 1e9:.0f} Gb/s, {LATENCY * 1e6:.0f} us latency")
        for K, t_comp, t_comm, T_K, eff in rows:
            print(f"  K={K:4d}: G v {t_comp * 1e3:9.3f} ms + Allreduce "
                  f"{t_comm * 1e3:6.3f} ms -> {T_K * 1e3:9.3f} ms per CG iteration, "
                  f"efficiency {eff:.3f}")


if __name__ == "__main__":
    main()
