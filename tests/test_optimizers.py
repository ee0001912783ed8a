"""Tests for hessianfree.optim.optimizers on small "networks" whose loss, gradient
and Gauss-Newton matrix are known in closed form (the tests are about the
optimizer's own logic, so the network is a stand-in)."""

import math
import warnings

import numpy as np
import pytest

from hessianfree.base import backend
from hessianfree.optim import cg
from hessianfree.optim import optimizers as opt
from hessianfree.optim.optimizers import HessianFree, HFState, NonFiniteWarning, SGD


class FakeNet:
    """Least squares :math:`f(W) = \\frac{1}{2N}\\|XW - y\\|^2` (``kind="lsq"``)
    or logistic regression :math:`f(W) = \\frac1N\\sum_n \\log(1 + e^{z_n}) -
    y_n z_n`, :math:`z = XW` (``kind="logistic"``).  ``G_scale`` scales the
    curvature products (a wrong model); the ``nan_*`` flags inject NaNs."""

    def __init__(self, kind="lsq", n=40, p=5, seed=0, xp=np, dtype=np.float64,
                 G_scale=1.0, debug=False):
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((n, p))
        if kind == "lsq":
            y = X @ rng.standard_normal(p) + 0.1 * rng.standard_normal(n)
        else:
            y = (X @ rng.standard_normal(p) + rng.standard_normal(n) > 0) * 1.0
        self.kind, self.xp, self.dtype = kind, xp, np.dtype(dtype)
        self.X, self.y = xp.asarray(X, dtype=dtype), xp.asarray(y, dtype=dtype)
        self.W = xp.zeros(p, dtype=dtype)
        self.G_scale, self.debug = G_scale, debug
        self.nan_grad = self.nan_G = self.nan_G_undamped = self.nan_error = False
        self.calls = {"error": 0, "calc_G": 0, "check_grad": 0, "check_G": 0}

    def _prediction(self, W):
        z = self.X @ W
        return z if self.kind == "lsq" else 1 / (1 + self.xp.exp(-z))

    def error(self, W=None, inputs=None, targets=None):
        self.calls["error"] += 1
        if self.nan_error:
            return math.nan
        W = self.W if W is None else W
        z = self.X @ W
        if self.kind == "lsq":
            value = 0.5 * self.xp.mean((z - self.y) ** 2)
        else:
            value = self.xp.mean(self.xp.logaddexp(0, z) - self.y * z)
        return float(value)

    def calc_grad(self):
        g = self.X.T @ (self._prediction(self.W) - self.y) / len(self.y)
        return g * math.nan if self.nan_grad else g

    def G_matrix(self, damping=0.0):
        """Explicit (scaled) Gauss-Newton matrix plus damping, on the host."""
        X = backend.to_numpy(self.X).astype(np.float64)
        if self.kind == "lsq":
            h = np.ones(len(X))
        else:
            p = backend.to_numpy(self._prediction(self.W)).astype(np.float64)
            h = p * (1 - p)
        return self.G_scale * (X.T * h) @ X / len(X) + damping * np.eye(X.shape[1])

    def calc_G(self, v, damping=0, out=None):
        self.calls["calc_G"] += 1
        h = 1.0 if self.kind == "lsq" else self._prediction(self.W) * \
            (1 - self._prediction(self.W))
        Gv = self.G_scale * (self.X.T @ (h * (self.X @ v))) / len(self.y) + damping * v
        if self.nan_G or (self.nan_G_undamped and damping == 0):
            Gv = Gv * math.nan
        if out is None:
            return Gv.astype(self.dtype)
        out[...] = Gv
        return out

    def check_grad(self, grad):
        self.calls["check_grad"] += 1

    def check_G(self, G_v, v, damping=0):
        self.calls["check_G"] += 1
        expected = self.G_matrix(damping) @ backend.to_numpy(v)
        np.testing.assert_allclose(backend.to_numpy(G_v), expected, rtol=1e-8)

    def grad_norm(self):
        return float(self.xp.linalg.norm(self.calc_grad()))


def attach(optimizer, net):
    optimizer.net = net
    return optimizer


