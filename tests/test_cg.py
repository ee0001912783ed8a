"""Tests for hessianfree.optim.cg: the CG solver alone, on explicit matrices."""

import math
import re
import tracemalloc
from dataclasses import dataclass

import numpy as np
import pytest

from hessianfree.base import backend
from hessianfree.optim import cg
from hessianfree.optim.cg import conjugate_gradient, relative_progress_met, storage_grid


def matvec_of(A):
    """``matvec(v, out)`` for an explicit matrix, writing into ``out``."""
    xp = backend.array_module(A)
    return lambda v, out: xp.dot(A, v, out=out)


def random_spd(n, eigenvalues, rng):
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (Q * eigenvalues) @ Q.T


def phi(A, b, x):
    return 0.5 * x @ A @ x - b @ x


@dataclass
class Case:
    """A linear system with the accuracy CG reaches on it."""
    name: str
    A: np.ndarray
    b: np.ndarray
    max_iters: int
    rtol: float  # on the relative residual


def make_cases():
    rng = np.random.default_rng(0)
    n = 30
    well = random_spd(n, np.linspace(1, 10, n), rng)
    ill = random_spd(n, np.logspace(0, 6, n), rng)
    b = rng.standard_normal(n)
    return [
        Case("spd_well_conditioned", well, b, n, 1e-10),
        Case("ill_conditioned", ill, b, 20 * n, 1e-6),
        Case("float32", well.astype(np.float32), b.astype(np.float32), 2 * n, 1e-4),
        Case("diagonal", np.diag(np.arange(1.0, n + 1)), b, n, 1e-10),
    ]


CASES = make_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_named_cases_solve(case, xp):
    A, b = xp.asarray(case.A), xp.asarray(case.b)
    res = conjugate_gradient(matvec_of(A), b, None, max_iters=case.max_iters,
                             rel_tol=0, res_tol=case.rtol / 10)
    assert res.status in (cg.CONVERGED_RESIDUAL, cg.MAX_ITERS)
    assert res.x.dtype == case.b.dtype
    x = backend.to_numpy(res.x).astype(np.float64)
    residual = np.linalg.norm(case.A @ x - case.b) / np.linalg.norm(case.b)
    assert residual < case.rtol
    for _, x_i in res.iterates:
        assert type(x_i) is type(b) and x_i.dtype == b.dtype


def test_spd_solved_exactly_within_n_iterations():
    rng = np.random.default_rng(1)
    n = 12
    A, b = random_spd(n, np.linspace(1, 5, n), rng), rng.standard_normal(n)
    res = conjugate_gradient(matvec_of(A), b, None, max_iters=n, rel_tol=0, res_tol=0)
    assert res.n_iters <= n
    np.testing.assert_allclose(res.x, np.linalg.solve(A, b), rtol=1e-9, atol=1e-12)


def test_ill_conditioned_reaches_optimum_value():
    case = CASES[1]
    res = conjugate_gradient(matvec_of(case.A), case.b, None,
                             max_iters=case.max_iters, rel_tol=0, res_tol=1e-9)
    phi_star = phi(case.A, case.b, np.linalg.solve(case.A, case.b))
    assert abs(res.value - phi_star) < 1e-8 * abs(phi_star)


def test_float32_stays_float32():
    case = CASES[2]
    res = conjugate_gradient(matvec_of(case.A), case.b, np.zeros(30, np.float32),
                             max_iters=60, rel_tol=0, res_tol=1e-6)
    assert res.x.dtype == np.float32
    assert all(x.dtype == np.float32 for _, x in res.iterates)
    assert all(isinstance(v, float) for v in res.values)
    np.testing.assert_allclose(res.x, np.linalg.solve(case.A.astype(np.float64),
                                                      case.b), rtol=1e-3, atol=1e-4)


