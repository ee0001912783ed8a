"""The first Hessian-free steps of this package and of the original
``hessianfree`` 0.4.0, from the same weights, data and settings.

For three networks (a squared-error FFNet, a softmax cross-entropy FFNet
with skip connections and an RNNet), in float64, both packages cache the
same minibatch and take five ``HessianFree.compute_update()`` steps; the
script prints, per step, the relative difference of the updates
(``||d_ours - d_orig|| / ||d_orig||``), of the weights after the step and of
the damping, and ends with one ``RESULT`` line per network.  The target is
agreement to 1e-6.

The original package runs in its own virtual environment (Python with
``numpy<1.24``, ``pip install hessianfree==0.4.0``), in a subprocess; it is
never a dependency of this package.  Its ``dataplotter`` imports
matplotlib at import time, so when that environment lacks matplotlib the
script puts an empty stand-in module on the subprocess's path (nothing of
matplotlib is called in these steps).

Usage::

    python bench/compare_original.py [--orig-python /work/venv-orig/bin/python]
        [--steps 5] [--cg 100] [--rules original|alternative]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

#: The networks compared: keyword arguments for both packages' constructors
#: (as JSON-able data; the worker turns names into objects) and the data.
NETWORKS = {
    "ff_squared_error": dict(
        cls="FFNet", shape=[4, 8, 3], layers=None, conns=None, loss="SquaredError",
        data=dict(batch=64)),
    "ff_softmax_skip": dict(
        cls="FFNet", shape=[5, 8, 6, 4], layers=["Linear", "Tanh", "Tanh", "Softmax"],
        conns={"0": [1, 2], "1": [2, 3], "2": [3]}, loss="CrossEntropy",
        data=dict(batch=64, one_hot=True)),
    "rnn": dict(
        cls="RNNet", shape=[2, 6, 1], layers=None, conns=None, loss="SquaredError",
        data=dict(batch=16, time=8)),
}


def make_data(spec, rng):
    """Inputs and targets for a network spec."""
    shape, data = spec["shape"], spec["data"]
    lead = (data["batch"],) + ((data["time"],) if "time" in data else ())
    inputs = rng.standard_normal(lead + (shape[0],))
    if data.get("one_hot"):
        targets = np.eye(shape[-1])[rng.integers(0, shape[-1], lead)]
    else:
        targets = rng.uniform(0.1, 0.9, lead + (shape[-1],))
    return inputs, targets


def build(hf, spec, **kwargs):
    """The network of ``spec`` in float64, with package ``hf``."""
    kwargs.update(loss_type=getattr(hf.loss_funcs, spec["loss"])(), dtype=np.float64,
                  debug=False)
    if spec["layers"] is not None:
        kwargs["layers"] = [getattr(hf.nl, name)() for name in spec["layers"]]
    if spec["conns"] is not None:
        kwargs["conns"] = {int(k): v for k, v in spec["conns"].items()}
    return getattr(hf, spec["cls"])(spec["shape"], **kwargs)


def worker(spec_file, out_file):
    """Run in either environment: build the network with the package that
    ``import hessianfree`` finds, take the steps, save what they did."""
    import hessianfree as hf

    with open(spec_file) as f:
        job = json.load(f)
    arrays = np.load(job["arrays"])
    net = build(hf, job["spec"], load_weights=arrays["W"].copy())
    rules = {} if job["rules"] is None else hf.opt.RULE_SETS[job["rules"]]
    opt = hf.opt.HessianFree(CG_iter=job["cg"], init_damping=1.0, **rules)
    net.optimizer = opt
    updates, weights, damping = [], [], []
    for _ in range(job["steps"]):
        net.cache_minibatch(arrays["inputs"], arrays["targets"])
        update = np.asarray(opt.compute_update(False))
        net.W = net.W + update
        updates.append(update)
        weights.append(np.array(net.W))
        damping.append(float(opt.damping))
    np.savez(out_file, updates=np.array(updates), weights=np.array(weights),
             damping=np.array(damping))


def _matplotlib_stand_in(directory):
    """An empty ``matplotlib.pyplot`` for an environment without matplotlib."""
    package = os.path.join(directory, "matplotlib")
    os.makedirs(package, exist_ok=True)
    for name in ("__init__.py", "pyplot.py"):
        open(os.path.join(package, name), "w").close()
    return directory


def run_worker(python, pythonpath, spec_file, out_file):
    env = dict(os.environ, PYTHONPATH=pythonpath, MPLBACKEND="Agg")
    subprocess.run([python, os.path.abspath(__file__), "--worker", spec_file, out_file],
                   check=True, env=env, cwd=os.path.dirname(spec_file))
    with np.load(out_file) as result:
        return {k: result[k] for k in result.files}


def relative(a, b):
    """``||a - b|| / ||b||`` per row (step)."""
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    return np.linalg.norm(a - b, axis=-1) / np.maximum(np.linalg.norm(b, axis=-1),
                                                       np.finfo(float).tiny)


def compare(name, spec, args, tmp):
    """Run both packages on one network; print and return the largest
    relative differences."""
    rng = np.random.default_rng(args.seed)
    sys.path.insert(0, os.path.dirname(HERE))
    import hessianfree as hf

    init = build(hf, spec, rng=np.random.RandomState(args.seed))
    inputs, targets = make_data(spec, rng)
    arrays = os.path.join(tmp, f"{name}.in.npz")
    np.savez(arrays, W=np.asarray(init.W), inputs=inputs, targets=targets)
    spec_file = os.path.join(tmp, f"{name}.json")
    with open(spec_file, "w") as f:
        json.dump(dict(spec=spec, steps=args.steps, cg=args.cg, arrays=arrays,
                       rules=args.rules), f)
    repo = os.path.dirname(HERE)
    ours = run_worker(sys.executable, repo, spec_file, os.path.join(tmp, f"{name}.ours.out.npz"))
    with open(spec_file, "w") as f:  # the original knows no rule sets
        json.dump(dict(spec=spec, steps=args.steps, cg=args.cg, arrays=arrays, rules=None), f)
    stub = _matplotlib_stand_in(os.path.join(tmp, "stand_in"))
    orig = run_worker(args.orig_python, stub, spec_file,
                      os.path.join(tmp, f"{name}.orig.out.npz"))
    d_update = relative(ours["updates"], orig["updates"])
    d_weights = relative(ours["weights"], orig["weights"])
    d_damping = np.abs(ours["damping"] - orig["damping"]) / orig["damping"]
    print(f"\n{name}: {spec['cls']} {spec['shape']}, loss {spec['loss']}, "
          f"{init.W.size} parameters")
    print("  step  rel. diff update  rel. diff weights  damping (ours / original)")
    for k in range(args.steps):
        print(f"  {k + 1:4d}  {d_update[k]:16.2e}  {d_weights[k]:17.2e}  "
              f"{ours['damping'][k]:.6g} / {orig['damping'][k]:.6g}")
    worst = max(d_update.max(), d_weights.max(), d_damping.max())
    print(f"RESULT network={name} steps={args.steps} max_rel_update={d_update.max():.3e} "
          f"max_rel_weights={d_weights.max():.3e} max_rel_damping={d_damping.max():.3e} "
          f"agree_1e-6={worst < 1e-6}")
    return worst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--orig-python", default="/work/venv-orig/bin/python",
                        help="Python of an environment with hessianfree 0.4.0")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--cg", type=int, default=100, help="CG_iter of both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rules", default="original",
                        help="our HessianFree's rule set (hf.opt.RULE_SETS); "
                             "'alternative' shows how far the previous rules were off")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0
    if not os.path.exists(args.orig_python):
        sys.exit(f"{args.orig_python} not found: pass --orig-python, the Python of an "
                 f"environment with the original package (pip install hessianfree==0.4.0)")
    print(f"load average {os.getloadavg()[0]:.2f}; float64, HessianFree(CG_iter={args.cg}, "
          f"init_damping=1), our rules {args.rules!r}, {args.steps} steps on one cached "
          f"minibatch")
    with tempfile.TemporaryDirectory() as tmp:
        worst = max(compare(name, spec, args, tmp) for name, spec in NETWORKS.items())
    print(f"\nlargest relative difference {worst:.2e} (target 1e-6)")
    return 0 if worst < 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
