"""Jacobian operators: the softmax Jacobian multiplied without forming it,
against the formed matrices and against networks that keep the matrices."""

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.layers import jacobians
from hessianfree.layers.jacobians import JacobianOperator, SoftmaxJacobian


def softmax_points(shape=(3, 4, 6), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 2
    return hf.nl.Softmax().activation(x), rng.standard_normal(shape)


@pytest.mark.parametrize("transpose", [False, True])
def test_softmax_products_are_the_matrix_products(transpose):
    a, x = softmax_points()
    J = SoftmaxJacobian(a).toarray()
    np.testing.assert_allclose(J, hf.nl.Softmax().d_activation(None, a), rtol=0, atol=0)
    M = np.swapaxes(J, -1, -2) if transpose else J
    expected = np.einsum("...ij,...j->...i", M, x)
    out = np.empty_like(x)
    result = SoftmaxJacobian(a).matvec(x, out, transpose)
    assert result is out
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
    in_place = x.copy()  # out may be the input itself
    SoftmaxJacobian(a).matvec(in_place, in_place, transpose)
    np.testing.assert_allclose(in_place, expected, rtol=1e-12, atol=1e-14)


def test_indexing_and_map_act_on_the_leading_axes():
    a, _ = softmax_points()
    op = SoftmaxJacobian(a)
    assert op.shape == (3, 4, 6, 6) and op.ndim == 4
    np.testing.assert_array_equal(op[1].toarray(), op.toarray()[1])
    np.testing.assert_array_equal(op[:, [0, 2]].toarray(), op.toarray()[:, [0, 2]])
    taken = op.map(lambda arr: arr[1:, ::2])
    assert isinstance(taken, SoftmaxJacobian)
    np.testing.assert_array_equal(taken.toarray(), op.toarray()[1:, ::2])
    assert jacobians.as_array(op).shape == (3, 4, 6, 6)
    plain = np.ones((2, 3))
    assert jacobians.as_array(plain) is plain


def test_the_base_class_names_what_is_missing():
    op = JacobianOperator(np.ones((2, 3)))
    with pytest.raises(NotImplementedError, match="matvec"):
        op.matvec(np.ones((2, 3)), np.empty((2, 3)))
    with pytest.raises(NotImplementedError, match="toarray"):
        op.toarray()


class FormedSoftmax(hf.nl.Softmax):
    """Softmax whose own ``d_activation`` makes the passes keep the formed
    ``(..., n, n)`` Jacobians (the path every other non-element-wise layer
    takes)."""

    def d_activation(self, x, a):
        return super().d_activation(x, a)


def softmax_net(cls, softmax, seed=0):
    rng = np.random.default_rng(seed)
    layers = [hf.nl.Linear(), hf.nl.Tanh(), softmax]
    net = cls([3, 5, 4], layers=layers, loss_type=hf.loss_funcs.CrossEntropy(),
              dtype=np.float64, rng=rng,
              W_init_params={"init_type": "gaussian", "coeff": 0.5, "biases": 0.1})
    shape = (12,) if cls is hf.FFNet else (12, 6)
    inputs = rng.standard_normal(shape + (3,))
    targets = np.eye(4)[rng.integers(0, 4, size=shape)]
    if cls is hf.RNNet:
        targets[:, :-1] = np.nan  # a target on the last step only
    net.cache_minibatch(inputs, targets)
    return net


@pytest.mark.parametrize("cls", [hf.FFNet, hf.RNNet])
def test_softmax_outputs_train_as_with_the_formed_jacobians(cls):
    net, formed = softmax_net(cls, hf.nl.Softmax()), softmax_net(cls, FormedSoftmax())
    assert isinstance(net.batch.d_acts[-1], SoftmaxJacobian)
    assert not isinstance(formed.batch.d_acts[-1], JacobianOperator)
    np.testing.assert_allclose(net.calc_grad(), formed.calc_grad(), rtol=1e-12, atol=1e-14)
    v = np.random.default_rng(1).standard_normal(net.n_params)
    np.testing.assert_allclose(net.calc_G(v, damping=0.3), formed.calc_G(v, damping=0.3),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.calc_G(v), net.explicit_G() @ v, rtol=1e-8, atol=1e-10)
    subset = np.array([0, 3, 4, 9])  # the curvature batch takes rows of the operator
    net.cache_curvature_batch(subset)
    formed.cache_curvature_batch(subset)
    np.testing.assert_allclose(net.calc_G(v), formed.calc_G(v), rtol=1e-12, atol=1e-14)
    # the public derivatives are the formed matrices
    np.testing.assert_allclose(net.d_activations[-1], formed.d_activations[-1], rtol=1e-15)
    inputs = np.random.default_rng(2).standard_normal(
        (2, 3) if cls is hf.FFNet else (2, 6, 3))
    _, d_acts = net.forward(inputs, deriv=True)
    assert d_acts[-1].shape == inputs.shape[:-1] + (4, 4)
    np.testing.assert_allclose(d_acts[-1], formed.forward(inputs, deriv=True)[1][-1],
                               rtol=1e-15)
