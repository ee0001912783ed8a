"""FFNet: parameter layout, derivatives against finite differences, curvature
products against explicitly formed matrices, weights I/O, bad input."""

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.nets.derivative_checks import DerivativeCheckError

NONLINEARITIES = [hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Logistic(), hf.nl.ReLU(),
                  hf.nl.Gaussian(), hf.nl.Softmax(), hf.nl.SoftLIF()]


def make_batch(net, n=6, seed=0, positive_targets=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, net.shape[0]))
    if positive_targets:
        t = rng.dirichlet(np.ones(net.shape[-1]), size=n)
    else:
        t = rng.standard_normal((n, net.shape[-1]))
    return x, t


def cached_net(shape, seed=0, positive_targets=False, n=6, **kwargs):
    kwargs.setdefault("W_init_params", {"init_type": "gaussian", "coeff": 0.5,
                                        "biases": 0.1})
    net = hf.FFNet(shape, debug=True, rng=np.random.default_rng(seed), **kwargs)
    net.cache_minibatch(*make_batch(net, n, seed, positive_targets))
    return net


ARCHITECTURES = {
    "chain": dict(shape=[3, 4, 2]),
    "deep": dict(shape=[2, 3, 3, 2]),
    "skip": dict(shape=[2, 3, 3, 2], conns={0: [1, 2, 3], 1: [2, 3], 2: [3]}),
    "skip_unordered": dict(shape=[2, 3, 2, 2], conns={0: [2, 1], 1: [3], 2: [3]}),
}


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("layer", NONLINEARITIES, ids=lambda layer: type(layer).__name__)
def test_gradient_matches_finite_differences(arch, layer):
    kwargs = dict(ARCHITECTURES[arch])
    kwargs["layers"] = [hf.nl.Linear()] + [layer] * (len(kwargs["shape"]) - 1)
    net = cached_net(**kwargs)
    net.check_grad(net.calc_grad())
    net.check_J()


LOSSES = {
    "squared": (hf.loss_funcs.SquaredError(), None, False),
    "crossentropy": (hf.loss_funcs.CrossEntropy(), hf.nl.Softmax(), True),
    "crossentropy_logistic": (hf.loss_funcs.CrossEntropy(), hf.nl.Logistic(), True),
    "sparse_l1": ([hf.loss_funcs.SquaredError(),
                   hf.loss_funcs.SparseL1(0.1, target=-5.0)], None, False),
    "sparse_l2": ([hf.loss_funcs.SquaredError(),
                   hf.loss_funcs.SparseL2(0.3, layers=[1, 2])], None, False),
}


@pytest.mark.parametrize("loss", LOSSES)
def test_every_loss_gradient_and_curvature(loss):
    loss_type, out_layer, positive = LOSSES[loss]
    layers = [hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Logistic(), out_layer or hf.nl.Tanh()]
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CrossEntropy without Softmax warns
        net = cached_net([3, 4, 3, 3], layers=layers, loss_type=loss_type,
                         positive_targets=positive,
                         conns={0: [1, 3], 1: [2], 2: [3]})
    net.check_grad(net.calc_grad())
    v = np.random.default_rng(1).standard_normal(net.n_params)
    net.check_G(net.calc_G(v, damping=0.5), v, damping=0.5)


def form_G(net, damping=0.0):
    return np.stack([net.calc_G(e, damping=damping) for e in np.eye(net.n_params)],
                    axis=1)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("out_layer, loss, positive", [
    (hf.nl.Logistic(), hf.loss_funcs.SquaredError(), False),
    (hf.nl.Softmax(), hf.loss_funcs.CrossEntropy(), True)],
    ids=["logistic_squared", "softmax_crossentropy"])
