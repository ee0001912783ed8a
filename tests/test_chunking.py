"""Bounded-memory derivatives: a chunked minibatch gives the results of the
whole one (to float rounding)."""

import numpy as np
import pytest

import hessianfree as hf

INIT = {"init_type": "gaussian", "coeff": 0.5, "biases": 0.1}


def pair(cls, shape, layers, loss=None, n=11, T=4, chunk_size=3, dtype=np.float64,
         seed=0, positive=False, **kwargs):
    """Two identical networks on the same minibatch, the second chunked."""
    rng = np.random.default_rng(seed)
    nets = []
    lead = (n,) if cls is hf.FFNet else (n, T)
    x = rng.standard_normal(lead + (shape[0],))
    t = (rng.dirichlet(np.ones(shape[-1]), size=lead) if positive
         else rng.standard_normal(lead + (shape[-1],)))
    for size in (None, chunk_size):
        net = cls(shape, layers=layers, loss_type=loss or hf.loss_funcs.SquaredError(),
                  dtype=dtype, rng=np.random.default_rng(seed), W_init_params=INIT,
                  **kwargs)
        net.chunk_size = size
        net.cache_minibatch(x, t)
        nets.append(net)
    assert nets[1].activations is None  # nothing of the whole batch is kept
    return nets


CASES = {
    "ff_softmax": (hf.FFNet, [3, 5, 4, 3], [hf.nl.Linear(), hf.nl.Tanh(), hf.nl.ReLU(),
                                          hf.nl.Softmax()],
                   hf.loss_funcs.CrossEntropy(), {"positive": True}),
    "ff_skip_sparse": (hf.FFNet, [2, 4, 2], hf.nl.Logistic(),
                       [hf.loss_funcs.SquaredError(), hf.loss_funcs.SparseL2(0.1)],
                       {"conns": {0: [1, 2], 1: [2]}}),
    "rnn": (hf.RNNet, [2, 4, 2], hf.nl.Tanh(), None, {}),
    "rnn_truncated": (hf.RNNet, [2, 3, 2], hf.nl.Tanh(), None, {"truncation": (2, 3)}),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("chunk_size", [1, 3, 10])
def test_chunked_equals_whole(case, chunk_size):
    cls, shape, layers, loss, kwargs = CASES[case]
    whole, chunked = pair(cls, shape, layers, loss, chunk_size=chunk_size, **kwargs)
    close = {"rtol": 1e-12, "atol": 1e-14}
    assert chunked.error() == pytest.approx(whole.error(), rel=1e-13)
    W = whole.W + 0.01
    assert chunked.error(W=W) == pytest.approx(whole.error(W=W), rel=1e-13)
    np.testing.assert_allclose(chunked.calc_grad(), whole.calc_grad(), **close)
    for a, b in zip(chunked.calc_grad(squared=True), whole.calc_grad(squared=True)):
        np.testing.assert_allclose(a, b, **close)
    v = np.random.default_rng(1).standard_normal(whole.n_params)
    np.testing.assert_allclose(chunked.calc_G(v, damping=0.5),
                               whole.calc_G(v, damping=0.5), **close)
    np.testing.assert_allclose(chunked.calc_Hv(v), whole.calc_Hv(v), **close)
    subset = [0, 2, 3, 7, 9]
    for net in (whole, chunked):
        net.cache_curvature_batch(subset)
    np.testing.assert_allclose(chunked.calc_G(v), whole.calc_G(v), **close)
    np.testing.assert_allclose(chunked.calc_Hv(v), whole.calc_Hv(v), **close)


def test_float32_chunks_agree_to_rounding():
    whole, chunked = pair(hf.FFNet, [4, 8, 3], hf.nl.Tanh(), n=50, chunk_size=7,
                          dtype=np.float32)
    v = np.random.default_rng(2).standard_normal(whole.n_params).astype(np.float32)
    np.testing.assert_allclose(chunked.calc_grad(), whole.calc_grad(), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(chunked.calc_G(v), whole.calc_G(v), rtol=1e-5, atol=1e-6)


def test_hessian_free_option_trains_identically():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3))
    t = np.tanh(x @ rng.standard_normal((3, 2)))
    results = []
    for chunk_size in (None, 6):
        net = hf.FFNet([3, 6, 2], layers=hf.nl.Tanh(), dtype=np.float64,
                       rng=np.random.default_rng(1), W_init_params=INIT)
        opt = hf.opt.HessianFree(CG_iter=10, chunk_size=chunk_size, plotting=False)
        errors = net.run_epochs(x, t, opt, max_epochs=5, print_period=None)
        results.append((errors, net.W.copy()))
        assert net.batch.chunked == (chunk_size is not None)
    # the optimizer's chunk size is its own: it does not stay on the network
    assert net.chunk_size is None
    net.optimizer = hf.opt.HessianFree(CG_iter=2)
    net.cache_minibatch(x, t)
    assert not net.batch.chunked
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-10)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-8, atol=1e-10)


def test_small_minibatch_is_not_chunked():
    net = hf.FFNet([2, 3, 1], dtype=np.float64)
    net.chunk_size = 100
    net.cache_minibatch(np.ones((5, 2)), np.ones((5, 1)))
    assert net.activations is not None


@pytest.mark.parametrize("value, error", [(0, ValueError), (2.5, TypeError),
                                          ("4", TypeError)])
def test_bad_chunk_size(value, error):
    with pytest.raises(error, match="chunk_size"):
        hf.opt.HessianFree(chunk_size=value)
    net = hf.FFNet([2, 3, 1])
    net.chunk_size = value
    with pytest.raises(error, match="chunk_size"):
        net.cache_minibatch(np.ones((5, 2)), np.ones((5, 1)))
