"""The K-FAC preconditioner (hessianfree.optim.kfac): its factors against
explicitly formed matrices, the factored damping, the block application
against an explicit Kronecker product, its effect on CG, and HessianFree
with it (CPU, strict device stand-in, recurrent fallback)."""

import numpy as np
import pytest
import strict_xp

import hessianfree as hf
from hessianfree.optim import cg
from hessianfree.optim import kfac


def small_net(seed=0, shape=(3, 4, 3), dtype=np.float64, conns=None):
    rng = np.random.default_rng(seed)
    layers = [hf.nl.Linear()] + [hf.nl.Tanh()] * (len(shape) - 2) + [hf.nl.Softmax()]
    return hf.FFNet(list(shape), layers=layers, conns=conns,
                    loss_type=hf.loss_funcs.CrossEntropy(curvature="fisher"),
                    W_init_params={"init_type": "gaussian", "coeff": 0.7},
                    rng=rng, dtype=dtype)


def data(n, shape=(3, 4, 3), seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, shape[0]))
    t = np.eye(shape[-1])[rng.integers(0, shape[-1], n)]
    return x, t


def test_factors_match_their_definitions():
    rng = np.random.default_rng(0)
    a, g = rng.standard_normal((7, 3)), rng.standard_normal((7, 2))
    a_bar = np.hstack([a, np.ones((7, 1))])
    np.testing.assert_allclose(kfac.input_factor(a), a_bar.T @ a_bar / 7, rtol=1e-12)
    np.testing.assert_allclose(kfac.output_factor(g), g.T @ g / 7, rtol=1e-12)
    old = np.eye(2)
    np.testing.assert_allclose(kfac.moving_average(old, 3 * np.eye(2), 0.75),
                               1.5 * np.eye(2))
    assert kfac.moving_average(None, old, 0.5) is old


def test_factored_shifts_split_the_damping_by_pi():
    A, S = np.diag([4.0, 8.0, 0.0]), np.diag([0.5, 1.5])
    a_shift, s_shift = kfac.factored_shifts(A, S, 0.09)
    pi = np.sqrt((12 / 3) / (2 / 2))
    assert a_shift == pytest.approx(pi * 0.3) and s_shift == pytest.approx(0.3 / pi)
    assert a_shift * s_shift == pytest.approx(0.09)
    assert kfac.factored_shifts(A, 0 * S, 0.04) == pytest.approx((0.2, 0.2))


def test_damped_inverse_is_the_inverse_of_the_shifted_factor():
    rng = np.random.default_rng(2)
    B = rng.standard_normal((5, 3))
    F = (B @ B.T).astype(np.float32)  # rank 3: singular without the shift
    inv = kfac.damped_inverse(F, 0.1)
    assert inv.dtype == np.float32
    np.testing.assert_array_equal(inv, inv.T)
    np.testing.assert_allclose(inv @ (F + 0.1 * np.eye(5)), np.eye(5), atol=1e-4)
    assert np.all(np.isfinite(kfac.damped_inverse(F, 0.0)))  # floored shift


def test_apply_blocks_solves_with_the_explicit_kronecker_matrix():
    net = small_net(shape=(3, 4, 2))
    x, t = data(6, shape=(3, 4, 2))
    net.cache_minibatch(x, t)
    factors = kfac.layer_factors(net, sampled=False)
    damping = 0.3
    inverses, explicit = [], []
    for A, S in factors:
        a_shift, s_shift = kfac.factored_shifts(A, S, damping)
        inverses.append((kfac.damped_inverse(A, a_shift), kfac.damped_inverse(S, s_shift)))
        explicit.append(np.kron(A + a_shift * np.eye(len(A)), S + s_shift * np.eye(len(S))))
    M = np.zeros((net.n_params, net.n_params))
    start = 0
    for block in explicit:
        M[start:start + len(block), start:start + len(block)] = block
        start += len(block)
    assert start == net.n_params
    r = np.random.default_rng(3).standard_normal(net.n_params)
    z = kfac.apply_blocks(kfac.connection_blocks(net), inverses, r, np.empty_like(r))
    np.testing.assert_allclose(z, np.linalg.solve(M, r), rtol=1e-8, atol=1e-10)


