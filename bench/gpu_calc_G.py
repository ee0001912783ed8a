"""GPU curvature-product speed against the matrix-product limit and torch.func.

Builds the MNIST-demo network ``[784, 1024, 512, 256, 32, 10]`` (ReLU hidden
layers, Softmax output, CrossEntropy) with ``use_GPU=True``, caches a batch
of N=7500 float32 examples and prints

* ``calc_G`` time / time of the same GEMMs issued directly through CuPy
  (4 per weight matrix, 2 for the first one: ``a @ V``, ``R_a @ W``,
  ``delta @ W^T``, ``a^T @ delta``; the bias sums and element-wise work are
  what the library adds on top), target <= 1.3;
* the same for ``calc_grad`` (2 GEMMs per weight matrix, 1 for the first);
* when PyTorch with CUDA is importable: the time of the Gauss-Newton product
  of the same network with the same weights through ``torch.func``,
  :math:`J^T H_L J v` as ``vjp(H_L * jvp(v))``, and its agreement with
  ``calc_G``.  ``H_L`` is the one the library uses: the diagonal Hessian of
  the cross-entropy with respect to the *softmax outputs*,
  :math:`\\mathrm{diag}(t / y^2) / N` (Schraudolph 2002), not the one at the
  logits.  The forward pass for ``vjp`` is taken once and reused, as
  ``calc_G`` reuses its cached activations; ``jvp`` recomputes the primal
  outputs with every product (that is how ``torch.func.jvp`` works);
* one training epoch of the MNIST demo configuration
  (``HessianFree(CG_iter=250, init_damping=45)``, ``minibatch_size=7500``,
  test set with ``ClassificationError``) on the GPU and on the CPU.

Timings are medians of wall-clock times, each call followed by a device
synchronisation.  TF32 is off on both sides (CuPy's default; torch is told
so) unless ``CUPY_TF32=1`` is set, in which case torch gets TF32 too.

Usage: ``python bench/gpu_calc_G.py [--N 7500] [--repeats 20] [--cg-iter 250]
[--no-epoch] [--no-cpu-epoch] [--data NAME]`` (``--data``: a name or path for
:func:`hessianfree.data.datasets.load`; default: random images, which is enough for
timing).
"""

import argparse
import os
import sys
import time

import numpy as np

import hessianfree as hf
from calc_G import direct_gemms  # noqa: E402 (bench/ is the script's directory)

SHAPE = [784, 1024, 512, 256, 32, 10]


def layers():
    return [hf.nl.Linear()] + [hf.nl.ReLU()] * (len(SHAPE) - 2) + [hf.nl.Softmax()]


def make_net(use_GPU, rng, load_weights=None):
    return hf.FFNet(SHAPE, layers=layers(), loss_type=hf.loss_funcs.CrossEntropy(),
                    use_GPU=use_GPU, load_weights=load_weights, rng=rng)


def median_time(func, sync, repeats):
    """Median wall time of ``func(); sync()`` over ``repeats`` runs (after
    two warm-up runs, which also compile CuPy's kernels)."""
    for _ in range(2):
        func()
        sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def batch(rng, N):
    x = rng.random((N, SHAPE[0]), dtype=np.float32)
    t = np.eye(SHAPE[-1], dtype=np.float32)[rng.integers(0, SHAPE[-1], N)]
    return x, t


# ------------------------------------------------------------ torch.func
def torch_gn_product(net, x, t, v):
    """``(time_fn, G_v)``: a callable computing the Gauss-Newton product of
    ``net`` through torch.func, and its result for ``v`` (on the host);
    None if PyTorch with CUDA is not importable."""
    try:
        import torch
        from torch.func import jvp, vjp
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    tf32 = os.environ.get("CUPY_TF32", "0") == "1"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    dev = torch.device("cuda")

    def split(flat):
        flat = torch.as_tensor(hf.backend.to_numpy(flat), device=dev)
        parts = []
        for conn in net._conn_list():
            start, w_end, b_end = net.offsets[conn]
            parts.append(flat[start:w_end].reshape(SHAPE[conn[0]], SHAPE[conn[1]]))
            parts.append(flat[w_end:b_end])
        return tuple(parts)

    params, tangent = split(net.W), split(v)
    xs = torch.as_tensor(x, device=dev)
    ts = torch.as_tensor(t, device=dev)

    def outputs(p):
        h = xs
        for k in range(0, len(p), 2):
            h = h @ p[k] + p[k + 1]
            h = torch.relu(h) if k + 2 < len(p) else torch.softmax(h, dim=-1)
        return h

    y, vjp_fn = vjp(outputs, params)  # forward pass once, reused
    y_floor = y.clamp_min(float(np.sqrt(np.finfo(np.float32).tiny)))
    H = ts / (y_floor * y_floor) / xs.shape[0]  # d2 CE / dy^2, mean over batch

    def product():
        _, Jv = jvp(outputs, (params,), (tangent,))
        return vjp_fn(H * Jv)[0]

    G_v = torch.cat([g.reshape(-1) for g in product()]).cpu().numpy()
    return (product, torch.cuda.synchronize), G_v