def train(optimizer, net, epochs):
    errors = [net.error()]
    for _ in range(epochs):
        delta = optimizer.compute_update()
        assert bool(net.xp.isfinite(delta).all())
        net.W += delta
        errors.append(net.error())
    return errors


# ------------------------------------------------------------------ HF


@pytest.mark.parametrize("kind", ["lsq", "logistic"])
def test_hf_reduces_error_every_update_and_converges(kind, xp):
    net = FakeNet(kind, xp=xp)
    hf = attach(HessianFree(CG_iter=50), net)
    errors = train(hf, net, 25)
    assert all(b <= a for a, b in zip(errors, errors[1:]))
    assert errors[1] < errors[0]
    assert net.grad_norm() < 1e-6


def test_hf_reaches_least_squares_solution():
    net = FakeNet("lsq")
    hf = attach(HessianFree(CG_iter=50), net)
    train(hf, net, 30)
    solution = np.linalg.lstsq(net.X, net.y, rcond=None)[0]
    np.testing.assert_allclose(net.W, solution, rtol=1e-6, atol=1e-8)


def test_hf_float32():
    net = FakeNet("logistic", dtype=np.float32)
    hf = attach(HessianFree(CG_iter=20), net)
    delta = hf.compute_update()
    assert delta.dtype == np.float32
    assert hf.state.init_delta.dtype == np.float32
    errors = train(hf, net, 5)
    assert errors[-1] < errors[0]


def test_damping_goes_down_when_model_is_exact():
    net = FakeNet("lsq")
    hf = attach(HessianFree(init_damping=1.0, ratio_model="undamped",
                            damping_decrease=2 / 3), net)
    hf.compute_update()
    assert hf.plots["reduction ratio"][-1] == pytest.approx(1.0, rel=1e-6)
    assert hf.damping == pytest.approx(2 / 3)


def test_default_ratio_uses_the_damped_model():
    net = FakeNet("lsq")
    W0, f0, grad = net.W.copy(), net.error(), net.calc_grad()
    hf = attach(HessianFree(init_damping=1.0), net)
    delta = hf.compute_update()  # full step: the model is exact
    predicted = grad @ delta + 0.5 * delta @ net.G_matrix(1.0) @ delta
    rho = (net.error(W0 + delta) - f0) / predicted
    assert hf.plots["reduction ratio"][-1] == pytest.approx(rho, rel=1e-9)
    assert rho > 1  # the damping term makes the damped model pessimistic
    assert hf.damping == pytest.approx(0.66)


def test_damping_goes_up_when_model_is_wrong():
    net = FakeNet("lsq", G_scale=0.01)  # curvature underestimated 100x
    hf = attach(HessianFree(init_damping=1e-3), net)
    for _ in range(3):
        before = hf.damping
        hf.compute_update()
        assert hf.damping > before
        assert hf.plots["reduction ratio"][-1] < 0.25


def test_wrong_model_never_increases_error():
    net = FakeNet("logistic", G_scale=0.02)
    hf = attach(HessianFree(init_damping=1e-3, CG_iter=30), net)
    errors = train(hf, net, 15)
    assert all(b <= a for a, b in zip(errors, errors[1:]))
    assert errors[-1] < errors[0]


def test_rejected_step_returns_zeros_and_raises_damping():
    net = FakeNet("lsq", G_scale=1e-4)
    hf = attach(HessianFree(init_damping=1e-6, use_linesearch=False), net)
    W = net.W.copy()
    delta = hf.compute_update()
    np.testing.assert_array_equal(delta, 0)
    np.testing.assert_array_equal(net.W, W)
    assert hf.damping >= 1.5e-6
    assert hf.state.n_failures == 1 and hf.plots["step size"] == [0.0]


