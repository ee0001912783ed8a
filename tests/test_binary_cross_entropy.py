"""BinaryCrossEntropy: derivatives against finite differences (float64), the
Fisher curvature as the matching-loss Gauss-Newton matrix, NaN targets,
saturated float32 outputs and the output-layer check."""

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.losses import loss_funcs as lf
from hessianfree.nets.derivative_checks import assert_close, central_difference

BCE = lf.BinaryCrossEntropy


def case(shape=(5, 4), seed=0):
    """Outputs away from 0 and 1, targets anywhere in [0, 1] (some exactly 0
    and 1, like pixel intensities)."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.05, 0.95, shape)
    t = rng.uniform(0, 1, shape)
    t.flat[::3] = 0.0
    t.flat[1::5] = 1.0
    return y, t


@pytest.mark.parametrize("curvature", BCE.CURVATURES)
@pytest.mark.parametrize("shape", [(5, 4), (3, 2, 4)], ids=["2d", "3d"])
def test_derivatives_match_finite_differences(curvature, shape):
    loss = BCE(curvature=curvature)
    y, t = case(shape)

    def total(flat):
        return loss.loss([flat.reshape(shape)], t)[-1].sum()

    def grad(flat):
        return loss.d_loss([flat.reshape(shape)], t)[-1].ravel()

    d1 = loss.d_loss([y], t)[-1]
    assert_close("d_loss", d1.ravel(), central_difference(total, y.ravel()).ravel())
    hess = central_difference(grad, y.ravel())
    assert np.abs(hess - np.diag(np.diag(hess))).max() < 1e-6
    d2 = loss.d2_loss([y], t)[-1]
    if curvature == "hessian":
        assert_close("d2_loss", d2.ravel(), np.diag(hess))
    else:  # the exact second derivative's mean over t ~ Bernoulli(y)
        exact = [BCE("hessian").d2_loss([y], np.full(shape, float(b)))[-1]
                 for b in (0, 1)]
        np.testing.assert_allclose(d2, y * exact[1] + (1 - y) * exact[0], rtol=1e-12)


def test_values_and_batch_loss():
    y, t = case()
    expected = -(t * np.log(y) + (1 - t) * np.log(1 - y))
    np.testing.assert_allclose(BCE().loss([y], t)[-1], expected, rtol=1e-12)
    assert BCE().batch_loss([None, y], t) == pytest.approx(expected.sum() / len(y))
    # the minimum over y is at y = t
    assert BCE().batch_loss([t.clip(1e-9, 1 - 1e-9)], t) < BCE().batch_loss([y], t)


def test_nan_targets_contribute_nothing():
    y, t = case()
    t[1, 2] = np.nan
    for values in (BCE().loss([y], t), BCE().d_loss([y], t),
                   BCE().d2_loss([y], t), BCE("hessian").d2_loss([y], t)):
        assert values[-1][1, 2] == 0
        assert np.isfinite(values[-1]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturated_outputs_stay_finite_and_keep_dtype(dtype):
    y = np.array([[0.0, 1.0, 1e-30, 1 - 1e-12, 0.5]], dtype=dtype)
    t = np.array([[0.0, 1.0, 1.0, 0.0, 0.3]], dtype=dtype)
    for curvature in BCE.CURVATURES:
        loss = BCE(curvature)
        for values in (loss.loss([y], t), loss.d_loss([y], t), loss.d2_loss([y], t)):
            assert values[-1].dtype == dtype
            assert np.isfinite(values[-1]).all()
    assert (BCE().d2_loss([y], t)[-1] > 0).all()


def one_layer_net(loss):
    rng = np.random.default_rng(1)
    net = hf.FFNet([3, 4], layers=[hf.nl.Linear(), hf.nl.Logistic()], loss_type=loss,
                   W_init_params={"init_type": "gaussian", "coeff": 0.5}, rng=rng,
                   dtype=np.float64)
    x = rng.standard_normal((6, 3))
    t = rng.uniform(0, 1, (6, 4))
    return net, x, t


def test_fisher_gauss_newton_is_the_hessian_of_a_logistic_layer():
    """With one logistic layer the logit is linear in the weights, so the
    matching-loss Gauss-Newton matrix is the exact Hessian of the error."""
    net, x, t = one_layer_net(BCE())
    W0 = net.W.copy()

    def grad_at(W):
        net.W[:] = W
        net.cache_minibatch(x, t)
        return net.calc_grad()

    hessian = central_difference(grad_at, W0)
    net.W[:] = W0
    net.cache_minibatch(x, t)
    G = np.stack([net.calc_G(e) for e in np.eye(net.n_params)], axis=1)
    np.testing.assert_allclose(G, hessian, atol=1e-6)
    net.check_G(net.calc_G(np.ones(net.n_params), damping=0.5), np.ones(net.n_params),
                damping=0.5)


def test_logistic_output_error_is_y_minus_t():
    net, x, t = one_layer_net(BCE())
    net.cache_minibatch(x, t)
    y = net.forward(x)[-1]
    W, b = net.get_weights(net.calc_grad(), (0, 1))
    np.testing.assert_allclose(W, x.T @ (y - t) / len(x), atol=1e-12)
    np.testing.assert_allclose(b, (y - t).mean(axis=0), atol=1e-12)


def test_check_layers_and_arguments():
    for layer in (hf.nl.Linear(), hf.nl.Tanh(), hf.nl.ReLU()):
        with pytest.raises(ValueError, match="Logistic"):
            hf.FFNet([2, 3], layers=[hf.nl.Linear(), layer], loss_type=BCE())
    hf.FFNet([2, 3], layers=hf.nl.Logistic(), loss_type=BCE())
    with pytest.raises(ValueError, match="curvature"):
        BCE(curvature="gauss-newton")
    assert repr(BCE()) == "BinaryCrossEntropy(curvature='fisher')"
    with pytest.raises(ValueError, match="shape"):
        BCE().loss([np.full((2, 3), 0.5)], np.zeros((2, 2)))


def test_exact_curvature_and_target_domain():
    y, t = case()
    exact = BCE("hessian").d2_loss([y], t)[-1]
    for curvature in BCE.CURVATURES:
        np.testing.assert_allclose(BCE(curvature).d2_loss_exact([y], t)[-1], exact)
    BCE().check_targets(t)
    BCE().check_targets(np.array([[np.nan, 0.0, 1.0]]))
    for bad in (1.5, -0.1):
        with pytest.raises(ValueError, match=r"BinaryCrossEntropy needs targets in \[0, 1\]"):
            BCE().check_targets(np.array([[0.5, bad]]))
    net, x, t = one_layer_net(BCE())
    with pytest.raises(ValueError, match="BinaryCrossEntropy"):
        net.run_epochs(x, t + 1, hf.opt.HessianFree(CG_iter=2), max_epochs=1,
                       print_period=None)
