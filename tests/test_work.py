"""The work counter: examples through gradients, curvature products and
error evaluations (hessianfree.nets.work)."""

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.data import tasks
from hessianfree.nets import work


def _net(chunk_size=None):
    net = tasks.tanh_rnn("addition", n_hidden=8, rng=0)
    x, t = tasks.generate("addition", 10, 50, rng=0)
    if chunk_size is not None:
        net.chunk_size = chunk_size
    net.cache_minibatch(x, t)
    return net


@pytest.mark.parametrize("chunk_size", [None, 16])
def test_counts_examples_once_per_pass(chunk_size):
    net = _net(chunk_size)
    counter = work.attach(net)
    net.calc_grad()
    v = np.ones(net.n_params, dtype=net.dtype)
    net.calc_G(v)
    net.calc_G(v, damping=1.0)
    assert (counter.gradient, counter.curvature) == (50, 100)
    net.error()  # cached activations, no pass (unchunked)
    net.error(W=net.W + 0)
    assert counter.error == (50 if chunk_size is None else 100)
    assert counter.units() == pytest.approx(0.15)
    assert counter.units(unit=50) == pytest.approx(3.0)


def test_no_counter_no_count_and_detach():
    net = _net()
    net.calc_grad()
    assert getattr(net, "work", None) is None
    counter = work.attach(net)
    assert work.detach(net) is counter
    net.calc_grad()
    assert counter.gradient == 0


def test_curvature_subset_and_optimizer_update():
    net = _net()
    opt = hf.opt.HessianFree(CG_iter=5, curvature_fraction=0.2, plotting=False)
    x, t = tasks.generate("addition", 10, 50, rng=1)
    net.optimizer = opt
    counter = work.attach(net)
    net.cache_minibatch(x, t)
    opt.compute_update()
    assert counter.gradient == 50
    assert counter.curvature > 0 and counter.curvature % 10 == 0
    saved = counter.as_dict()
    again = work.WorkCounter()
    again.add(saved)
    assert again == counter


def test_attach_checks_counter():
    with pytest.raises(TypeError, match="counter"):
        work.attach(_net(), counter={})
