"""Tests for hessianfree.minimize on objectives given as callables."""

import numpy as np
import pytest
from scipy.optimize import OptimizeResult, rosen, rosen_der, rosen_hess, rosen_hess_prod

import hessianfree as hf
from hessianfree.optim.minimizer import CALLBACK_STOP, MESSAGES


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


@pytest.mark.parametrize("method", [{"method": "damping", "init_damping": 0.0}, {}],
                         ids=["damping", "trust-region"])
def test_indefinite_hessian_still_descends(method):
    """From a saddle region of Rosenbrock (Hessian indefinite at x1 = 0.5,
    x2 = 1) the damping grows until the model is bounded, or the trust-region
    step follows the negative curvature; every accepted step lowers the
    objective."""
    x0 = np.array([0.5, 1.0])
    assert np.linalg.eigvalsh(rosen_hess(x0)).min() < 0
    values = []
    result = hf.minimize(rosen, x0, rosen_der, hessp=rosen_hess_prod, **method,
                         callback=lambda x: values.append(rosen(x)) and False)
    assert result.success
    assert np.all(np.diff(values) <= 0)
    np.testing.assert_allclose(result.x, [1.0, 1.0], atol=1e-5)


@pytest.mark.parametrize("method, iterations", [
    ({"method": "damping", "init_damping": 0.0}, 1),
    ({"initial_trust_radius": 10.0}, 3)],  # CG stops at the forcing tolerance
    ids=["damping", "trust-region"])
def test_quadratic_in_few_iterations(method, iterations):
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])
    result = hf.minimize(lambda x: 0.5 * x @ A @ x - b @ x, np.zeros(2),
                         lambda x: A @ x - b, hessp=lambda x, p: A @ p,
                         gtol=1e-10, **method)
    np.testing.assert_allclose(result.x, np.linalg.solve(A, b), rtol=1e-12)
    assert result.nit == iterations


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
    ({"hessp": rosen_hess_prod, "method": "damping", "init_damping": -1.0}, ValueError),
    ({"hessp": rosen_hess_prod, "method": "damping", "min_damping": 2.0,
      "max_damping": 1.0}, ValueError),
    ({"hessp": rosen_hess_prod, "method": "damping", "cg_decay": 2.0}, ValueError),
    ({"hessp": rosen_hess_prod, "method": "newton"}, ValueError),
    ({"hessp": rosen_hess_prod, "initial_trust_radius": 0.0}, ValueError),
    ({"hessp": rosen_hess_prod, "initial_trust_radius": 5.0, "max_trust_radius": 1.0},
     ValueError),
    ({"hessp": rosen_hess_prod, "callback": 1}, TypeError),
])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        hf.minimize(rosen, [-1.2, 1.0], rosen_der, **kwargs)


@pytest.mark.parametrize("x0", [[], [np.nan, 1.0], "ab"])
def test_bad_x0(x0):
    with pytest.raises((TypeError, ValueError), match="x0"):
        hf.minimize(rosen, x0, rosen_der, hessp=rosen_hess_prod)


@pytest.mark.parametrize("bad_jac", [
    lambda x: rosen_der(x)[:1],  # one entry short: broadcast against x
    lambda x: np.append(rosen_der(x), 0.0),
    lambda x: np.sum(rosen_der(x)),
    lambda x: rosen_der(x)[None, :].repeat(2, axis=0),
], ids=["short", "long", "scalar", "matrix"])
def test_gradient_of_the_wrong_shape_is_refused(bad_jac):
    with pytest.raises(ValueError, match=r"jac.*\(2,\)"):
        hf.minimize(rosen, [-1.2, 1.0], bad_jac, hessp=rosen_hess_prod)


def test_product_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"hessp.*\(2,\).*\(3,\)"):
        hf.minimize(rosen, [-1.2, 1.0], rosen_der,
                    hessp=lambda x, p: np.append(rosen_hess_prod(x, p), 1.0))
    with pytest.raises(ValueError, match=r"gnp.*\(2,\)"):
        hf.minimize(rosen, [-1.2, 1.0], rosen_der, gnp=lambda x, p: p[:1])


def test_complex_gradient_is_refused():
    with pytest.raises(TypeError, match="jac.*complex"):
        hf.minimize(rosen, [-1.2, 1.0], lambda x: rosen_der(x) + 0j,
                    hessp=rosen_hess_prod)