def exact_output_factors(net):
    """:math:`S = E_{t \\sim y}[g g^T]` summed exactly over the classes (one
    example cached): each one-hot target's factors weighted by its
    probability."""
    y = net.activations[-1]
    S_sum = None
    for k in range(y.shape[1]):
        t = np.zeros_like(y)
        t[:, k] = 1
        errors = net.loss_type.d_loss(net.activations, t)
        factors = kfac.layer_factors(net, errors=errors)
        S_k = [y[0, k] * S for _, S in factors]
        S_sum = S_k if S_sum is None else [a + b for a, b in zip(S_sum, S_k)]
    return [A for A, _ in factors], S_sum


@pytest.mark.parametrize("conns", [None, {0: [1, 2], 1: [2]}])
def test_kronecker_blocks_equal_the_gauss_newton_blocks_on_one_example(conns):
    """With one example, each connection's block of the Gauss-Newton matrix
    is exactly :math:`\\bar a \\bar a^T \\otimes E[g g^T]` (Martens & Grosse
    2015, §3): the K-FAC factors, with :math:`S` taken in expectation over
    the model's predictive distribution, against the finite-difference
    Gauss-Newton matrix."""
    net = small_net(conns=conns)
    x, t = data(1)
    net.cache_minibatch(x, t)
    G = net.explicit_G()
    A, S = exact_output_factors(net)
    for (pre, post), A_c, S_c in zip(net._conn_list(), A, S):
        start, _, stop = net.offsets[(pre, post)]
        np.testing.assert_allclose(np.kron(A_c, S_c), G[start:stop, start:stop],
                                   rtol=1e-5, atol=1e-7)


def test_sampled_output_factor_estimates_the_exact_one():
    net = small_net()
    x, t = data(1)
    net.cache_minibatch(np.repeat(x, 4000, axis=0), np.repeat(t, 4000, axis=0))
    sampled = kfac.layer_factors(net)
    net.cache_minibatch(x, t)
    _, exact = exact_output_factors(net)
    for (_, S_sampled), S_exact in zip(sampled, exact):
        scale = np.abs(S_exact).max()
        np.testing.assert_allclose(S_sampled, S_exact, atol=0.1 * scale)


def test_squared_error_samples_gaussian_targets():
    rng = np.random.default_rng(4)
    acts = [None, rng.random((20000, 2))]
    d2 = [None, np.full((20000, 2), 2.0 / 20000)]
    loss, layers = hf.loss_funcs.SquaredError(), [hf.nl.Linear(), hf.nl.Linear()]
    noise = kfac.draw_output_noise(loss, layers, d2, 20000, rng)
    errors = kfac.sample_output_errors(loss, layers, acts, d2, 20000, noise)
    assert errors[0] is None
    np.testing.assert_allclose(errors[1].T @ errors[1] / 20000, 2 * np.eye(2), atol=0.1)


def cg_iterations(net, precond, damping):
    """CG iterations to converge, and to reach 90% of the model reduction
    (what the short runs of Hessian-free optimization care about)."""
    grad = net.calc_grad()

    def matvec(v, out):
        return net.calc_G(v, damping=damping, out=out)
    result = cg.conjugate_gradient(matvec, -grad, None, max_iters=2000,
                                   precond=precond, rel_tol=0, res_tol=1e-5)
    assert result.status == cg.CONVERGED_RESIDUAL
    best = result.values[-1]
    to_90 = next(i for (i, _), phi in zip(result.iterates, result.values)
                 if phi <= 0.9 * best)
    return result.n_iters, to_90


def test_kfac_cuts_cg_iterations():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((400, 20)) * np.logspace(0, 1.5, 20)  # badly scaled
    t = np.eye(5)[rng.integers(0, 5, 400)]
    net = hf.FFNet([20, 30, 5], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                   loss_type=hf.loss_funcs.CrossEntropy(curvature="fisher"),
                   W_init_params={"init_type": "uniform"},
                   rng=np.random.default_rng(0), dtype=np.float64)
    net.cache_minibatch(x, t)
    damping = 1e-3
    plain = cg_iterations(net, None, damping)
    with_kfac = cg_iterations(net, kfac.KFAC().prepare(net, damping), damping)
    assert with_kfac[1] <= plain[1] / 3, (plain, with_kfac)
    assert with_kfac[0] < plain[0], (plain, with_kfac)


