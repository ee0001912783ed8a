"""Hessian-free against Adam on the pathological long-term-dependency problems.

For each task (``hessianfree.data.tasks``) and minimal time lag T, both train
Martens & Sutskever's (2011) plain tanh network, ``tasks.tanh_rnn`` (100
hidden units, sparse initialization, recurrent spectral radius 1.2), from
the same initial weights on the same 10,000 training sequences, and are
evaluated on the same 1,000 held-out sequences:

* Hessian-free (this library): structural damping 1/30 and the settings of
  ``hf.presets.pathological_settings(task)`` (``HessianFree(CG_iter=300,
  init_damping=1, curvature_fraction=0.2)`` with the alternative update
  rules, the original ones for temporal order and memorization;
  ``--cg-iter``, ``--curvature-fraction``, ``--init-damping``, ``--rules``,
  ``--preconditioner`` replace single ones): the gradient on minibatches of
  1,000 sequences (``--minibatch``), the curvature products on a fifth of
  each;
* PyTorch Adam (``torch.nn.RNN``, the same weights; its extra recurrent bias
  starts at zero, so the initial function is the same) over the grid
  lr {1e-3, 3e-3, 1e-2} x batch {32, 128}, gradient-norm clipping at 1.

Every run gets the same budget of training time (``--budget``, default by
T) and stops as soon as the test error meets the task's criterion
(``tasks.test_error`` below ``Task.threshold``: MSE < 0.01 or error < 1%).
The test error is evaluated after every HF update and every
``--eval-period`` seconds of Adam training; evaluation is not on the clock.
Each run uses ``--threads`` BLAS / PyTorch threads (default 1).  By
default the seven configurations of a (task, T) run at the same time, one
process each (``--no-parallel``: one after the other), and each is timed by
its own CPU time (``--clock wall`` for wall time): with one thread per
process that is the wall time the run would take alone on a quiet core,
and the runs share whatever load the machine has.

One line per (task, T)::

    RESULT task=addition T=50 hf_s=41.2 adam_s=unsolved(120) adam_best=-

``adam_s`` is the best (shortest) Adam time to the criterion and
``adam_best`` its configuration.  Usage::

    python bench/pathological.py [--tasks addition temporal_order] [--T 50 100]
        [--budget 120] [--clock wall] [--no-parallel] [--no-adam] [--no-hf]

The default (addition and multiplication at T=50, 200 s budgets) takes
about 25 minutes on 2 cores (7 runs of at most 200 CPU seconds per task,
plus the evaluations); unsolved configurations cost their whole budget.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pathological_suite  # noqa: E402

TASKS = ["addition", "multiplication", "xor", "temporal_order", "temporal_order_3bit",
         "random_permutation", "memorization", "memorization_20bit"]
GRID = [(lr, batch) for lr in (1e-3, 3e-3, 1e-2) for batch in (32, 128)]
DEFAULT_BUDGET = {50: 200, 100: 400, 200: 800}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS + ["all"],
                        default=["addition", "multiplication"])
    parser.add_argument("--T", type=int, nargs="+", default=[50])
    parser.add_argument("--budget", type=float, help="seconds of training per run "
                        "(default: 200 at T=50, 400 at T=100, 800 at T=200)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-train", type=int,
                        help="a fixed set of this many training sequences (default 10,000; with "
                        "--suite, the recipe's: fresh sequences every update)")
    parser.add_argument("--n-test", type=int, default=1000)
    hf_group = parser.add_argument_group(
        "Hessian-free settings (default: hf.presets.pathological_settings(task))")
    hf_group.add_argument("--minibatch", type=int)
    hf_group.add_argument("--cg-iter", type=int)
    hf_group.add_argument("--curvature-fraction", type=float)
    hf_group.add_argument("--rules", choices=["original", "alternative"],
                          help="update rules (hessianfree.optim.optimizers.RULE_SETS)")
    hf_group.add_argument("--init-damping", type=float)
    hf_group.add_argument("--preconditioner", choices=["none", "diagonal"],
                          help="CG preconditioner (default: none)")
    parser.add_argument("--eval-period", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="cpu")
    parser.add_argument("--parallel", action=argparse.BooleanOptionalAction, default=True,
                        help="run HF and the Adam configurations of a (task, T) "
                        "at the same time, one process each (default; "
                        "--no-parallel: one after the other)")
    parser.add_argument("--no-adam", action="store_true")
    parser.add_argument("--no-hf", action="store_true")
    pathological_suite.add_arguments(parser)
    args = parser.parse_args()
    if "all" in args.tasks:
        args.tasks = TASKS
    return args


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:  # before NumPy starts its BLAS threads
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

import hessianfree as hf  # noqa: E402
from hessianfree.data import tasks  # noqa: E402
from hessianfree.nets import work  # noqa: E402


def now():
    """The benchmark's clock: wall time, or with ``--clock cpu`` this
    process's CPU time (steady on a busy machine)."""
    return time.process_time() if ARGS is not None and ARGS.clock == "cpu" \
        else time.perf_counter()


