"""Tests for hessianfree.minimize on objectives given as callables."""

import numpy as np
import pytest
from scipy.optimize import OptimizeResult, rosen, rosen_der, rosen_hess, rosen_hess_prod

import hessianfree as hf
from hessianfree.minimizer import MESSAGES


def rosen_start(n):
    """(-1.2, 1) in 2-D; a spread start in more dimensions (the alternating
    one leads to the local minimum near x_1 = -1 for n >= 4)."""
    return np.array([-1.2, 1.0]) if n == 2 else np.linspace(-1.0, 2.0, n)


@pytest.mark.parametrize("n", [2, 100])
def test_rosenbrock_reaches_the_minimum(n):
    result = hf.minimize(rosen, rosen_start(n), rosen_der, hessp=rosen_hess_prod)
    assert isinstance(result, OptimizeResult)
    assert result.success, result.message
    assert result.status == 0 and result.message == MESSAGES[0]
    np.testing.assert_allclose(result.x, np.ones(n), atol=1e-5)
    assert result.fun < 1e-10
    assert np.linalg.norm(result.jac) <= 1e-5
    np.testing.assert_array_equal(result.jac, rosen_der(result.x))
    assert 0 < result.nit <= 200
    assert result.njev <= result.nit + 1  # no new gradient after a rejected step
    assert result.nhev >= result.nit and result.nfev >= result.nit


def counted(f, counter, key):
    def wrapper(*a):
        counter[key] += 1
        return f(*a)
    return wrapper


def test_counters_match_the_calls():
    calls = {"f": 0, "g": 0, "h": 0}
    result = hf.minimize(counted(rosen, calls, "f"), [-1.2, 1.0],
                         counted(rosen_der, calls, "g"),
                         hessp=counted(rosen_hess_prod, calls, "h"))
    assert (result.nfev, result.njev, result.nhev) == (calls["f"], calls["g"], calls["h"])


def test_gauss_newton_product_on_least_squares():
    """Rosenbrock as least squares r = (10 (x2 - x1^2), 1 - x1): f = |r|^2
    with the Gauss-Newton matrix 2 J^T J."""
    def residual(x):
        return np.array([10 * (x[1] - x[0] ** 2), 1 - x[0]])

    def jacobian(x):
        return np.array([[-20 * x[0], 10.0], [-1.0, 0.0]])

    def fun(x):
        return float(residual(x) @ residual(x))

    def jac(x):
        return 2 * jacobian(x).T @ residual(x)

    def gnp(x, p):
        J = jacobian(x)
        return 2 * J.T @ (J @ p)

    result = hf.minimize(fun, [-1.2, 1.0], jac, gnp=gnp)
    assert result.success
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-5)


def test_indefinite_hessian_still_descends():
    """From a saddle region of Rosenbrock (Hessian indefinite at x1 = 0.5,
    x2 = 1) the damping grows until the model is bounded; every accepted
    step lowers the objective."""
    x0 = np.array([0.5, 1.0])
    assert np.linalg.eigvalsh(rosen_hess(x0)).min() < 0
    values = []
    result = hf.minimize(rosen, x0, rosen_der, hessp=rosen_hess_prod, init_damping=0.0,
                         callback=lambda x: values.append(rosen(x)) and False)
    assert result.success
    assert np.all(np.diff(values) <= 0)
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-5)


def test_quadratic_in_one_iteration():
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])
    result = hf.minimize(lambda x: 0.5 * x @ A @ x - b @ x, np.zeros(2),
                         lambda x: A @ x - b, hessp=lambda x, p: A @ p,
                         init_damping=0.0, gtol=1e-10)
    np.testing.assert_allclose(result.x, np.linalg.solve(A, b), rtol=1e-12)
    assert result.nit == 1


def test_args_maxiter_and_ftol():
    def fun(x, scale):
        return scale * rosen(x)

    def jac(x, scale):
        return scale * rosen_der(x)

    def hessp(x, p, scale):
        return scale * rosen_hess_prod(x, p)

    result = hf.minimize(fun, [-1.2, 1.0], jac, hessp=hessp, args=(2.0,), maxiter=3)
    assert result.nit == 3 and not result.success and result.status == 2
    result = hf.minimize(fun, [-1.2, 1.0], jac, hessp=hessp, args=(2.0,), ftol=1e-3)
    assert result.success and result.status == 1


def test_callback_stops():
    result = hf.minimize(rosen, [-1.2, 1.0], rosen_der, hessp=rosen_hess_prod,
                         callback=lambda x: True)
    assert result.nit == 1


def test_nan_objective_stops_unsuccessfully():
    result = hf.minimize(lambda x: np.nan, [1.0, 2.0], lambda x: x,
                         hessp=lambda x, p: p)
    assert not result.success and result.status == 4


@pytest.mark.parametrize("kwargs, error", [
    ({}, ValueError),  # neither product
    ({"hessp": rosen_hess_prod, "gnp": rosen_hess_prod}, ValueError),
    ({"hessp": 3}, TypeError),
    ({"hessp": rosen_hess_prod, "maxiter": 0}, ValueError),
    ({"hessp": rosen_hess_prod, "init_damping": -1.0}, ValueError),
    ({"hessp": rosen_hess_prod, "min_damping": 2.0, "max_damping": 1.0}, ValueError),
    ({"hessp": rosen_hess_prod, "cg_decay": 2.0}, ValueError),
    ({"hessp": rosen_hess_prod, "callback": 1}, TypeError),
])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        hf.minimize(rosen, [-1.2, 1.0], rosen_der, **kwargs)


@pytest.mark.parametrize("x0", [[], [np.nan, 1.0], "ab"])
def test_bad_x0(x0):
    with pytest.raises((TypeError, ValueError), match="x0"):
        hf.minimize(rosen, x0, rosen_der, hessp=rosen_hess_prod)
