"""Nonlinearities: derivatives against finite differences (float64), numerical
robustness, state handling, and name resolution."""

import warnings

import numpy as np
import pytest

from hessianfree.layers import nonlinearities as nl
from hessianfree.nets.derivative_checks import assert_close, central_difference


class Skewed(nl.Nonlinearity):
    """Non-element-wise test nonlinearity with a non-symmetric Jacobian:
    a_0 = x_0, a_i = x_i + x_{i-1}^2 (so d a_1 / d x_0 = 2 x_0 but
    d a_0 / d x_1 = 0)."""

    elementwise = False

    def activation(self, x):
        a = x.copy()
        a[..., 1:] += x[..., :-1] ** 2
        return a

    def d_activation(self, x, a):
        n = x.shape[-1]
        J = np.zeros(x.shape + (n,), dtype=x.dtype) + np.eye(n, dtype=x.dtype)
        idx = np.arange(1, n)
        J[..., idx, idx - 1] = 2 * x[..., :-1]
        return J


STATELESS = [nl.Linear(), nl.Tanh(), nl.Logistic(), nl.ReLU(), nl.ReLU(max=0.5),
             nl.Gaussian(), nl.Softmax(), nl.SoftLIF(),
             nl.SoftLIF(sigma=0.3, tau_rc=0.05, tau_ref=0.001, amp=0.5),
             Skewed()]


def points(shape=(3, 4), seed=0):
    x = np.random.default_rng(seed).uniform(-2, 2, size=shape)
    # keep away from the kinks of ReLU (0 and 0.5) for finite differences
    return np.where(np.abs(x) < 0.05, 0.3, np.where(np.abs(x - 0.5) < 0.05, 0.7, x))


def numeric_jacobians(f, x):
    """Per-example Jacobians (batch, n, n) of f by central differences."""
    # copy: Linear returns its input itself, which central_difference mutates
    return np.stack([central_difference(lambda v: f(v[None])[0].copy(), row)
                     for row in x])


@pytest.mark.parametrize("f", STATELESS, ids=repr)
def test_derivative_matches_finite_differences(f):
    x = points()
    x_before = x.copy()
    a = f.activation(x)
    np.testing.assert_array_equal(x, x_before)  # input not modified
    assert a.shape == x.shape and a.dtype == np.float64
    d = f.d_activation(x, a)
    J = numeric_jacobians(f.activation, x)
    if f.elementwise:
        assert d.shape == x.shape
        off_diagonal = J - J * np.eye(x.shape[-1])
        assert np.abs(off_diagonal).max() < 1e-9
        assert_close(repr(f), d, np.diagonal(J, axis1=-2, axis2=-1))
    else:
        assert d.shape == x.shape + (x.shape[-1],)
        assert_close(repr(f), d, J)


def test_skewed_jacobian_pins_row_is_output_convention():
    x = np.array([[1.5, -0.5, 2.0]])
    J = Skewed().d_activation(x, Skewed().activation(x))
    assert J[0, 1, 0] == 3.0 and J[0, 0, 1] == 0.0  # J[i, j] = d a_i / d x_j


@pytest.mark.parametrize("f", STATELESS, ids=repr)
def test_keeps_float32(f):
    x = points().astype(np.float32)
    a = f.activation(x)
    assert a.dtype == np.float32
    assert f.d_activation(x, a).dtype == np.float32


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_any_leading_axes(shape):
    x = points(shape)
    for f in STATELESS:
        a = f.activation(x)
        d = f.d_activation(x, a)
        assert a.shape == shape
        assert d.shape == (shape if f.elementwise else shape + shape[-1:])


