"""Exact Hessian-vector products (net.calc_Hv) against finite differences of
the gradient and against explicitly formed Hessians, and the Hessian as the
optimizer's curvature."""

import itertools
import warnings

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.nets import derivative_checks as dc
from hessianfree.nets import hessian

ELEMENTWISE = [hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Logistic(), hf.nl.ReLU(),
               hf.nl.Gaussian(), hf.nl.SoftLIF(sigma=1.0)]
INIT = {"init_type": "gaussian", "coeff": 0.5, "biases": 0.1}


def cached(cls, shape, layers, loss=None, n=5, T=4, seed=0, positive=False, **kwargs):
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CrossEntropy without Softmax warns
        net = cls(shape, layers=layers, loss_type=loss or hf.loss_funcs.SquaredError(),
                  dtype=np.float64, rng=rng, W_init_params=INIT, **kwargs)
    lead = (n,) if cls is hf.FFNet else (n, T)
    targets = (rng.dirichlet(np.ones(shape[-1]), size=lead) if positive
               else rng.standard_normal(lead + (shape[-1],)))
    net.cache_minibatch(rng.standard_normal(lead + (shape[0],)), targets)
    return net


def form_H(net):
    return np.stack([net.calc_Hv(e) for e in np.eye(net.n_params)], axis=1)