@pytest.mark.parametrize("flag, match", [
    ("nan_grad", "gradient"),
    ("nan_error", "current error"),
    ("nan_G", "curvature product in CG"),
    ("nan_G_undamped", "reduction ratio"),
])
def test_nonfinite_gives_zero_update_raised_damping_and_warning(flag, match, xp):
    net = FakeNet("logistic", xp=xp)
    hf = attach(HessianFree(init_damping=2.0, ratio_model="undamped"), net)
    hf.compute_update()  # a normal update first: a warm start exists
    damping, W = hf.damping, net.W.copy()
    setattr(net, flag, True)
    with pytest.warns(NonFiniteWarning, match=match):
        delta = hf.compute_update()
    assert bool(xp.all(delta == 0)) and delta.shape == net.W.shape
    assert bool(xp.all(net.W == W))
    assert hf.damping == pytest.approx(1.5 * damping)
    assert hf.state.n_failures == 1 and hf.state.epoch == 2
    assert hf.plots["step size"][-1] == 0.0
    assert math.isnan(hf.plots["reduction ratio"][-1])
    if flag in ("nan_G", "nan_G_undamped"):
        assert hf.state.init_delta is None  # CG's answer is not reused
    else:
        assert hf.state.init_delta is not None


def test_nan_error_at_trial_points_is_avoided():
    net = FakeNet("lsq")
    error = net.error

    def error_nan_far(W=None, **kwargs):
        value = error(W, **kwargs)
        if W is not None and float(np.linalg.norm(W - net.W)) > 0.05:
            return math.nan
        return value
    net.error = error_nan_far
    hf = attach(HessianFree(init_damping=1e-3), net)
    errors = train(hf, net, 5)
    assert all(math.isfinite(e) for e in errors)
    assert errors[-1] < errors[0]
    assert all(b <= a for a, b in zip(errors, errors[1:]))


def test_never_modifies_W():
    net = FakeNet("logistic")
    net.W += 0.1
    W, W_values = net.W, net.W.copy()
    hf = attach(HessianFree(), net)
    for _ in range(3):
        hf.compute_update()
        assert net.W is W
        np.testing.assert_array_equal(net.W, W_values)


def test_zero_gradient_gives_zero_update_without_warning():
    net = FakeNet("lsq")
    net.W[:] = np.linalg.lstsq(net.X, net.y, rcond=None)[0]
    net.y = net.X @ net.W  # exact fit: gradient exactly zero
    hf = attach(HessianFree(), net)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        delta = hf.compute_update()
    np.testing.assert_array_equal(delta, 0)


def test_conjugate_gradient_method_returns_iteration_delta_pairs():
    net = FakeNet("logistic")
    hf = attach(HessianFree(init_damping=0.5, cg_storage="geometric"), net)
    grad = net.calc_grad()
    pairs = hf.conjugate_gradient(None, grad, iters=250)
    assert isinstance(pairs, list) and len(pairs) >= 2
    iterations = [i for i, _ in pairs]
    assert all(isinstance(i, int) for i in iterations)
    assert iterations == sorted(set(iterations))
    # 0-based labels, as in the original package
    assert [i + 1 for i in iterations[:-1]] == \
        cg.storage_grid(250)[:len(iterations) - 1]
    assert iterations[-1] + 1 == hf.last_cg.n_iters
    expected = np.linalg.solve(net.G_matrix(0.5), -grad)
    np.testing.assert_allclose(pairs[-1][1], expected, rtol=1e-5, atol=1e-8)
    assert all(d.shape == grad.shape for _, d in pairs)


def test_conjugate_gradient_uses_damped_products():
    net = FakeNet("lsq")
    hf = attach(HessianFree(init_damping=3.0), net)
    damping_seen = []
    calc_G = net.calc_G

    def spy(v, damping=0, out=None):
        damping_seen.append(damping)
        return calc_G(v, damping=damping, out=out)
    net.calc_G = spy
    hf.conjugate_gradient(None, net.calc_grad(), iters=5)
    assert damping_seen and set(damping_seen) == {3.0}


def test_warm_start_is_decayed_last_cg_solution(monkeypatch):
    net = FakeNet("logistic")
    hf = attach(HessianFree(cg_decay=0.5), net)
    starts = []
    real_cg = opt.conjugate_gradient

    def spy(matvec, b, x0, **kwargs):
        starts.append(None if x0 is None else x0.copy())
        return real_cg(matvec, b, x0, **kwargs)
    monkeypatch.setattr(opt, "conjugate_gradient", spy)
    net.W += hf.compute_update()
    last_solution = hf.last_cg.x.copy()
    np.testing.assert_allclose(hf.state.init_delta, 0.5 * last_solution)
    hf.compute_update()
    assert starts[0] is None
    np.testing.assert_allclose(starts[1], 0.5 * last_solution)


