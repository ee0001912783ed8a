"""The pathological problems as Martens & Sutskever (2011) measured them:
problems x T x seeds, each run within a budget of their cost unit, one JSON
record per run (``bench/pathological.py --suite``).

The unit is theirs: a *minibatch*, 1,000 sequences through a gradient or a
curvature-vector product (:mod:`hessianfree.nets.work`); a gradient on
``n`` sequences counts ``n / 1000``, each CG product on ``c`` sequences
``c / 1000``.  The objective evaluations of the backtracking and the line
search are counted beside (``error_units``), not in the budget; the test
evaluations are in neither.  A run ends solved when the test error meets
the criterion (``--criterion paper``: fewer than 0.1% of the test
sequences wrong, regression outputs within 0.04; ``library``: the tasks'
thresholds), failed when it has used ``--budget-units`` (50,000 in the
paper) without, and *stopped* (no record; resumed next time) when it has
used ``--max-cpu`` seconds of CPU time in this sitting.

Every run checkpoints after each update (``<checkpoints>/<run>``, with
``run_epochs(file_output=..., resume=True)``) and keeps its counts in
``<run>_work.json`` beside: running the same command again skips the runs
that have a record and continues the others from their checkpoints.

Records (``--out``, one JSON object per line): ``task, T, seed, preset,
optimizer, criterion, solved, status, units, gradient_examples,
curvature_examples, error_units, updates, cpu_s, cpu_s_per_unit,
gemm_s_per_unit, final_error, settings, version, load``.
``gemm_s_per_unit`` is the time the matrix products of one unit take on
this machine (one forward and two backward sets of the per-step products
of 1,000 sequences, timed at the start of the run): the floor of
``cpu_s_per_unit`` for this implementation.

Adam (``--optimizer adam``, PyTorch) runs the grid of ``bench/pathological.py``
(lr {1e-3, 3e-3, 1e-2} x batch {32, 128}, gradient-norm clipping at 1) in
the same unit, a step on ``b`` sequences counting ``b / 1000``, with fresh
sequences every step and a budget of ``--adam-factor`` (3) times the mean
units to success of the Hessian-free runs of the same (task, T) and preset
already recorded (``--budget-units`` when there are none).
"""

import json
import math
import os
import pathlib
import subprocess
import time

import numpy as np

GRID = [(lr, batch) for lr in (1e-3, 3e-3, 1e-2) for batch in (32, 128)]
ALL_TASKS = ["addition", "multiplication", "temporal_order", "temporal_order_3bit",
             "random_permutation", "xor", "memorization", "memorization_20bit"]


def add_arguments(parser):
    """The ``--suite`` options of ``bench/pathological.py``."""
    group = parser.add_argument_group("suite (--suite)")
    group.add_argument("--suite", action="store_true",
                       help="run tasks x T x seeds x presets, one JSON record per run")
    group.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    group.add_argument("--presets", nargs="+", default=["recommended"],
                       choices=["recommended", "paper"])
    group.add_argument("--optimizer", choices=["hf", "adam"], default="hf")
    group.add_argument("--criterion", choices=["paper", "library"], default="paper")
    group.add_argument("--budget-units", type=float, default=50000.0)
    group.add_argument("--max-cpu", type=float, default=math.inf,
                       help="CPU seconds per run in this sitting; a run that uses "
                       "them stops without a record and resumes next time")
    group.add_argument("--jobs", type=int, default=1, help="runs at the same time")
    group.add_argument("--out", default="pathological_suite.jsonl")
    group.add_argument("--checkpoints", default="pathological_checkpoints")
    group.add_argument("--suite-test", type=int, default=2000,
                       help="held-out sequences of the criterion")
    group.add_argument("--adam-factor", type=float, default=3.0)
    group.add_argument("--adam-eval-units", type=float, default=20.0,
                       help="Adam's test evaluations every this many units")


