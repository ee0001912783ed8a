"""Tests for hessianfree.optim.linesearch: CG backtracking and the Armijo search."""

import math

import numpy as np
import pytest

from hessianfree.optim.linesearch import armijo_line_search, backtrack_cg_iterates


def iterates_with_values(values):
    """Iterates whose objective value is looked up from ``values``; also
    returns the objective and the list of evaluated positions."""
    iterates = [(i + 1, np.full(2, float(i))) for i in range(len(values))]
    calls = []

    def objective(delta):
        k = int(delta[0])
        calls.append(k)
        return values[k]
    return iterates, objective, calls


def test_backtracking_walks_back_while_decreasing():
    iterates, objective, calls = iterates_with_values([5.0, 3.0, 2.0, 2.5, 4.0])
    assert backtrack_cg_iterates(iterates, objective) == (2, 2.0)
    assert calls == [4, 3, 2, 1]  # stops at the first non-improvement


def test_backtracking_keeps_last_if_best():
    iterates, objective, calls = iterates_with_values([3.0, 2.0, 1.0])
    assert backtrack_cg_iterates(iterates, objective) == (2, 1.0)
    assert calls == [2, 1]


def test_backtracking_ties_stop():
    iterates, objective, _ = iterates_with_values([1.0, 2.0, 2.0])
    assert backtrack_cg_iterates(iterates, objective) == (2, 2.0)


def test_backtracking_is_a_local_walk():
    # the global minimum (index 0) is behind a bump: Martens' walk stops before
    iterates, objective, _ = iterates_with_values([0.0, 3.0, 1.0, 2.0])
    assert backtrack_cg_iterates(iterates, objective) == (2, 1.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_backtracking_steps_over_nonfinite(bad):
    iterates, objective, _ = iterates_with_values([3.0, 2.0, bad, bad])
    assert backtrack_cg_iterates(iterates, objective) == (1, 2.0)


def test_backtracking_nonfinite_never_an_improvement():
    iterates, objective, _ = iterates_with_values([math.nan, 1.0])
    assert backtrack_cg_iterates(iterates, objective) == (1, 1.0)


def test_backtracking_all_nonfinite():
    iterates, objective, _ = iterates_with_values([math.nan, math.inf])
    index, value = backtrack_cg_iterates(iterates, objective)
    assert index == 0 and value == math.inf


def test_backtracking_empty():
    with pytest.raises(ValueError, match="iterates"):
        backtrack_cg_iterates([], lambda d: 0.0)


def quadratic(center):
    return lambda step: float(np.sum((step - center) ** 2))


def test_armijo_full_step_accepted():
    f = quadratic(np.array([1.0, 1.0]))
    delta = np.array([1.0, 1.0])
    f0, slope = f(np.zeros(2)), -4.0  # grad = -2 center
    alpha, value = armijo_line_search(f, f0, slope, delta)
    assert alpha == 1.0 and value == 0.0


def test_armijo_finds_largest_acceptable_power():
    center = np.array([1.0])
    f = quadratic(center)
    delta = np.array([10.0])  # far too long
    f0, slope, c, s = 1.0, -20.0, 1e-2, 0.8
    alpha, value = armijo_line_search(f, f0, slope, delta, c=c, shrink=s)
    k = round(math.log(alpha) / math.log(s))
    assert alpha == pytest.approx(s ** k)
    assert value <= f0 + c * alpha * slope
    assert f(s ** (k - 1) * delta) > f0 + c * s ** (k - 1) * slope
    assert value == pytest.approx(f(alpha * delta))


def test_armijo_uses_known_value_at_one():
    calls = []

    def f(step):
        calls.append(step.copy())
        return 0.0
    alpha, value = armijo_line_search(f, 1.0, -1.0, np.ones(2), value_at_one=0.5)
    assert (alpha, value) == (1.0, 0.5) and calls == []


@pytest.mark.parametrize("slope", [0.0, 1.0, math.nan])
def test_armijo_rejects_non_descent(slope):
    result = armijo_line_search(quadratic(np.ones(1)), 2.0, slope, np.ones(1))
    assert result == (0.0, 2.0)


def test_armijo_none_acceptable():
    alpha, value = armijo_line_search(lambda s: 10.0, 1.0, -1.0, np.ones(1),
                                      max_steps=5)
    assert (alpha, value) == (0.0, 1.0)


def test_armijo_nonfinite_values_fail():
    # NaN for long steps, fine for short ones
    def f(step):
        return math.nan if step[0] > 0.5 else 1.0 - step[0]
    alpha, value = armijo_line_search(f, 1.0, -1.0, np.ones(1))
    assert 0 < alpha <= 0.5 and math.isfinite(value)


def test_armijo_does_not_modify_delta():
    delta = np.ones(3)
    armijo_line_search(lambda s: 5.0, 1.0, -1.0, delta, max_steps=3)
    np.testing.assert_array_equal(delta, np.ones(3))


@pytest.mark.parametrize("kwargs, match", [
    (dict(c=0.0), "c must be in"), (dict(c=1.0), "c must be in"),
    (dict(shrink=1.0), "shrink must be in"), (dict(max_steps=0), "max_steps"),
])
def test_armijo_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        armijo_line_search(lambda s: 0.0, 1.0, -1.0, np.ones(1), **kwargs)


def test_armijo_max_steps_type():
    with pytest.raises(TypeError, match="max_steps"):
        armijo_line_search(lambda s: 0.0, 1.0, -1.0, np.ones(1), max_steps=2.0)
