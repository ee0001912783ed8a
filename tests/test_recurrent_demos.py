"""Tests for the recurrent demos: integrator, adding, plant and profile learn
or run as documented, their helpers are right, and bad input is refused."""

import os
import re
import sys

import numpy as np
import pytest

import hessianfree as hf
from hessianfree import demos
from hessianfree.demos import profiling
from hessianfree.nets.derivative_checks import central_difference


def mse(net, inputs, targets):
    out = hf.backend.to_numpy(net.forward(inputs)[-1])
    mask = ~np.isnan(targets)
    return float(np.mean((out[mask] - targets[mask]) ** 2))


# ------------------------------------------------------------- integrator
def test_integrator_data():
    x, t = demos.integrator_data(7, 5, np.random.RandomState(0))
    assert x.shape == t.shape == (7, 5, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(x, np.broadcast_to(x[:, :1], x.shape))  # constant
    np.testing.assert_allclose(t, x * np.arange(1, 6)[None, :, None], rtol=1e-6)
    assert np.abs(x).max() <= 1 / 5
    spread, _ = demos.integrator_data(8, 5, np.random.RandomState(0), spread=True)
    bins = np.floor((spread[:, 0, 0] * 5 + 1) / 2 * 8)
    np.testing.assert_array_equal(bins, np.arange(8))  # one level per eighth


def test_integrator_learns(capsys):
    net = demos.integrator(plots=False, rng=np.random.RandomState(0))
    test = demos.integrator_data(200, 10, np.random.RandomState(1))
    trivial = float(np.mean(test[1] ** 2))  # about 0.15
    assert trivial > 0.1
    assert mse(net, *test) < 1e-4
    assert "test MSE" in capsys.readouterr().out


def test_integrator_args_update_the_defaults():
    opt = hf.opt.HessianFree(CG_iter=3, plotting=False)
    net = demos.integrator(model_args={"shape": [1, 4, 1]},
                           run_args={"optimizer": opt, "max_epochs": 2,
                                     "print_period": None},
                           n_inputs=5, sig_len=4, plots=False,
                           rng=np.random.RandomState(0))
    assert net.shape == [1, 4, 1]
    assert isinstance(net.layers[1], hf.nl.Tanh)  # default kept
    assert net.optimizer is opt and opt.state.epoch == 2


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(model_args=[1]), TypeError, "model_args"),
    (dict(run_args="fast"), TypeError, "run_args"),
    (dict(n_inputs=0), ValueError, "n_inputs"),
    (dict(sig_len=2.5), TypeError, "sig_len"),
    (dict(rng="3"), TypeError, "rng"),
])
def test_integrator_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        demos.integrator(plots=False, **kwargs)


# ----------------------------------------------------------------- adding
def test_adding_data():
    x, t = demos.adding_data(12, 300, np.random.RandomState(0))
    assert x.shape == (300, 12, 2) and t.shape == (300, 12, 1)
    assert x.dtype == t.dtype == np.float32
    np.testing.assert_array_equal(x[:, :, 1].sum(axis=1), 2)
    assert set(np.unique(x[:, :, 1])) == {0.0, 1.0}
    assert 0 <= x[:, :, 0].min() and x[:, :, 0].max() < 1
    assert np.isnan(t[:, :-1]).all()
    np.testing.assert_allclose(t[:, -1, 0], (x[:, :, 0] * x[:, :, 1]).sum(axis=1))
    # the marked steps are spread over the whole sequence
    assert np.isin(np.arange(12), np.nonzero(x[:, :, 1])[1]).all()
    with pytest.raises(ValueError, match="T must be at least 2"):
        demos.adding_data(1, 10, np.random.RandomState(0))
    with pytest.raises(ValueError, match="n_sequences"):
        demos.adding_data(5, 0, np.random.RandomState(0))


def test_adding_network_and_spectral_radius():
    opt = hf.opt.HessianFree()
    net = demos.adding_network(opt, np.random.RandomState(0))
    assert net.shape == [2, 32, 64, 1] and net.rec_layers == [2]
    assert isinstance(net.layers[2], hf.nl.Continuous) and net.layers[2].tau == 20
    W_rec, _ = net.get_weights(net.W, (2, 2))
    assert np.abs(np.linalg.eigvals(W_rec.astype(np.float64))).max() == \
        pytest.approx(1, rel=1e-5)
    damping = [loss for loss in net.loss_type.set
               if isinstance(loss, hf.loss_funcs.StructuralDamping)]
    assert len(damping) == 1 and damping[0].optimizer is opt
    demos.set_spectral_radius(net, 2, 0.5)
    assert np.abs(np.linalg.eigvals(W_rec.astype(np.float64))).max() == \
        pytest.approx(0.5, rel=1e-5)


