"""bench/pathological.py without PyTorch: its Hessian-free settings come
from the library's recipe with the command line's options in their place,
and a tiny run ends with the RESULT line that runs are compared by."""

import os
import pathlib
import re
import subprocess
import sys

import hessianfree as hf

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "pathological.py"


def run_bench(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True,
                          text=True, env=env, timeout=120, check=True).stdout


def test_tiny_run_prints_a_result_line():
    out = run_bench("--tasks", "xor", "--T", "10", "--budget", "2", "--n-train", "200",
                    "--n-test", "100", "--minibatch", "100", "--cg-iter", "5",
                    "--no-adam", "--no-parallel")
    lines = [line for line in out.splitlines() if line.startswith("RESULT")]
    assert len(lines) == 1
    assert re.fullmatch(r"RESULT task=xor T=10 hf_s=(\d+\.\d|unsolved\(2\)) adam_s=- "
                        r"adam_best=- load=[\d./]+", lines[0]), lines[0]
    assert "HF    epoch   1" in out


def test_settings_are_the_recipe_with_overrides(monkeypatch):
    import importlib.util
    monkeypatch.setattr(sys, "argv", ["pathological.py", "--cg-iter", "50",
                                      "--rules", "original", "--preconditioner",
                                      "diagonal"])
    spec = importlib.util.spec_from_file_location("pathological_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    args = module.parse_args()
    optimizer, minibatch = module.hf_settings(args)
    recipe, recipe_minibatch = hf.presets.pathological_settings()
    assert minibatch == recipe_minibatch == 1000
    assert optimizer.CG_iter == 50 and recipe.CG_iter == 300
    assert optimizer.curvature_fraction == recipe.curvature_fraction == 0.2
    assert optimizer.cg_storage == hf.opt.RULE_SETS["original"]["cg_storage"]
    assert recipe.cg_storage == hf.opt.RULE_SETS["alternative"]["cg_storage"]
    assert (args.clock, args.parallel) == ("cpu", True)
    assert isinstance(optimizer.preconditioner, hf.preconditioners.Diagonal)
    assert not recipe.preconditioner
    # the task's own rules, unless --rules names others
    args.rules = None
    optimizer, _ = module.hf_settings(args, "temporal_order")
    assert optimizer.cg_storage == hf.opt.RULE_SETS["original"]["cg_storage"]
    optimizer, _ = module.hf_settings(args, "addition")
    assert optimizer.cg_storage == hf.opt.RULE_SETS["alternative"]["cg_storage"]