def train(net, opt, epochs=8, n=200, shape=(3, 4, 3)):
    x, t = data(n, shape=shape)
    return net.run_epochs(x, t, opt, max_epochs=epochs, print_period=None)


def test_hessianfree_with_kfac_trains_and_refreshes():
    net = small_net(dtype=np.float32)
    opt = hf.opt.HessianFree(CG_iter=10, preconditioner=kfac.KFAC(period=3),
                             plotting=False)
    errors = train(net, opt)
    assert errors[-1] < errors[0]
    assert opt.preconditioner.state.n_refreshes == 3  # epochs 0, 3, 6
    assert all(np.isfinite(net.W))
    assert hf.opt.HessianFree(preconditioner="kfac").preconditioner.period == 4
    assert isinstance(hf.opt.HessianFree(preconditioner=True).preconditioner,
                      hf.preconditioners.Diagonal)
    assert hf.opt.HessianFree().preconditioner is None
    with pytest.raises(ValueError, match="preconditioner"):
        hf.opt.HessianFree(preconditioner="cholesky")
    with pytest.raises(ValueError, match="period"):
        kfac.KFAC(period=0)
    with pytest.raises(ValueError, match="decay"):
        kfac.KFAC(decay=1.0)


def test_recurrent_networks_are_refused_naming_both():
    net = hf.RNNet([2, 3, 1], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()],
                   rng=np.random.default_rng(0))
    opt = hf.opt.HessianFree(CG_iter=5, preconditioner="kfac", plotting=False)
    x = np.random.default_rng(1).standard_normal((4, 5, 2))
    W0 = net.W.copy()
    with pytest.raises(TypeError, match="K-FAC.*RNNet"):
        net.run_epochs(x, np.cumsum(x[..., :1], axis=1), opt, max_epochs=2,
                       print_period=None)
    assert opt.net is None and net.optimizer is None
    np.testing.assert_array_equal(net.W, W0)


@pytest.mark.parametrize("sampled", [True, False])
@pytest.mark.parametrize("fraction", [None, 0.5])
def test_chunked_minibatches_train_exactly_as_whole_ones(sampled, fraction):
    """K-FAC with chunk_size: the same factors, so the same run (float64),
    including the sampled targets (drawn for the whole curvature batch)."""
    results = []
    for chunk_size in (None, 7):
        net = small_net(conns={0: [1, 2], 1: [2]})
        opt = hf.opt.HessianFree(CG_iter=6, plotting=False, chunk_size=chunk_size,
                                 curvature_fraction=fraction,
                                 preconditioner=kfac.KFAC(period=2, sampled=sampled))
        errors = train(net, opt, epochs=5, n=40)
        results.append((errors, net.W.copy(), [F.copy() for pair in
                                               opt.preconditioner.state.factors
                                               for F in pair]))
        assert net.batch.chunked == (chunk_size is not None)
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-10)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-10, atol=1e-12)
    for chunked, whole in zip(results[1][2], results[0][2]):
        np.testing.assert_allclose(chunked, whole, rtol=1e-10, atol=1e-13)


def test_resume_is_bit_identical(tmp_path):
    """The factors and counters are checkpointed: a run stopped after 3
    epochs and resumed ends with the weights of the uninterrupted run."""
    x, t = data(60)

    def run(epochs, resume=False, out=None):
        net = small_net()
        opt = hf.opt.HessianFree(CG_iter=5, plotting=False,
                                 preconditioner=kfac.KFAC(period=3))
        net.run_epochs(x, t, opt, max_epochs=epochs, print_period=None,
                       minibatch_size=30, file_output=out, resume=resume)
        return net, opt
    whole, _ = run(7)
    out = str(tmp_path / "run")
    run(4, out=out)
    resumed, opt = run(7, resume=True, out=out)
    np.testing.assert_array_equal(resumed.W, whole.W)
    assert opt.preconditioner.state.n_refreshes == 3