@pytest.mark.parametrize("cg_start", ["warm", "warm-if-better"])
def test_cg_start_drops_a_warm_start_worse_than_zero(cg_start):
    """A start uphill (phi > 0) is kept by the original rule and replaced by
    zeros with ``cg_start="warm-if-better"``; a good start is kept by both."""
    net = FakeNet("lsq")
    hf = attach(HessianFree(init_damping=1.0, cg_start=cg_start, CG_iter=2), net)
    grad = net.calc_grad()
    G = net.G_matrix(1.0)
    for start, worse in ((10 * grad, True), (-0.5 * np.linalg.solve(G, grad), False)):
        assert (0.5 * start @ G @ start + grad @ start > 0) == worse
        hf.conjugate_gradient(start, grad, iters=2)
        cold = cg.conjugate_gradient(lambda v, out: net.calc_G(v, damping=1.0, out=out),
                                     -grad, None, max_iters=2,
                                     storage=hf.cg_storage, stopping=hf.cg_stopping,
                                     rel_tol=hf.cg_rel_tol)
        same_as_cold = np.array_equal(hf.last_cg.x, cold.x)
        assert same_as_cold == (worse and cg_start == "warm-if-better")


def test_state_and_damping_property():
    hf = HessianFree(init_damping=2)
    assert hf.state == HFState(damping=2.0, init_delta=None, epoch=0, n_failures=0)
    hf.damping = 5
    assert hf.state.damping == 5.0 and hf.damping == 5.0
    with pytest.raises(ValueError, match="damping"):
        hf.damping = -1
    with pytest.raises(AttributeError):
        hf.state.damping = 1.0  # frozen: replace the record instead
    net = FakeNet("lsq")
    attach(hf, net)
    hf.compute_update()
    hf.compute_update()
    assert hf.state.epoch == 2


def test_plots_one_value_per_update():
    net = FakeNet("logistic")
    hf = attach(HessianFree(), net)
    train(hf, net, 3)
    names = {"damping (log)", "CG iterations", "step size", "reduction ratio"}
    assert names <= set(hf.plots)
    assert all(len(hf.plots[name]) == 3 for name in names)
    assert hf.plots["damping (log)"][-1] == hf.damping
    assert all(isinstance(v, float) for name in names for v in hf.plots[name])
    quiet = attach(HessianFree(plotting=False), FakeNet("logistic"))
    quiet.compute_update()
    assert quiet.plots == {}


def test_printing(capsys):
    net = FakeNet("logistic")
    hf = attach(HessianFree(), net)
    hf.compute_update(printing=False)
    assert capsys.readouterr().out == ""
    hf.compute_update(printing=True)
    out = capsys.readouterr().out
    for word in ("CG", "rho", "damping", "step", "backtracked"):
        assert word in out


def test_debug_checks_once_per_update():
    net = FakeNet("logistic", debug=True)
    hf = attach(HessianFree(), net)
    hf.compute_update()
    hf.compute_update()
    assert net.calls["check_grad"] == 2 and net.calls["check_G"] == 2


def test_switches_change_the_evaluations():
    net = FakeNet("lsq")
    hf = attach(HessianFree(use_backtracking=False, use_linesearch=False), net)
    delta = hf.compute_update()
    assert net.calls["error"] == 2  # f0 and the last CG iterate
    np.testing.assert_allclose(delta, hf.last_cg.x)
    net2 = FakeNet("lsq")
    hf2 = attach(HessianFree(cg_storage="geometric"), net2)
    hf2.compute_update()
    assert net2.calls["error"] >= 3  # f0, last iterate, the one before


def test_one_extra_curvature_product_per_update():
    net = FakeNet("lsq")
    hf = attach(HessianFree(CG_iter=3, cg_rel_tol=0), net)
    hf.compute_update()
    # 1 for the initial residual, 3 CG iterations, 1 undamped for rho
    assert net.calls["calc_G"] == 5


