"""Derivatives of a network's outputs with respect to its inputs: Jacobian,
Hessian and Laplacian against finite differences (float64) for every
nonlinearity and architecture, in both modes; Taylor tests; custom
nonlinearities; bad input; chunking; the device path (strict stand-in)."""

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.base import backend
from hessianfree.nets import input_derivatives as idv
from hessianfree.layers import nonlinearities as nl
from hessianfree.nets.derivative_checks import input_taylor_test

import strict_xp
import test_second_derivatives

NONLINEARITIES = [nl.Linear(), nl.Tanh(), nl.Logistic(), nl.ReLU(), nl.Gaussian(),
                  nl.Softmax(), nl.SoftLIF(sigma=0.5, tau_rc=0.05, tau_ref=0.01, amp=0.2),
                  test_second_derivatives.Skewed()]

#: name -> (shape, conns, layers given the nonlinearity under test ``f``)
ARCHITECTURES = {
    "chain": ([3, 5, 4, 2], None, lambda f: [nl.Linear(), f, nl.Tanh(), nl.Linear()]),
    "skip": ([3, 5, 4, 2], {0: [1, 2, 3], 1: [2, 3], 2: [3]},
             lambda f: [nl.Linear(), nl.Tanh(), f, f]),
    "nonlinear input": ([3, 4, 2], {0: [1, 2], 1: [2]},
                        lambda f: [f, nl.Logistic(), nl.Linear()]),
    "output": ([4, 6, 3], None, lambda f: [nl.Linear(), nl.Gaussian(), f]),
}
MODES = ["forward", "backward"]


def make_net(arch, f, dtype=np.float64, seed=1, **kwargs):
    shape, conns, layers = ARCHITECTURES[arch]
    return hf.FFNet(shape, layers=layers(f), conns=conns, dtype=dtype,
                    rng=np.random.default_rng(seed), **kwargs,
                    W_init_params=dict(init_type="gaussian", coeff=0.6, biases=0.1))


def inputs(net, batch=3, seed=0):
    x = np.random.default_rng(seed).uniform(-1.5, 1.5, (batch, net.shape[0]))
    # keep ReLU's kinks away from the finite-difference stencils
    return np.where(np.abs(x) < 0.05, 0.3, x)


def finite_differences(net, x, h=1e-4):
    """Jacobian (central) and Hessian (four-point) of the outputs, float64."""
    b, d = x.shape
    E = np.eye(d) * h

    def f(points):  # (b, k, d) -> (b, k, m)
        return net.forward(points.reshape(-1, d))[-1].reshape(b, points.shape[1], -1)
    J = (f(x[:, None] + E) - f(x[:, None] - E)) / (2 * h)  # (b, d, m)
    pp, pm = E[:, None] + E[None], E[:, None] - E[None]  # (d, d, d)
    corners = [f((x[:, None, None] + s * p).reshape(b, d * d, d)) for s, p in
               ((1, pp), (1, pm), (-1, pm), (-1, pp))]
    H = (corners[0] - corners[1] - corners[2] + corners[3]) / (4 * h * h)
    return J.transpose(0, 2, 1), H.reshape(b, d, d, -1).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("f", NONLINEARITIES, ids=repr)