def test_warm_start_from_solution_returns_immediately():
    case = CASES[0]
    x_star = np.linalg.solve(case.A, case.b)
    x0 = x_star.copy()
    res = conjugate_gradient(matvec_of(case.A), case.b, x0, max_iters=100)
    assert res.status == cg.CONVERGED_RESIDUAL
    assert res.n_iters == 0
    assert res.iterates[0][0] == 0 and len(res.iterates) == 1
    np.testing.assert_array_equal(res.x, x_star)
    assert res.x is not x0
    np.testing.assert_array_equal(x0, x_star)  # the caller's x0 is untouched


def test_warm_start_near_solution_converges_faster():
    case = CASES[1]
    x_star = np.linalg.solve(case.A, case.b)
    near = x_star + 1e-3 * np.random.default_rng(2).standard_normal(30)
    kwargs = dict(max_iters=case.max_iters, rel_tol=0, res_tol=1e-7)
    cold = conjugate_gradient(matvec_of(case.A), case.b, None, **kwargs)
    warm = conjugate_gradient(matvec_of(case.A), case.b, near, **kwargs)
    assert cold.status == warm.status == cg.CONVERGED_RESIDUAL
    assert warm.n_iters < cold.n_iters


def test_a_warm_start_worse_than_zero_is_dropped():
    """phi(x0) > 0 = phi(0): CG runs as from zeros (a start far off in the
    wrong direction would otherwise leave phi > 0 after a few iterations)."""
    case = CASES[1]
    x_star = np.linalg.solve(case.A, case.b)
    bad = -3 * x_star
    assert phi(case.A, case.b, bad) > 0
    kwargs = dict(max_iters=4, rel_tol=0, keep_worse_start=False)
    cold = conjugate_gradient(matvec_of(case.A), case.b, None, **kwargs)
    warm = conjugate_gradient(matvec_of(case.A), case.b, bad, **kwargs)
    np.testing.assert_array_equal(warm.x, cold.x)
    assert warm.values == cold.values and warm.values[-1] < 0
    np.testing.assert_array_equal(bad, -3 * x_star)  # the caller's x0 is untouched
    good = 0.5 * x_star  # phi(good) < 0: kept
    kept = conjugate_gradient(matvec_of(case.A), case.b, good, max_iters=0,
                              keep_worse_start=False)
    np.testing.assert_array_equal(kept.x, good)
    by_default = conjugate_gradient(matvec_of(case.A), case.b, bad, max_iters=0)
    np.testing.assert_array_equal(by_default.x, bad)


def test_negative_curvature_stops_with_iterate_so_far():
    # d_0 = b: d^T A d = 1 > 0, x_1 = (2, 2); then d_1 = (6, 12), d^T A d < 0
    A, b = np.diag([2.0, -1.0]), np.ones(2)
    res = conjugate_gradient(matvec_of(A), b, None, max_iters=10)
    assert res.status == cg.NEGATIVE_CURVATURE
    assert res.n_iters == 1
    np.testing.assert_allclose(res.x, [2.0, 2.0])
    assert res.iterates[-1][0] == 1


def test_zero_curvature_stops_at_start():
    A, b = np.diag([1.0, -1.0]), np.ones(2)
    res = conjugate_gradient(matvec_of(A), b, None, max_iters=10)
    assert res.status == cg.NEGATIVE_CURVATURE
    assert res.n_iters == 0
    np.testing.assert_array_equal(res.x, [0.0, 0.0])


def failing_matvec(A, fail_on_call, value=np.nan):
    """matvec that returns ``value`` everywhere from call ``fail_on_call`` on."""
    calls = []

    def matvec(v, out):
        calls.append(1)
        np.dot(A, v, out=out)
        if len(calls) >= fail_on_call:
            out[:] = value
        return out
    return matvec


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nonfinite_matvec_returns_last_finite_iterate(value):
    case = CASES[0]
    # call 1 computes r_0, calls 2 and 3 are iterations 1 and 2
    res = conjugate_gradient(failing_matvec(case.A, 4, value), case.b, None,
                             max_iters=50)
    clean = conjugate_gradient(matvec_of(case.A), case.b, None, max_iters=2)
    assert res.status == cg.NONFINITE
    assert res.n_iters == 2
    assert np.all(np.isfinite(res.x))
    np.testing.assert_allclose(res.x, clean.x)
    assert all(np.all(np.isfinite(x)) for _, x in res.iterates)
    assert all(math.isfinite(v) for v in res.values)