@pytest.mark.parametrize("x0", [np.array([1 + 2j, 1.0]), [1j, 0.5], np.ones(2, complex)])
def test_complex_x0_is_refused(x0):
    with pytest.raises(TypeError, match="x0.*complex"):
        hf.minimize(rosen, x0, rosen_der, hessp=rosen_hess_prod)


@pytest.mark.parametrize("callback", [lambda x: True, "raise"], ids=["returns-True",
                                                                     "StopIteration"])
def test_callback_stop_is_reported_as_such(callback):
    if callback == "raise":
        def callback(x):
            raise StopIteration
    result = hf.minimize(rosen, [-1.2, 1.0], rosen_der, hessp=rosen_hess_prod,
                         callback=callback)
    assert result.nit == 1 and not result.success
    assert result.status == CALLBACK_STOP and result.message == MESSAGES[CALLBACK_STOP]
    assert "callback" in result.message
    assert "Maximum number of iterations" not in result.message


def test_options_dict_as_scipy():
    by_keyword = hf.minimize(rosen, [-1.2, 1.0], rosen_der, hessp=rosen_hess_prod,
                             maxiter=3, cg_iters=5)
    by_options = hf.minimize(rosen, [-1.2, 1.0], rosen_der, hessp=rosen_hess_prod,
                             options={"maxiter": 3, "cg_iters": 5})
    assert by_options.nit == 3 and by_options.status == 2
    np.testing.assert_array_equal(by_options.x, by_keyword.x)
    assert by_options.nhev == by_keyword.nhev


def test_options_unknown_or_twice_are_named():
    with pytest.raises(ValueError, match="'max_iter'.*'tol'"):
        hf.minimize(rosen, [-1.2, 1.0], rosen_der, hessp=rosen_hess_prod,
                    options={"max_iter": 3, "tol": 1e-3})
    with pytest.raises(ValueError, match="maxiter"):
        hf.minimize(rosen, [-1.2, 1.0], rosen_der, hessp=rosen_hess_prod, maxiter=5,
                    options={"maxiter": 3})
    with pytest.raises(TypeError, match="options"):
        hf.minimize(rosen, [-1.2, 1.0], rosen_der, hessp=rosen_hess_prod, options=[3])
    with pytest.raises(ValueError, match="maxiter"):
        hf.minimize(rosen, [-1.2, 1.0], rosen_der, hessp=rosen_hess_prod,
                    options={"maxiter": 0})


def test_jac_true_means_fun_returns_value_and_gradient():
    calls = {"n": 0}

    def fun_and_grad(x):
        calls["n"] += 1
        return rosen(x), rosen_der(x)

    result = hf.minimize(fun_and_grad, [-1.2, 1.0], True, hessp=rosen_hess_prod)
    reference = hf.minimize(rosen, [-1.2, 1.0], rosen_der, hessp=rosen_hess_prod)
    assert result.success
    np.testing.assert_array_equal(result.x, reference.x)
    assert result.nit == reference.nit and result.fun == reference.fun
    assert result.nfev == calls["n"]
    assert calls["n"] < reference.nfev + reference.njev  # gradients come with values


@pytest.mark.parametrize("fun", [rosen, lambda x: (rosen(x),), lambda x: (1.0, [1.0])],
                         ids=["scalar", "one-tuple", "short-gradient"])
def test_jac_true_needs_value_and_gradient(fun):
    with pytest.raises((TypeError, ValueError), match="jac"):
        hf.minimize(fun, [-1.2, 1.0], True, hessp=rosen_hess_prod)


@pytest.mark.parametrize("jac", [None, False, 3])
def test_jac_must_be_callable_or_true(jac):
    with pytest.raises(TypeError, match="jac"):
        hf.minimize(rosen, [-1.2, 1.0], jac, hessp=rosen_hess_prod)


def test_options_of_the_other_method_are_refused():
    with pytest.raises(ValueError, match="init_damping is an option of method='damping', "
                                         "not of method='trust-region'"):
        hf.minimize(rosen, [-1.2, 1.0], rosen_der, hessp=rosen_hess_prod, init_damping=0.1)
    with pytest.raises(ValueError, match="initial_trust_radius is an option of "
                                         "method='trust-region'"):
        hf.minimize(rosen, [-1.2, 1.0], rosen_der, hessp=rosen_hess_prod, method="damping",
                    options={"initial_trust_radius": 2.0})
    with pytest.raises(ValueError, match="unknown keys 'method'"):  # as SciPy: an argument
        hf.minimize(rosen, [-1.2, 1.0], rosen_der, hessp=rosen_hess_prod,
                    options={"method": "damping"})
    damped = hf.minimize(rosen, [-1.2, 1.0], rosen_der, hessp=rosen_hess_prod,
                         method="damping")
    assert damped.success and "damping" in damped and "trust_radius" not in damped