@pytest.mark.parametrize("kwargs, match", [
    (dict(CG_iter=0), "CG_iter"),
    (dict(init_damping=-1), "init_damping"),
    (dict(init_damping=math.nan), "init_damping"),
    (dict(cg_decay=1.5), "cg_decay"), (dict(min_damping=-1), "min_damping"),
    (dict(min_damping=1.0, max_damping=0.5), "max_damping"),
    (dict(damping_decrease=1.0), "damping_decrease"),
    (dict(cg_storage="ceil"), "cg_storage"), (dict(cg_stopping="martens"), "cg_stopping"),
    (dict(ratio_model="exact"), "ratio_model"), (dict(cg_start="cold"), "cg_start"),
    (dict(objective_fraction=1.5), "objective_fraction"),
])
def test_hf_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HessianFree(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(CG_iter=2.5), "CG_iter"), (dict(CG_iter="10"), "CG_iter"),
    (dict(cg_rel_tol="x"), "cg_rel_tol"), (dict(init_damping="1"), "init_damping"),
    (dict(cg_storage=1), "cg_storage"), (dict(ratio_model=None), "ratio_model"),
])
def test_hf_wrong_types(kwargs, match):
    """A wrong type raises TypeError, as everywhere in the library."""
    with pytest.raises(TypeError, match=match):
        HessianFree(**kwargs)


def test_rule_sets_are_valid_and_cg_rel_tol_follows_stopping():
    for rules in opt.RULE_SETS.values():
        HessianFree(**rules)
    assert HessianFree().cg_rel_tol == 5e-6
    assert HessianFree(**opt.RULE_SETS["alternative"]).cg_rel_tol == 5e-4
    assert HessianFree(cg_rel_tol=1e-3).cg_rel_tol == 1e-3


def test_classic_positional_signature():
    hf = HessianFree(10, 0.5, False)
    assert (hf.CG_iter, hf.damping, hf.plotting) == (10, 0.5, False)
    assert (hf.cg_decay, hf.use_backtracking, hf.use_linesearch) == (0.95, True, True)


# ------------------------------------------------------------------ SGD and base


def test_sgd_step_is_minus_lrate_grad(xp):
    net = FakeNet("logistic", xp=xp)
    net.W += 0.3
    sgd = attach(SGD(l_rate=0.1, plotting=True), net)
    delta = sgd.compute_update()
    np.testing.assert_allclose(backend.to_numpy(delta),
                               -0.1 * backend.to_numpy(net.calc_grad()))
    assert sgd.plots == {"learning rate": [0.1]}


def test_sgd_trains_and_default_does_not_plot():
    net = FakeNet("lsq")
    sgd = attach(SGD(l_rate=0.3), net)
    errors = train(sgd, net, 20)
    assert errors[-1] < errors[0] and sgd.plots == {}


def test_sgd_nan_gradient():
    net = FakeNet("lsq")
    net.nan_grad = True
    sgd = attach(SGD(), net)
    with pytest.warns(NonFiniteWarning, match="gradient"):
        delta = sgd.compute_update()
    np.testing.assert_array_equal(delta, 0)


@pytest.mark.parametrize("l_rate, error", [(0, ValueError), (-1, ValueError),
                                           (math.inf, ValueError), ("a", TypeError)])
def test_sgd_bad_l_rate(l_rate, error):
    with pytest.raises(error, match="l_rate"):
        SGD(l_rate=l_rate)


def test_optimizer_base():
    base = opt.Optimizer()
    assert base.net is None and base.plots == {}
    with pytest.raises(NotImplementedError):
        base.compute_update()
    for optimizer in (HessianFree(), SGD()):
        assert isinstance(optimizer, opt.Optimizer)
        with pytest.raises(RuntimeError, match="assign the optimizer to a network"):
            optimizer.compute_update()


def test_hf_on_a_real_network_with_debug_checks():
    hf = pytest.importorskip("hessianfree")
    inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    targets = np.array([[0], [1], [1], [0]], dtype=np.float32)
    net = hf.FFNet([2, 5, 1], debug=True, rng=np.random.default_rng(0))
    optimizer = HessianFree(CG_iter=5)
    net.optimizer = optimizer
    net.cache_minibatch(inputs, targets)
    W = net.W.copy()
    before = net.error()
    delta = optimizer.compute_update()
    np.testing.assert_array_equal(net.W, W)
    assert net.error(W + delta) < before
    assert optimizer.state.epoch == 1 and optimizer.state.n_failures == 0