def test_nonfinite_initial_residual_returns_x0():
    case = CASES[0]
    x0 = np.ones(30)
    res = conjugate_gradient(failing_matvec(case.A, 1), case.b, x0, max_iters=50)
    assert res.status == cg.NONFINITE and res.n_iters == 0
    np.testing.assert_array_equal(res.x, x0)


def test_overflowing_alpha_is_nonfinite():
    n = 4
    A, b = 1e-310 * np.eye(n), 1e10 * np.ones(n)
    res = conjugate_gradient(matvec_of(A), b, None, max_iters=10)
    assert res.status == cg.NONFINITE
    np.testing.assert_array_equal(res.x, np.zeros(n))


def test_storage_grid_is_ceil_of_powers_of_1_3():
    assert storage_grid(40) == [1, 2, 3, 4, 5, 7, 9, 11, 14, 18, 24, 31, 40]
    grid = storage_grid(250)
    assert grid == sorted({math.ceil(1.3 ** k) for k in range(30)} & set(range(251)))
    assert storage_grid(0) == []


def test_iterates_on_geometric_grid_and_include_last():
    case = CASES[1]
    seen = {}
    res = conjugate_gradient(matvec_of(case.A), case.b, None, max_iters=30,
                             rel_tol=0, res_tol=0,
                             callback=lambda i, x, p: seen.update({i: x.copy()}))
    assert res.status == cg.MAX_ITERS and res.n_iters == 30
    iterations = [i for i, _ in res.iterates]
    assert iterations == storage_grid(30) + [30]
    for i, x in res.iterates:
        np.testing.assert_array_equal(x, seen[i])
    assert res.iterates[-1][1] is not res.x
    np.testing.assert_array_equal(res.iterates[-1][1], res.x)


def test_store_iterates_false_keeps_only_final():
    case = CASES[1]
    res = conjugate_gradient(matvec_of(case.A), case.b, None, max_iters=30,
                             rel_tol=0, store_iterates=False)
    assert [i for i, _ in res.iterates] == [res.n_iters]
    assert len(res.values) == 1


def test_values_match_quadratic():
    case = CASES[1]
    x0 = np.random.default_rng(3).standard_normal(30)
    res = conjugate_gradient(matvec_of(case.A), case.b, x0, max_iters=40)
    assert len(res.values) == len(res.iterates)
    for (_, x), value in zip(res.iterates, res.values):
        expected = phi(case.A, case.b, x)
        assert value == pytest.approx(expected, rel=1e-8, abs=1e-8)


def test_values_decrease():
    case = CASES[1]
    res = conjugate_gradient(matvec_of(case.A), case.b, None, max_iters=40)
    assert all(b <= a + 1e-12 for a, b in zip(res.values, res.values[1:]))


def test_relative_progress_fires_on_large_problem():
    n = 2000
    diag = np.logspace(0, 4, n)
    b = np.random.default_rng(4).standard_normal(n)
    phis = [0.0]
    res = conjugate_gradient(lambda v, out: np.multiply(diag, v, out=out), b, None,
                             max_iters=1000, callback=lambda i, x, p: phis.append(p))
    assert res.status == cg.CONVERGED_RELATIVE_PROGRESS
    i = res.n_iters
    assert 10 < i < 1000
    assert relative_progress_met(phis, i, 5e-4)
    assert not any(relative_progress_met(phis, j, 5e-4) for j in range(1, i))
    # a tighter tolerance runs longer
    tight = conjugate_gradient(lambda v, out: np.multiply(diag, v, out=out), b, None,
                               max_iters=1000, rel_tol=5e-6)
    assert tight.n_iters > i


