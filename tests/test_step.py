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
