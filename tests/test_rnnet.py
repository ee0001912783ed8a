"""RNNet: derivatives through time against finite differences, curvature
products against explicitly formed matrices, truncation, stateful layers,
plants, structural damping and bad input."""

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.nets.derivative_checks import central_difference

INIT = dict(init_type="gaussian", coeff=0.5, biases=0.1)
REC_INIT = dict(init_type="gaussian", coeff=0.4, biases=0.2)


def make_net(shape, seed=0, **kwargs):
    kwargs.setdefault("W_init_params", INIT)
    kwargs.setdefault("W_rec_params", REC_INIT)
    return hf.RNNet(shape, debug=True, rng=np.random.default_rng(seed), **kwargs)


def make_data(net, n=3, T=5, seed=0, simplex=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, T, net.shape[0]))
    if simplex:
        t = rng.dirichlet(np.ones(net.shape[-1]), size=(n, T))
    else:
        t = rng.standard_normal((n, T, net.shape[-1]))
    t[0, 1] = np.nan  # "no target" at some steps
    t[1, :2, 0] = np.nan
    return x, t


class Leaky(hf.nl.Nonlinearity):
    """A custom stateful nonlinearity with input-dependent state decay:
    s_t = s_{t-1} * sigmoid(x_t) + tanh(x_t),  a_t = s_t ** 2 / 2 + s_t."""

    def __init__(self):
        super().__init__(stateful=True)
        self.reset()

    def reset(self, init=None):
        self.state = init

    def activation(self, x):
        prev = np.zeros_like(x) if self.state is None else self.state
        self.prev = prev
        self.state = prev / (1 + np.exp(-x)) + np.tanh(x)
        return self.state ** 2 / 2 + self.state

    def d_activation(self, x, a):
        sig = 1 / (1 + np.exp(-x))
        d_input = self.prev * sig * (1 - sig) + 1 - np.tanh(x) ** 2
        return np.stack([d_input, sig, self.state + 1], axis=-1)


class Rotor(hf.nl.Nonlinearity):
    """A stateful nonlinearity with matrix derivatives (2 units):
    s_t = R(x_t[0]) s_{t-1} + x_t,  a_t = s_t, with R a rotation by angle
    0.3 * x_t[0] -- d_input and d_state are full 2x2 Jacobians."""

    elementwise = False

    def __init__(self):
        super().__init__(stateful=True)
        self.state = None

    def reset(self, init=None):
        self.state = init

    def activation(self, x):
        prev = np.zeros_like(x) if self.state is None else self.state
        th = 0.3 * x[:, 0]
        c, s = np.cos(th), np.sin(th)
        self.prev, self.rot = prev, np.stack([np.stack([c, -s], -1),
                                              np.stack([s, c], -1)], -2)
        self.state = np.einsum("bij,bj->bi", self.rot, prev) + x
        return self.state.copy()

    def d_activation(self, x, a):
        n = x.shape[0]
        d_rot = 0.3 * np.stack([np.stack([-self.rot[:, 1, 0], -self.rot[:, 0, 0]], -1),
                                np.stack([self.rot[:, 0, 0], -self.rot[:, 1, 0]], -1)], -2)
        d_input = np.tile(np.eye(2), (n, 1, 1))
        d_input[:, :, 0] += np.einsum("bij,bj->bi", d_rot, self.prev)
        d_output = np.tile(np.eye(2), (n, 1, 1))
        return np.stack([d_input, self.rot, d_output], axis=-1)


