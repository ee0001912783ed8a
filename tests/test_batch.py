"""The cached minibatch as one object (hessianfree.nets.batch)."""

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.nets import hessian


def ff_net(seed=0):
    return hf.FFNet([3, 5, 2], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                    loss_type=hf.loss_funcs.CrossEntropy(), dtype=np.float64,
                    rng=np.random.default_rng(seed), W_init_params={"init_type": "uniform"})


def rnn(seed=0):
    return hf.RNNet([2, 4, 1], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()],
                    dtype=np.float64, rng=np.random.default_rng(seed),
                    W_init_params={"init_type": "uniform"},
                    W_rec_params={"init_type": "uniform", "coeff": 0.5})


def data(net, n=12, seed=1):
    rng = np.random.default_rng(seed)
    if isinstance(net, hf.RNNet):
        x = rng.standard_normal((n, 5, 2))
        return x, np.cumsum(x[..., :1], axis=1) * 0.3
    x = rng.standard_normal((n, 3))
    return x, np.eye(2)[rng.integers(0, 2, n)]


@pytest.mark.parametrize("make", [ff_net, rnn])
@pytest.mark.parametrize("method", ["calc_G", "calc_Hv"])
def test_products_into_their_own_input(make, method):
    net = make()
    net.cache_minibatch(*data(net))
    v = np.random.default_rng(2).standard_normal(net.n_params)
    want = getattr(net, method)(v, damping=0.3)
    got = v.copy()
    assert getattr(net, method)(got, damping=0.3, out=got) is got
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("make", [ff_net, rnn])
def test_one_second_order_state_per_batch_and_weights_version(make, monkeypatch):
    monkeypatch.setattr(hessian.SecondOrderState, "builds", 0)
    net = make()
    net.cache_minibatch(*data(net))
    v = np.random.default_rng(2).standard_normal(net.n_params)
    first = net.calc_Hv(v)
    for _ in range(4):
        np.testing.assert_array_equal(net.calc_Hv(v), first)
    assert hessian.SecondOrderState.builds == 1
    net.W += 1e-3  # a new weights version: rebuilt once, whatever the products
    for _ in range(3):
        net.calc_Hv(v)
    assert hessian.SecondOrderState.builds == 2
    net.W[...] = net.W * 1.001  # in place: the network is told
    net.weights_changed()
    net.calc_Hv(v)
    assert hessian.SecondOrderState.builds == 3
    net.cache_curvature_batch([0, 3, 4])  # the subset is a batch of its own
    net.calc_Hv(v)
    net.calc_Hv(v)
    assert hessian.SecondOrderState.builds == 4


def test_chunks_are_batches_built_once_per_product(monkeypatch):
    """A chunked minibatch keeps no activations: each product builds each
    chunk (and its Hessian state) once, and sums to the whole product."""
    monkeypatch.setattr(hessian.SecondOrderState, "builds", 0)
    net = ff_net()
    x, t = data(net, n=20)
    net.cache_minibatch(x, t)
    v = np.random.default_rng(2).standard_normal(net.n_params)
    whole = net.calc_Hv(v)
    net.chunk_size = 6  # 4 chunks
    net.cache_minibatch(x, t)
    assert net.batch.chunked and net.activations is None
    for _ in range(5):
        np.testing.assert_allclose(net.calc_Hv(v), whole, rtol=1e-12, atol=1e-14)
    assert hessian.SecondOrderState.builds == 1 + 5 * 4


@pytest.mark.parametrize("make", [ff_net, rnn])
def test_error_follows_the_weights_version(make):
    net = make()
    x, t = data(net)
    net.cache_minibatch(x, t)
    cached = net.error()
    assert cached == net.error(inputs=x, targets=t)
    net.W += 0.05
    assert net.error() == net.error(inputs=x, targets=t) != cached
    net.W[...] = net.W - 0.05
    net.weights_changed()
    assert net.error() == pytest.approx(cached, rel=1e-12)


def test_the_batch_is_the_only_minibatch_state_on_the_network():
    net = ff_net()
    before = set(vars(net))
    x, t = data(net)
    net.cache_minibatch(x, t)
    net.cache_curvature_batch([1, 2])
    net.calc_Hv(np.ones(net.n_params))
    assert set(vars(net)) == before
    batch = net.batch
    assert net.inputs is batch.inputs and net.targets is batch.targets
    assert batch.curvature.size == 2 and batch.n_curvature() == 2
    assert batch.curvature.second_order is not None and batch.second_order is None
    with pytest.raises(ValueError, match="cache_minibatch"):
        ff_net().calc_G(np.ones(net.n_params))


def test_an_optimizers_chunk_size_stays_with_the_optimizer():
    net = ff_net()
    x, t = data(net, n=20)
    net.optimizer = hf.opt.HessianFree(chunk_size=5)
    net.cache_minibatch(x, t)
    assert net.batch.chunked and net.chunk_size is None
    net.optimizer = hf.opt.HessianFree()
    net.cache_minibatch(x, t)
    assert not net.batch.chunked


def test_chunks_are_freed_when_their_pass_ends():
    """A chunk's batch (and its activations) goes as soon as its pass is
    done: no reference cycle keeps it for Python's cycle collector."""
    import gc

    from hessianfree.nets.batch import Batch
    net = ff_net()
    x, t = data(net, n=30)
    net.chunk_size = 7
    net.cache_minibatch(x, t)
    net.cache_curvature_batch(np.arange(0, 30, 2))
    gc.collect()  # what earlier tests left
    gc.disable()
    try:
        for _ in range(3):
            net.calc_G(np.ones(net.n_params))
            net.calc_grad()
        alive = [o for o in gc.get_objects() if isinstance(o, Batch)]
    finally:
        gc.enable()
    assert alive == [net.batch]