def load():
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def make_problem(task, T, args):
    """Training and test data and the initial network of one (task, T)."""
    n_train = 10000 if args.n_train is None else args.n_train
    train = tasks.generate(task, T, n_train, rng=args.seed)
    test = tasks.generate(task, T, args.n_test, rng=args.seed + 1)
    return train, test


def hf_settings(args, task=None):
    """``hf.presets.pathological_settings(task)`` with the command line's
    Hessian-free options in place of the recommended values."""
    overrides = {name: value for name, value in (
        ("CG_iter", args.cg_iter), ("curvature_fraction", args.curvature_fraction),
        ("init_damping", args.init_damping)) if value is not None}
    if args.preconditioner is not None:
        overrides["preconditioner"] = {"none": False, "diagonal": "diagonal"}[args.preconditioner]
    if args.rules is not None:
        overrides.update(hf.opt.RULE_SETS[args.rules])
    optimizer, minibatch = hf.presets.pathological_settings(task, plotting=False, **overrides)
    return optimizer, minibatch if args.minibatch is None else args.minibatch


def run_hf(task, T, train, test, budget, args):
    """Seconds of HF training until the test criterion holds (None: not
    within ``budget``) and the last test error."""
    optimizer, minibatch = hf_settings(args, task)
    net = tasks.tanh_rnn(task, optimizer=optimizer, rng=args.seed)
    net.optimizer = optimizer
    counter = work.attach(net)
    rng = np.random.default_rng(args.seed)
    clock, epoch, error = 0.0, 0, None
    while clock < budget:
        start = now()
        batch = np.sort(rng.choice(len(train[0]), minibatch, replace=False))
        net.cache_minibatch(train[0][batch], train[1][batch])
        net.W += optimizer.compute_update()
        clock += now() - start
        epoch += 1
        error = tasks.test_error(task, net.forward(test[0])[-1], test[1])
        print(f"  HF    epoch {epoch:3d}  {clock:7.1f} s  test error {error:.4f}  "
              f"damping {optimizer.state.damping:.3g}", flush=True)
        if error < tasks.get_task(task).threshold:
            return clock, error, counter.units()
    return None, error, counter.units()


def torch_model(task, net):
    """``torch.nn.RNN`` plus a linear readout holding ``net``'s weights."""
    import torch
    W_in, b_in = (hf.backend.to_numpy(a) for a in net.get_weights(net.W, (0, 1)))
    W_rec, b_rec = (hf.backend.to_numpy(a) for a in net.get_weights(net.W, (1, 1)))
    W_out, b_out = (hf.backend.to_numpy(a) for a in net.get_weights(net.W, (1, 2)))
    rnn = torch.nn.RNN(W_in.shape[0], W_in.shape[1], nonlinearity="tanh",
                       batch_first=True)
    readout = torch.nn.Linear(W_out.shape[0], W_out.shape[1])
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(W_in.T.copy()))
        rnn.weight_hh_l0.copy_(torch.from_numpy(W_rec.T.copy()))
        rnn.bias_ih_l0.copy_(torch.from_numpy(b_in + b_rec))  # b_rec is 0 at first
        rnn.bias_hh_l0.zero_()
        readout.weight.copy_(torch.from_numpy(W_out.T.copy()))
        readout.bias.copy_(torch.from_numpy(b_out))
    return rnn, readout