def test_relative_progress_rule():
    values = [0.0] + [-1.0] * 11
    assert not relative_progress_met(values, 10, 5e-4)  # needs i > k = 10
    assert relative_progress_met(values, 11, 5e-4)  # no progress at all
    values = [0.0] + [-float(j) for j in range(1, 12)]
    assert not relative_progress_met(values, 11, 5e-4)  # (-11 + 1) / -11 big
    assert not relative_progress_met([1.0] * 12, 11, 5e-4)  # phi >= 0


def test_min_iters_delays_relative_progress():
    n = 2000
    diag = np.logspace(0, 4, n)
    b = np.random.default_rng(4).standard_normal(n)
    mv = lambda v, out: np.multiply(diag, v, out=out)  # noqa: E731
    first = conjugate_gradient(mv, b, None, max_iters=1000)
    later = conjugate_gradient(mv, b, None, max_iters=1000,
                               min_iters=first.n_iters + 7)
    assert later.n_iters >= first.n_iters + 7


def test_preconditioning_badly_scaled_system():
    rng = np.random.default_rng(5)
    n = 200
    scale = np.logspace(0, 4, n)
    C = 0.1 * rng.standard_normal((n, n)) / np.sqrt(n)
    A = np.sqrt(scale)[:, None] * (np.eye(n) + C @ C.T) * np.sqrt(scale)[None, :]
    b = rng.standard_normal(n)
    kwargs = dict(max_iters=2000, rel_tol=0, res_tol=1e-8)
    plain = conjugate_gradient(matvec_of(A), b, None, **kwargs)
    pcg = conjugate_gradient(matvec_of(A), b, None, precond=np.diag(A).copy(),
                             **kwargs)
    assert pcg.status == cg.CONVERGED_RESIDUAL
    np.testing.assert_allclose(A @ pcg.x, b, atol=1e-5)
    assert pcg.n_iters * 5 < plain.n_iters


def test_callback_can_stop():
    case = CASES[1]
    res = conjugate_gradient(matvec_of(case.A), case.b, None, max_iters=100,
                             callback=lambda i, x, p: i == 3)
    assert res.status == cg.CALLBACK_STOP and res.n_iters == 3


def test_max_iters_zero_returns_start():
    case = CASES[0]
    x0 = np.ones(30)
    res = conjugate_gradient(matvec_of(case.A), case.b, x0, max_iters=0)
    assert res.status == cg.MAX_ITERS and res.n_iters == 0
    np.testing.assert_array_equal(res.x, x0)
    assert res.values == [pytest.approx(phi(case.A, case.b, x0))]


def test_zero_rhs_from_zero_converges_at_once():
    res = conjugate_gradient(matvec_of(np.eye(3)), np.zeros(3), None, max_iters=5)
    assert res.status == cg.CONVERGED_RESIDUAL and res.n_iters == 0


def test_no_allocation_per_iteration():
    n = 200_000
    diag = np.linspace(1, 1e3, n)
    b = np.ones(n)
    marks = {}

    def callback(i, x, p):
        if i == 2:
            tracemalloc.reset_peak()
            marks["start"] = tracemalloc.get_traced_memory()[0]
        elif i == 30:
            marks["peak"] = tracemalloc.get_traced_memory()[1]

    tracemalloc.start()
    try:
        res = conjugate_gradient(lambda v, out: np.multiply(diag, v, out=out), b,
                                 None, max_iters=30, rel_tol=0, res_tol=0,
                                 store_iterates=False, callback=callback)
    finally:
        tracemalloc.stop()
    assert res.n_iters == 30
    assert marks["peak"] - marks["start"] < n * 8 // 4


@pytest.mark.parametrize("kwargs, match", [
    (dict(b=np.ones((2, 2))), "b must be a 1-D array"),
    (dict(x0=np.ones(3)), "x0 must have the shape of b"),
    (dict(x0=np.array([np.nan, 0])), "x0 must be finite"),
    (dict(max_iters=-1), "max_iters must be an int"),
    (dict(min_iters=-1), "min_iters must be an int"),
    (dict(rel_tol=-1.0), "rel_tol must be a finite number"),
    (dict(res_tol=np.inf), "res_tol must be a finite number"),
    (dict(precond=np.ones(3)), "precond must have the shape of b"),
    (dict(precond=np.array([1.0, 0.0])), "precond must be positive"),
])
def test_bad_input(kwargs, match):
    args = dict(b=np.ones(2), x0=None, max_iters=5)
    args.update(kwargs)
    b, x0 = args.pop("b"), args.pop("x0")
    with pytest.raises(ValueError, match=match):
        conjugate_gradient(matvec_of(np.eye(2)), b, x0, **args)


