"""Second derivatives of the nonlinearities (``d2_activation``,
``d2_contract``) against finite differences of the first derivatives
(float64), on the host and on the strict device stand-in."""

import warnings

import numpy as np
import pytest

from hessianfree.layers import nonlinearities as nl
from hessianfree.nets.derivative_checks import assert_close, central_difference

import strict_xp
import test_nonlinearities


class Skewed(test_nonlinearities.Skewed):
    """The non-element-wise test nonlinearity (a_0 = x_0, a_i = x_i +
    x_{i-1}^2) with its second derivative tensor (T[i, i-1, i-1] = 2) and
    the default d2_contract."""

    def d2_activation(self, x, a):
        n = x.shape[-1]
        T = np.zeros(x.shape + (n, n), dtype=x.dtype)
        idx = np.arange(1, n)
        T[..., idx, idx - 1, idx - 1] = 2
        return T


ELEMENTWISE = [nl.Linear(), nl.Tanh(), nl.Logistic(), nl.ReLU(), nl.ReLU(max=0.5),
               nl.Gaussian(), nl.SoftLIF(),
               nl.SoftLIF(sigma=0.3, tau_rc=0.05, tau_ref=0.001, amp=0.5)]
TENSOR = [nl.Softmax(), Skewed()]


def points(shape=(3, 4), seed=0):
    x = np.random.default_rng(seed).uniform(-2, 2, size=shape)
    # away from the kinks of ReLU (0 and 0.5)
    return np.where(np.abs(x) < 0.05, 0.3, np.where(np.abs(x - 0.5) < 0.05, 0.7, x))


def first_derivative(f):
    """x (n,) -> d_activation at x, for finite differences."""
    return lambda v: f.d_activation(v[None], f.activation(v[None].copy()))[0]


@pytest.mark.parametrize("f", ELEMENTWISE, ids=repr)
def test_elementwise_matches_finite_differences(f):
    x = points()
    d2 = f.d2_activation(x, f.activation(x))
    assert d2.shape == x.shape and d2.dtype == np.float64
    for row, d2_row in zip(x, d2):
        J = central_difference(first_derivative(f), row)
        assert np.abs(J - np.diag(np.diag(J))).max() < 1e-9
        assert_close(repr(f), d2_row, np.diag(J), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("f", TENSOR, ids=repr)
def test_tensor_matches_finite_differences(f):
    x = points()
    T = f.d2_activation(x, f.activation(x))
    n = x.shape[-1]
    assert T.shape == x.shape + (n, n)
    np.testing.assert_allclose(T, T.swapaxes(-1, -2), atol=1e-15)  # symmetric
    for row, T_row in zip(x, T):
        numeric = central_difference(first_derivative(f), row)  # (n*n, n)
        assert_close(repr(f), T_row, numeric.reshape(n, n, n), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("f", TENSOR, ids=repr)
def test_d2_contract_matches_tensor(f):
    rng = np.random.default_rng(2)
    x = points((3, 5))
    u, v = rng.standard_normal((2, 3, 4, 5))
    a = f.activation(x)
    expected = np.einsum("bijl,bpj,bpl->bpi", f.d2_activation(x, a), u, v)
    np.testing.assert_allclose(f.d2_contract(x, a, u, v), expected, atol=1e-13)


@pytest.mark.parametrize("f", ELEMENTWISE + [nl.Softmax()], ids=repr)
@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_float32_and_leading_axes(f, shape):
    x = points(shape).astype(np.float32)
    d2 = f.d2_activation(x, f.activation(x))
    assert d2.dtype == np.float32
    assert d2.shape == (shape if f.elementwise else shape + shape[-1:] * 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("f", [nl.SoftLIF(), nl.Logistic(), nl.Gaussian(), nl.Tanh()],
                         ids=repr)
def test_extreme_inputs_stay_finite(f, dtype):
    x = np.array([-1e4, -200.0, -50.0, 0.0, 50.0, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d2 = f.d2_activation(x, f.activation(x))
    assert np.all(np.isfinite(d2))
    assert d2[0] == 0 and abs(d2[-1]) < 1e-6


@pytest.mark.parametrize("f", ELEMENTWISE + TENSOR[:1], ids=repr)
def test_device_arrays_agree_with_host(f, monkeypatch):
    strict_xp.install(monkeypatch)
    x = points()
    host = f.d2_activation(x, f.activation(x))
    dx = strict_xp.asarray(x)
    device = f.d2_activation(dx, f.activation(dx))
    assert isinstance(device, strict_xp.DeviceArray)
    np.testing.assert_allclose(device.get(), host, rtol=1e-12)
    if not f.elementwise:
        u = strict_xp.asarray(np.ones((3, 2, 4)))
        out = f.d2_contract(dx, f.activation(dx), u, u)
        assert isinstance(out, strict_xp.DeviceArray) and out.shape == (3, 2, 4)


def test_continuous_second_derivative_is_the_base_one():
    rng = np.random.default_rng(1)
    x, s_prev = rng.standard_normal((2, 4))
    f = nl.Continuous(nl.Tanh(), tau=3.0, dt=0.5)
    with pytest.raises(RuntimeError, match="activation"):
        f.d2_activation(x, x)
    f.reset(init=s_prev)
    a = f.activation(x)
    J = central_difference(first_derivative(nl.Tanh()), f.state)
    assert_close("Continuous d2", f.d2_activation(x, a), np.diag(J))


def test_plant_has_zero_second_derivative():
    x = np.ones((2, 3))
    np.testing.assert_array_equal(nl.Plant().d2_activation(x, x), 0.0)


def test_missing_second_derivative_is_named():
    class Cube(nl.Nonlinearity):
        def activation(self, x):
            return x ** 3

        def d_activation(self, x, a):
            return 3 * x ** 2

    assert not Cube().has_d2_activation()
    assert all(f.has_d2_activation() for f in ELEMENTWISE + TENSOR)
    with pytest.raises(NotImplementedError, match=r"Cube.*d2_activation\(x, a\)"):
        Cube().d2_activation(np.zeros(2), np.zeros(2))
