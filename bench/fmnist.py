"""Wall time to test accuracy on Fashion-MNIST: Hessian-free vs PyTorch Adam.

Trains the network ``[784, 256, 128, 10]`` (ReLU, ReLU, softmax; cross-entropy;
float32; CPU) with :class:`hessianfree.optimizers.HessianFree` and, when
PyTorch is importable, the same layer sizes with ``torch.optim.Adam`` (learning
rate 1e-3, batch 128, PyTorch's default initialization), and prints the wall
time each needs to reach 85% and 88% test accuracy, and their ratio, measured
in one run.

Only training counts: the clock stops while the test accuracy is measured
(after every Hessian-free update, every ``--adam-eval-every`` Adam steps); the
time spent measuring is printed separately.  Each Hessian-free epoch does what
``run_epochs`` does for one epoch (draw a minibatch, ``cache_minibatch``,
``compute_update``, add the update), without its per-epoch bookkeeping.

Data: Debian's ``dataset-fashion-mnist``
(``apt-get install dataset-fashion-mnist``) or ``--data DIR`` with the four
IDX files.  PyTorch is optional (``pip install torch``); it is never a
dependency of the library.

Run with both BLAS libraries on their best kernels; where the environment
pins OpenBLAS to an older core type (``OPENBLAS_CORETYPE``), unset it for
this command, e.g.::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/fmnist.py

The header line names the OpenBLAS kernel NumPy uses.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import hessianfree as hf  # noqa: E402
from hessianfree import datasets, training  # noqa: E402

SHAPE = [784, 256, 128, 10]
THRESHOLDS = (0.85, 0.88)


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS kernel unknown (threadpoolctl not installed)"
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    names = dict.fromkeys(f"{i.get('internal_api')} {i.get('architecture', '?')} "
                          f"x{i.get('num_threads')}" for i in infos)
    return ", ".join(names) or "no BLAS found"


class Tracker:
    """Training clock and the first times the test accuracy reached each
    threshold."""

    def __init__(self):
        self.train_s = self.eval_s = 0.0
        self.hits, self.best, self.steps = {}, 0.0, 0

    def add(self, accuracy):
        self.best = max(self.best, accuracy)
        for t in THRESHOLDS:
            if accuracy >= t and t not in self.hits:
                self.hits[t] = (self.train_s, self.steps)

    @property
    def done(self):
        return all(t in self.hits for t in THRESHOLDS)


def run_hf(data, args):
    rng = np.random.default_rng(args.seed)
    loss = hf.loss_funcs.CrossEntropy(curvature=args.curvature)
    net = hf.FFNet(SHAPE, layers=[hf.nl.Linear(), hf.nl.ReLU(), hf.nl.ReLU(),
                                  hf.nl.Softmax()],
                   loss_type=loss, W_init_params=dict(init_type=args.init),
                   rng=rng, dtype=np.float32)
    opt = hf.opt.HessianFree(CG_iter=args.cg, init_damping=args.init_damping,
                             curvature_fraction=args.curvature_fraction,
                             preconditioner=args.preconditioner, plotting=False,
                             **hf.opt.RULE_SETS[args.rules])
    net.optimizer = opt
    X, Y = data.train_images, data.one_hot(data.train_labels)
    Xt, Lt = data.test_images, data.test_labels
    track = Tracker()
    while track.train_s < args.budget and not track.done and \
            (args.max_updates is None or track.steps < args.max_updates):
        late = args.grow_at is not None and track.steps >= args.grow_at
        batch = args.batch_after if late else args.batch
        opt.CG_iter = args.cg_after if late else args.cg
        start = time.perf_counter()
        idx = training.select_minibatch(net.rng, len(X), batch)
        net.cache_minibatch(X[idx], Y[idx])
        net.W += opt.compute_update()
        track.train_s += time.perf_counter() - start
        track.steps += 1
        start = time.perf_counter()
        accuracy = float(np.mean(np.argmax(net.forward(Xt)[-1], axis=1) == Lt))
        track.eval_s += time.perf_counter() - start
        track.add(accuracy)
        if args.verbose:
            print(f"  HF epoch {track.steps}: {track.train_s:.2f} s, accuracy "
                  f"{accuracy:.4f}, CG {opt.last_cg.n_iters}, damping {opt.damping:.3g}")
    return track


def run_adam(data, args):
    import torch

    torch.manual_seed(args.seed)
    X, Y = torch.from_numpy(data.train_images), torch.from_numpy(data.train_labels)
    Xt, Yt = torch.from_numpy(data.test_images), torch.from_numpy(data.test_labels)
    model = torch.nn.Sequential(
        torch.nn.Linear(SHAPE[0], SHAPE[1]), torch.nn.ReLU(),
        torch.nn.Linear(SHAPE[1], SHAPE[2]), torch.nn.ReLU(),
        torch.nn.Linear(SHAPE[2], SHAPE[3]))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    track = Tracker()
    while track.train_s < args.budget and not track.done:
        start = time.perf_counter()
        order = torch.randperm(len(X))
        for i in range(0, len(X), 128):
            idx = order[i:i + 128]
            opt.zero_grad()
            loss_fn(model(X[idx]), Y[idx]).backward()
            opt.step()
            track.steps += 1
            if track.steps % args.adam_eval_every == 0:
                track.train_s += time.perf_counter() - start
                start = time.perf_counter()
                with torch.no_grad():
                    accuracy = float((model(Xt).argmax(1) == Yt).float().mean())
                track.eval_s += time.perf_counter() - start
                track.add(accuracy)
                if track.done or track.train_s >= args.budget:
                    return track
                start = time.perf_counter()
        track.train_s += time.perf_counter() - start
    return track


def describe(name, track):
    cells = [f"{track.hits[t][0]:7.2f} s ({track.hits[t][1]} up.)" if t in track.hits
             else "    not reached" for t in THRESHOLDS]
    print(f"{name:22s} {cells[0]:>20s} {cells[1]:>20s}   best {track.best:.4f}, "
          f"{track.steps} updates, {track.train_s:.1f} s training "
          f"(+{track.eval_s:.1f} s measuring accuracy, not counted)")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    p.add_argument("--data", default=datasets.FASHION_MNIST_DIR,
                   help="directory with the Fashion-MNIST IDX files")
    p.add_argument("--budget", type=float, default=60.0,
                   help="training seconds allowed to each optimizer")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-updates", type=int, default=None,
                   help="also stop Hessian-free after this many updates (a measure "
                        "that a loaded machine does not change)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch Adam")
    p.add_argument("--adam-eval-every", type=int, default=10)
    p.add_argument("--verbose", action="store_true")
    g = p.add_argument_group("Hessian-free settings")
    g.add_argument("--batch", type=int, default=2000, help="gradient minibatch")
    g.add_argument("--cg", type=int, default=20, help="CG iterations per update")
    g.add_argument("--curvature-fraction", type=float, default=0.1)
    g.add_argument("--init-damping", type=float, default=0.1)
    g.add_argument("--preconditioner", action="store_true")
    g.add_argument("--rules", choices=sorted(hf.opt.RULE_SETS), default="original",
                   help="HessianFree's CG and damping rules (hf.opt.RULE_SETS)")
    g.add_argument("--init", default="uniform", choices=hf.ffnet.INIT_TYPES)
    g.add_argument("--grow-at", type=int, default=40,
                   help="after this many updates switch to --batch-after and "
                        "--cg-after (a minibatch schedule); -1 never")
    g.add_argument("--batch-after", type=int, default=10000)
    g.add_argument("--cg-after", type=int, default=40)
    g.add_argument("--curvature", choices=hf.loss_funcs.CrossEntropy.CURVATURES,
                   default="fisher",
                   help="CrossEntropy(curvature=...): 'fisher' (1/y, the softmax / "
                        "cross-entropy Gauss-Newton matrix) or 'hessian' (t/y^2)")
    args = p.parse_args(argv)
    if args.grow_at is not None and args.grow_at < 0:
        args.grow_at = None
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        data = datasets.load_idx_dir(args.data, name="Fashion-MNIST",
                                     classes=datasets.FASHION_CLASSES)
    except FileNotFoundError as e:
        sys.exit(f"{e}\nInstall it with: apt-get install dataset-fashion-mnist "
                 f"(or pass --data DIR)")
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"Fashion-MNIST {len(data.train_labels)}/{len(data.test_labels)}, network "
          f"{SHAPE} ReLU/ReLU/Softmax, CrossEntropy, float32, CPU; NumPy BLAS: "
          f"{blas_info()}")
    schedule = "" if args.grow_at is None else \
        f", then batch {args.batch_after} / CG {args.cg_after} after {args.grow_at} updates"
    print(f"HF: batch {args.batch}, CG {args.cg}, curvature_fraction "
          f"{args.curvature_fraction}, init_damping {args.init_damping}, "
          f"preconditioner {args.preconditioner}, rules {args.rules}, init {args.init}, "
          f"curvature "
          f"{args.curvature}{schedule}")
    print(f"{'':22s} {'to 85%':>20s} {'to 88%':>20s}")
    ours = run_hf(data, args)
    describe("hessianfree HF", ours)
    if args.no_torch:
        return 0
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: no Adam comparison (pip install torch)")
        return 0
    adam = run_adam(data, args)
    describe(f"PyTorch Adam (x{torch.get_num_threads()})", adam)
    ratios = [f"{ours.hits[t][0] / adam.hits[t][0]:.2f}"
              if t in ours.hits and t in adam.hits else "n/a" for t in THRESHOLDS]
    print(f"{'ratio ours/Adam':22s} {ratios[0]:>12s} {ratios[1]:>12s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