def bench_starts(n):
    """The starts of bench/minimize.py."""
    return {"alternating": np.tile([-1.2, 1.0], n // 2 + 1)[:n],
            "linspace": np.linspace(-1.0, 2.0, n)}


@pytest.mark.parametrize("n", [2, 10, 100])
@pytest.mark.parametrize("start", ["alternating", "linspace"])
def test_reaches_trust_krylovs_minimum_with_at_most_its_products(n, start):
    """bench/minimize.py's claim: from its starts the default method ends at
    least as low as SciPy's trust-krylov (which stops at the local minimum
    f = 3.99 from the 10-D spread start) with no more Hessian products."""
    from scipy.optimize import minimize as scipy_minimize

    x0 = bench_starts(n)[start]
    ours = hf.minimize(rosen, x0, rosen_der, hessp=rosen_hess_prod, maxiter=1000)
    theirs = scipy_minimize(rosen, x0, jac=rosen_der, hessp=rosen_hess_prod,
                            method="trust-krylov", options={"maxiter": 1000})
    assert ours.success, ours.message
    assert ours.fun <= theirs.fun + 1e-6 and ours.fun < 1e-8
    assert ours.nhev <= theirs.nhev


def test_a_rejected_step_is_retried_without_new_products():
    """In 2-D each CG run takes at most 2 products; a retry at a smaller
    radius evaluates fun again on the same CG path."""
    counts, per_iteration = {"f": 0, "h": 0}, []

    def fun(x):
        counts["f"] += 1
        return rosen(x)

    def hessp(x, p):
        counts["h"] += 1
        return rosen_hess_prod(x, p)

    def callback(x):
        per_iteration.append(dict(counts))
        counts.update(f=0, h=0)

    result = hf.minimize(fun, [-1.2, 1.0], rosen_der, hessp=hessp, callback=callback)
    assert result.success
    assert max(c["h"] for c in per_iteration) <= 2
    # after the first iteration (which also evaluates fun at x0), one fun
    # value per step tried: a step retried at least once
    assert max(c["f"] for c in per_iteration[1:]) >= 2


def test_steihaug_path_pieces():
    from hessianfree.optim import trust_region as tr

    rng = np.random.default_rng(0)
    Q = rng.standard_normal((5, 5))
    B = Q @ Q.T + np.eye(5)
    g = rng.standard_normal(5)
    newton = -np.linalg.solve(B, g)
    path, status = tr.steihaug_path(lambda v: B @ v, g, 1e6, 1e-12, 50)
    assert status == tr.CONVERGED
    step, model, on_boundary = tr.point_on_path(path, 1e6)
    np.testing.assert_allclose(step, newton, rtol=1e-8)
    assert not on_boundary
    for radius in (0.3 * np.linalg.norm(newton), 0.05):  # cut inside the path
        step, model, on_boundary = tr.point_on_path(path, radius)
        assert on_boundary and np.linalg.norm(step) == pytest.approx(radius)
        assert model == pytest.approx(g @ step + 0.5 * step @ B @ step, rel=1e-10)
    norms = [np.linalg.norm(seg.start) for seg in path]
    assert norms == sorted(norms)  # Steihaug: the path only moves outwards
    path, status = tr.steihaug_path(lambda v: -v, g, 2.0, 1e-12, 50)
    assert status == tr.NEGATIVE_CURVATURE
    step, model, on_boundary = tr.point_on_path(path, 2.0)
    assert on_boundary and model < 0
    np.testing.assert_allclose(step, -2.0 * g / np.linalg.norm(g))
    assert tr.next_radius(1.0, 0.1, 0.8, True, 10.0) == pytest.approx(0.2)
    assert tr.next_radius(1.0, 0.9, 1.0, True, 10.0) == 2.0
    assert tr.next_radius(8.0, 0.9, 8.0, True, 10.0) == 10.0
    assert tr.next_radius(1.0, 0.9, 0.5, False, 10.0) == 1.0
    assert tr.next_radius(1.0, float("nan"), 0.5, True, 10.0) == pytest.approx(0.125)
