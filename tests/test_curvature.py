"""Curvature as SciPy operators: net.curvature_operator against the
explicitly formed matrices."""

import numpy as np
import pytest
from scipy.sparse.linalg import LinearOperator, eigsh

import hessianfree as hf


def small_net(dtype=np.float64, seed=0, n=8, cls=hf.FFNet, shape=(3, 4, 2), **kwargs):
    rng = np.random.default_rng(seed)
    net = cls(list(shape), layers=kwargs.pop("layers", hf.nl.Tanh()), dtype=dtype,
              rng=rng, W_init_params={"init_type": "gaussian", "coeff": 0.5,
                                      "biases": 0.1}, **kwargs)
    data_shape = (n,) if cls is hf.FFNet else (n, 5)
    net.cache_minibatch(rng.standard_normal(data_shape + (shape[0],)),
                        rng.standard_normal(data_shape + (shape[-1],)))
    return net


@pytest.mark.parametrize("cls", [hf.FFNet, hf.RNNet])
def test_gauss_newton_operator_is_the_explicit_matrix(cls):
    net = small_net(cls=cls)
    op = net.curvature_operator(damping=0.5)
    assert isinstance(op, LinearOperator)
    assert op.shape == (net.n_params, net.n_params) and op.dtype == np.float64
    dense = op @ np.eye(net.n_params)
    np.testing.assert_allclose(dense, net.explicit_G(0.5), rtol=1e-5, atol=1e-7)
    v = np.random.default_rng(1).standard_normal(net.n_params)
    np.testing.assert_allclose(op.rmatvec(v), op.matvec(v))
    np.testing.assert_allclose(op.matvec(v), net.calc_G(v, damping=0.5))


def test_top_eigenvalues_with_eigsh():
    net = small_net(shape=(4, 6, 3))
    op = net.curvature_operator()
    top = np.sort(eigsh(op, k=3, which="LA", return_eigenvectors=False))[::-1]
    expected = np.sort(np.linalg.eigvalsh(net.explicit_G()))[::-1][:3]
    np.testing.assert_allclose(top, expected, rtol=1e-6)


def test_float32_network_takes_float64_vectors():
    net = small_net(dtype=np.float32)
    op = net.curvature_operator()
    assert op.dtype == np.float32
    v = np.ones(net.n_params)
    np.testing.assert_allclose(op @ v, net.calc_G(v.astype(np.float32)), rtol=1e-6)


@pytest.mark.parametrize("kwargs, error", [
    ({"kind": "fisher"}, ValueError),
    ({"kind": 3}, TypeError),
    ({"damping": -1.0}, ValueError),
    ({"damping": "a"}, TypeError),
])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        small_net().curvature_operator(**kwargs)


def test_needs_a_cached_minibatch():
    with pytest.raises(ValueError, match="cache_minibatch"):
        hf.FFNet([2, 3, 1]).curvature_operator()


def test_wrong_vector_length():
    op = small_net().curvature_operator()
    with pytest.raises(ValueError):
        op.matvec(np.ones(3))


@pytest.mark.parametrize("kind", ["gauss-newton", "hessian"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_complex_vectors_multiply_real_and_imaginary_parts(kind, dtype):
    """The curvature matrix is real: B (a + ib) = B a + i B b, not zeros with
    a ComplexWarning."""
    net = small_net(dtype=dtype)
    op = net.curvature_operator(kind=kind, damping=0.25)
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, net.n_params))
    product = op.matvec(a + 1j * b)
    assert np.iscomplexobj(product)
    np.testing.assert_allclose(product.real, op.matvec(a), rtol=1e-6)
    np.testing.assert_allclose(product.imag, op.matvec(b), rtol=1e-6)
    assert np.abs(product.imag).max() > 0
    dense = op @ (np.eye(net.n_params) * 1j)
    np.testing.assert_allclose(dense.imag, op @ np.eye(net.n_params), rtol=1e-6)


@pytest.mark.parametrize("v", [np.array(["a"] * 26), np.full(26, None)],
                         ids=["str", "object"])
def test_non_numeric_vectors_are_refused(v):
    op = small_net().curvature_operator()
    assert op.shape == (26, 26)
    with pytest.raises(TypeError, match="v must hold"):
        op.matvec(v)
