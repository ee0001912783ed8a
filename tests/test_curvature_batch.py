"""Curvature mini-batches (Martens 2010, §4.3) and squared per-example
gradients (§4.7): the subset product is an unbiased estimate of the full
one, the squared gradients match gradients computed one example at a time,
and HessianFree draws the subsets it is asked for."""

import math

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.optim.optimizers import HessianFree

N = 12


def ff_softmax(seed=0):
    """Tanh hidden layer with a skip connection, softmax output, CE loss."""
    rng = np.random.default_rng(seed)
    net = hf.FFNet([3, 5, 4, 3], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.ReLU(),
                                         hf.nl.Softmax()],
                   conns={0: [1, 2], 1: [2], 2: [3]},
                   loss_type=hf.loss_funcs.CrossEntropy(), debug=True, rng=rng,
                   W_init_params=dict(init_type="gaussian", coeff=0.5, biases=0.1))
    x = rng.standard_normal((N, 3))
    t = np.eye(3)[rng.integers(0, 3, N)]
    return net, x, t


def ff_logistic(seed=0):
    rng = np.random.default_rng(seed)
    net = hf.FFNet([4, 6, 2], debug=True, rng=rng,
                   W_init_params=dict(init_type="gaussian", coeff=0.7))
    return net, rng.standard_normal((N, 4)), rng.random((N, 2))


def rnn(seed=0, steps=4):
    rng = np.random.default_rng(seed)
    net = hf.RNNet([2, 5, 1], layers=hf.nl.Tanh(), debug=True, rng=rng,
                   W_init_params=dict(init_type="gaussian", coeff=0.5),
                   W_rec_params=dict(init_type="gaussian", coeff=0.3))
    return net, rng.standard_normal((N, steps, 2)), rng.standard_normal((N, steps, 1))


NETS = {"ff_softmax": ff_softmax, "ff_logistic": ff_logistic, "rnn": rnn}


@pytest.fixture(params=sorted(NETS))
def cached(request):
    net, x, t = NETS[request.param]()
    net.cache_minibatch(x, t)
    return net


def random_vector(net, seed=1):
    return np.random.default_rng(seed).standard_normal(net.n_params)