CASES = {
    "plain": dict(shape=[2, 3, 2]),
    "mixed": dict(shape=[2, 3, 3, 2], rec_layers=[2]),
    "deep_recurrent_output": dict(shape=[2, 3, 2], rec_layers=[1, 2]),
    "skip": dict(shape=[2, 3, 3, 2], rec_layers=[1],
                 conns={0: [1, 2, 3], 1: [2, 3], 2: [3]}),
    "continuous": dict(shape=[2, 3, 2], layers=[hf.nl.Linear(),
                                                hf.nl.Continuous(hf.nl.Tanh(), tau=2.0),
                                                hf.nl.Tanh()]),
    "continuous_not_recurrent": dict(shape=[2, 3, 2], rec_layers=[],
                                     layers=[hf.nl.Linear(),
                                             hf.nl.Continuous(hf.nl.Logistic(), tau=3.0),
                                             hf.nl.Linear()]),
    "custom_stateful": dict(shape=[2, 3, 2], layers=[hf.nl.Linear(), Leaky(),
                                                     hf.nl.Tanh()]),
    "matrix_stateful": dict(shape=[2, 3, 2], rec_layers=[1],
                            layers=[hf.nl.Linear(), hf.nl.Tanh(), Rotor()]),
    "softmax_crossentropy": dict(shape=[2, 3, 3], layers=[hf.nl.Linear(), hf.nl.Tanh(),
                                                          hf.nl.Softmax()],
                                 loss_type=hf.loss_funcs.CrossEntropy()),
}


@pytest.mark.parametrize("case", CASES)
def test_gradient_and_jacobian_through_time(case):
    kwargs = dict(CASES[case])
    net = make_net(**kwargs)
    net.cache_minibatch(*make_data(net, simplex="crossentropy" in case))
    net.check_grad(net.calc_grad())
    net.check_J()


@pytest.mark.parametrize("case", ["plain", "skip", "continuous", "matrix_stateful",
                                  "softmax_crossentropy"])