def test_curvature_matches_explicit_matrix(arch, out_layer, loss, positive):
    kwargs = dict(ARCHITECTURES[arch])
    n = len(kwargs["shape"])
    kwargs["layers"] = [hf.nl.Linear()] + [hf.nl.Tanh()] * (n - 2) + [out_layer]
    net = cached_net(loss_type=loss, positive_targets=positive, **kwargs)
    G = form_G(net, damping=0.25)
    np.testing.assert_allclose(G, net.explicit_G(damping=0.25), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(G, G.T, rtol=1e-10, atol=1e-12)
    assert np.linalg.eigvalsh(form_G(net)).min() > -1e-10


def test_custom_nonsymmetric_jacobian_nonlinearity():
    class Mix(hf.nl.Nonlinearity):
        """a = tanh(x) + 0.5 * roll(x): a non-symmetric Jacobian."""
        elementwise = False

        def activation(self, x):
            return np.tanh(x) + 0.5 * np.roll(x, 1, axis=-1)

        def d_activation(self, x, a):
            n = x.shape[-1]
            J = np.zeros(x.shape + (n,), dtype=x.dtype)
            idx = np.arange(n)
            J[..., idx, idx] = 1 - np.tanh(x) ** 2
            J[..., idx, (idx - 1) % n] += 0.5
            return J

    net = cached_net([2, 3, 3, 2], layers=[hf.nl.Linear(), Mix(), hf.nl.Tanh(),
                                          hf.nl.Linear()])
    net.check_grad(net.calc_grad())
    net.check_J()
    v = np.random.default_rng(2).standard_normal(net.n_params)
    net.check_G(net.calc_G(v), v)


def test_checks_raise_on_wrong_derivatives():
    net = cached_net([2, 3, 1])
    grad = net.calc_grad()
    with pytest.raises(DerivativeCheckError, match="gradient"):
        net.check_grad(grad * 1.1)
    v = np.ones(net.n_params)
    with pytest.raises(DerivativeCheckError, match="Gauss-Newton"):
        net.check_G(net.calc_G(v) + 1e-2, v)


def test_nan_targets_contribute_nothing():
    net = cached_net([2, 3, 2], n=4)
    x, t = net.inputs.copy(), net.targets.copy()
    t_nan = t.copy()
    t_nan[0, 1] = np.nan
    t_nan[2] = np.nan
    net.cache_minibatch(x, t_nan)
    grad_nan = net.calc_grad()
    v = np.random.default_rng(0).standard_normal(net.n_params)
    G_nan = net.calc_G(v)
    err_nan = net.error()
    # the same quantities with those units' outputs as targets (zero error there)
    t_fill = t.copy()
    out = net.forward(x)[-1]
    t_fill[0, 1], t_fill[2] = out[0, 1], out[2]
    net.cache_minibatch(x, t_fill)
    np.testing.assert_allclose(grad_nan, net.calc_grad(), atol=1e-12)
    assert err_nan == pytest.approx(net.error())
    # the curvature must ignore those units entirely
    assert not np.allclose(G_nan, net.calc_G(v))
    net.cache_minibatch(x, t_nan)
    net.check_G(G_nan, v)
    assert np.all(np.isfinite(G_nan))


def test_parameter_layout_follows_conns_order():
    conns = {0: [2, 1], 1: [2]}
    net = hf.FFNet([2, 3, 4], conns=conns, rng=np.random.default_rng(0))
    expected, start = {}, 0
    for pre, post in [(0, 2), (0, 1), (1, 2)]:
        n_w = net.shape[pre] * net.shape[post]
        expected[(pre, post)] = (start, start + n_w, start + n_w + net.shape[post])
        start += n_w + net.shape[post]
    assert net.offsets == expected
    assert net.n_params == start == net.W.size
    W, b = net.get_weights(net.W, (0, 1))
    W[0, 1] = 7.0  # views, not copies
    assert net.W[expected[(0, 1)][0] + 1] == 7.0
    assert W.shape == (2, 3) and b.shape == (3,)


def test_forward_uses_the_flat_layout():
    net = hf.FFNet([2, 3, 1], layers=hf.nl.Tanh(), rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((5, 2)).astype(np.float32)
    W1, b1 = net.get_weights(net.W, (0, 1))
    W2, b2 = net.get_weights(net.W, (1, 2))
    expected = np.tanh(np.tanh(x @ W1 + b1) @ W2 + b2)
    np.testing.assert_allclose(net.forward(x)[-1], expected, rtol=1e-6)
    acts, d_acts = net.forward(x, deriv=True)
    assert len(acts) == len(d_acts) == 3


@pytest.mark.parametrize("init_type", ["sparse", "uniform", "gaussian"])
def test_init_types(init_type):
    net = hf.FFNet([40, 20, 3], W_init_params={"init_type": init_type, "coeff": 2.0,
                                              "biases": 0.5},
                   rng=np.random.RandomState(0))
    W, b = net.get_weights(net.W, (0, 1))
    np.testing.assert_array_equal(b, 0.5)
    if init_type == "sparse":
        assert np.all((W != 0).sum(axis=0) == 15)
        W2, _ = net.get_weights(net.W, (1, 2))
        assert np.all((W2 != 0).sum(axis=0) == 15)
    elif init_type == "uniform":
        assert np.abs(W).max() <= 2.0 / np.sqrt(40)
        assert np.count_nonzero(W) == W.size
    else:
        assert 1.5 < W.std() < 2.5


def test_init_params_per_matrix():
    net = hf.FFNet([4, 3, 2], W_init_params={"init_type": ["uniform", "gaussian"],
                                            "coeff": [0.1, 1.0], "biases": [1, 2]},
                   rng=np.random.default_rng(0))
    assert np.abs(net.get_weights(net.W, (0, 1))[0]).max() <= 0.1 / 2
    np.testing.assert_array_equal(net.get_weights(net.W, (1, 2))[1], 2)


def test_rng_makes_runs_reproducible():
    a = hf.FFNet([5, 7, 2], rng=np.random.RandomState(3))
    b = hf.FFNet([5, 7, 2], rng=np.random.RandomState(3))
    np.testing.assert_array_equal(a.W, b.W)


def test_saved_weights_reload_to_identical_outputs(tmp_path):
    net = hf.FFNet([3, 6, 2], layers=hf.nl.Tanh(), conns={0: [1, 2], 1: [2]},
                   rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((8, 3))
    path = tmp_path / "w.npy"
    np.save(path, net.W)
    for source in (str(path), np.load(path)):
        clone = hf.FFNet([3, 6, 2], layers=hf.nl.Tanh(), conns={0: [1, 2], 1: [2]},
                         load_weights=source)
        np.testing.assert_array_equal(clone.forward(x)[-1], net.forward(x)[-1])


def test_layer_names_and_defaults():
    net = hf.FFNet([2, 3, 2], layers="Tanh")
    assert [type(layer).__name__ for layer in net.layers] == ["Linear", "Tanh", "Tanh"]
    net = hf.FFNet([2, 3, 2], layers=["linear", "relu", "softmax"])
    assert type(net.layers[2]).__name__ == "Softmax"
    assert net.W.dtype == np.float32
    assert hf.FFNet([2, 2], debug=True).W.dtype == np.float64


# ------------------------------------------------------------------ bad input
BAD_CONSTRUCTORS = [
    (dict(shape=[2]), ValueError, "at least 2 layers"),
    (dict(shape=[2, 0, 1]), ValueError, r"shape\[1\]"),
    (dict(shape="23"), TypeError, "shape"),
    (dict(shape=[2, 3, 1], layers=[hf.nl.Tanh()] * 2), ValueError, "layers has 2"),
    (dict(shape=[2, 3, 1], layers="NoSuchThing"), ValueError, "NoSuchThing"),
    (dict(shape=[2, 3, 1], layers=5), TypeError, "layer"),
    (dict(shape=[2, 3, 1], conns={1: [0]}), ValueError, "later layer"),
    (dict(shape=[2, 3, 1], conns={0: [1], 1: [3]}), ValueError, "later layer"),
    (dict(shape=[2, 3, 1], conns={0: [2]}), ValueError, "no input connection"),
    (dict(shape=[2, 3, 1], conns={0: [1], 5: [2]}), ValueError, "conns key 5"),
    (dict(shape=[2, 3, 1], conns=[(0, 1)]), TypeError, "conns"),
    (dict(shape=[2, 3, 1], loss_type="squared"), TypeError, "loss_type"),
    (dict(shape=[2, 3, 2], loss_type=hf.loss_funcs.CrossEntropy(),
          layers=hf.nl.Tanh()), ValueError, "CrossEntropy|output"),
    (dict(shape=[2, 3, 1], load_weights=np.zeros(5)), ValueError, "load_weights"),
    (dict(shape=[2, 3, 1], load_weights=np.zeros(13, dtype=int)), TypeError,
     "load_weights"),
    (dict(shape=[2, 3, 1], W_init_params={"init_type": "orthogonal"}), ValueError,
     "init_type"),
    (dict(shape=[2, 3, 1], rng="42"), TypeError, "rng"),
    (dict(shape=[2, 3, 1], rng=-1), ValueError, "rng"),
    (dict(shape=[2, 3, 1], dtype=np.int32), TypeError, "dtype"),
    (dict(shape=[2, 3, 1], layers=hf.nl.Continuous(hf.nl.Tanh())), TypeError, "RNNet"),
]


@pytest.mark.parametrize("kwargs, exc, match", BAD_CONSTRUCTORS)
def test_bad_constructor_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        hf.FFNet(**kwargs)


def run(net, x, t, **kwargs):
    kwargs.setdefault("optimizer", hf.opt.HessianFree(CG_iter=2))
    kwargs.setdefault("max_epochs", 2)
    kwargs.setdefault("print_period", None)
    return net.run_epochs(x, t, **kwargs)


BAD_RUNS = [
    (dict(x=np.zeros((4, 3)), t=np.zeros((4, 1))), ValueError, "inputs must have 2"),
    (dict(x=np.zeros((4, 2)), t=np.zeros((4, 2))), ValueError, "targets must have 1"),
    (dict(x=np.zeros((4, 2)), t=np.zeros((3, 1))), ValueError, "does not match"),
    (dict(x=np.zeros((0, 2)), t=np.zeros((0, 1))), ValueError, "empty"),
    (dict(x=np.zeros(2), t=np.zeros(1)), ValueError, "inputs"),
    (dict(x=np.full((4, 2), np.nan), t=np.zeros((4, 1))), ValueError, "NaN"),
    (dict(x=np.zeros((4, 2)), t=np.full((4, 1), np.inf)), ValueError, "inf"),
    (dict(x=np.zeros((4, 2)), t=np.zeros((4, 1)), optimizer="hf"), TypeError,
     "optimizer"),
    (dict(x=np.zeros((4, 2)), t=np.zeros((4, 1)), max_epochs=0), ValueError,
     "max_epochs"),
    (dict(x=np.zeros((4, 2)), t=np.zeros((4, 1)), minibatch_size=2.5), TypeError,
     "minibatch_size"),
    (dict(x=np.zeros((4, 2)), t=np.zeros((4, 1)), test=(np.zeros((2, 3)),
                                                        np.zeros((2, 1)))),
     ValueError, "test"),
    (dict(x=np.zeros((4, 2)), t=np.zeros((4, 1)), test_err="class"), TypeError,
     "test_err"),
    (dict(x=np.array([["a", "b"]]), t=np.zeros((1, 1))), TypeError, "inputs"),
]


@pytest.mark.parametrize("case, exc, match", BAD_RUNS)
def test_bad_run_arguments_leave_the_network_unchanged(case, exc, match):
    net = hf.FFNet([2, 3, 1], rng=np.random.default_rng(0))
    W0 = net.W.copy()
    case = dict(case)
    x, t = case.pop("x"), case.pop("t")
    with pytest.raises(exc, match=match):
        run(net, x, t, **case)
    np.testing.assert_array_equal(net.W, W0)
    assert net.optimizer is None


def test_calc_G_needs_a_cached_batch():
    net = hf.FFNet([2, 3, 1])
    with pytest.raises(ValueError, match="cache_minibatch"):
        net.calc_G(np.zeros(net.n_params))
    with pytest.raises(ValueError, match="params"):
        net.forward(np.zeros((1, 2)), params=np.zeros(3))


def test_int_seed_reproduces_training():
    """The same int seed gives the same initial weights and the same run
    (initialization, minibatches and curvature subsets all come from it)."""
    rng = np.random.default_rng(5)
    x, t = rng.standard_normal((40, 3)), rng.standard_normal((40, 2))

    def run(seed):
        net = hf.FFNet([3, 6, 2], layers="Tanh", rng=seed)
        W0 = net.W.copy()
        net.run_epochs(x, t, hf.opt.HessianFree(CG_iter=5, curvature_fraction=0.5),
                       max_epochs=3, minibatch_size=20, print_period=None)
        return W0, net.W

    (W0_a, W_a), (W0_b, W_b), (W0_c, _) = run(3), run(3), run(4)
    np.testing.assert_array_equal(W0_a, W0_b)
    np.testing.assert_array_equal(W_a, W_b)
    assert not np.array_equal(W0_a, W0_c)


def test_integer_labels_for_one_hot_targets_get_a_hint():
    net = hf.FFNet([2, 3, 4], layers=["Linear", "Tanh", "Softmax"],
                   loss_type=hf.loss_funcs.CrossEntropy())
    x = np.zeros((4, 2))
    for labels in (np.array([0, 1, 2, 3]), np.array([[0.0], [1], [2], [3]])):
        with pytest.raises(ValueError, match=r"class labels.*np\.eye\(4\)\[labels\]"):
            net.run_epochs(x, labels, hf.opt.HessianFree(CG_iter=2), max_epochs=1)
    with pytest.raises(ValueError) as info:
        net.error(inputs=x, targets=np.zeros((4, 3)))
    assert "labels" not in str(info.value)


def test_unit_counts_read_as_english():
    with pytest.raises(ValueError, match="must have 1 unit on"):
        hf.FFNet([2, 3, 1]).error(inputs=np.zeros((4, 2)), targets=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="must have 2 units on"):
        hf.FFNet([2, 3, 1]).forward(np.zeros((4, 3)))