def test_partition_of_the_batch_averages_to_the_full_product(cached):
    """Mean over equal-size disjoint subsets = the full product, exactly."""
    net = cached
    v = random_vector(net)
    full = net.calc_G(v)
    parts = np.random.default_rng(2).permutation(N).reshape(4, 3)
    products = []
    for part in parts:
        net.cache_curvature_batch(part)
        products.append(net.calc_G(v))
    net.cache_curvature_batch(None)
    np.testing.assert_allclose(np.mean(products, axis=0), full, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(net.calc_G(v), full, rtol=1e-12)  # restored
    # a single subset is not the full product (the test could fail)
    assert not np.allclose(products[0], full, rtol=1e-3)


def test_mean_over_random_subsets_is_unbiased(cached):
    """Monte Carlo: the mean over many random subsets approaches the full
    product within a few standard errors."""
    net = cached
    v = random_vector(net)
    full = net.calc_G(v)
    rng = np.random.default_rng(3)
    samples = []
    for _ in range(400):
        net.cache_curvature_batch(np.sort(rng.permutation(N)[:4]))
        samples.append(net.calc_G(v))
    samples = np.asarray(samples)
    stderr = samples.std(axis=0) / math.sqrt(len(samples))
    assert np.all(np.abs(samples.mean(axis=0) - full) <= 5 * stderr + 1e-10)


def test_subset_product_is_the_product_on_those_examples(cached):
    net = cached
    v = random_vector(net)
    idx = np.array([1, 4, 5, 9])
    net.cache_curvature_batch(idx)
    sub = net.calc_G(v, damping=0.5)
    net.cache_minibatch(net.inputs[idx], net.targets[idx])  # only those examples
    np.testing.assert_allclose(sub, net.calc_G(v, damping=0.5), rtol=1e-10, atol=1e-12)


def test_subset_leaves_gradient_and_error_alone(cached):
    net = cached
    grad, error = net.calc_grad(), net.error()
    net.cache_curvature_batch(np.array([0, 3]))
    np.testing.assert_array_equal(net.calc_grad(), grad)
    assert net.error() == error


def test_subset_product_matches_explicit_matrix(cached):
    net = cached
    net.cache_curvature_batch(np.array([2, 7, 8]))
    v = random_vector(net)
    net.check_G(net.calc_G(v, damping=0.1), v, damping=0.1)


@pytest.mark.parametrize("bad", [np.array([], dtype=int), np.array([0.5]),
                                 np.array([[0, 1]]), np.array([N]), np.array([-1])])
def test_bad_subset_indices(cached, bad):
    with pytest.raises(ValueError, match="indices"):
        cached.cache_curvature_batch(bad)


def per_example_squared_gradients(net, x, t):
    grads = []
    for n in range(len(x)):
        net.cache_minibatch(x[n:n + 1], t[n:n + 1])
        grads.append(net.calc_grad())
    return np.mean(np.square(grads), axis=0), np.mean(grads, axis=0)


@pytest.mark.parametrize("make", [ff_softmax, ff_logistic, lambda: rnn(steps=1)],
                         ids=["ff_softmax", "ff_logistic", "rnn_one_step"])
def test_squared_gradient_matches_one_example_at_a_time(make):
    net, x, t = make()
    expected_sq, expected_grad = per_example_squared_gradients(net, x, t)
    net.cache_minibatch(x, t)
    grad, sq = net.calc_grad(squared=True)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(sq, expected_sq, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(net.calc_grad(), grad, rtol=1e-12, atol=1e-15)
    # Jensen: the mean of squares bounds the square of the mean
    assert np.all(sq >= grad ** 2 - 1e-12)
    assert np.any(sq > 1.5 * grad ** 2)


def test_squared_gradient_counts_time_steps_as_examples():
    """RNNet: each (sequence, time step) term is one example of the statistic;
    with a one-step window per sequence that is checked above, and over
    longer sequences the statistic still bounds the squared mean gradient."""
    net, x, t = rnn(steps=5)
    net.cache_minibatch(x, t)
    grad, sq = net.calc_grad(squared=True)
    assert sq.shape == grad.shape and np.all(sq >= 0)
    assert np.all(np.isfinite(sq)) and np.any(sq > 0)


class Recorder:
    """Wraps a network's cache_curvature_batch to record its calls."""

    def __init__(self, net):
        self.calls, self.original = [], net.cache_curvature_batch
        net.cache_curvature_batch = self

    def __call__(self, indices=None):
        self.calls.append(None if indices is None else np.array(indices))
        return self.original(indices)


@pytest.mark.parametrize("fraction, size", [(0.25, 3), (0.3, 4), (1 / N, 1),
                                            (1.0, None), (None, "untouched")])
def test_hessianfree_draws_subsets_of_the_requested_size(fraction, size):
    net, x, t = ff_softmax()
    net.optimizer = HessianFree(CG_iter=3, curvature_fraction=fraction)
    recorder = Recorder(net)
    drawn = []
    for _ in range(3):
        net.cache_minibatch(x, t)
        net.W += net.optimizer.compute_update()
        drawn.extend(recorder.calls)
        recorder.calls.clear()
    if size == "untouched":
        assert drawn == []
        return
    assert len(drawn) == 3
    for indices in drawn:
        if size is None:
            assert indices is None
        else:
            assert len(indices) == size and len(set(indices)) == size
            assert np.all(np.diff(indices) > 0) and 0 <= indices.min() < N
    if size not in (None, 1):
        assert any(not np.array_equal(drawn[0], d) for d in drawn[1:])


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-0.1, ValueError),
                                        (1.5, ValueError), (math.nan, ValueError),
                                        ("half", TypeError), (True, TypeError)])
def test_curvature_fraction_is_checked(bad, error):
    with pytest.raises(error, match="curvature_fraction"):
        HessianFree(curvature_fraction=bad)


def test_training_with_curvature_subsets_lowers_the_error():
    net, x, t = ff_softmax()
    errors = net.run_epochs(x, t, HessianFree(CG_iter=10, curvature_fraction=0.5),
                            max_epochs=15, print_period=None)
    assert errors[-1] < 0.7 * errors[0]