# ----------------------------------------------------------------- epoch
def epoch_time(use_GPU, data, W0, args):
    """Seconds for one epoch of the MNIST demo configuration, and the number
    of CG iterations it took."""
    (x, t), test = data
    net = make_net(use_GPU, np.random.default_rng(1), load_weights=W0)
    opt = hf.opt.HessianFree(CG_iter=args.cg_iter, init_damping=45)
    sync = (lambda: None) if not use_GPU else net.xp.cuda.Device().synchronize
    if use_GPU:  # compile kernels and fill the memory pool first
        make_net(True, np.random.default_rng(1), W0).run_epochs(
            x, t, hf.opt.HessianFree(CG_iter=2), max_epochs=1, minibatch_size=7500,
            test=test, test_err=hf.loss_funcs.ClassificationError(), print_period=None)
        sync()
    start = time.perf_counter()
    net.run_epochs(x, t, opt, max_epochs=1, minibatch_size=7500, test=test,
                   test_err=hf.loss_funcs.ClassificationError(), print_period=None)
    sync()
    return time.perf_counter() - start, opt.last_cg.n_iters


def epoch_data(args, rng):
    if args.data is None:
        return batch(rng, 10000), batch(rng, 2000)
    from hessianfree.data import datasets
    data = datasets.load(args.data)
    return ((data.train_images, data.one_hot(data.train_labels)),
            (data.test_images, data.one_hot(data.test_labels)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=7500)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--cg-iter", type=int, default=250)
    parser.add_argument("--no-epoch", action="store_true",
                        help="skip the one-epoch comparison")
    parser.add_argument("--no-cpu-epoch", action="store_true",
                        help="time the epoch on the GPU only")
    parser.add_argument("--data", default=None,
                        help="data set for the epoch (hessianfree.data.datasets.load)")
    args = parser.parse_args()
    if not hf.gpu_enabled:
        sys.exit(f"bench/gpu_calc_G.py needs an NVIDIA GPU with CuPy: "
                 f"{hf.gpu.unavailable_reason}. {hf.gpu.INSTALL_HINT}.")
    cp = hf.gpu.cupy
    sync = cp.cuda.Device().synchronize
    rng = np.random.default_rng(0)

    net = make_net(True, rng)
    x, t = batch(rng, args.N)
    net.cache_minibatch(x, t)
    v = rng.standard_normal(net.n_params).astype(np.float32)
    v_dev, out = cp.asarray(v), cp.empty(net.n_params, np.float32)

    limit_G, limit_grad = direct_gemms(SHAPE, args.N, rng, xp=cp)
    t_G = median_time(lambda: net.calc_G(v_dev, damping=1.0, out=out), sync, args.repeats)
    t_limit_G = median_time(limit_G, sync, args.repeats)
    t_grad = median_time(net.calc_grad, sync, args.repeats)
    t_limit_grad = median_time(limit_grad, sync, args.repeats)

    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    print(f"{props['name'].decode()}, CuPy {cp.__version__}, CUDA runtime "
          f"{cp.cuda.runtime.runtimeGetVersion()}, TF32 "
          f"{'on' if os.environ.get('CUPY_TF32') == '1' else 'off'}")
    print(f"network {SHAPE}, N={args.N}, float32, median of {args.repeats}")
    print(f"calc_G:      {t_G * 1e3:8.3f} ms   CuPy GEMM limit {t_limit_G * 1e3:8.3f} ms"
          f"   ratio {t_G / t_limit_G:.3f} (target <= 1.3)")
    print(f"calc_grad:   {t_grad * 1e3:8.3f} ms   CuPy GEMM limit "
          f"{t_limit_grad * 1e3:8.3f} ms   ratio {t_grad / t_limit_grad:.3f}")

    peer = torch_gn_product(net, x, t, v)
    torch_ms = "n/a"
    if peer is None:
        print("torch.func:  not measured (PyTorch with CUDA is not importable)")
    else:
        (product, torch_sync), G_torch = peer
        t_torch = median_time(product, torch_sync, args.repeats)
        G_ours = hf.backend.to_numpy(net.calc_G(v_dev))
        diff = np.abs(G_ours - G_torch).max() / np.abs(G_torch).max()
        print(f"torch.func:  {t_torch * 1e3:8.3f} ms   (jvp + vjp, same network and "
              f"weights; max relative difference to calc_G {diff:.2e})")
        print(f"calc_G / torch.func: {t_G / t_torch:.3f} (target < 1)")
        torch_ms = f"{t_torch * 1e3:.3f}"
    print(f"RESULT N={args.N} calc_G_ms={t_G * 1e3:.3f} limit_ms={t_limit_G * 1e3:.3f} "
          f"ratio={t_G / t_limit_G:.3f} torch_ms={torch_ms}")

    if args.no_epoch:
        return
    data = epoch_data(args, np.random.default_rng(2))
    W0 = hf.backend.to_numpy(net.W)
    t_gpu, it_gpu = epoch_time(True, data, W0, args)
    print(f"one epoch of the MNIST demo configuration (CG_iter={args.cg_iter}; "
          f"per CG iteration: epoch time / iterations):")
    print(f"  GPU {t_gpu:8.2f} s, {it_gpu} CG iterations, "
          f"{t_gpu / max(it_gpu, 1) * 1e3:.1f} ms per iteration")
    if not args.no_cpu_epoch:
        t_cpu, it_cpu = epoch_time(False, data, W0, args)
        print(f"  CPU {t_cpu:8.2f} s, {it_cpu} CG iterations, "
              f"{t_cpu / max(it_cpu, 1) * 1e3:.1f} ms per iteration")
        print(f"  speed-up {t_cpu / t_gpu:.1f}x per epoch, "
              f"{(t_cpu / max(it_cpu, 1)) / (t_gpu / max(it_gpu, 1)):.1f}x per CG "
              f"iteration")


if __name__ == "__main__":
    main()
