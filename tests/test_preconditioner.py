"""Martens' (2010, §4.7) diagonal preconditioner: preconditioned CG on badly
scaled quadratics, the diagonal HessianFree builds from the squared
per-example gradients, and that HessianFree hands it to CG."""

import math

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.optim import cg
from hessianfree.optim import optimizers
from hessianfree.optim.optimizers import HessianFree


def badly_scaled_spd(n=60, spread=1e4, seed=0):
    """:math:`A = D^{1/2} B D^{1/2}` with :math:`B` well conditioned and
    :math:`D` spanning ``spread``: a diagonal preconditioner undoes the bad
    scaling, plain CG sees condition number ~``spread``."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    B = Q @ np.diag(rng.uniform(1, 3, n)) @ Q.T
    d = np.sqrt(np.logspace(0, math.log10(spread), n))
    rng.shuffle(d)
    return d[:, None] * B * d[None, :], rng.standard_normal(n)


def iterations_to_converge(A, b, precond):
    result = cg.conjugate_gradient(lambda v, out: np.matmul(A, v, out=out), b, None,
                                   max_iters=2000, precond=precond, rel_tol=0,
                                   res_tol=1e-8, store_iterates=False)
    assert result.status == cg.CONVERGED_RESIDUAL
    np.testing.assert_allclose(A @ result.x, b, rtol=1e-5, atol=1e-6 * np.abs(b).max())
    return result.n_iters


@pytest.mark.parametrize("spread", [1e2, 1e4, 1e6])
def test_preconditioned_cg_needs_fewer_iterations(spread):
    A, b = badly_scaled_spd(spread=spread)
    plain = iterations_to_converge(A, b, None)
    jacobi = iterations_to_converge(A, b, np.diag(A).copy())
    martens = iterations_to_converge(A, b, np.diag(A) ** 0.75)
    assert jacobi < plain and martens < plain
    if spread >= 1e4:
        assert jacobi <= plain / 3


def test_preconditioner_diagonal_formula():
    sq = np.array([0.0, 1e-4, 1.0, 16.0], dtype=np.float32)
    opt = HessianFree(init_damping=0.5, precond_exponent=0.75, preconditioner=True)
    P = opt.preconditioner.prepare(None, opt.damping, sq)
    assert P.dtype == np.float32
    np.testing.assert_allclose(P, (sq.astype(np.float64) + 0.5) ** 0.75, rtol=1e-6)
    P = hf.preconditioners.diagonal(sq, 0.0, 0.75)
    assert np.all(P > 0)  # zero statistics and zero damping stay positive
    np.testing.assert_allclose(P[2:], sq[2:] ** 0.75, rtol=1e-6)
    np.testing.assert_array_equal(hf.preconditioners.Diagonal(0).prepare(None, 0.5, sq),
                                  np.ones(4, dtype=np.float32))
    with pytest.raises(ValueError, match="squared"):
        hf.preconditioners.Diagonal().prepare(None, 0.5)


@pytest.mark.parametrize("bad, error", [(-0.1, ValueError), (1.5, ValueError),
                                        (math.nan, ValueError), ("x", TypeError)])
def test_precond_exponent_is_checked(bad, error):
    with pytest.raises(error, match="precond_exponent"):
        HessianFree(precond_exponent=bad)


def scaled_regression(seed=0, n=64):
    """Linear least squares whose inputs differ in scale by 10^3."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)) * np.array([1e-2, 1e-1, 1.0, 10.0])
    t = x @ rng.standard_normal((4, 1)) + 0.01 * rng.standard_normal((n, 1))
    net = hf.FFNet([4, 1], layers=hf.nl.Linear(), debug=True, rng=rng,
                   W_init_params=dict(init_type="gaussian", coeff=0.1))
    return net, x, t


def test_hessianfree_passes_the_preconditioner_to_cg(monkeypatch):
    net, x, t = scaled_regression()
    seen = []
    original = optimizers.conjugate_gradient

    def spy(matvec, b, x0, **kwargs):
        seen.append(kwargs.get("precond"))
        return original(matvec, b, x0, **kwargs)

    monkeypatch.setattr(optimizers, "conjugate_gradient", spy)
    for preconditioner in (False, True):
        net.optimizer = HessianFree(CG_iter=5, init_damping=0.3,
                                    preconditioner=preconditioner)
        net.cache_minibatch(x, t)
        _, sq = net.calc_grad(squared=True)
        net.optimizer.compute_update()
        if preconditioner:
            np.testing.assert_allclose(seen[-1], (sq + 0.3) ** 0.75, rtol=1e-12)
        else:
            assert seen[-1] is None


def cg_iterations_per_update(preconditioner, epochs=4):
    net, x, t = scaled_regression()
    opt = HessianFree(CG_iter=200, init_damping=1e-6, cg_rel_tol=1e-7,
                      preconditioner=preconditioner)
    net.optimizer = opt
    iterations = []
    for _ in range(epochs):
        net.cache_minibatch(x, t)
        net.W += opt.compute_update()
        iterations.append(opt.last_cg.n_iters)
    return iterations, net.error(inputs=x, targets=t)


def test_preconditioned_updates_need_fewer_cg_iterations():
    plain, plain_error = cg_iterations_per_update(False)
    precond, precond_error = cg_iterations_per_update(True)
    assert precond[0] < plain[0]
    assert sum(precond) < sum(plain)
    assert precond_error <= 1.01 * plain_error + 1e-6