def test_softmax_stable_for_large_inputs():
    x = np.array([[1e4, 1e4 - 1, -1e4], [-1e4, -1e4, -1e4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = nl.Softmax().activation(x)
    e = np.exp([0.0, -1.0])
    np.testing.assert_allclose(a[0], np.append(e / e.sum(), 0.0), rtol=1e-12)
    np.testing.assert_allclose(a[1], 1 / 3)
    np.testing.assert_allclose(a.sum(axis=-1), 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softlif_extreme_inputs(dtype):
    f = nl.SoftLIF()
    x = np.array([-1e4, -200.0, -50.0, 0.0, 50.0, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = f.activation(x)
        d = f.d_activation(x, a)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))
    assert a[0] == 0 and d[0] == 0
    assert np.all(np.diff(a) >= 0) and np.all(d >= 0)
    assert a[-1] == pytest.approx(f.amp / f.tau_ref, rel=1e-3)  # max rate


def test_softlif_matches_formula():
    f = nl.SoftLIF(sigma=0.5, tau_rc=0.03, tau_ref=0.004, amp=0.2)
    x = np.linspace(-5, 5, 11)
    j = 0.5 * np.log(1 + np.exp(x / 0.5))
    np.testing.assert_allclose(f.activation(x),
                               0.2 / (0.004 + 0.03 * np.log(1 + 1 / j)))


def test_relu_max():
    f = nl.ReLU(max=2.0)
    x = np.array([-1.0, 0.0, 1.0, 2.0, 3.0])
    a = f.activation(x)
    np.testing.assert_array_equal(a, [0, 0, 1, 2, 2])
    np.testing.assert_array_equal(f.d_activation(x, a), [0, 0, 1, 0, 0])
    with pytest.raises(ValueError, match="max"):
        nl.ReLU(max=-1)


def test_logistic_no_overflow():
    x = np.array([-1e4, 0.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(nl.Logistic().activation(x), [0, 0.5, 1])


# -- Continuous -------------------------------------------------------------

def continuous_step(base, tau, dt, x, s_prev):
    """One step of a fresh Continuous from state s_prev: (new state, output)."""
    f = nl.Continuous(base, tau=tau, dt=dt)
    f.reset(init=s_prev)
    a = f.activation(x)
    return f.state, a


@pytest.mark.parametrize("tau", [3.0, np.array([1.0, 2.0, 3.0, 4.5])],
                         ids=["scalar_tau", "per_unit_tau"])
@pytest.mark.parametrize("base", ["tanh", nl.Logistic(), nl.SoftLIF()])
def test_continuous_derivatives(base, tau):
    dt = 0.5
    rng = np.random.default_rng(1)
    x, s_prev = rng.standard_normal((2, 4))
    f = nl.Continuous(base, tau=tau, dt=dt)
    f.reset(init=s_prev)
    d_output = f.d_activation(x, f.activation(x))
    assert d_output.shape == (4,)  # the state's derivatives are constants
    d = np.stack(np.broadcast_arrays(*f.state_derivatives(x), d_output), axis=-1)

    def step(x, s_prev):
        return continuous_step(base, tau, dt, x, s_prev)[0]

    ds_dx = central_difference(lambda v: step(v, s_prev), x)
    ds_ds = central_difference(lambda v: step(x, v), s_prev)
    s = f.state
    da_ds = central_difference(lambda v: f.base.activation(v), s)
    for k, J in enumerate([ds_dx, ds_ds, da_ds]):
        assert np.abs(J - np.diag(np.diag(J))).max() < 1e-9  # element-wise
        assert_close(f"Continuous d[..., {k}]", d[:, k], np.diag(J))
    np.testing.assert_allclose(d[:, 0], dt / tau)
    np.testing.assert_allclose(d[:, 1], 1 - dt / tau)


def test_continuous_per_unit_time_constants_keep_dtype():
    f = nl.Continuous("linear", tau=[1.0, 2.0, 4.0], dt=1.0)
    a = f.activation(np.ones((2, 3), dtype=np.float32))
    assert a.dtype == np.float32 and f.d_activation(a, a).dtype == np.float32
    np.testing.assert_allclose(a, [[1.0, 0.5, 0.25]] * 2)
    with pytest.raises(ValueError, match="3 time constants.*4 units"):
        nl.Continuous("linear", tau=[1.0, 2.0, 4.0]).activation(np.ones((2, 4)))


@pytest.mark.parametrize("tau, error", [([1.0, 0.0], ValueError), ([[1.0]], ValueError),
                                        ([], ValueError), (["a"], TypeError),
                                        ("1", TypeError), (-1.0, ValueError)])
def test_continuous_bad_time_constants(tau, error):
    with pytest.raises(error, match="tau"):
        nl.Continuous("linear", tau=tau)


def test_continuous_filters_and_resets():
    f = nl.Continuous(nl.Linear(), tau=2.0, dt=1.0)
    x = np.ones((2, 3))
    outputs = [f.activation(x) for _ in range(3)]
    np.testing.assert_allclose([o[0, 0] for o in outputs], [0.5, 0.75, 0.875])
    assert outputs[0][0, 0] == 0.5  # earlier outputs are not overwritten
    np.testing.assert_array_equal(x, 1.0)
    f.reset()
    assert f.state is None
    np.testing.assert_allclose(f.activation(2 * np.ones((4, 3))), 1.0)  # new shape
    f.reset(init=np.full(3, 4.0))
    np.testing.assert_allclose(f.activation(np.zeros((4, 3))), 2.0)


def test_continuous_state_is_per_instance_and_keeps_dtype():
    f, g = nl.Continuous("linear"), nl.Continuous("linear")
    f.reset(init=np.ones(2))  # float64 init
    a = f.activation(np.zeros((1, 2), dtype=np.float32))
    assert a.dtype == np.float32
    assert g.state is None


def test_continuous_rejects_bad_base_and_state():
    with pytest.raises(TypeError, match="element-wise"):
        nl.Continuous(nl.Softmax())
    with pytest.raises(TypeError, match="element-wise"):
        nl.Continuous(nl.Continuous(nl.Tanh()))
    with pytest.raises(ValueError, match="tau"):
        nl.Continuous(nl.Tanh(), tau=0)
    f = nl.Continuous(nl.Tanh())
    with pytest.raises(RuntimeError, match="activation"):
        f.d_activation(np.zeros(2), np.zeros(2))
    f.reset(init=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        f.activation(np.zeros((5, 3)))


def test_plant_base_class():
    p = nl.Plant()
    assert p.stateful and isinstance(p, nl.Nonlinearity)
    for call in (lambda: p(np.zeros((1, 2))), p.get_vecs, p.reset):
        with pytest.raises(NotImplementedError, match="must implement"):
            call()
    x = np.ones((2, 3))
    assert p.activation(x) is x
    np.testing.assert_array_equal(p.d_activation(x, x)[0, 0], [1, 0, 1])


# -- resolve ----------------------------------------------------------------

@pytest.mark.parametrize("name, cls", [("Tanh", nl.Tanh), ("relu", nl.ReLU),
                                       ("softmax", nl.Softmax),
                                       ("LOGISTIC", nl.Logistic),
                                       ("SoftLIF", nl.SoftLIF)])
def test_resolve_names(name, cls):
    assert type(nl.resolve(name)) is cls


def test_resolve_instances_classes_and_errors():
    f = nl.Tanh()
    assert nl.resolve(f) is f
    assert isinstance(nl.resolve(nl.Gaussian), nl.Gaussian)
    with pytest.raises(ValueError, match="Softmax"):
        nl.resolve("sigmoidal")
    with pytest.raises(TypeError, match="layer"):
        nl.resolve(3)
    with pytest.raises(TypeError, match="Continuous"):
        nl.resolve(nl.Continuous)


def test_base_class_not_implemented():
    with pytest.raises(NotImplementedError):
        nl.Nonlinearity().activation(np.zeros(2))
    assert nl.Nonlinearity().reset() is None


def test_continuous_moves_per_unit_time_constants_once():
    layer = nl.Continuous(nl.Tanh(), tau=[1.0, 2.0, 4.0])
    x = np.ones((2, 3), dtype=np.float32)
    first = layer._coeff(x)
    assert first.dtype == np.float32 and layer._coeff(x) is first
    assert layer._coeff(x.astype(np.float64)).dtype == np.float64


def test_softmax_of_one_unit_is_refused():
    # the softmax of one number is 1 for every input: a network with such an
    # output layer would train to error 0 and predict 1 for everything
    with pytest.raises(ValueError, match="Softmax layer needs at least 2 units, got 1"):
        nl.Softmax().activation(np.zeros((4, 1)))
    import hessianfree as hf
    net = hf.FFNet([2, 3, 1], layers=[nl.Linear(), nl.Tanh(), nl.Softmax()],
                   loss_type=hf.loss_funcs.CrossEntropy(), rng=0)
    inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    targets = np.array([[0], [1], [1], [0]], dtype=np.float32)
    with pytest.raises(ValueError, match="one Logistic unit for yes/no"):
        net.run_epochs(inputs, targets, optimizer=hf.opt.HessianFree(CG_iter=2),
                       max_epochs=2, print_period=None)
    with pytest.raises(ValueError, match="at least 2 units"):
        net.predict(inputs)
    assert nl.Softmax().activation(np.zeros((1, 2))).tolist() == [[0.5, 0.5]]