def test_adding_T10_is_solved(capsys):
    n, seed = 1000, 0  # 900 training sequences, minibatches of 500
    net = demos.adding(T=10, plots=False, n_sequences=n, minibatch_size=500,
                       max_epochs=30, target_mse=0.01, seed=seed, network="leaky")
    x, t = demos.adding_data(10, n, np.random.RandomState(seed))
    test = x[:n // 10], t[:n // 10]
    trivial = float(np.mean((test[1][:, -1] - np.nanmean(t[n // 10:])) ** 2))
    assert trivial > 0.12
    assert mse(net, *test) < 0.01
    out = capsys.readouterr().out
    assert "trivial predictor" in out and "test MSE" in out


def test_adding_bad_input():
    with pytest.raises(ValueError, match="n_sequences"):
        demos.adding(T=5, plots=False, n_sequences=1)
    with pytest.raises(ValueError, match="network"):
        demos.adding(T=5, plots=False, network="lstm")


def test_adding_default_is_the_plain_tanh_network(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = demos.adding(T=5, plots=False, n_sequences=200, minibatch_size=100,
                       max_epochs=3, target_mse=0.0)
    assert net.shape == [2, 100, 1] and isinstance(net.layers[1], hf.nl.Tanh)
    out = capsys.readouterr().out
    assert "test MSE" in out and "after 3 epochs" in out and "s of CPU time" in out


def test_adding_trains_with_the_addition_settings(monkeypatch, tmp_path, capsys):
    """The tanh network trains with pathological_settings("addition"), and
    only target_mse or max_epochs stops it."""
    monkeypatch.chdir(tmp_path)
    seen = {}
    real = hf.presets.pathological_settings

    def spy(task=None, **kwargs):
        seen["task"] = task
        return real(task, CG_iter=2, **kwargs)
    monkeypatch.setattr(hf.presets, "pathological_settings", spy)
    demos.adding(T=10, plots=False, n_sequences=300, minibatch_size=100,
                 max_epochs=25, target_mse=0.0, curves=False)
    assert seen["task"] == "addition"
    assert "after 25 epochs" in capsys.readouterr().out
    import inspect
    defaults = inspect.signature(demos.adding).parameters
    assert defaults["minibatch_size"].default == 1000


def test_pathological_demo(capsys):
    net = demos.pathological("xor", T=10, plots=False, n_train=200, n_test=100,
                             minibatch_size=100, CG_iter=10, max_epochs=2)
    assert net.shape == [2, 100, 2]
    out = capsys.readouterr().out
    assert "xor, T=10" in out and "after 2 epochs" in out
    assert "recommended preset: 200 training sequences" in out


def test_pathological_demo_draws_fresh_sequences_by_default(capsys):
    demos.pathological("addition", T=10, plots=False, n_test=100, minibatch_size=100,
                       CG_iter=2, max_epochs=1)
    assert "recommended preset: fresh sequences every update" in capsys.readouterr().out


def test_pathological_demo_is_not_stopped_by_a_plateau(capsys):
    """Only the criterion or max_epochs stops it: here run_epochs' rule for a
    rising test error would have stopped it after 22 epochs."""
    demos.pathological("temporal_order", T=20, plots=False, n_train=200, n_test=100,
                       minibatch_size=100, CG_iter=2, max_epochs=25)
    out = capsys.readouterr().out
    assert "after 25 epochs" in out and "units" in out and "not solved" in out


def test_pathological_demo_paper_preset_and_criterion(capsys):
    net = demos.pathological("addition", T=10, plots=False, n_test=100, minibatch_size=200,
                             CG_iter=5, max_epochs=2, preset="paper", criterion="paper")
    W_in, _ = net.get_weights(net.W, (0, 1))
    assert np.abs(W_in).max() < 0.25 * 15 ** -0.5 * 6  # the paper's small input weights
    out = capsys.readouterr().out
    assert "paper preset: fresh sequences every update" in out
    assert "below 0.001" in out
    with pytest.raises(ValueError, match="criterion"):
        demos.pathological("addition", T=10, plots=False, criterion="strict")


def test_pathological_settings_are_the_documented_recipe():
    optimizer, minibatch = demos.pathological_settings()
    assert (optimizer.CG_iter, optimizer.damping, optimizer.curvature_fraction,
            minibatch) == (300, 1, 0.2, 1000)
    for name, value in hf.opt.RULE_SETS["alternative"].items():
        assert getattr(optimizer, name) == value
    # an override replaces one setting and keeps the others
    optimizer, _ = demos.pathological_settings(CG_iter=50)
    assert (optimizer.CG_iter, optimizer.curvature_fraction) == (50, 0.2)
    with pytest.raises(ValueError, match="curvature_fraction"):
        demos.pathological_settings(curvature_fraction=2.0)


@pytest.mark.parametrize("task", ["temporal_order", "memorization", "addition",
                                  "temporal_order_3bit"])
def test_pathological_settings_choose_the_rules_per_task(task):
    optimizer, minibatch = demos.pathological_settings(task)
    rules = demos.PATHOLOGICAL_RULES.get(task, "alternative")
    assert rules == ("original" if task in ("temporal_order", "memorization")
                     else "alternative")
    for name, value in hf.opt.RULE_SETS[rules].items():
        assert getattr(optimizer, name) == value
    assert (optimizer.CG_iter, optimizer.curvature_fraction, minibatch) == (300, 0.2, 1000)
    # explicit rules win over the task's
    optimizer, _ = demos.pathological_settings(task, **hf.opt.RULE_SETS["alternative"])
    assert optimizer.cg_storage == hf.opt.RULE_SETS["alternative"]["cg_storage"]


def test_pathological_settings_reject_an_unknown_task():
    with pytest.raises(ValueError, match="task must be one of"):
        demos.pathological_settings("adding")


# ------------------------------------------------------------------ plant
def point_mass_net(mass, seed=0, **kwargs):
    return hf.RNNet([2, 5, 2], layers=[hf.nl.Linear(), hf.nl.Tanh(), mass],
                    W_init_params={"coeff": 0.5}, W_rec_params={"coeff": 0.5},
                    rng=np.random.RandomState(seed), **kwargs)


def test_point_mass_jacobians_match_finite_differences():
    mass = demos.PointMass([-0.7, 0.2, 1.3], n_steps=4)
    rng = np.random.default_rng(0)
    prev = np.stack([[-0.7, 0.2, 1.3], rng.standard_normal(3)], axis=1)
    x = rng.standard_normal((3, 2))

    def step(prev, x):
        mass.reset(prev)
        return mass.activation(x)
    a = step(prev, x)
    d = mass.d_activation(x, a)
    assert d.shape == (3, 2, 2, 3)
    for b in range(3):
        d_in = central_difference(lambda z: step(prev, np.where(
            np.arange(3)[:, None] == b, z, x))[b], x[b])
        d_state = central_difference(lambda s: step(np.where(
            np.arange(3)[:, None] == b, s, prev), x)[b], prev[b])
        np.testing.assert_allclose(d[b, :, :, 0], d_in, atol=1e-8)
        np.testing.assert_allclose(d[b, :, :, 1], d_state, atol=1e-8)
        np.testing.assert_allclose(d[b, :, :, 2], np.eye(2))


def test_point_mass_gradient_and_jacobian_through_time():
    mass = demos.PointMass([-1.0, -0.2, 0.6], n_steps=5, target_steps=3)
    net = point_mass_net(mass, debug=True)
    mass.reset()
    net.forward(mass)
    x, t = mass.get_vecs()
    assert x.shape == (3, 5, 2) and np.isnan(t[:, :2]).all()
    np.testing.assert_allclose(x[:, 0], mass.init_state)
    net.cache_minibatch(x, t)
    net.check_grad(net.calc_grad())
    net.check_J()


def test_plant_reaches_its_target(capsys):
    net = demos.plant(plots=False)
    mass = net.layers[-1]
    start = np.abs(mass.init_state[:, 0] - 1)
    mass.reset()
    net.forward(mass)
    final = hf.backend.to_numpy(mass.state)
    assert start.mean() > 0.5
    assert np.abs(final[:, 0] - 1).mean() < 0.05 * start.mean()
    assert np.abs(final[:, 0] - 1).max() < 0.1
    assert np.abs(final[:, 1]).mean() < 0.05
    assert "mean distance to position 1" in capsys.readouterr().out


@pytest.mark.parametrize("seed", [0, 6])  # the default, and the worst of --seed 0-7
def test_plant_meets_the_documented_bounds(seed):
    """docs/demos.rst: the mean distance to position 1 ends below 0.015,
    the farthest mass (the printed max) below 0.025."""
    net = demos.plant(plots=False, curves=False, seed=seed)
    mass = net.layers[-1]
    mass.reset()
    net.forward(mass)
    distance = np.abs(hf.backend.to_numpy(mass.state)[:, 0] - 1)
    assert distance.mean() < 0.015 and distance.max() < 0.025


class ShortTargets(demos.PointMass):
    def get_vecs(self):
        inputs, targets = super().get_vecs()
        return inputs, targets[:, 1:]


class WideInputs(demos.PointMass):
    def get_vecs(self):
        inputs, targets = super().get_vecs()
        return np.concatenate([inputs, inputs[..., :1]], axis=-1), targets


class WideCall(demos.PointMass):
    def __call__(self, x):
        return np.concatenate([super().__call__(x)] * 2, axis=1)


class ShortCall(demos.PointMass):
    def __call__(self, x):
        return super().__call__(x)[1:]


@pytest.mark.parametrize("plant_class, exc, match", [
    (ShortTargets, ValueError, "get_vecs.*targets"),
    (WideInputs, ValueError, "get_vecs.*inputs"),
    (WideCall, ValueError, "plant's output"),
    (ShortCall, ValueError, "plant.shape"),
])
def test_plant_that_disagrees_with_the_network(plant_class, exc, match):
    mass = plant_class([-0.5, 0.0, 0.5], n_steps=4)
    net = point_mass_net(mass)
    W = net.W.copy()
    with pytest.raises(exc, match=match):
        net.run_epochs(mass, None, optimizer=hf.opt.HessianFree(CG_iter=2),
                       max_epochs=1, print_period=None)
    np.testing.assert_array_equal(net.W, W)


def test_point_mass_bad_input():
    with pytest.raises(ValueError, match="init_pos"):
        demos.PointMass(np.zeros((2, 2)), n_steps=3)
    with pytest.raises(ValueError, match="dt"):
        demos.PointMass([0.0], n_steps=3, dt=0)
    with pytest.raises(TypeError, match="n_steps"):
        demos.PointMass([0.0], n_steps=2.0)
    with pytest.raises(ValueError, match="target_steps"):
        demos.PointMass([0.0], n_steps=3, target_steps=0)


# ---------------------------------------------------------------- profile
def test_profile_integrator_shows_calc_G(capsys, monkeypatch):
    calls = []

    def small_integrator(model_args=None, run_args=None, n_inputs=15, sig_len=10,
                         plots=True):
        # profile asks for [1, 100, 1] on 500 x 200 steps; run a tenth of it
        calls.append(dict(model_args, n_inputs=n_inputs, sig_len=sig_len,
                          plots=plots, **run_args))
        return demos.integrator(dict(model_args, shape=[1, 10, 1]), run_args,
                                n_inputs=50, sig_len=20, plots=plots)

    monkeypatch.setitem(demos.DEMOS, "integrator", small_integrator)
    stats = demos.profile("integrator", max_epochs=2)
    assert len(calls) == 1
    assert calls[0]["shape"] == [1, 100, 1] and calls[0]["use_GPU"] is False
    assert calls[0]["W_rec_params"] == {"coeff": 0.25}
    assert (calls[0]["n_inputs"], calls[0]["sig_len"]) == (500, 200)
    assert calls[0]["max_epochs"] == 2 and calls[0]["plots"] is False
    assert calls[0]["optimizer"].CG_iter == 10
    out = capsys.readouterr().out
    assert "cumulative" in out
    listed = [line for line in out.splitlines() if "(calc_G)" in line]
    assert listed, out
    assert profiling._seconds_in(stats, "calc_G") > 0
    assert re.search(r"calc_G: [0-9.]+ s of [0-9.]+ s profiled \([0-9]+%\)", out)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(func="xor"), ValueError, "func"),
    (dict(func="integrator", max_epochs=0), ValueError, "max_epochs"),
    (dict(func="integrator", cprofile=False), ValueError, "use_GPU=True"),
])
def test_profile_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        demos.profile(**kwargs)


@pytest.mark.skipif(hf.gpu_enabled, reason="a GPU is available")
def test_profile_without_gpu_says_why():
    with pytest.raises(RuntimeError, match="use_GPU=True"):
        demos.profile("integrator", use_GPU=True)


# ------------------------------------------------------------ CLI, figures
def test_recurrent_demos_are_listed(capsys):
    assert demos.main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in ("integrator", "adding", "pathological", "plant", "profile"):
        assert name in out


def test_figures_are_drawn(monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.close("all")
    demos.integrator(run_args={"max_epochs": 2}, plots=True, rng=np.random.RandomState(0))
    demos.adding(T=5, n_sequences=100, minibatch_size=50, max_epochs=1)
    demos.plant(max_epochs=1, n_plants=4, n_steps=6)
    # without a display (the Agg backend) each figure is saved as a PNG
    assert all(os.path.isfile(f"{name}.png") for name in ("integrator", "adding", "plant"))
    assert plt.get_fignums() == [1, 2, 3]
    titles = [ax.get_title() for ax in plt.figure(1).axes]
    assert titles == ["inputs", "targets", "outputs"]
    assert [ax.get_title() for ax in plt.figure(3).axes] == ["position", "velocity"]
    plt.close("all")


def test_missing_matplotlib_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="plots=False"):
        demos.integrator(run_args={"max_epochs": 1}, plots=True,
                         rng=np.random.RandomState(0))
