"""Tests for hessianfree.optim.damping: reduction ratio and the Levenberg-Marquardt rule."""

import math

import pytest

from hessianfree.optim.damping import (MAX_DAMPING, MIN_DAMPING, reduction_ratio,
                                 update_damping)


def test_reduction_ratio():
    assert reduction_ratio(-1.0, -2.0) == 0.5
    assert reduction_ratio(0.5, -1.0) == -0.5  # error went up


@pytest.mark.parametrize("actual, predicted", [
    (-1.0, 0.0), (-1.0, 1.0), (-1.0, math.nan), (-1.0, -math.inf),
    (math.nan, -1.0), (math.inf, -1.0),
])
def test_reduction_ratio_bad(actual, predicted):
    assert reduction_ratio(actual, predicted) == -math.inf


@pytest.mark.parametrize("rho, factor", [
    (-math.inf, 1.5), (0.0, 1.5), (0.2499, 1.5), (0.25, 1.0), (0.5, 1.0),
    (0.75, 1.0), (0.7501, 2 / 3), (1.0, 2 / 3), (3.0, 2 / 3), (math.nan, 1.5),
])
def test_martens_rule(rho, factor):
    assert update_damping(1.0, rho) == pytest.approx(factor)


def test_bounds():
    assert update_damping(MIN_DAMPING, 1.0) == MIN_DAMPING
    assert update_damping(MAX_DAMPING, -1.0) == MAX_DAMPING
    assert update_damping(0.0, -1.0) == MIN_DAMPING
    assert update_damping(0.0, -1.0, min_damping=0.0) == 0.0
    assert update_damping(1.0, 1.0, min_damping=0.9) == 0.9
    assert update_damping(1.0, -1.0, max_damping=1.2) == 1.2
    assert MIN_DAMPING == 1e-8 and MAX_DAMPING == 1e8


def test_custom_factors():
    assert update_damping(2.0, 0.0, increase=3.0) == 6.0
    assert update_damping(2.0, 1.0, decrease=0.5) == 1.0
    assert update_damping(2.0, 0.35, lower=0.4, upper=0.9) == 3.0


def test_repeated_good_steps_reach_floor_not_zero():
    damping = 1.0
    for _ in range(200):
        damping = update_damping(damping, 1.0)
    assert damping == MIN_DAMPING


@pytest.mark.parametrize("kwargs, match", [
    (dict(lower=0.8, upper=0.5), "lower"), (dict(increase=1.0), "increase"),
    (dict(decrease=1.0), "decrease"), (dict(min_damping=-1.0), "min_damping"),
    (dict(min_damping=2.0, max_damping=1.0), "min_damping"),
    (dict(damping=-1.0), "damping must be"),
    (dict(damping=math.inf), "damping must be"),
])
def test_bad_input(kwargs, match):
    args = dict(damping=1.0, rho=0.5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        update_damping(args.pop("damping"), args.pop("rho"), **args)
