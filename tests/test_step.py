"""The step choice of one Hessian-free update (hessianfree.optim.step), alone."""

import math

import numpy as np
import pytest

from hessianfree.optim.step import StepRules, predicted_change, select_step

A = np.diag([1.0, 4.0])
b = np.array([1.0, -2.0])


def objective(delta):
    """A quadratic: the model is exact, so rho = 1 for the damped-free model."""
    return float(0.5 * delta @ A @ delta - b @ delta)


def product(delta, damping):
    return A @ delta + damping * delta


def iterates():
    solution = np.linalg.solve(A, b)
    return [(0, 0.3 * solution), (1, 0.8 * solution), (2, solution)]


def test_exact_model_takes_the_solution_and_lowers_the_damping():
    rules = StepRules(ratio_model="undamped", damping_decrease=0.5)
    step = select_step(iterates(), objective, 0.0, -b, product, 1.0, rules)
    assert step.accepted and step.iteration == 2 and step.alpha == 1.0
    assert step.rho == pytest.approx(1.0) and step.damping == 0.5
    assert step.value == pytest.approx(objective(np.linalg.solve(A, b)))
    assert step.predicted == pytest.approx(predicted_change(-b, step.delta,
                                                            A @ step.delta))


def test_damped_model_predicts_more_than_happens():
    step = select_step(iterates(), objective, 0.0, -b, product, 10.0, StepRules())
    assert step.accepted and step.rho < 1  # 10 * |delta|^2 / 2 inflates the prediction


def test_a_step_that_does_not_help_is_rejected_and_raises_the_damping():
    uphill = [(0, -np.linalg.solve(A, b))]
    for linesearch in (True, False):
        rules = StepRules(use_linesearch=linesearch)
        step = select_step(uphill, objective, 0.0, -b, product, 1.0, rules)
        assert not step.accepted and step.alpha == 0.0 and step.value == 0.0
        assert step.damping == rules.raised_damping(1.0) > 1.0


def test_without_backtracking_the_last_iterate_is_taken():
    calls = []

    def counted(delta):
        calls.append(delta)
        return objective(delta)
    rules = StepRules(use_backtracking=False, use_linesearch=False)
    step = select_step(iterates(), counted, 0.0, -b, product, 1.0, rules)
    assert step.iteration == 2 and len(calls) == 1


def test_a_nonfinite_curvature_product_stops_before_the_damping_moves():
    step = select_step(iterates(), objective, 0.0, -b,
                       lambda d, lam: np.full_like(d, np.nan), 1.0, StepRules())
    assert not math.isfinite(step.predicted) and not step.accepted
    assert step.damping == 1.0 and step.alpha == 0.0


def test_damping_stays_within_its_bounds():
    rules = StepRules(min_damping=0.9, max_damping=2.0)
    assert rules.next_damping(1.0, 1.0) == 0.9
    assert rules.raised_damping(1.9) == 2.0


# ------------------------------------------------ the step on a subset
def _classifier(chunk_size=None):
    import hessianfree as hf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    t = np.eye(3)[rng.integers(0, 3, 60)]
    net = hf.FFNet([4, 7, 3], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                   loss_type=hf.loss_funcs.CrossEntropy(), rng=np.random.default_rng(1),
                   dtype=np.float64)
    net.chunk_size = chunk_size
    net.cache_minibatch(x, t)
    return net, x, t


@pytest.mark.parametrize("chunk_size", [None, 7])
def test_objective_batch_is_a_random_fraction_with_the_networks_error(chunk_size):
    from hessianfree.optim.step import draw_objective_batch, error_along, error_on

    net, x, t = _classifier(chunk_size)
    expected = np.sort(np.random.default_rng(1).permutation(60)[:15])
    net.rng = np.random.default_rng(1)
    sub = draw_objective_batch(net, 0.25)
    np.testing.assert_array_equal(sub.inputs, x[expected])
    assert error_on(net, sub) == pytest.approx(
        net.error(inputs=x[expected], targets=t[expected]), rel=1e-12)
    delta = np.random.default_rng(2).normal(size=net.W.shape) * 0.1
    W0 = net.W.copy()
    assert error_along(net, sub)(delta) == pytest.approx(
        net.error(W=W0 + delta, inputs=x[expected], targets=t[expected]), rel=1e-12)
    np.testing.assert_array_equal(net.W, W0)
    assert draw_objective_batch(net, None) is None
    assert draw_objective_batch(net, 1.0) is None  # covers the minibatch


def test_hf_with_objective_fraction_chooses_its_step_on_the_subset(monkeypatch):
    """The error the step reports is the subset's at the new weights, and
    the objective evaluations cost subset-sized forward passes."""
    import hessianfree as hf
    from hessianfree.nets import work
    from hessianfree.optim import optimizers, step as step_module

    drawn = []

    def draw(net, fraction):
        sub = step_module.draw_objective_batch(net, fraction)
        drawn.append(sub)
        return sub
    monkeypatch.setattr(optimizers, "draw_objective_batch", draw)
    net, x, t = _classifier()
    counter = work.attach(net)
    opt = hf.opt.HessianFree(CG_iter=5, objective_fraction=0.2, plotting=False)
    net.optimizer = opt
    delta = opt.compute_update()
    sub = drawn[0]
    assert sub.size == 12
    assert opt.last_error == pytest.approx(
        net.error(W=net.W + delta, inputs=sub.inputs, targets=sub.targets), rel=1e-10)
    assert counter.error > 0 and counter.error % 12 == 0


@pytest.mark.parametrize("bad", [0, -0.5, 1.5, "half", float("nan")])
def test_objective_fraction_is_checked(bad):
    import hessianfree as hf

    with pytest.raises((ValueError, TypeError), match="objective_fraction"):
        hf.opt.HessianFree(objective_fraction=bad)