def test_curvature_matches_explicit_matrix(case):
    net = make_net(**CASES[case])
    net.cache_minibatch(*make_data(net, T=4, simplex="crossentropy" in case))
    G = np.stack([net.calc_G(e, damping=0.1) for e in np.eye(net.n_params)], axis=1)
    np.testing.assert_allclose(G, net.explicit_G(damping=0.1), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(G, G.T, atol=1e-10)
    assert np.linalg.eigvalsh(G).min() > 0.1 - 1e-8


def test_forward_matches_a_plain_loop():
    net = hf.RNNet([2, 4, 3], layers=hf.nl.Tanh(), rng=np.random.default_rng(0),
                   dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((5, 6, 2))
    W1, b1 = net.get_weights(net.W, (0, 1))
    W2, b2 = net.get_weights(net.W, (1, 2))
    Wr, br = net.get_weights(net.W, (1, 1))
    h = None
    expected = []
    for t in range(6):
        rec = br if h is None else h @ Wr
        h = np.tanh(x[:, t] @ W1 + b1 + rec)
        expected.append(np.tanh(h @ W2 + b2))
    np.testing.assert_allclose(net.forward(x)[-1], np.stack(expected, axis=1),
                               rtol=1e-12)
    assert net.offsets[(1, 1)][0] == net.offsets[(1, 2)][2]  # recurrent block last


def test_init_activations_continue_a_sequence():
    net = make_net([2, 3, 2], rec_layers=[1],
                   layers=[hf.nl.Linear(), hf.nl.Continuous(hf.nl.Tanh(), tau=2.0),
                           hf.nl.Linear()])
    x = np.random.default_rng(0).standard_normal((3, 8, 2))
    acts = net.forward(x)
    net.forward(x[:, :5])
    state = net.layers[1].state.copy()
    init = [None, acts[1][:, 4], None]
    rest = net.forward(x[:, 5:], init_activations=init,
                       init_state=[None, state, None])
    np.testing.assert_allclose(rest[-1], acts[-1][:, 5:], rtol=1e-12)


@pytest.mark.parametrize("truncation", [(2, 3), (3, 3), (1, 2), (4, 1)])
def test_truncated_gradient_matches_windowed_finite_differences(truncation):
    """Truncated BPTT = the sum over chunks of the exact gradient of that
    chunk's error with the activations before its window held fixed."""
    n, k = truncation
    net = make_net([2, 3, 2], truncation=truncation,
                   layers=[hf.nl.Linear(), hf.nl.Continuous(hf.nl.Tanh(), tau=2.0),
                           hf.nl.Tanh()])
    x, t = make_data(net, T=7)
    net.cache_minibatch(x, t)
    W0 = net.W.copy()
    acts = net.forward(x)
    states = []  # the Continuous state after each step
    for stop in range(1, 8):
        net.forward(x[:, :stop])
        states.append(net.layers[1].state.copy())
    expected = np.zeros(net.n_params)
    for stop in range(7, 0, -n):
        chunk_start = max(0, stop - n)
        start = max(0, min(stop - k, chunk_start))
        t_chunk = np.full_like(t[:, start:stop], np.nan)
        t_chunk[:, chunk_start - start:] = t[:, chunk_start:stop]
        init = None if start == 0 else [None, acts[1][:, start - 1], None]
        init_state = None if start == 0 else [None, states[start - 1], None]

        def chunk_error(W):
            out = net.forward(x[:, start:stop], W, init_activations=init,
                              init_state=init_state)
            return net.loss_type.batch_loss(out, t_chunk)
        expected += central_difference(chunk_error, W0)[0]
    np.testing.assert_allclose(net.calc_grad(), expected, rtol=1e-5, atol=1e-8)
    if k >= 7:
        net.check_grad(net.calc_grad())


def test_long_truncation_equals_full_bptt():
    full = make_net([2, 3, 2])
    trunc = make_net([2, 3, 2], truncation=(3, 10))
    data = make_data(full, T=6)
    full.cache_minibatch(*data)
    trunc.cache_minibatch(*data)
    np.testing.assert_allclose(trunc.calc_grad(), full.calc_grad(), rtol=1e-12)


def test_structural_damping_enters_the_curvature():
    opt = hf.opt.HessianFree(init_damping=2.0)
    sd = hf.loss_funcs.StructuralDamping(0.3, layers=[1], optimizer=opt)
    plain = make_net([2, 3, 2])
    damped = make_net([2, 3, 2], loss_type=[hf.loss_funcs.SquaredError(), sd])
    data = make_data(plain, T=4)
    for net in (plain, damped):
        net.cache_minibatch(*data)
    v = np.random.default_rng(3).standard_normal(plain.n_params)
    # J_h v for the hidden layer, from the R-forward pass
    R_h = damped._external(damped._R_forward(v, damped.batch.curvature)[1])
    J = hf.derivative_checks.fd_jacobian(damped)
    n_h = R_h.size
    J_h = J[:n_h]  # the Jacobian rows of layer 1 come first
    np.testing.assert_allclose(J_h @ v, R_h.ravel(), rtol=1e-6, atol=1e-9)
    expected = plain.calc_G(v) + 0.3 * 2.0 * J_h.T @ (J_h @ v) / 3
    np.testing.assert_allclose(damped.calc_G(v), expected, rtol=1e-6, atol=1e-9)
    damped.check_G(damped.calc_G(v), v)
    # it leaves the objective's value and gradient at the current point alone
    assert damped.error() == pytest.approx(plain.error())
    np.testing.assert_allclose(damped.calc_grad(), plain.calc_grad(), atol=1e-12)


class Cart(hf.nl.Plant):
    """A point mass pushed by the network: state (position, velocity)."""

    def __init__(self, n=4, T=6, n_out=2):
        super().__init__()
        self.shape = (n, T, 2)
        self.n_out = n_out
        self.reset()

    def reset(self, init=None):
        start = np.linspace(-1, 1, self.shape[0])
        self.state = np.stack([start, np.zeros_like(start)], axis=1)
        self.inputs = []

    def __call__(self, x):
        if x is not None:
            self.state = self.state + 0.1 * np.stack([self.state[:, 1], x[:, 0]], 1)
        self.inputs.append(self.state.copy())
        return self.state

    def get_vecs(self):
        inputs = np.stack(self.inputs, axis=1)
        targets = np.zeros(inputs.shape[:2] + (self.n_out,))
        targets[..., 0] = 1.0
        return inputs, targets

    def activation(self, x):
        return x

    def d_activation(self, x, a):
        return np.stack([np.ones_like(x), np.zeros_like(x), np.ones_like(x)], -1)


def test_plant_closed_loop_and_derivatives():
    plant = Cart()
    net = make_net([2, 4, 2], layers=[plant, hf.nl.Tanh(), hf.nl.Linear()])
    net.run_epochs(plant, None, optimizer=hf.opt.HessianFree(CG_iter=5, plotting=False),
                   max_epochs=2, print_period=None)
    plant.reset()
    net.forward(plant)
    x, t = plant.get_vecs()
    # the inputs the plant recorded follow from the network's own outputs
    out = net.forward(x)
    assert x.shape == (4, 6, 2)
    np.testing.assert_allclose(x[:, 1:, 1] - x[:, :-1, 1],
                               0.1 * out[-1][:, :-1, 0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(x[:, 1:, 0] - x[:, :-1, 0], 0.1 * x[:, :-1, 1],
                               rtol=1e-6, atol=1e-9)
    net.cache_minibatch(x, t)
    net.check_grad(net.calc_grad())
    net.check_J()


def test_plant_shape_errors():
    net = make_net([2, 4, 2])
    bad_width = Cart()
    bad_width.shape = (4, 6, 3)
    with pytest.raises(ValueError, match="plant.shape"):
        net.run_epochs(bad_width, None, optimizer=hf.opt.HessianFree(), max_epochs=1)
    wrong_targets = Cart(n_out=3)
    with pytest.raises(ValueError, match="get_vecs"):
        net.run_epochs(wrong_targets, None, optimizer=hf.opt.HessianFree(), max_epochs=1,
                       print_period=None)
    with pytest.raises(ValueError, match="targets must be None"):
        net.run_epochs(Cart(), np.zeros((4, 6, 2)), optimizer=hf.opt.HessianFree())
    no_shape = Cart()
    del no_shape.shape
    with pytest.raises(TypeError, match="shape"):
        net.run_epochs(no_shape, None, optimizer=hf.opt.HessianFree())
    with pytest.raises(TypeError, match="RNNet"):
        hf.FFNet([2, 3, 2]).run_epochs(Cart(), None, optimizer=hf.opt.HessianFree())


def test_curvature_subset_through_time():
    net = make_net([2, 3, 2])
    net.cache_minibatch(*make_data(net, n=4))
    v = np.random.default_rng(0).standard_normal(net.n_params)
    full = net.calc_G(v)
    net.cache_curvature_batch([0, 2])
    sub = net.calc_G(v)
    net.check_G(sub, v)
    assert not np.allclose(sub, full)
    net.cache_curvature_batch(None)
    np.testing.assert_allclose(net.calc_G(v), full)


def test_rnn_trains_on_a_memory_task():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 6, 1)).astype(np.float32)
    t = np.full((200, 6, 1), np.nan, dtype=np.float32)
    t[:, -1] = x[:, 0]  # remember the first input until the end
    net = hf.RNNet([1, 10, 1], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()],
                   W_init_params={"init_type": "gaussian", "coeff": 0.3},
                   W_rec_params={"init_type": "gaussian", "coeff": 0.3},
                   rng=np.random.RandomState(0))
    net.run_epochs(x, t, optimizer=hf.opt.HessianFree(CG_iter=30, plotting=False),
                   max_epochs=30, print_period=None)
    assert net.error(inputs=x, targets=t) < 0.05 * np.nanvar(t) / 2


BAD = [
    (lambda: make_net([2, 3, 2], rec_layers=[0]), ValueError, "rec_layers"),
    (lambda: make_net([2, 3, 2], rec_layers=[3]), ValueError, "rec_layers"),
    (lambda: make_net([2, 3, 2], rec_layers=1), TypeError, "rec_layers"),
    (lambda: make_net([2, 3, 2], truncation=(2,)), ValueError, "truncation"),
    (lambda: make_net([2, 3, 2], truncation=(0, 2)), ValueError, "truncation"),
    (lambda: make_net([2, 3, 2], truncation=(2.5, 2)), TypeError, "truncation"),
    (lambda: make_net([2, 3, 2], W_rec_params=[1]), TypeError, "W_rec_params"),
    (lambda: make_net([2, 3, 2]).forward(np.zeros((4, 2))), ValueError, "time"),
    (lambda: make_net([2, 3, 2]).run_epochs(
        np.zeros((4, 5, 2)), np.zeros((4, 6, 2)), optimizer=hf.opt.HessianFree()),
     ValueError, "does not match"),
    (lambda: make_net([2, 3, 2]).run_epochs(
        np.zeros((4, 2)), np.zeros((4, 2)), optimizer=hf.opt.HessianFree()),
     ValueError, "inputs"),
    (lambda: make_net([2, 3, 2]).forward(np.zeros((4, 5, 2)),
                                         init_activations=[None]), TypeError,
     "init_activations"),
]


@pytest.mark.parametrize("call, exc, match", BAD)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_plant_whose_reset_changes_the_start_is_refused():
    class RandomStart(hf.demos.PointMass):
        def reset(self, init=None):
            if init is None:
                self.init_state[:, 0] = np.random.default_rng().uniform(
                    -1, 1, len(self.init_state))
            super().reset(init)

    for plant, ok in ((hf.demos.PointMass(np.linspace(-1, 1, 4), n_steps=5), True),
                      (RandomStart(np.linspace(-1, 1, 4), n_steps=5), False)):
        net = hf.RNNet([2, 5, 2], layers=[hf.nl.Linear(), hf.nl.Tanh(), plant],
                       rng=np.random.RandomState(0), dtype=np.float64)
        kwargs = dict(optimizer=hf.opt.HessianFree(CG_iter=2), max_epochs=1,
                      print_period=None)
        if ok:
            net.run_epochs(plant, None, **kwargs)
        else:
            with pytest.raises(ValueError, match="reset"):
                net.run_epochs(plant, None, **kwargs)


def test_truncation_applies_to_the_preconditioner_gradient_and_debug_mode():
    net = make_net([2, 4, 3], truncation=(2, 1))
    net.cache_minibatch(*make_data(net, T=6))
    grad = net.calc_grad()
    grad_sq, sq = net.calc_grad(squared=True)
    np.testing.assert_array_equal(grad_sq, grad)
    assert np.all(sq >= 0) and np.any(sq > 0)
    # debug mode checks curvature but not the (deliberately inexact) gradient
    x, t = make_data(net, T=6)
    net.run_epochs(x, t, optimizer=hf.opt.HessianFree(CG_iter=3, preconditioner=True),
                   max_epochs=2, print_period=None)


def test_truncated_squared_statistic_skips_the_discarded_gradient(monkeypatch):
    """With truncation the squared statistic takes one whole-sequence pass
    that writes no gradient (the gradient comes from the windows)."""
    net = hf.RNNet([2, 3, 1], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()],
                   truncation=(2, 2), dtype=np.float64, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((4, 6, 2))
    net.cache_minibatch(x, np.cumsum(x[..., :1], axis=1))
    outs = []
    original = hf.RNNet._backward

    def spy(self, errors, out, *args, **kwargs):
        outs.append(out is None)
        return original(self, errors, out, *args, **kwargs)
    monkeypatch.setattr(hf.RNNet, "_backward", spy)
    grad, sq = net.calc_grad(squared=True)
    assert outs.count(True) == 1  # the statistic's pass
    monkeypatch.undo()
    np.testing.assert_array_equal(grad, net.calc_grad())
    whole = hf.RNNet([2, 3, 1], layers=net.layers, dtype=np.float64,
                     rng=np.random.default_rng(0))
    whole.cache_minibatch(net.inputs, net.targets)
    np.testing.assert_allclose(sq, whole.calc_grad(squared=True)[1], rtol=1e-12)


def test_continuous_layers_store_one_derivative_per_unit_and_step():
    """Continuous's state derivatives are constants: the cached batch holds
    only d_output, the shape of the activations, and the products agree
    with finite differences."""
    net = hf.RNNet([2, 3, 1], layers=[hf.nl.Linear(), hf.nl.Continuous("tanh", tau=[1, 2, 3]),
                                      hf.nl.Linear()],
                   dtype=np.float64, rng=np.random.default_rng(0),
                   W_init_params={"init_type": "uniform"})
    x = np.random.default_rng(1).standard_normal((3, 4, 2))
    net.cache_minibatch(x, np.cumsum(x[..., :1], axis=1))
    assert net.batch.d_acts[1].shape == net.batch.acts[1].shape
    net.check_grad(net.calc_grad())
    v = np.random.default_rng(2).standard_normal(net.n_params)
    net.check_G(net.calc_G(v), v)