def assert_matches_finite_differences(net):
    H = form_H(net)
    expected = dc.explicit_hessian(net)
    np.testing.assert_allclose(H, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    return H


@pytest.mark.parametrize("layer", ELEMENTWISE, ids=lambda layer: type(layer).__name__)
def test_every_elementwise_nonlinearity(layer):
    net = cached(hf.FFNet, [2, 3, 3, 2], [hf.nl.Linear(), layer, layer, hf.nl.Tanh()],
                 conns={0: [1, 3], 1: [2], 2: [3]})
    assert_matches_finite_differences(net)


LOSSES = {
    "squared": ([hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()],
                hf.loss_funcs.SquaredError(), False),
    "softmax_crossentropy": ([hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                             hf.loss_funcs.CrossEntropy(), True),
    "fisher_crossentropy": ([hf.nl.Linear(), hf.nl.Logistic(), hf.nl.Softmax()],
                            hf.loss_funcs.CrossEntropy(curvature="fisher"), True),
    "logistic_crossentropy": ([hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Logistic()],
                              hf.loss_funcs.CrossEntropy(), True),
    "binary_crossentropy": ([hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Logistic()],
                            hf.loss_funcs.BinaryCrossEntropy(), True),
    "sparse": ([hf.nl.Linear(), hf.nl.Logistic(), hf.nl.Tanh()],
               [hf.loss_funcs.SquaredError(), hf.loss_funcs.SparseL1(0.1, target=-5.0),
                hf.loss_funcs.SparseL2(0.3)], False),
}


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss(loss):
    layers, loss_type, positive = LOSSES[loss]
    net = cached(hf.FFNet, [3, 4, 3], layers, loss_type, positive=positive)
    H = assert_matches_finite_differences(net)
    if loss != "squared":  # the Hessian is not the Gauss-Newton matrix
        G = np.stack([net.calc_G(e) for e in np.eye(net.n_params)], axis=1)
        assert np.abs(H - G).max() > 1e-3


def test_softmax_contraction_equals_the_d2_activation_tensor():
    rng = np.random.default_rng(0)
    layer = hf.nl.Softmax()
    x = rng.standard_normal((4, 5))
    a = layer.activation(x)
    e, r = rng.standard_normal((2, 4, 5))
    generic = np.einsum("...ijk,...i,...j->...k", layer.d2_activation(x, a), e, r)
    np.testing.assert_allclose(
        hessian.second_derivative_term(layer, None, x, a, e, r), generic, atol=1e-14)


def test_custom_non_elementwise_nonlinearity_uses_its_tensor():
    class TensorSoftmax(hf.nl.Nonlinearity):
        """Softmax as a custom non-element-wise layer (no closed form)."""
        elementwise = False
        _softmax = hf.nl.Softmax()

        def activation(self, x):
            return self._softmax.activation(x)

        def d_activation(self, x, a):
            return self._softmax.d_activation(x, a)

        def d2_activation(self, x, a):
            return self._softmax.d2_activation(x, a)

    layers = [hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()]
    net = cached(hf.FFNet, [3, 4, 3], layers, hf.loss_funcs.CrossEntropy(),
                 positive=True)
    custom = cached(hf.FFNet, [3, 4, 3], layers[:2] + [TensorSoftmax()],
                    hf.loss_funcs.CrossEntropy(), positive=True)
    np.testing.assert_allclose(form_H(custom), form_H(net), rtol=1e-10, atol=1e-13)


def test_second_differences_of_the_error():
    """An independent check on a tiny net: H from second differences of the
    loss itself."""
    net = cached(hf.FFNet, [2, 2, 1], [hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Logistic()])
    W0, h, n = net.W.copy(), 1e-4, net.n_params
    E = np.eye(n) * h

    def f(W):
        return net.error(W=W)

    H = np.array([[(f(W0 + E[i] + E[j]) - f(W0 + E[i] - E[j]) - f(W0 - E[i] + E[j])
                    + f(W0 - E[i] - E[j])) / (4 * h * h) for j in range(n)]
                  for i in range(n)])
    np.testing.assert_allclose(form_H(net), H, rtol=1e-4, atol=1e-6)


RNN_CASES = {
    "tanh": {"shape": [2, 3, 2], "layers": hf.nl.Tanh()},
    "logistic_two_recurrent": {"shape": [2, 3, 3, 2],
                               "layers": [hf.nl.Linear(), hf.nl.Logistic(),
                                          hf.nl.Tanh(), hf.nl.Linear()]},
    "skip_softmax": {"shape": [2, 3, 3],
                     "layers": [hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                     "conns": {0: [1, 2], 1: [2]}, "rec_layers": [1],
                     "loss": hf.loss_funcs.CrossEntropy(), "positive": True},
}


@pytest.mark.parametrize("case", RNN_CASES)
def test_recurrent_networks(case):
    kwargs = dict(RNN_CASES[case])
    net = cached(hf.RNNet, kwargs.pop("shape"), kwargs.pop("layers"), **kwargs)
    assert_matches_finite_differences(net)


def test_structural_damping_adds_its_gauss_newton_term():
    kwargs = {"shape": [2, 3, 2], "layers": hf.nl.Tanh()}
    plain = cached(hf.RNNet, **kwargs)
    damped = cached(hf.RNNet, loss=[hf.loss_funcs.SquaredError(),
                                    hf.loss_funcs.StructuralDamping(0.5)], **kwargs)
    sd_only = cached(hf.RNNet, loss=[hf.loss_funcs.SquaredError(),
                                     hf.loss_funcs.StructuralDamping(0.5)], **kwargs)
    sd_G = np.stack([sd_only.calc_G(e) - plain.calc_G(e)
                     for e in np.eye(plain.n_params)], axis=1)
    np.testing.assert_allclose(form_H(damped), form_H(plain) + sd_G, atol=1e-12)
    assert_matches_finite_differences(damped)


def test_curvature_subset_and_damping():
    net = cached(hf.FFNet, [2, 3, 2], hf.nl.Tanh(), n=8)
    net.cache_curvature_batch([1, 4, 6])
    v = np.random.default_rng(3).standard_normal(net.n_params)
    dc.check_Hv(net, net.calc_Hv(v, damping=0.3), v, damping=0.3)
    out = np.empty(net.n_params)
    assert net.calc_Hv(v, out=out) is out


def test_follows_weight_changes():
    net = cached(hf.FFNet, [2, 3, 2], hf.nl.Tanh())
    v = np.ones(net.n_params)
    before = net.calc_Hv(v).copy()
    net.W += 0.1
    net.cache_minibatch(net.inputs, net.targets)
    after = net.calc_Hv(v)
    assert not np.allclose(before, after)
    dc.check_Hv(net, after, v)


def test_float32_agrees_with_float64():
    net64 = cached(hf.FFNet, [3, 5, 2], hf.nl.Tanh())
    net32 = hf.FFNet([3, 5, 2], layers=hf.nl.Tanh(), dtype=np.float32,
                     load_weights=net64.W.astype(np.float32))
    net32.cache_minibatch(net64.inputs, net64.targets)
    v = np.random.default_rng(0).standard_normal(net64.n_params)
    np.testing.assert_allclose(net32.calc_Hv(v.astype(np.float32)), net64.calc_Hv(v),
                               rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("base", [hf.nl.Tanh(), hf.nl.Logistic(), hf.nl.SoftLIF()],
                         ids=lambda base: type(base).__name__)
def test_continuous_stateful_layers(base):
    net = cached(hf.RNNet, [2, 3, 3, 2], [hf.nl.Linear(), hf.nl.Continuous(base, tau=2.0),
                                          hf.nl.Tanh(), hf.nl.Linear()],
                 rec_layers=[1, 2])
    assert_matches_finite_differences(net)


def test_stateful_layer_with_jacobian_derivatives_is_refused_by_name():
    class MatrixState(hf.nl.Nonlinearity):
        elementwise = False

        def __init__(self):
            super().__init__(stateful=True)

        def activation(self, x):
            return x

        def d_activation(self, x, a):
            d = np.zeros(x.shape + (x.shape[-1], 3))
            d[..., 0] = d[..., 2] = np.eye(x.shape[-1])
            return d

    net = hf.RNNet([1, 2, 1], layers=[hf.nl.Linear(), MatrixState(), hf.nl.Linear()],
                   dtype=np.float64)
    net.cache_minibatch(np.ones((2, 3, 1)), np.ones((2, 3, 1)))
    with pytest.raises(NotImplementedError, match="layer 1.*MatrixState"):
        net.calc_Hv(np.ones(net.n_params))


def test_custom_nonlinearity_without_second_derivative():
    class Cube(hf.nl.Nonlinearity):
        def activation(self, x):
            return x ** 3

        def d_activation(self, x, a):
            return 3 * x ** 2

    net = cached(hf.FFNet, [2, 2, 1], [hf.nl.Linear(), Cube(), hf.nl.Linear()])
    with pytest.raises(NotImplementedError, match="d2_activation"):
        net.calc_Hv(np.ones(net.n_params))


@pytest.mark.parametrize("call, error", [
    (lambda net: net.calc_Hv(np.ones(3)), ValueError),
    (lambda net: net.calc_Hv(np.ones(net.n_params, dtype=int)), TypeError),
    (lambda net: net.calc_Hv(np.ones(net.n_params), damping="x"), TypeError),
])
def test_bad_input(call, error):
    with pytest.raises(error):
        call(cached(hf.FFNet, [2, 2, 1], hf.nl.Tanh()))


def test_hessian_operator_finds_negative_curvature():
    from scipy.sparse.linalg import eigsh
    net = cached(hf.FFNet, [3, 4, 3], [hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                 hf.loss_funcs.CrossEntropy(), positive=True)
    op = net.curvature_operator("hessian", damping=0.1)
    H = form_H(net)
    lowest = eigsh(op, k=1, which="SA", return_eigenvectors=False)[0]
    np.testing.assert_allclose(lowest, np.linalg.eigvalsh(H).min() + 0.1, rtol=1e-6)


@pytest.mark.parametrize("curvature", ["gauss-newton", "hessian"])
def test_hessian_free_with_either_curvature_learns_xor(curvature):
    inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    targets = np.array([[0], [1], [1], [0]], dtype=np.float64)
    net = hf.FFNet([2, 5, 1], dtype=np.float64, rng=np.random.default_rng(1))
    opt = hf.opt.HessianFree(CG_iter=20, curvature=curvature, plotting=False)
    net.run_epochs(inputs, targets, opt, max_epochs=60, print_period=None)
    assert net.error() < 0.05


def test_negative_curvature_stops_cg_and_raises_the_damping():
    net = cached(hf.FFNet, [3, 4, 3], [hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                 hf.loss_funcs.CrossEntropy(), positive=True)
    assert np.linalg.eigvalsh(form_H(net)).min() < -1e-3
    opt = hf.opt.HessianFree(CG_iter=50, init_damping=1e-3, min_damping=1e-6,
                             curvature="hessian", plotting=False)
    net.optimizer = opt
    W0, f0 = net.W.copy(), net.error()
    statuses, dampings = [], []
    for _ in range(6):
        delta = opt.compute_update()
        statuses.append(opt.last_cg.status)
        dampings.append(opt.damping)
        net.W += delta
        net.cache_minibatch(net.inputs, net.targets)
        assert net.error() <= f0 + 1e-12  # never worse
        f0 = net.error()
    assert "negative_curvature" in statuses
    assert any(b > a for a, b in itertools.pairwise(dampings))  # a poor model raised it
    assert not np.array_equal(net.W, W0)


@pytest.mark.parametrize("kwargs, error", [
    ({"curvature": "newton"}, ValueError),
    ({"curvature": None}, TypeError),
])
def test_bad_optimizer_options(kwargs, error):
    with pytest.raises(error, match="curvature"):
        hf.opt.HessianFree(**kwargs)


def test_debug_mode_checks_hessian_products():
    net = cached(hf.FFNet, [2, 3, 1], hf.nl.Tanh())
    net.debug = True
    opt = hf.opt.HessianFree(CG_iter=5, curvature="hessian", plotting=False)
    net.optimizer = opt
    opt.compute_update()  # runs dc.check_Hv on the step's product


def test_debug_check_of_a_truncated_network_differentiates_the_whole_loss():
    """Truncation shortens the gradient, not the loss: the debug check of
    the exact Hessian product compares it with the Hessian of the loss."""
    net = hf.RNNet([2, 3, 1], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()],
                   truncation=(2, 2), debug=True, rng=np.random.default_rng(0),
                   W_rec_params={"init_type": "uniform", "coeff": 0.8})
    x = np.random.default_rng(1).standard_normal((6, 8, 2))
    opt = hf.opt.HessianFree(CG_iter=4, curvature="hessian", plotting=False)
    errors = net.run_epochs(x, np.cumsum(x[..., :1], axis=1) * 0.3, opt, max_epochs=2,
                            print_period=None)
    assert len(errors) == 2