def test_state_dict_round_trip_and_checks():
    net = small_net()
    net.cache_minibatch(*data(20))
    precond = kfac.KFAC(period=2)
    precond.prepare(net, 0.5)
    state = precond.state_dict()
    fresh = kfac.KFAC(period=2)
    fresh.load_state_dict(state)
    r = np.random.default_rng(0).standard_normal(net.n_params)
    np.testing.assert_array_equal(
        precond.prepare(net, 0.5)(r, np.empty_like(r)),
        fresh.prepare(net, 0.5)(r, np.empty_like(r)))
    for bad in ({"factors": [[np.eye(2)]]}, {"updates": -1}, {"n_refreshes": 1.5}):
        with pytest.raises(ValueError):
            kfac.KFAC().load_state_dict(bad)


def test_device_path_matches_numpy(monkeypatch):
    """The same K-FAC training through the array backend (a strict CuPy
    stand-in) gives the CPU weights."""
    results = []
    for use_GPU in (False, True):
        if use_GPU:
            strict_xp.install(monkeypatch)
        net = hf.FFNet([3, 4, 3], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                       loss_type=hf.loss_funcs.CrossEntropy(curvature="fisher"),
                       rng=np.random.default_rng(0), use_GPU=use_GPU)
        opt = hf.opt.HessianFree(CG_iter=5, preconditioner="kfac", plotting=False)
        train(net, opt, epochs=4)
        results.append(hf.backend.to_numpy(net.W))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)


def test_skip_connections_share_their_layers_factors():
    """With conns {0: [1, 2], 1: [2]}, the two connections from layer 0
    share A and the two into layer 2 share S: each is computed, averaged
    and saved once."""
    net = small_net(conns={0: [1, 2], 1: [2]})
    net.cache_minibatch(*data(30))
    precond = kfac.KFAC(sampled=False)
    precond.prepare(net, 0.1)
    (A01, S01), (A02, S02), (A12, S12) = precond.state.factors
    assert A01 is A02 and S02 is S12 and len(precond.state.distinct()) == 4
    state = precond.state_dict()
    assert len(state["factors"]) == 4 and state["pairs"] == [[0, 1], [0, 2], [3, 2]]
    again = kfac.KFAC(sampled=False)
    again.load_state_dict(state)
    assert again.state.factors[0][0] is again.state.factors[1][0]
    for (A, S), (A2, S2) in zip(again.state.inverses, precond.state.inverses):
        np.testing.assert_array_equal(A, A2)
        np.testing.assert_array_equal(S, S2)


def test_low_rank_inverse_is_exact_on_a_factor_of_that_rank():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((5, 12))
    F = X.T @ X / 5  # rank 5
    w, Q = kfac.eigen(F)
    for shift in (1e-2, 0.7):
        low = kfac.low_rank_inverse(w, Q, shift, 5, F.dtype)
        exact = np.linalg.inv(F + shift * np.eye(12))
        V = rng.standard_normal((12, 3))
        np.testing.assert_allclose(low.left(V, np.empty_like(V)), exact @ V, rtol=1e-9)
        np.testing.assert_allclose(low.right(V.T, np.empty_like(V.T)), V.T @ exact,
                                   rtol=1e-9)
    # a lower rank keeps the top of the spectrum exact and is positive definite
    low = kfac.low_rank_inverse(w, Q, 0.1, 2, F.dtype)
    M = low.left(np.eye(12), np.empty((12, 12)))
    assert np.all(np.linalg.eigvalsh(M) > 0)
    np.testing.assert_allclose(M @ Q[:, :2], Q[:, :2] / (w[:2] + 0.1), rtol=1e-9)


def test_low_rank_kfac_trains_and_resumes_its_settings():
    net = small_net(shape=(12, 10, 3))
    opt = hf.opt.HessianFree(CG_iter=8, plotting=False,
                             preconditioner=kfac.KFAC(rank=2, period=2))
    errors = train(net, opt, epochs=6, n=60, shape=(12, 10, 3))
    assert errors[-1] < errors[0]
    inverses = opt.preconditioner.state.inverses
    assert isinstance(inverses[0][0], kfac.LowRankInverse)  # A of 13 > 2 * 2
    assert opt.settings()["preconditioner"]["rank"] == 2
    with pytest.raises(ValueError, match="rank"):
        kfac.KFAC(rank=0)
