"""A recurrent layer's stacked inputs (hessianfree.nets.stacked): they reproduce
the layer's input, and the products and gradients that use them equal the
plain passes'."""

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.nets import stacked

#: layer 2 is recurrent and fed by the input layer and by layer 1
SHAPE, CONNS = [2, 3, 4, 2], {0: [1, 2], 1: [2], 2: [3]}


def make_net(layers=None, truncation=None, seed=0):
    rng = np.random.default_rng(seed)
    net = hf.RNNet(SHAPE, rec_layers=[2], conns=CONNS, truncation=truncation,
                   layers=layers or [hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Tanh(),
                                     hf.nl.Linear()],
                   W_init_params=dict(init_type="gaussian", coeff=0.5, biases=0.1),
                   W_rec_params=dict(init_type="gaussian", coeff=0.4, biases=0.3),
                   dtype=np.float64, rng=rng)
    x = rng.standard_normal((3, 6, SHAPE[0]))
    t = rng.standard_normal((3, 6, SHAPE[-1]))
    net.cache_minibatch(x, t)
    return net


def stacked_weights(net, params, i=2):
    Z = stacked.inputs(net, i, net.batch.curvature)
    M = np.zeros((Z.shape[-1], net.shape[i]))
    for conn, k, cols in stacked.rows(net, i):
        M[cols] += net.get_weights(params, conn)[k]
    return Z, M


def test_stacked_inputs_times_the_weights_are_the_layer_input():
    # with a linear recurrent layer its activations are its input
    net = make_net(layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear(), hf.nl.Linear()])
    Z, M = stacked_weights(net, net.W)
    assert Z.shape == (6, 3, 4 + 2 + 3 + 2)
    np.testing.assert_allclose(Z @ M, net.batch.curvature.acts[2], rtol=1e-12, atol=1e-12)
    # the first step's recurrent input is the recurrent biases, later ones a_{t-1}
    np.testing.assert_array_equal(Z[0, :, :4], 0)
    np.testing.assert_array_equal(Z[:, :, -1], np.repeat(np.eye(6)[:, :1], 3, axis=1))


def test_rows_cover_every_block_of_the_layer_once():
    net = make_net()
    blocks = stacked.rows(net, 2)
    assert [conn for conn, _, _ in blocks] == [(2, 2), (0, 2), (1, 2), (0, 2), (1, 2), (2, 2)]
    assert [k for _, k, _ in blocks] == [0, 0, 0, 1, 1, 1]
    # both connections' biases share the column of ones
    assert blocks[3][2] == blocks[4][2] == 9 and blocks[5][2] == 10


@pytest.mark.parametrize("truncation", [None, (2, 3)])
def test_gradient_through_stacked_inputs_equals_the_plain_one(truncation):
    net = make_net(truncation=truncation)
    plain = net.calc_grad()
    assert not net.batch.curvature.stacked
    v = np.random.default_rng(1).standard_normal(net.n_params)
    net.calc_G(v)  # builds the stacked inputs, which the gradient then uses
    assert set(net.batch.curvature.stacked) == {2}
    np.testing.assert_allclose(net.calc_grad(), plain, rtol=1e-12, atol=1e-14)
    if truncation is None:
        net.check_grad(net.calc_grad())


@pytest.mark.parametrize("hidden", [hf.nl.Tanh(), hf.nl.Softmax()],
                         ids=["elementwise", "jacobian"])
def test_curvature_product_is_the_explicit_matrix(hidden):
    # a softmax layer's derivative is a per-example Jacobian
    net = make_net(layers=[hf.nl.Linear(), hf.nl.Tanh(), hidden, hf.nl.Linear()])
    G = np.stack([net.calc_G(e, damping=0.1) for e in np.eye(net.n_params)], axis=1)
    np.testing.assert_allclose(G, net.explicit_G(damping=0.1), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("own_error", [False, True])
def test_backward_through_stacked_errors_equals_the_step_by_step_one(own_error):
    net = make_net()
    cache = net.batch.curvature
    n_steps, n_batch = cache.acts[0].shape[:2]
    rng = np.random.default_rng(2)
    deltas = [None, None, None, rng.standard_normal((n_steps * n_batch, SHAPE[3]))]
    # a hidden-layer loss (structural damping) adds its own error
    error = rng.standard_normal((n_steps, n_batch, SHAPE[2])) if own_error else None
    got = stacked.backward(net, 2, deltas, cache.d_acts[2], cache, error).copy()
    # the plain route: the output error over all steps, then step through time
    e = net._layer_error(2, deltas, None if error is None else error.reshape(-1, SHAPE[2]),
                         np.empty((n_steps * n_batch, SHAPE[2])), cache)
    want = net._backward_steps(2, e.reshape(n_steps, n_batch, -1), cache.d_acts[2], cache)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_transposed_weights_are_built_once_per_weights_version():
    net = make_net()
    v = np.random.default_rng(5).standard_normal(net.n_params)
    first = net.calc_G(v)
    version, M = net.batch.weight_arrays["stacked_WT", 2]
    assert version == net.weights_version
    net.calc_G(v)
    assert net.batch.weight_arrays["stacked_WT", 2][1] is M
    net.W += 0.01  # the same batch, new weights: rebuilt before the next product
    after = net.calc_G(v)
    net.batch.weight_arrays.clear()
    np.testing.assert_array_equal(net.calc_G(v), after)
    assert not np.allclose(after, first)