@pytest.mark.parametrize("kwargs", [dict(max_iters=2.5), dict(min_iters="1"),
                                    dict(rel_tol="0.1")])
def test_wrong_types(kwargs):
    with pytest.raises(TypeError, match=next(iter(kwargs))):
        conjugate_gradient(matvec_of(np.eye(2)), np.ones(2), None,
                           **{"max_iters": 5, **kwargs})


def test_integer_b_is_type_error():
    with pytest.raises(TypeError, match="floating dtype"):
        conjugate_gradient(matvec_of(np.eye(2)), np.ones(2, dtype=int), None,
                           max_iters=2)


def test_result_is_frozen():
    res = conjugate_gradient(matvec_of(np.eye(2)), np.ones(2), None, max_iters=2)
    with pytest.raises(AttributeError):
        res.status = "other"
    assert res.status in cg.STATUSES


# ---------------------------------------------- the original package's rules


def original_cg_transcription(A, b, iters):
    """The CG loop of the original ``hessianfree`` 0.4.0, written out for
    explicit matrices: 0-based iteration labels, iterates stored at 5, 6, 7,
    9, ... (each ``int(1.3 * previous)``), stop at a squared residual norm
    below 1e-20 or by the relative-progress test with constant 5e-6."""
    x, r = np.zeros_like(b), b.copy()
    d, res_norm = r.copy(), r @ r
    vals, deltas, store_iter = np.zeros(iters), [], 5
    for i in range(iters):
        Ad = A @ d
        step = res_norm / (d @ Ad)
        x = x + step * d
        r = r - step * Ad
        new_res_norm = r @ r
        if new_res_norm < 1e-20:
            break
        d = r + new_res_norm / res_norm * d
        res_norm = new_res_norm
        if i == store_iter:
            deltas.append((i, x.copy()))
            store_iter = int(store_iter * 1.3)
        vals[i] = -0.5 * (r + b) @ x
        gap = max(int(0.1 * i), 10)
        if i > gap and vals[i - gap] < 0 and (vals[i] - vals[i - gap]) / vals[i] < 5e-6 * gap:
            break
    return deltas + [(i, x)]


def test_original_storage_grid():
    assert cg.original_storage_grid(40) == [6, 7, 8, 10, 12, 15, 19, 24, 30, 38]
    assert cg.original_storage_grid(5) == []
    assert cg.original_storage_grid(6) == [6]


@pytest.mark.parametrize("n, spread, iters", [(300, 3, 400), (300, 6, 60), (8, 1, 50)])
def test_original_rules_reproduce_the_original_loop(n, spread, iters):
    rng = np.random.default_rng(n + spread)
    A = random_spd(n, np.logspace(0, spread, n), rng)
    b = rng.standard_normal(n)
    expected = original_cg_transcription(A, b, iters)
    if len(expected) > 1 and expected[-2][0] == expected[-1][0]:  # stopped on a stored iteration:
        del expected[-2]  # the original lists it twice, we once
    res = conjugate_gradient(matvec_of(A), b, None, max_iters=iters, rel_tol=5e-6,
                             storage="original", stopping="original")
    assert [i + 1 for i, _ in expected] == [i for i, _ in res.iterates]
    for (_, x_expected), (_, x) in zip(expected, res.iterates):
        np.testing.assert_allclose(x, x_expected, rtol=1e-10, atol=1e-12)


def test_original_progress_rule_counts_from_zero():
    values = [0.0] + [-1.0] * 12
    # 0-based j = i - 1 must exceed the gap 10, so i = 12 is the first chance
    assert not relative_progress_met(values, 11, 5e-6, rule="original")
    assert relative_progress_met(values, 12, 5e-6, rule="original")
    values[2] = 1.0  # phi at i - gap must be negative
    assert not relative_progress_met(values, 12, 5e-6, rule="original")


