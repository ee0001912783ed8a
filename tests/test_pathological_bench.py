"""bench/pathological.py without PyTorch: its Hessian-free settings come
from the library's recipe with the command line's options in their place,
and a tiny run ends with the RESULT line that runs are compared by."""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

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
                        r"adam_best=- units=\d+\.\d fail_rate=(0|1)\.00 load=[\d./]+",
                        lines[0]), lines[0]
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


SUITE = ["--suite", "--tasks", "addition", "memorization_20bit", "--T", "10",
         "--seeds", "0", "1", "--n-train", "300", "--minibatch", "100", "--cg-iter", "5",
         "--suite-test", "100"]


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_suite_records_every_run_and_resumes(tmp_path):
    out, ckpt = tmp_path / "suite.jsonl", tmp_path / "ckpt"
    common = SUITE + ["--out", str(out), "--checkpoints", str(ckpt), "--budget-units", "2"]
    # a sitting too short for any run: no records, a checkpoint and counts per run
    text = run_bench(*common, "--max-cpu", "0")
    assert "0 runs recorded, 4 stopped" in text and not out.exists()
    side = json.loads((ckpt / "hf-recommended-addition-T10-s0_work.json").read_text())
    assert side["updates"] == 1 and side["work"]["gradient"] == 100
    text = run_bench(*common)
    assert "4 runs recorded" in text
    records = _records(out)
    assert len(records) == 4
    for r in records:
        assert r["optimizer"] == "hf" and r["preset"] == "recommended"
        assert r["criterion"] == "paper" and r["status"] in ("solved", "failed")
        assert r["units"] >= 2 or r["solved"]
        # resumed, not restarted: the counts go on from the first sitting's update
        assert r["updates"] >= 2 and r["gradient_examples"] == 100 * r["updates"]
        assert r["units"] == pytest.approx(
            (r["gradient_examples"] + r["curvature_examples"]) / 1000)
        assert r["cpu_s"] > 0 and r["gemm_s_per_unit"] > 0
        assert r["settings"]["CG_iter"] == 5 and r["settings"]["n_train"] == 300
    assert {(r["task"], r["seed"]) for r in records} == {
        (t, s) for t in ("addition", "memorization_20bit") for s in (0, 1)}
    # everything recorded: nothing left to run
    assert "suite: 0 runs to do" in run_bench(*common)
    assert len(_records(out)) == 4
    results = [line for line in text.splitlines() if line.startswith("RESULT")]
    assert len(results) == 2
    assert re.fullmatch(r"RESULT task=addition T=10 preset=recommended hf_s=\S+ "
                        r"adam_s=- units=\S+ fail_rate=\d\.\d\d runs=2", results[0])


def test_paper_preset_draws_fresh_data(tmp_path):
    out = tmp_path / "suite.jsonl"
    run_bench(*SUITE[:3], "--T", "10", "--seeds", "0", "--presets", "paper",
              "--minibatch", "200", "--cg-iter", "3", "--suite-test", "100",
              "--budget-units", "1", "--out", str(out),
              "--checkpoints", str(tmp_path / "ckpt"))
    (r,) = _records(out)
    assert r["settings"]["fresh_data"] and r["settings"]["n_train"] is None
    assert r["settings"]["curvature_fraction"] == 0.1
    # one update: the gradient on 200 sequences, each CG product on 20
    assert r["gradient_examples"] == 200 * r["updates"]
    assert r["curvature_examples"] % 20 == 0


def test_recommended_preset_draws_fresh_data_unless_given_a_training_set(tmp_path):
    out = tmp_path / "suite.jsonl"
    common = [*SUITE[:3], "--T", "10", "--seeds", "0", "--minibatch", "100",
              "--cg-iter", "2", "--suite-test", "100", "--budget-units", "0.1"]
    run_bench(*common, "--out", str(out), "--checkpoints", str(tmp_path / "a"))
    run_bench(*common, "--n-train", "300", "--out", str(tmp_path / "fixed.jsonl"),
              "--checkpoints", str(tmp_path / "b"))
    (fresh,) = _records(out)
    (fixed,) = _records(tmp_path / "fixed.jsonl")
    assert fresh["settings"]["fresh_data"] and fresh["settings"]["n_train"] is None
    assert not fixed["settings"]["fresh_data"] and fixed["settings"]["n_train"] == 300