def adam_loss(task, outputs, targets, mask):
    import torch
    if tasks.get_task(task).kind == "regression":
        return ((outputs - targets) ** 2).sum(-1)[mask].mean()
    log_p = torch.log_softmax(outputs, dim=-1)
    return -(targets * log_p).sum(-1)[mask].mean()


def run_adam(task, T, train, test, budget, lr, batch_size, args):
    """Seconds of Adam training until the test criterion holds (None: not
    within ``budget``) and the last test error."""
    import torch
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    net = tasks.tanh_rnn(task, rng=args.seed)
    rnn, readout = torch_model(task, net)
    params = list(rnn.parameters()) + list(readout.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    x = torch.from_numpy(train[0])
    mask_all = torch.from_numpy(~np.isnan(train[1]).all(-1))
    t_all = torch.from_numpy(np.nan_to_num(train[1]))
    x_test = torch.from_numpy(test[0])
    rng = np.random.default_rng(args.seed)
    clock, next_eval, error, steps = 0.0, args.eval_period, None, 0
    while clock < budget:
        start = now()
        while clock + now() - start < min(next_eval, budget):
            idx = torch.from_numpy(rng.integers(0, len(x), batch_size))
            out = readout(rnn(x[idx])[0])
            loss = adam_loss(task, out, t_all[idx], mask_all[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            steps += 1
        clock += now() - start
        next_eval = clock + args.eval_period
        with torch.no_grad():
            error = tasks.test_error(task, readout(rnn(x_test)[0]).numpy(), test[1])
        if not np.isfinite(loss.item()):
            break
        if error < tasks.get_task(task).threshold:
            return clock, error, steps
    return None, error, steps


def run_config(job):
    """One configuration of one (task, T): ``("hf", None, None)`` or
    ``("adam", lr, batch)``; returns its seconds to the criterion (or None)."""
    (kind, lr, batch), task, T, budget, args = job
    train, test = make_problem(task, T, args)
    if kind == "hf":
        s, err, units = run_hf(task, T, train, test, budget, args)
        print(f"  HF: {'unsolved' if s is None else f'{s:.1f} s'}, {units:.1f} units, "
              f"test error {err:.4f}", flush=True)
        return s, units
    s, err, steps = run_adam(task, T, train, test, budget, lr, batch, args)
    print(f"  Adam lr={lr:g} batch={batch}: "
          f"{'unsolved' if s is None else f'{s:.1f} s'} after {steps} steps, "
          f"test error {err:.4f}", flush=True)
    return s, steps * batch / 1000


def compare(task, T, args):
    budget = args.budget or DEFAULT_BUDGET.get(T, 4 * T)
    print(f"\n{task} T={T}: budget {budget:g} s ({args.clock} clock) per run, "
          f"load average {load()}", flush=True)
    configs = ([] if args.no_hf else [("hf", None, None)]) + \
        ([] if args.no_adam else [("adam", lr, batch) for lr, batch in GRID])
    jobs = [(config, task, T, budget, args) for config in configs]
    if args.parallel:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
            times = pool.map(run_config, jobs)
    else:
        times = [run_config(job) for job in jobs]
    hf_s, hf_units = (None, None) if args.no_hf else times.pop(0)
    best = None
    for (_, lr, batch), (s, _) in zip(configs[len(configs) - len(times):], times):
        if s is not None and (best is None or s < best[0]):
            best = (s, f"lr{lr:g}_b{batch}")

    def fmt(s):
        return f"unsolved({budget:g})" if s is None else f"{s:.1f}"
    adam_s = "-" if args.no_adam else fmt(None if best is None else best[0])
    print(f"RESULT task={task} T={T} hf_s={'-' if args.no_hf else fmt(hf_s)} "
          f"adam_s={adam_s} adam_best={'-' if best is None else best[1]} "
          f"units={'-' if hf_units is None else f'{hf_units:.1f}'} "
          f"fail_rate={'-' if args.no_hf else f'{float(hf_s is None):.2f}'} "
          f"load={load()}", flush=True)


def main(args):
    if args.suite:
        return pathological_suite.main(args)
    print(f"pathological problems: {os.cpu_count()} cores, {args.threads} thread(s) "
          f"per run, load average {load()}; python {sys.version.split()[0]}")
    for T in args.T:
        for task in args.tasks:
            compare(task, T, args)


if __name__ == "__main__":
    main(ARGS)