def test_original_residual_floor_is_absolute():
    A = np.diag([1.0, 2.0, 3.0])
    res = conjugate_gradient(matvec_of(A), np.array([1e-11, 0.0, 0.0]), None,
                             max_iters=10, stopping="original")
    assert res.status == cg.CONVERGED_RESIDUAL and res.n_iters == 0
    res = conjugate_gradient(matvec_of(A), np.array([1e-11, 0.0, 0.0]), None,
                             max_iters=10, stopping="relative")
    assert res.n_iters == 1


@pytest.mark.parametrize("kwargs, error", [
    (dict(storage="ceil"), ValueError), (dict(stopping=None), TypeError)])
def test_rule_names_checked(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        conjugate_gradient(matvec_of(np.eye(2)), np.ones(2), None, max_iters=2,
                           **kwargs)


# ------------------------------------- phi by recurrence: the loop it replaced


@np.errstate(all="ignore")  # NaN and inf end up in the status
def reference_cg(A, b, x0, max_iters, precond=None, min_iters=1, rel_tol=5e-4,
                 res_tol=None, storage=cg.STORAGE_GEOMETRIC, stopping=cg.STOPPING_RELATIVE):
    """:func:`conjugate_gradient` as it was before :math:`\\phi` had a
    recurrence, for explicit NumPy matrices and diagonal preconditioners:
    :math:`\\phi = -\\tfrac12 x^T(r + b)` computed from the vectors after each
    step (four dot products and three host reads per iteration), and an
    undone step when it or :math:`r^T z` is not finite.  Returns ``(x,
    iterates, n_iters, values, status)``."""
    M = np.ones_like(b) if precond is None else precond
    x = np.zeros_like(b) if x0 is None else x0.astype(b.dtype)
    r = b - np.dot(A, x)
    phis, stored = [-0.5 * float(x @ r + x @ b)], []
    z = r / M
    rz = float(r @ z)
    if stopping == cg.STOPPING_ORIGINAL:
        floor = cg.ORIGINAL_RESIDUAL_FLOOR
    else:
        tol = math.sqrt(np.finfo(b.dtype).eps) if res_tol is None else res_tol
        bz = float(b @ (b / M))
        floor = tol ** 2 * (bz if bz > 0 else rz)
    d = z.copy()
    grid = set(cg.original_storage_grid(max_iters) if storage == cg.STORAGE_ORIGINAL
               else storage_grid(max_iters))

    def loop():
        nonlocal x, r, z, d, rz
        for i in range(1, max_iters + 1):
            Ad = np.dot(A, d)
            dAd = float(d @ Ad)
            if not math.isfinite(dAd):
                return cg.NONFINITE
            if dAd <= 0:
                return cg.NEGATIVE_CURVATURE
            alpha = rz / dAd
            if not math.isfinite(alpha):
                return cg.NONFINITE
            x += d * alpha
            r += Ad * -alpha
            value = -0.5 * float(x @ r + x @ b)
            z = r / M
            rz_new = float(r @ z)
            if not (math.isfinite(value) and math.isfinite(rz_new)):
                x += d * -alpha
                if not np.isfinite(x).all():
                    j, x_good = stored[-1] if stored else (0, x0)
                    x = np.zeros_like(b) if x_good is None else x_good.astype(b.dtype)
                    del phis[j + 1:]
                return cg.NONFINITE
            phis.append(value)
            if i in grid:
                stored.append((i, x.copy()))
            if rz_new <= floor:
                return cg.CONVERGED_RESIDUAL
            if i >= min_iters and relative_progress_met(phis, i, rel_tol, stopping):
                return cg.CONVERGED_RELATIVE_PROGRESS
            beta, rz = rz_new / rz, rz_new
            if not math.isfinite(beta):
                return cg.NONFINITE
            d *= beta
            d += z
        return cg.MAX_ITERS

    if not (math.isfinite(rz) and math.isfinite(phis[0])):
        status = cg.NONFINITE
    elif rz <= floor:
        status = cg.CONVERGED_RESIDUAL
    else:
        status = loop()
    n_iters = len(phis) - 1
    if not stored or stored[-1][0] != n_iters:
        stored.append((n_iters, x.copy()))
    return x, stored, n_iters, [phis[i] for i, _ in stored], status


#: Systems on which the recurrence must reproduce the old loop: (name, size,
#: log10 of the condition number, max_iters, extra arguments, the status).
REFERENCE_CASES = [
    ("relative_progress", 60, 2, 200, {}, cg.CONVERGED_RELATIVE_PROGRESS),
    ("long_relative_progress", 300, 5, 600, dict(rel_tol=5e-6),
     cg.CONVERGED_RELATIVE_PROGRESS),
    ("max_iters", 300, 6, 60, {}, cg.MAX_ITERS),
    ("residual", 40, 1, 100, dict(rel_tol=0, res_tol=1e-10), cg.CONVERGED_RESIDUAL),
    ("original_rules", 300, 3, 400, dict(rel_tol=5e-6, storage=cg.STORAGE_ORIGINAL,
                                         stopping=cg.STOPPING_ORIGINAL),
     cg.CONVERGED_RELATIVE_PROGRESS),
    ("indefinite", 50, None, 100, {}, cg.NEGATIVE_CURVATURE),
]


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("preconditioned", [False, True], ids=["plain", "precond"])
@pytest.mark.parametrize("name, n, spread, max_iters, kwargs, status", REFERENCE_CASES,
                         ids=[c[0] for c in REFERENCE_CASES])
def test_value_recurrence_reproduces_the_direct_loop(name, n, spread, max_iters, kwargs,
                                                     status, preconditioned, warm):
    """phi by recurrence: the same iterates, iteration count and status as
    the loop that computed phi from x and r, and phi equal to phi(x) at every
    iteration to 1e-10 relative (float64)."""
    rng = np.random.default_rng(n + max_iters)
    eigenvalues = (np.linspace(-1, 10, n) if spread is None else
                   np.logspace(0, spread, n))
    A, b = random_spd(n, eigenvalues, rng), rng.standard_normal(n)
    x0 = 0.1 * rng.standard_normal(n) if warm else None
    kwargs = dict(kwargs, precond=np.diag(A).copy() if preconditioned else None)
    if spread is None and preconditioned:
        kwargs["precond"] = np.abs(kwargs["precond"]) + 0.1
    seen = []
    res = conjugate_gradient(matvec_of(A), b, x0, max_iters=max_iters,
                             callback=lambda i, x, p: seen.append((x.copy(), p)), **kwargs)
    x, iterates, n_iters, values, ref_status = reference_cg(A, b, x0, max_iters, **kwargs)
    assert res.status == ref_status == status
    assert res.n_iters == n_iters and len(seen) == n_iters
    assert [i for i, _ in res.iterates] == [i for i, _ in iterates]
    np.testing.assert_allclose(res.x, x, rtol=1e-12, atol=0)
    for (_, x_new), (_, x_ref) in zip(res.iterates, iterates):
        np.testing.assert_allclose(x_new, x_ref, rtol=1e-12, atol=0)
    scale = max(abs(v) for v in values)
    np.testing.assert_allclose(res.values, values, rtol=1e-10, atol=1e-12 * scale)
    direct = [phi(A, b, x_i) for x_i, _ in seen]
    np.testing.assert_allclose([p for _, p in seen], direct, rtol=1e-10, atol=1e-12 * scale)


def test_value_beyond_the_dtype_is_nonfinite():
    """float32, A tiny: phi (kept in float64 on the host) leaves float32's
    range at iteration 1; the run ends as when phi was computed in float32,
    NONFINITE with x0."""
    A, b = 1e-30 * np.eye(4, dtype=np.float32), np.full(4, 1e10, np.float32)
    x0 = np.ones(4, np.float32)
    res = conjugate_gradient(matvec_of(A), b, x0, max_iters=10)
    x, iterates, n_iters, values, status = reference_cg(A, b, x0, 10)
    assert res.status == status == cg.NONFINITE
    assert res.n_iters == n_iters == 0
    np.testing.assert_array_equal(res.x, x0)
    np.testing.assert_array_equal(x, x0)
    assert res.values == values


def test_overflow_of_the_iterate_returns_the_last_finite_stored_one():
    """x overflows while d^T A d, r^T z and phi stay finite (x_2 = b_2 /
    1e-318 > 1e308), so only the check at the end sees it: back to the last
    finite stored iterate, the later phi dropped, as in the loop that
    computed phi from x."""
    A, b = np.diag([1.0, 1e-318]), np.array([1.0, 1e-8])
    xs = []
    res = conjugate_gradient(matvec_of(A), b, None, max_iters=30, rel_tol=0, res_tol=0,
                             callback=lambda i, x, p: xs.append(x.copy()))
    x, iterates, n_iters, values, status = reference_cg(A, b, None, 30, rel_tol=0,
                                                        res_tol=0)
    assert not np.isfinite(xs[-1]).all()  # the iteration went on past it
    assert res.status == status == cg.NONFINITE
    assert res.n_iters == n_iters == 11
    assert [i for i, _ in res.iterates] == [i for i, _ in iterates]
    np.testing.assert_array_equal(res.x, x)
    assert np.isfinite(res.x).all()
    assert res.values == pytest.approx(values, rel=1e-10)


class FakeElementwiseKernel:
    """CuPy's ``ElementwiseKernel(in_params, out_params, operation, name)``
    for one-statement operations, run by NumPy on :mod:`strict_xp` arrays:
    called with the inputs then the outputs, which it updates in place."""

    calls = []

    def __init__(self, in_params, out_params, operation, name):
        self.names = [p.split()[-1] for p in f"{in_params}, {out_params}".split(",")]
        self.target, self.op, self.expr = re.fullmatch(r"(\w+) ([-+]?=) (.+)",
                                                       operation).groups()
        self.name = name

    def __call__(self, *args):
        assert len(args) == len(self.names)
        arrays = {n: a._a for n, a in zip(self.names, args)}
        value = eval(self.expr, {}, dict(arrays))
        target = arrays[self.target]
        assert target.shape == value.shape  # the output is a whole vector
        if self.op == "+=":
            target += value
        elif self.op == "-=":
            target -= value
        else:
            target[...] = value
        self.calls.append(self.name)


def test_fused_updates_where_the_module_has_elementwise_kernels(monkeypatch):
    """With an ``ElementwiseKernel`` (CuPy) each vector update of an
    iteration is one kernel: three per iteration, the same numbers, and
    still one transfer per iteration."""
    import strict_xp
    xp = strict_xp.install(monkeypatch)
    monkeypatch.setattr(xp, "ElementwiseKernel", FakeElementwiseKernel, raising=False)
    FakeElementwiseKernel.calls.clear()
    case = CASES[1]
    kwargs = dict(max_iters=25, rel_tol=0, res_tol=0, precond=np.diag(case.A).copy())
    host = conjugate_gradient(matvec_of(case.A), case.b, None, **kwargs)
    strict_xp.reset()
    kwargs["precond"] = xp.asarray(kwargs["precond"])
    dev = conjugate_gradient(matvec_of(xp.asarray(case.A)), xp.asarray(case.b), None,
                             **kwargs)
    assert dev.n_iters == host.n_iters == 25 and dev.status == host.status
    assert sorted(set(FakeElementwiseKernel.calls)) == [
        "hessianfree_cg_add_scaled", "hessianfree_cg_scale_add",
        "hessianfree_cg_subtract_scaled"]
    assert len(FakeElementwiseKernel.calls) == 3 * 25
    # checking precond > 0, the start, one per iteration, the end
    assert strict_xp.n_transfers() == 1 + 1 + 25 + 1
    np.testing.assert_array_equal(backend.to_numpy(dev.x), host.x)
    assert dev.values == host.values