def test_table_beside_the_paper(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    import pathological_table as table
    base = dict(T=50, preset="recommended", optimizer="hf", criterion="paper",
                cpu_s_per_unit=0.05, gemm_s_per_unit=0.01, error_units=1.0)
    records = [dict(base, task="addition", seed=s, solved=s < 3, units=100.0 * (s + 1),
                    cpu_s=10.0 * (s + 1)) for s in range(4)]
    records.append(dict(base, task="addition", seed=0, optimizer="adam",
                        config="lr0.001_b32", solved=True, units=900.0, cpu_s=99.0))
    records.append(dict(base, task="xor", seed=0, solved=True, units=1.0, cpu_s=1.0,
                        criterion="library"))
    rows = table.summarize(records)
    (hf_row,) = [r for r in rows if r["optimizer"] == "hf"]
    assert hf_row["failures"] == 1 and hf_row["fail_rate"] == 0.25
    assert hf_row["units"] == pytest.approx(200) and hf_row["cpu_s"] == pytest.approx(20)
    text = table.render(rows)
    assert "   * - addition" in text and "0/1, 900, 99.0 (lr0.001_b32)" in text
    assert "1 (4)" in text  # failures (runs), beside the paper's rate 0
    assert "CPU" in text and "CPU" not in table.render(rows, cpu=False)
    assert "900" in table.render(rows, "text", cpu=False)
    assert table.paper_cell("xor", 100) == (0.75, 10500)
    assert table.paper_cell("addition", 50) == (0, None)
    (line,) = table.result_lines(rows)
    assert line == ("RESULT task=addition T=50 preset=recommended hf_s=20.0 "
                    "adam_s=99.0 units=200.0 fail_rate=0.25 runs=4")
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"cut short')
    assert len(table.read_records(path)) == len(records)


def test_table_lists_the_runs_without_a_record(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "bench"))
    import pathological_table as table
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()

    def side(name, gradient, curvature, updates, error):
        (ckpt / f"{name}_work.json").write_text(json.dumps(
            {"work": {"gradient": gradient, "curvature": curvature, "error": 7},
             "updates": updates, "error": error, "cpu_s": 1.0}))

    side("hf-recommended-addition-T50-s0", 1000, 1000, 3, 0.0)       # recorded
    side("hf-recommended-xor-T30-s1", 2000, 500, 5, 0.4)             # stopped
    side("hf-paper-addition-T30-s2", 3000, 0, 2, 0.9)                # stopped
    (ckpt / "hf-recommended-xor-T30-s1_weights.npy").write_text("")  # not a counts file
    record = dict(task="addition", T=50, seed=0, preset="recommended", optimizer="hf",
                  criterion="paper", solved=True, units=2.0, cpu_s=1.0,
                  cpu_s_per_unit=0.5)
    rows = table.unfinished(str(ckpt), [record])
    assert [(r["task"], r["T"], r["preset"], r["seed"]) for r in rows] == [
        ("addition", 30, "paper", 2), ("xor", 30, "recommended", 1)]
    assert rows[1]["units"] == pytest.approx(2.5) and rows[1]["updates"] == 5
    assert rows[1]["error"] == 0.4
    # a record under the other criterion does not finish the run
    assert len(table.unfinished(str(ckpt), [record], criterion="library")) == 3
    text = table.render_unfinished(rows, "text")
    assert "xor" in text and "0.400" in text and "3" in text.splitlines()[1]
    records = tmp_path / "r.jsonl"
    records.write_text(json.dumps(dict(record, gemm_s_per_unit=0.1)) + "\n")
    table.main([str(records), "--checkpoints", str(ckpt), "--format", "text"])
    out = capsys.readouterr().out
    assert "last test error" in out and "RESULT task=addition T=50" in out
    with pytest.raises(SystemExit):
        table.main([str(records), "--checkpoints", str(tmp_path / "missing")])
    assert "is not a folder" in capsys.readouterr().err


def test_adam_and_hessian_free_runs_start_from_the_recipes_weights():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import pathological_suite as suite
    finally:
        sys.path.remove(str(ROOT / "bench"))
    recipe = hf.presets.pathological_recipe("temporal_order", plotting=False)
    for_hf = suite.initial_network("temporal_order", "recommended", 3, recipe)
    for_adam = suite.initial_network("temporal_order", "recommended", 3)
    assert (for_hf.W == for_adam.W).all()
    unscaled = hf.data.tasks.tanh_rnn("temporal_order", rng=3)
    W_in, _ = for_adam.get_weights(for_adam.W, (0, 1))
    W_in_unscaled, _ = unscaled.get_weights(unscaled.W, (0, 1))
    assert W_in.any()
    assert (W_in == 0.25 * W_in_unscaled).all()  # the recipe's input scale
    paper = suite.initial_network("temporal_order", "paper", 3)
    assert not (paper.W == for_adam.W).all()