def test_matches_finite_differences_and_taylor(f, arch):
    net = make_net(arch, f)
    x = inputs(net)
    J_fd, H_fd = finite_differences(net, x)
    results = [net.input_derivatives(x, hessian=True, laplacian=True, mode=mode)
               for mode in MODES]
    for r in results:
        np.testing.assert_allclose(r.outputs, net.forward(x)[-1], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(r.jacobian, J_fd, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(r.hessian, H_fd, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(r.hessian, r.hessian.swapaxes(-1, -2), atol=1e-15)
        np.testing.assert_allclose(r.laplacian, np.trace(H_fd, axis1=2, axis2=3),
                                   rtol=1e-4, atol=1e-6)
    for field in range(1, 4):  # the two modes agree to rounding
        np.testing.assert_allclose(results[0][field], results[1][field],
                                   rtol=1e-10, atol=1e-12)
    steps = 1e-3 * 2.0 ** -np.arange(6) if isinstance(f, nl.ReLU) else None
    for mode in MODES:
        taylor = input_taylor_test(net, x, steps=steps, mode=mode)
        assert taylor.first_order > 1.9 and taylor.second_order > 2.85, taylor


@pytest.mark.parametrize("mode", MODES)
def test_shapes_dtype_and_requested_fields(mode):
    net = make_net("skip", nl.Logistic(), dtype=np.float32)
    x = inputs(net, batch=5).astype(np.float32)
    r = net.input_derivatives(x, mode=mode)
    assert isinstance(r, idv.InputDerivatives)
    assert r.outputs.shape == (5, 2) and r.jacobian.shape == (5, 2, 3)
    assert r.hessian is None and r.laplacian is None
    assert r.outputs.dtype == r.jacobian.dtype == np.float32
    y, J, H, L = net.input_derivatives(x, gradient=False, hessian=True, laplacian=True,
                                       mode=mode)
    assert J is None and H.shape == (5, 2, 3, 3) and L.shape == (5, 2)
    assert H.dtype == L.dtype == np.float32
    L_only = net.input_derivatives(x, gradient=False, laplacian=True, mode=mode).laplacian
    np.testing.assert_allclose(L_only, np.trace(H, axis1=2, axis2=3), rtol=1e-4, atol=1e-5)
    y_only = net.input_derivatives(x, gradient=False, mode=mode)
    assert y_only[1:] == (None, None, None)


@pytest.mark.parametrize("mode", MODES)
def test_one_example_as_predict_takes_it(mode):
    net = make_net("skip", nl.Tanh())
    x = inputs(net, batch=4)
    batch = net.input_derivatives(x, hessian=True, laplacian=True, mode=mode)
    one = net.input_derivatives(x[2], hessian=True, laplacian=True, mode=mode)
    assert [a.shape for a in one] == [a.shape[1:] for a in batch]
    for a, b in zip(one, batch):
        np.testing.assert_allclose(a, b[2], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(one.outputs, net.predict(x[2]))
    assert net.input_derivatives(list(x[2]), mode=mode).jacobian.shape == (2, 3)
    with pytest.raises(ValueError, match=r"x must have 3 input units.*got shape \(2,\)"):
        net.input_derivatives(x[2, :2], mode=mode)


def test_float32_agrees_with_float64():
    net64 = make_net("skip", nl.Tanh())
    net32 = hf.FFNet(net64.shape, layers=net64.layers, conns=net64.conns,
                     load_weights=net64.W.astype(np.float32))
    x = inputs(net64)
    r64 = net64.input_derivatives(x, hessian=True, mode="backward")
    r32 = net32.input_derivatives(x.astype(np.float32), hessian=True, mode="backward")
    np.testing.assert_allclose(r32.hessian, r64.hessian, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_chunks_give_the_same_result(mode, monkeypatch):
    net = make_net("skip", nl.Softmax())
    x = inputs(net, batch=7)
    whole = net.input_derivatives(x, hessian=True, laplacian=True, mode=mode)
    monkeypatch.setattr(idv, "CHUNK_BYTES", 1)  # one example per chunk
    chunked = net.input_derivatives(x, hessian=True, laplacian=True, mode=mode)
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


class Cube(nl.Nonlinearity):
    """Custom nonlinearity without a second derivative."""

    def activation(self, x):
        return x ** 3

    def d_activation(self, x, a):
        return 3 * x * x


class WrongCube(Cube):
    """A custom nonlinearity with a wrong second derivative."""

    def d2_activation(self, x, a):
        return 5 * x


def test_custom_nonlinearity_without_second_derivative():
    net = make_net("chain", Cube())
    x = inputs(net)
    J_fd, _ = finite_differences(net, x)
    np.testing.assert_allclose(net.input_derivatives(x).jacobian, J_fd, rtol=1e-6)
    for flags in (dict(hessian=True), dict(laplacian=True)):
        with pytest.raises(TypeError, match=r"layers\[1\].*Cube.*d2_activation"):
            net.input_derivatives(x, **flags)


def test_taylor_test_detects_a_wrong_second_derivative():
    net = make_net("chain", WrongCube())
    taylor = input_taylor_test(net, inputs(net))
    assert taylor.first_order > 1.9
    assert taylor.second_order < 2.2  # the Hessian is wrong: only order 2
    assert taylor.remainders.shape == (taylor.steps.size, 3)


def test_bad_input():
    net = make_net("chain", nl.Tanh())
    x = inputs(net)
    with pytest.raises(ValueError, match="mode"):
        net.input_derivatives(x, mode="reverse")
    with pytest.raises(TypeError, match="hessian"):
        net.input_derivatives(x, hessian="yes")
    with pytest.raises(ValueError, match="x must have 3 units"):
        net.input_derivatives(x[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        net.input_derivatives(np.full((1, 3), np.nan))
    with pytest.raises(ValueError, match="steps"):
        input_taylor_test(net, x, steps=[0.1, 0.2])
    with pytest.raises(ValueError, match="direction"):
        input_taylor_test(net, x, direction=np.ones((1, 3)))
    rnn = hf.RNNet([2, 3, 1], dtype=np.float64)
    with pytest.raises(TypeError, match="FFNet"):
        rnn.input_derivatives(np.zeros((1, 2)))


@pytest.mark.parametrize("device", ["strict", pytest.param("cupy", marks=pytest.mark.gpu)])
@pytest.mark.parametrize("mode", MODES)
def test_device_path_agrees_with_host(mode, device, monkeypatch):
    host = make_net("skip", nl.Softmax())
    x = inputs(host)
    expected = host.input_derivatives(x, hessian=True, laplacian=True, mode=mode)
    if device == "strict":
        strict_xp.install(monkeypatch)
    elif not hf.gpu_enabled:
        pytest.skip("needs CuPy and a CUDA device")
    net = make_net("skip", nl.Softmax(), use_GPU=True)
    x_device = net.xp.asarray(x)
    strict_xp.reset()
    result = net.input_derivatives(x_device, hessian=True, laplacian=True, mode=mode)
    if device == "strict":
        assert strict_xp.n_transfers() <= 1  # the finiteness check of x
    for a, b in zip(result, expected):
        assert isinstance(a, net.xp.ndarray)
        np.testing.assert_allclose(backend.to_numpy(a), b, rtol=1e-10, atol=1e-12)
    taylor = input_taylor_test(net, x_device, mode=mode)
    assert taylor.second_order > 2.85
