"""Tests for hessianfree.demos: the feed-forward demos learn, the CLI works."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import hessianfree as hf
from hessianfree import demos
from hessianfree.demos import classic
from hessianfree.base.backend import to_numpy

XOR_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR = np.array([0, 1, 1, 0])


def output(net):
    return to_numpy(net.forward(XOR_INPUTS)[-1])


def test_xor_data():
    inputs, targets = classic._xor_data()
    assert inputs.dtype == targets.dtype == np.float32
    np.testing.assert_array_equal(targets[:, 0], XOR)
    np.testing.assert_array_equal(inputs, XOR_INPUTS)
    _, one_hot = classic._xor_data(one_hot=True)
    np.testing.assert_array_equal(one_hot.argmax(axis=1), XOR)
    np.testing.assert_array_equal(one_hot.sum(axis=1), 1)


def test_registry_and_errors():
    assert {"xor", "crossentropy", "connections"} <= set(demos.DEMOS)
    assert demos.get_demo("xor") is demos.xor
    with pytest.raises(ValueError, match="unknown demo 'nope'.*xor"):
        demos.get_demo("nope")


def test_run_demo_passes_plots_only_when_accepted(monkeypatch):
    calls = []
    monkeypatch.setitem(demos.DEMOS, "with_plots",
                        lambda plots=True: calls.append(plots))
    monkeypatch.setitem(demos.DEMOS, "without_plots",
                        lambda x=1: calls.append(x))
    demos.run_demo("with_plots", plots=False)
    demos.run_demo("without_plots", plots=False, x=3)
    assert calls == [False, 3]


def test_main_unknown_name_lists_demos(capsys):
    with pytest.raises(SystemExit) as info:
        demos.main(["nope"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown demo 'nope'" in err
    assert "xor" in err and "connections" in err


def test_main_list(capsys):
    assert demos.main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in ("xor", "crossentropy", "connections"):
        assert name in out
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list(demos.DEMOS)
    for line in lines:  # each summary a whole sentence, not its first line
        assert line.endswith("."), line
    assert "Martens & Sutskever's recipe." in out


@pytest.mark.parametrize("seed", [0, 1])
def test_xor_hf_learns(seed, capsys):
    net = demos.xor(rng=np.random.RandomState(seed))
    out = output(net)
    assert out.shape == (4, 1)
    np.testing.assert_array_equal(out[:, 0] > 0.5, XOR.astype(bool))
    assert net.error(inputs=XOR_INPUTS, targets=XOR[:, None]) < 0.01
    assert "final error" in capsys.readouterr().out


def test_xor_sgd_learns():
    net = demos.xor(use_hf=False, rng=np.random.RandomState(0))
    np.testing.assert_array_equal(output(net)[:, 0] > 0.5, XOR.astype(bool))


def test_crossentropy_learns():
    net = demos.crossentropy(rng=np.random.RandomState(0))
    out = output(net)
    assert out.shape == (4, 2)
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(out.argmax(axis=1), XOR)


def test_connections_learns():
    net = demos.connections(rng=np.random.RandomState(0))
    np.testing.assert_array_equal(output(net)[:, 0] > 0.5, XOR.astype(bool))


def test_connections_log_shows_no_infinite_reduction_ratio(capsys):
    # with 2 CG iterations from a warm start the model often predicted no
    # decrease, logged as "rho -inf" (seeds 0 and 3 did)
    for seed in range(4):
        net = demos.connections(rng=seed, curves=False)
        assert net.error() < 1e-4
        out = capsys.readouterr().out
        assert "rho" in out and "rho -inf" not in out, out


def test_cli_runs_headless(tmp_path):
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(hf.__file__)))
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=package_root)
    result = subprocess.run(
        [sys.executable, "-m", "hessianfree.demos", "xor", "--no-plots"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "final error" in result.stdout


def test_demo_records_curves_and_says_how_to_view_them(capsys):
    from hessianfree.run import plotfile

    demos.xor(rng=0)
    path = plotfile.plot_filename("xor")
    assert os.path.isfile(path)  # in this test's scratch directory
    out = capsys.readouterr().out
    assert f"python -m hessianfree.run.dataplotter {path}" in out
    assert f"hf.dataplotter.run({path!r})" in out
    demos.xor(rng=0, curves=False)
    assert "dataplotter" not in capsys.readouterr().out


def test_demo_saves_the_model_and_says_what_each_file_is(capsys):
    net = demos.xor(rng=0)
    out = capsys.readouterr().out
    listing = out[out.index("files written:"):].splitlines()[1:]
    named = [line.split()[0] for line in listing if not line.startswith("   ")]
    assert named == ["xor_model.npz", "xor_weights.npy", "xor_checkpoint.npz",
                     "xor_plots.json"]
    assert sorted(named) == sorted(os.listdir("."))  # every file it wrote, and no other
    assert "net = hf.load('xor_model.npz')" in out
    assert "hf.FFNet(<the same architecture>, load_weights='xor_weights.npy')" in out
    assert "run the demo again with --resume (resume=True in Python)" in out
    loaded = hf.load("xor_model.npz")  # the whole trained model
    np.testing.assert_array_equal(loaded.predict(XOR_INPUTS), net.predict(XOR_INPUTS))
    # the bare weights file is not a model file: hf.load says what it is instead
    with pytest.raises(ValueError, match=r"'xor_weights.npy' is a bare weight vector.*"
                                         r"load_weights="):
        hf.load("xor_weights.npy")
    np.testing.assert_array_equal(
        hf.FFNet([2, 5, 1], load_weights="xor_weights.npy").W, net.best_W)


def test_cli_resume_and_ctrl_c_name_the_option(monkeypatch, capsys):
    update = hf.opt.HessianFree.compute_update
    calls = []

    def interrupted_in_epoch_5(self, printing=False):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return update(self, printing)

    monkeypatch.setattr(hf.opt.HessianFree, "compute_update", interrupted_in_epoch_5)
    assert demos.main(["connections", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert ("interrupted after epoch 4, whose weights the network keeps; the checkpoint "
            "after epoch 4 is intact ('connections_checkpoint.npz'); resume with "
            "--resume") in out.splitlines()
    assert "files written:" in out  # the demo goes on to save what it has
    monkeypatch.setattr(hf.opt.HessianFree, "compute_update", update)
    assert demos.main(["connections", "--seed", "0", "--resume"]) == 0
    out = capsys.readouterr().out
    assert "resuming from 'connections_checkpoint.npz' after epoch 4" in out
    resumed = hf.load("connections_model.npz")
    uninterrupted = demos.connections(rng=0, curves=False)
    np.testing.assert_array_equal(resumed.W, uninterrupted.W)
    # a fresh run over the files of an earlier one says how to continue it instead
    with pytest.warns(UserWarning, match="pass --resume to continue that run instead"):
        demos.main(["connections", "--seed", "0"])
    with pytest.warns(UserWarning, match="pass resume=True to continue"):
        demos.connections(rng=0)  # from Python, the argument


def test_resume_needs_the_files(capsys):
    with pytest.raises(SystemExit):
        demos.main(["connections", "--resume", "--no-curves"])
    assert "--no-curves" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        demos.main(["profile", "--resume"])
    assert "--resume is for the" in capsys.readouterr().err
    with pytest.raises(ValueError, match="curves=False"):
        demos.xor(curves=False, resume=True)


def test_same_seed_same_run(capsys):
    first = demos.run_demo("xor", seed=3, curves=False)
    second = demos.run_demo("xor", seed=3, curves=False)
    other = demos.run_demo("crossentropy", seed=4, curves=False)
    np.testing.assert_array_equal(first.W, second.W)
    assert not np.array_equal(first.W, demos.run_demo("xor", seed=4, curves=False).W)
    assert other.W.shape != first.W.shape
    capsys.readouterr()
    def run_output():
        assert demos.main(["connections", "--seed", "5", "--no-curves"]) == 0
        return re.sub(r"\d+\.\d+ s\b", "(time)", capsys.readouterr().out)

    assert run_output() == run_output()  # the same numbers, apart from timings


def test_seed_argument_errors(capsys):
    with pytest.raises(SystemExit):
        demos.main(["xor", "--seed", "-1"])
    assert "--seed" in capsys.readouterr().err
    with pytest.raises(TypeError, match="seed"):
        demos.run_demo("xor", seed=1.5)


def test_missing_matplotlib_is_reported_before_training(monkeypatch):
    def training_started(*args, **kwargs):
        raise AssertionError("training started before the check")

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # not importable
    monkeypatch.setattr(hf.RNNet, "run_epochs", training_started)
    for demo in (demos.integrator, demos.adding, demos.plant):
        with pytest.raises(ImportError, match="matplotlib"):
            demo(plots=True)


def test_figures_are_saved_without_a_display(capsys):
    import matplotlib

    matplotlib.use("Agg")
    demos.integrator(n_inputs=5, sig_len=4, rng=0, curves=False,
                     run_args={"max_epochs": 2, "print_period": None})
    assert os.path.isfile("integrator.png")
    assert "figure saved to integrator.png" in capsys.readouterr().out