def run_name(task, T, seed, preset, optimizer="hf", config=None):
    """A run's key and file name."""
    name = f"{optimizer}-{preset}-{task}-T{T}-s{seed}"
    return name if config is None else f"{name}-lr{config[0]:g}-b{config[1]}"


def read_records(path):
    """The records of a suite file (none if it does not exist; a line cut
    short by an interrupted write is skipped)."""
    records = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return records


def append_record(path, record):
    """Append one record as a line (one ``write`` of a whole line, so runs
    in other processes do not interleave)."""
    with open(path, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def version():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=pathlib.Path(__file__).parent,
                              timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def gemm_seconds_per_unit(n_in, n_hidden, n_out, n_steps, dtype=np.float32, repeats=3):
    """CPU seconds of the matrix products of one unit: three sets (one
    forward, two backward) of the per-step products of 1,000 sequences
    through an ``n_in -> n_hidden -> n_out`` recurrent network, ``n_steps``
    steps (the best of ``repeats``)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1000, n_in)).astype(dtype)
    h = rng.standard_normal((1000, n_hidden)).astype(dtype)
    w_in = rng.standard_normal((n_in, n_hidden)).astype(dtype)
    w_rec = rng.standard_normal((n_hidden, n_hidden)).astype(dtype)
    w_out = rng.standard_normal((n_hidden, n_out)).astype(dtype)
    best = math.inf
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(min(n_steps, 50)):
            x @ w_in, h @ w_rec, h @ w_out
        best = min(best, time.process_time() - start)
    return 3 * best * n_steps / min(n_steps, 50)


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def _write_json(path, value):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)


def _settings(optimizer, recipe):
    names = ("CG_iter", "init_damping", "curvature_fraction", "cg_decay", "cg_storage",
             "cg_stopping", "cg_rel_tol", "damping_decrease", "ratio_model", "cg_start",
             "objective_fraction")
    settings = {n: getattr(optimizer, n, None) for n in names}
    settings["init_damping"] = optimizer.state.damping
    settings.update(minibatch=recipe.minibatch_size, n_train=recipe.n_train,
                    fresh_data=recipe.n_train is None, network=recipe.network)
    return settings


def run_hf(task, T, seed, preset, args):
    """One Hessian-free run, resumed from its checkpoint if it has one;
    returns its record, or None when it stopped at ``--max-cpu``."""
    import hessianfree as hf
    from hessianfree.data import tasks
    from hessianfree.nets import work
    from hessianfree.run import data_source

    name = run_name(task, T, seed, preset)
    prefix = os.path.join(args.checkpoints, name)
    overrides = {} if args.cg_iter is None else {"CG_iter": args.cg_iter}
    recipe = hf.presets.pathological_recipe(task, preset, plotting=False, **overrides)
    if args.minibatch is not None:
        recipe.minibatch_size = args.minibatch
    if args.n_train is not None:
        recipe.n_train = args.n_train
    optimizer = recipe.optimizer
    settings = _settings(optimizer, recipe)
    net = initial_network(task, preset, seed, recipe)
    test_x, test_t = tasks.generate(task, T, args.suite_test, rng=10 ** 6 + seed)
    if recipe.n_train is None:
        train = (data_source.from_generator(
            lambda rng, n: tasks.generate(task, T, n, rng=rng)), None)
    else:
        train = tasks.generate(task, T, recipe.n_train, rng=seed)
    counter = work.attach(net)
    side = _read_json(f"{prefix}_work.json") or {}
    counter.add(side.get("work", {}))
    state = {"cpu": side.get("cpu_s", 0.0), "sitting": 0.0, "error": side.get("error"),
             "updates": side.get("updates", 0), "solved": side.get("solved", False),
             "approximate": side.get("approximate", False), "first": True,
             "library": side.get("library")}
    threshold = tasks.threshold(task, args.criterion)
    spec = tasks.get_task(task)
    gemm = gemm_seconds_per_unit(spec.n_in, net.shape[1], spec.n_out, test_x.shape[1])
    mark = [time.process_time()]

    def callback(net, epoch):
        spent = time.process_time() - mark[0]
        if state["first"] and epoch != state["updates"]:  # died between two files
            state["approximate"] = True
        state["first"] = False
        state["cpu"] += spent
        state["sitting"] += spent
        state["updates"] = epoch + 1
        state["error"] = tasks.test_error(task, net.forward(test_x)[-1], test_t,
                                          args.criterion)
        state["solved"] = state["error"] < threshold
        if args.criterion == "paper" and state["library"] is None and tasks.solved(
                task, net.forward(test_x)[-1], test_t, "library"):
            state["library"] = {"units": counter.units(), "cpu_s": state["cpu"],
                                "updates": epoch + 1}
        _write_json(f"{prefix}_work.json", {
            "work": counter.as_dict(), "cpu_s": state["cpu"], "updates": state["updates"],
            "error": state["error"], "approximate": state["approximate"],
            "library": state["library"]})
        print(f"  {name} update {epoch + 1:4d}  units {counter.units():8.1f}  "
              f"cpu {state['cpu']:7.1f} s  test error {state['error']:.4f}  "
              f"damping {optimizer.state.damping:.3g}", flush=True)
        finished = state["solved"] or counter.units() >= args.budget_units
        if finished:
            _write_json(f"{prefix}_work.json", dict(
                _read_json(f"{prefix}_work.json"), finished=True, solved=state["solved"]))
        mark[0] = time.process_time()
        return finished or state["sitting"] >= args.max_cpu

    if not side.get("finished"):
        net.run_epochs(*train, optimizer, max_epochs=10 ** 6,
                       minibatch_size=recipe.minibatch_size, target_err=-math.inf,
                       file_output=prefix, resume=True, print_period=None,
                       callback=callback, max_failures=None)
        if not state["solved"] and counter.units() < args.budget_units:
            return None  # stopped at --max-cpu: resumes next time
    units = counter.units()
    return {"task": task, "T": T, "seed": seed, "preset": preset, "optimizer": "hf",
            "criterion": args.criterion, "solved": bool(state["solved"]),
            "status": "solved" if state["solved"] else "failed",
            "units": round(units, 3), "budget_units": args.budget_units,
            "gradient_examples": counter.gradient,
            "curvature_examples": counter.curvature,
            "error_units": counter.error / work.UNIT, "updates": state["updates"],
            "cpu_s": round(state["cpu"], 2),
            "cpu_s_per_unit": round(state["cpu"] / max(units, 1e-9), 4),
            "gemm_s_per_unit": round(gemm, 5), "final_error": state["error"],
            "units_approximate": state["approximate"],
            "library_criterion_met": state["library"],
            "settings": settings, "version": version(),
            "load": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d %H:%M")}


def adam_budget(task, T, preset, args):
    """``--adam-factor`` times the mean units to success of the recorded
    Hessian-free runs of (task, T, preset) (``--budget-units`` if none)."""
    units = [r["units"] for r in read_records(args.out)
             if r["optimizer"] == "hf" and r["task"] == task and r["T"] == T
             and r["preset"] == preset and r["solved"]]
    return args.adam_factor * float(np.mean(units)) if units else args.budget_units


def initial_network(task, preset, seed, recipe=None):
    """The network of a run, with its initial weights: those of ``preset``'s
    recipe (``recipe``, if given, whose optimizer the structural damping
    follows) for ``seed``.  Adam's runs start from the same weights."""
    import hessianfree as hf
    from hessianfree.data import tasks

    if recipe is None:
        recipe = hf.presets.pathological_recipe(task, preset, plotting=False)
        optimizer = None
    else:
        optimizer = recipe.optimizer
    return tasks.tanh_rnn(task, optimizer=optimizer, rng=seed, **recipe.network)


def run_adam(task, T, seed, preset, config, args):
    """One Adam configuration in units, fresh sequences every step; returns
    its record (no checkpoint: an interrupted Adam run starts again)."""
    import torch
    from hessianfree.data import tasks
    import pathological as bench

    lr, batch = config
    budget = adam_budget(task, T, preset, args)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    net = initial_network(task, preset, seed)
    rnn, readout = bench.torch_model(task, net)
    params = list(rnn.parameters()) + list(readout.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    test_x, test_t = tasks.generate(task, T, args.suite_test, rng=10 ** 6 + seed)
    x_test = torch.from_numpy(test_x)
    rng = np.random.default_rng(seed)
    threshold = tasks.threshold(task, args.criterion)
    steps, cpu, error, solved = 0, 0.0, None, False
    per_eval = max(1, int(args.adam_eval_units * 1000 / batch))
    while steps * batch / 1000 < budget and not solved:
        start = time.process_time()
        for _ in range(per_eval):
            x, t = tasks.generate(task, T, batch, rng=rng)
            mask = torch.from_numpy(~np.isnan(t).all(-1))
            out = readout(rnn(torch.from_numpy(x))[0])
            loss = bench.adam_loss(task, out, torch.from_numpy(np.nan_to_num(t)), mask)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            steps += 1
        cpu += time.process_time() - start
        with torch.no_grad():
            error = tasks.test_error(task, readout(rnn(x_test)[0]).numpy(), test_t,
                                     args.criterion)
        solved = error < threshold
        if not np.isfinite(loss.item()):
            break
    units = steps * batch / 1000
    return {"task": task, "T": T, "seed": seed, "preset": preset, "optimizer": "adam",
            "config": f"lr{lr:g}_b{batch}", "criterion": args.criterion,
            "solved": bool(solved), "status": "solved" if solved else "failed",
            "units": round(units, 3), "budget_units": budget, "updates": steps,
            "cpu_s": round(cpu, 2), "cpu_s_per_unit": round(cpu / max(units, 1e-9), 4),
            "final_error": error, "settings": {"lr": lr, "batch": batch, "clip": 1.0},
            "version": version(), "load": os.getloadavg()[0],
            "date": time.strftime("%Y-%m-%d %H:%M")}


def _job(job):
    kind, task, T, seed, preset, config, args = job
    if kind == "hf":
        record = run_hf(task, T, seed, preset, args)
    else:
        record = run_adam(task, T, seed, preset, config, args)
    if record is not None:
        append_record(args.out, record)
        keys = ("task", "T", "seed", "preset", "optimizer", "status", "units", "cpu_s")
        print(f"RECORD {json.dumps({k: record[k] for k in keys})}", flush=True)
    return record


def jobs(args):
    """The runs of the suite that have no record yet, in the order given."""
    done = {run_name(r["task"], r["T"], r["seed"], r["preset"], r["optimizer"],
                     None if r["optimizer"] == "hf" else
                     tuple(r["settings"][k] for k in ("lr", "batch")))
            for r in read_records(args.out) if r.get("criterion") == args.criterion}
    todo = []
    for T in args.T:
        for task in args.tasks:
            for preset in args.presets:
                for seed in args.seeds:
                    configs = [None] if args.optimizer == "hf" else GRID
                    for config in configs:
                        if run_name(task, T, seed, preset, args.optimizer, config) \
                                not in done:
                            todo.append((args.optimizer, task, T, seed, preset, config,
                                         args))
    return todo


def main(args):
    os.makedirs(args.checkpoints, exist_ok=True)
    todo = jobs(args)
    print(f"suite: {len(todo)} runs to do ({args.optimizer}, criterion {args.criterion}, "
          f"budget {args.budget_units:g} units, {args.jobs} at a time) -> {args.out}",
          flush=True)
    if args.jobs > 1:
        import multiprocessing
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            records = pool.map(_job, todo, chunksize=1)
    else:
        records = [_job(job) for job in todo]
    stopped = sum(r is None for r in records)
    print(f"suite: {len(records) - stopped} runs recorded, {stopped} stopped at --max-cpu "
          f"(run the same command again to continue them)", flush=True)
    import pathological_table
    print("\n".join(pathological_table.result_lines(
        pathological_table.summarize(read_records(args.out), args.criterion))), flush=True)
