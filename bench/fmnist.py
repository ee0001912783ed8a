"""Wall time to test accuracy on Fashion-MNIST: Hessian-free vs PyTorch Adam.

Trains the network ``[784, 256, 128, 10]`` (ReLU, ReLU, softmax; cross-entropy;
float32; CPU) with :class:`hessianfree.optim.optimizers.HessianFree` and, when
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
import functools
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import hessianfree as hf  # noqa: E402
from hessianfree.data import datasets  # noqa: E402

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
        self.hits, self.best, self.steps, self.examples = {}, 0.0, 0, 0

    def add(self, accuracy):
        self.best = max(self.best, accuracy)
        for t in THRESHOLDS:
            if accuracy >= t and t not in self.hits:
                self.hits[t] = (self.train_s, self.steps)

    @property
    def per_example_us(self):
        """Training time per example the gradient saw, in microseconds."""
        return 1e6 * self.train_s / max(self.examples, 1)

    @property
    def done(self):
        return all(t in self.hits for t in THRESHOLDS)


def make_hf(args, rng):
    """The network, optimizer and minibatch setting: the library's
    recommended ones (``hf.presets.classifier_settings()``, docs/tuning.rst)
    with any options given on the command line in their place."""
    loss = hf.loss_funcs.CrossEntropy(curvature=args.curvature)
    net = hf.FFNet(SHAPE, layers=[hf.nl.Linear(), hf.nl.ReLU(), hf.nl.ReLU(),
                                  hf.nl.Softmax()],
                   loss_type=loss, W_init_params={"init_type": args.init},
                   rng=rng, dtype=np.float32)
    overrides = {name: value for name, value in (
        ("CG_iter", args.cg), ("init_damping", args.init_damping),
        ("curvature_fraction", args.curvature_fraction),
        ("preconditioner", args.preconditioner), ("min_damping", args.min_damping),
        ("objective_fraction", args.objective_fraction))
        if value is not None}
    if args.rules is not None:
        overrides.update(hf.opt.RULE_SETS[args.rules])
    if args.kfac_rank is not None:
        overrides["preconditioner"] = hf.kfac.KFAC(rank=args.kfac_rank)
    opt, schedule = hf.presets.classifier_settings(**overrides)
    opt.plotting = False
    return net, opt, minibatch_setting(args, schedule)


def minibatch_setting(args, schedule):
    if args.batch is not None:
        return int(args.batch)
    changes = {name: value for name, value in (
        ("theta", args.theta), ("initial", args.initial), ("cg_iters", args.cg_initial))
        if value is not None}
    if not changes:
        return schedule
    settings = {"theta": schedule.theta, "initial": schedule.initial,
                "cg_iters": schedule.cg_iters, **changes}
    return hf.schedule.VarianceSchedule(**settings)


def describe_settings(opt, minibatch):
    if isinstance(minibatch, hf.schedule.VarianceSchedule):
        minibatch = (f"VarianceSchedule(initial={minibatch.initial}, theta="
                     f"{minibatch.theta}, cg_iters={minibatch.cg_iters})")
    precond = opt.preconditioner if not isinstance(opt.preconditioner, hf.kfac.KFAC) \
        else "kfac"
    return (f"minibatch {minibatch}, CG_iter {opt.CG_iter}, curvature_fraction "
            f"{opt.curvature_fraction}, init_damping {opt.damping}, preconditioner "
            f"{precond!r}, CG stopping {opt.cg_stopping!r}")


def run_hf(data, args):
    """``net.run_epochs`` with a callback that measures the test accuracy
    after every update, outside the training clock."""
    net, opt, minibatch = make_hf(args, np.random.default_rng(args.seed))
    X, Y = data.train_images, data.one_hot(data.train_labels)
    Xt, Lt = data.test_images, data.test_labels
    track, cg_iters = Tracker(), []

    def callback(net, epoch):
        now = time.perf_counter()
        track.train_s += now - track.mark
        track.steps += 1
        track.examples += net.batch.size
        cg_iters.append(opt.last_cg.n_iters if opt.last_cg is not None else 0)
        accuracy = float(np.mean(np.argmax(net.forward(Xt)[-1], axis=1) == Lt))
        track.add(accuracy)
        if args.verbose:
            print(f"  HF epoch {track.steps}: {track.train_s:.2f} s, accuracy "
                  f"{accuracy:.4f}, minibatch {net.inputs.shape[0]}, CG "
                  f"{cg_iters[-1]}, damping {opt.damping:.3g}")
        track.mark = time.perf_counter()
        track.eval_s += track.mark - now
        return track.done or track.train_s >= args.budget or (
            args.max_updates is not None and track.steps >= args.max_updates)

    track.mark = time.perf_counter()
    net.run_epochs(X, Y, opt, max_epochs=100000, minibatch_size=minibatch,
                   print_period=None, callback=callback)
    track.cg_iters = cg_iters
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
            track.examples += len(idx)
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
          f"(+{track.eval_s:.1f} s measuring accuracy, not counted), "
          f"{track.examples} examples, {track.per_example_us:.1f} us per example")


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
    p.add_argument("--compare-preconditioners", type=int, default=0, metavar="N",
                   help="instead of the race: train N updates, then count the CG "
                        "iterations of none/diagonal/K-FAC on one minibatch")
    g = p.add_argument_group("Hessian-free settings (defaults: the library's "
                             "recommended ones, docs/tuning.rst)")
    g.add_argument("--batch", help="a fixed minibatch instead of the schedule")
    g.add_argument("--theta", type=float, help="VarianceSchedule theta")
    g.add_argument("--initial", type=int, help="VarianceSchedule initial size")
    g.add_argument("--cg-initial", type=int, help="VarianceSchedule cg_iters")
    g.add_argument("--cg", type=int, help="HessianFree CG_iter")
    g.add_argument("--curvature-fraction", type=float)
    g.add_argument("--init-damping", type=float)
    g.add_argument("--min-damping", type=float)
    g.add_argument("--objective-fraction", type=float,
                   help="HessianFree objective_fraction (the step's error on a subset)")
    g.add_argument("--preconditioner",
                   type=lambda v: {"none": False}.get(v, v),
                   help="none, diagonal or kfac")
    g.add_argument("--kfac-rank", type=int, default=None,
                   help="K-FAC through each large factor's k largest eigenpairs "
                        "(hf.kfac.KFAC(rank=k))")
    g.add_argument("--rules", choices=sorted(hf.opt.RULE_SETS), default=None,
                   help="HessianFree's CG and damping rules (hf.opt.RULE_SETS; "
                        "default: the library's)")
    g.add_argument("--init", default="uniform", choices=hf.ffnet.INIT_TYPES)
    g.add_argument("--curvature", choices=hf.loss_funcs.CrossEntropy.CURVATURES,
                   default="fisher",
                   help="CrossEntropy(curvature=...): 'fisher' (1/y, the softmax / "
                        "cross-entropy Gauss-Newton matrix) or 'hessian' (t/y^2)")
    return p.parse_args(argv)


def damped_product(net, damping, v, out):
    return net.calc_G(v, damping=damping, out=out)


def compare_preconditioners(data, args):
    """CG iterations with each preconditioner on one minibatch after
    ``args.compare_preconditioners`` updates of the recommended settings:
    until the relative-progress stop, and until 90% of the best model
    reduction of the three."""
    from hessianfree.optim import cg
    from hessianfree.optim import kfac

    net, opt, minibatch = make_hf(args, np.random.default_rng(args.seed))
    X, Y = data.train_images, data.one_hot(data.train_labels)
    net.run_epochs(X, Y, opt, max_epochs=args.compare_preconditioners,
                   minibatch_size=minibatch, print_period=None)
    size = 5000
    net.cache_minibatch(X, Y, minibatch=size)
    hf.schedule.select_curvature_batch(net, opt.curvature_fraction)
    grad, sq_grad = net.calc_grad(squared=True)
    print(f"after {args.compare_preconditioners} updates: minibatch {size}, "
          f"curvature subset {net._n_curvature()}")
    for damping in (opt.damping, 1e-2, 1e-3):
        precs = {"none": None,
                 "diagonal": (sq_grad + np.float32(damping)) ** np.float32(0.75),
                 "K-FAC": kfac.KFAC().prepare(net, damping)}
        matvec = functools.partial(damped_product, net, damping)
        runs = {name: cg.conjugate_gradient(matvec, -grad, None, max_iters=500,
                                            precond=precond, rel_tol=5e-4)
                for name, precond in precs.items()}
        best = min(r.value for r in runs.values())
        cells = []
        for name, r in runs.items():
            to_90 = next((i for (i, _), v in zip(r.iterates, r.values)
                          if v <= 0.9 * best), None)
            cells.append(f"{name} {r.n_iters} it (90%: {to_90})")
        print(f"damping {damping:.3g}: " + ", ".join(cells))
        print(f"RESULT damping={damping:.3g} " + " ".join(
            f"{name.replace('-', '').lower()}_iters={r.n_iters}"
            for name, r in runs.items()))


def main(argv=None):
    args = parse_args(argv)
    try:
        data = datasets.load_idx_dir(args.data, name="Fashion-MNIST",
                                     classes=datasets.FASHION_CLASSES)
    except FileNotFoundError as e:
        sys.exit(f"{e}\nInstall it with: apt-get install dataset-fashion-mnist "
                 f"(or pass --data DIR)")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"Fashion-MNIST {len(data.train_labels)}/{len(data.test_labels)}, network "
          f"{SHAPE} ReLU/ReLU/Softmax, CrossEntropy, float32, CPU; NumPy BLAS: "
          f"{blas_info()}")
    _, opt, minibatch = make_hf(args, np.random.default_rng(args.seed))
    print(f"HF: {describe_settings(opt, minibatch)}, init {args.init}, curvature "
          f"{args.curvature}")
    if args.compare_preconditioners:
        compare_preconditioners(data, args)
        return 0
    print(f"{'':22s} {'to 85%':>20s} {'to 88%':>20s}")
    ours = run_hf(data, args)
    describe("hessianfree HF", ours)
    print(f"HF CG iterations per update: {ours.cg_iters}")
    if args.no_torch:
        print(f"RESULT ratio_85=n/a ratio_88=n/a hf_85={_cell(ours, 0.85)} "
              f"hf_88={_cell(ours, 0.88)}")
        return 0
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: no Adam comparison (pip install torch)")
        return 0
    adam = run_adam(data, args)
    describe(f"PyTorch Adam (x{torch.get_num_threads()})", adam)
    ratios = [f"{ours.hits[t][0] / adam.hits[t][0]:.2f}"
              if t in ours.hits and t in adam.hits else "unreached" for t in THRESHOLDS]
    per_example = ours.per_example_us / adam.per_example_us
    print(f"{'ratio ours/Adam':22s} {ratios[0]:>20s} {ratios[1]:>20s}   per example "
          f"{per_example:.2f}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"RESULT ratio_85={ratios[0]} ratio_88={ratios[1]} hf_85={_cell(ours, 0.85)} "
          f"hf_88={_cell(ours, 0.88)} adam_85={_cell(adam, 0.85)} "
          f"adam_88={_cell(adam, 0.88)} per_example_ratio={per_example:.2f}")
    return 0


def _cell(track, threshold):
    return f"{track.hits[threshold][0]:.2f}" if threshold in track.hits else "unreached"


if __name__ == "__main__":
    sys.exit(main())
