"""The GPU path: the CPU algorithm code run on a device array module.

Most tests here run twice, once per device backend (the ``device`` fixture):

- ``"strict"``: :mod:`strict_xp`, NumPy behind CuPy's rules (no implicit
  conversion to the host, no host arrays mixed in, only functions CuPy has,
  every device-to-host transfer counted).  It runs everywhere, so the device
  code path is tested without a GPU, and it must agree with the CPU *exactly*
  where both run the same operations.
- ``"cupy"``: CuPy on a CUDA device; skipped with a reason when there is none.
  It must agree with the CPU within float32 tolerance.

Each test builds a CPU network and a ``use_GPU=True`` one with the same
weights and compares what the optimizers use: forward pass, gradient,
Gauss-Newton products, errors and whole training runs.  The last tests check
the error for ``use_GPU=True`` without a device and the device detection.
"""

import importlib.util
import sys
import types

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.base import backend
from hessianfree.optim import cg
from hessianfree.base import gpu

import strict_xp

#: Agreement of CuPy (cuBLAS) with NumPy in float32, relative to the largest
#: magnitude of the compared quantity (loose enough for TF32 GEMMs).
TOL = 1e-3
INIT = dict(init_type="gaussian", coeff=0.5, biases=0.1)
REC_INIT = dict(init_type="gaussian", coeff=0.4, biases=0.2)


@pytest.fixture(params=["strict", pytest.param("cupy", marks=pytest.mark.gpu)])
def device(request, monkeypatch):
    """Name of the device backend that ``use_GPU=True`` uses in this test."""
    if request.param == "strict":
        strict_xp.install(monkeypatch)
    elif not hf.gpu_enabled:
        pytest.skip(f"needs CuPy and a CUDA device ({gpu.unavailable_reason}); "
                    f'pip install "hessianfree[gpu]"')
    return request.param


def to_host(x):
    return backend.to_numpy(x)


def assert_agree(device_value, host_value, exact):
    """Device and CPU results: equal (``exact``) or within :data:`TOL`."""
    d = np.asarray(to_host(device_value), dtype=np.float64)
    h = np.asarray(to_host(host_value), dtype=np.float64)
    assert d.shape == h.shape
    if exact:
        np.testing.assert_array_equal(d, h)
    else:
        scale = np.nanmax(np.abs(h)) if h.size else 0.0
        np.testing.assert_allclose(d, h, rtol=TOL, atol=TOL * scale)


# ------------------------------------------------------------- networks
def ff_skip_softmax():
    """Skip connections, ReLU/Tanh hidden layers, softmax + cross-entropy."""
    return hf.FFNet, dict(
        shape=[6, 8, 7, 4], conns={0: [1, 2, 3], 1: [2, 3], 2: [3]},
        layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.ReLU(), hf.nl.Softmax()],
        loss_type=hf.loss_funcs.CrossEntropy(), W_init_params=INIT)


def ff_logistic_sparse():
    """Logistic units, squared error plus a sparsity penalty (scipy's expit
    on the CPU, its tanh form on the device: not bit-identical)."""
    return hf.FFNet, dict(
        shape=[5, 6, 3], layers=hf.nl.Logistic(),
        loss_type=[hf.loss_funcs.SquaredError(), hf.loss_funcs.SparseL2(0.1)],
        W_init_params=INIT)


def rnn_continuous():
    """Two recurrent layers, one of them stateful (Continuous)."""
    return hf.RNNet, dict(
        shape=[3, 5, 4, 2], rec_layers=[1, 2],
        layers=[hf.nl.Linear(), hf.nl.Tanh(),
                hf.nl.Continuous(hf.nl.Tanh(), tau=2.0), hf.nl.Linear()],
        W_init_params=INIT, W_rec_params=REC_INIT)


def rnn_truncated_softmax():
    """Truncated BPTT for the gradient, softmax output, cross-entropy."""
    return hf.RNNet, dict(
        shape=[3, 5, 3], truncation=(2, 3),
        layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
        loss_type=hf.loss_funcs.CrossEntropy(), W_init_params=INIT,
        W_rec_params=REC_INIT)


NETWORKS = {"ff_skip_softmax": (ff_skip_softmax, True),
            "ff_logistic_sparse": (ff_logistic_sparse, False),
            "rnn_continuous": (rnn_continuous, True),
            "rnn_truncated_softmax": (rnn_truncated_softmax, True)}


def make_data(cls, shape, n, seed, softmax):
    rng = np.random.default_rng(seed)
    lead = (n,) if cls is hf.FFNet else (n, 5)
    x = rng.standard_normal(lead + (shape[0],))
    if softmax:
        t = rng.dirichlet(np.ones(shape[-1]), size=lead)
    else:
        t = rng.standard_normal(lead + (shape[-1],))
        t[0, ..., 1] = np.nan  # "no target" entries
    return x, t


def pair(name, device, n=16, seed=0):
    """A CPU and a GPU network with the same weights, and data for them;
    ``exact``: whether the strict backend must match the CPU bit for bit."""
    factory, bit_identical = NETWORKS[name]
    cls, kwargs = factory()
    cpu = cls(rng=np.random.default_rng(seed), **kwargs)
    cls, kwargs = factory()  # fresh (stateful) layer objects
    gpu_net = cls(use_GPU=True, load_weights=to_host(cpu.W),
                  rng=np.random.default_rng(seed), **kwargs)
    # the same minibatches for both
    cpu.rng, gpu_net.rng = (np.random.default_rng(seed + 2) for _ in range(2))
    softmax = isinstance(cpu.layers[-1], hf.nl.Softmax)
    data = make_data(cls, cpu.shape, n, seed + 1, softmax)
    return cpu, gpu_net, data, device == "strict" and bit_identical


# ---------------------------------------------------- derivative agreement
@pytest.mark.parametrize("name", NETWORKS)
def test_forward_agrees(device, name):
    cpu, dev, (x, t), exact = pair(name, device)
    assert isinstance(dev.W, dev.xp.ndarray)
    for a_dev, a_cpu in zip(dev.forward(x), cpu.forward(x)):
        assert_agree(a_dev, a_cpu, exact)
    assert_agree(dev.error(inputs=x, targets=t), cpu.error(inputs=x, targets=t), exact)


@pytest.mark.parametrize("name", NETWORKS)
def test_gradient_agrees(device, name):
    cpu, dev, (x, t), exact = pair(name, device)
    cpu.cache_minibatch(x, t)
    dev.cache_minibatch(x, t)
    grad = dev.calc_grad()
    assert isinstance(grad, dev.xp.ndarray)
    assert_agree(grad, cpu.calc_grad(), exact)
    g_dev, sq_dev = dev.calc_grad(squared=True)
    g_cpu, sq_cpu = cpu.calc_grad(squared=True)
    assert_agree(g_dev, g_cpu, exact)
    assert_agree(sq_dev, sq_cpu, exact)


@pytest.mark.parametrize("name", NETWORKS)
def test_calc_G_agrees(device, name):
    cpu, dev, (x, t), exact = pair(name, device)
    cpu.cache_minibatch(x, t)
    dev.cache_minibatch(x, t)
    v = np.random.default_rng(5).standard_normal(cpu.n_params).astype(np.float32)
    v_dev = dev.xp.asarray(v)
    out = dev.xp.empty_like(v_dev)
    G_v = dev.calc_G(v_dev, damping=0.3, out=out)
    assert G_v is out
    assert_agree(G_v, cpu.calc_G(v, damping=0.3), exact)
    assert_agree(dev.calc_G(v_dev), cpu.calc_G(v), exact)
    subset = np.array([1, 4, 7, 8])  # curvature on part of the minibatch
    cpu.cache_curvature_batch(subset)
    dev.cache_curvature_batch(subset)
    assert_agree(dev.calc_G(v_dev, damping=0.1), cpu.calc_G(v, damping=0.1), exact)


def test_error_and_forward_take_host_weights(device):
    cpu, dev, (x, t), exact = pair("ff_skip_softmax", device)
    dev.cache_minibatch(x, t)
    W_host = to_host(dev.W)  # copied to the device, not refused
    assert_agree(dev.error(W=W_host), dev.error(), exact)
    assert_agree(dev.forward(x, W_host)[-1], dev.forward(x)[-1], exact)


@pytest.mark.parametrize("name", ["ff_skip_softmax", "rnn_continuous"])
def test_derivative_checks_pass_on_device(device, name):
    """The finite-difference checks (``debug=True``, float64) on the device."""
    factory, _ = NETWORKS[name]
    cls, kwargs = factory()
    net = cls(use_GPU=True, debug=True, rng=np.random.default_rng(0), **kwargs)
    softmax = isinstance(net.layers[-1], hf.nl.Softmax)
    net.cache_minibatch(*make_data(cls, net.shape, 4, 1, softmax))
    assert net.W.dtype == np.float64
    net.check_grad(net.calc_grad())
    net.check_J()
    v = net.xp.asarray(np.random.default_rng(2).standard_normal(net.n_params))
    net.check_G(net.calc_G(v, damping=0.2), v, damping=0.2)


# ---------------------------------------------------------------- training
@pytest.mark.parametrize("name", ["ff_skip_softmax", "rnn_continuous"])
def test_training_run_agrees(device, name, tmp_path):
    """Ten epochs of HF (debug checks on the strict backend) end where the
    CPU run ends; the weights stay on the device and save to the host."""
    cpu, dev, (x, t), exact = pair(name, device, n=24)
    softmax = isinstance(cpu.layers[-1], hf.nl.Softmax)
    test = make_data(type(cpu), cpu.shape, 8, 7, softmax)
    initial, runs = cpu.error(inputs=x, targets=t), {}
    for net, prefix in ((cpu, "cpu"), (dev, "dev")):
        runs[prefix] = net.run_epochs(
            x, t, hf.opt.HessianFree(CG_iter=15), max_epochs=10, minibatch_size=16,
            test=test, print_period=None, file_output=str(tmp_path / prefix))
    assert len(runs["dev"]) == len(runs["cpu"]) == 10
    if exact:
        assert runs["dev"] == runs["cpu"]
    else:
        np.testing.assert_allclose(runs["dev"], runs["cpu"], rtol=5e-3)
    assert cpu.error(inputs=x, targets=t) < initial  # it trained

    # weight contract: W and best_W live on the device; the file is NumPy
    assert isinstance(dev.W, dev.xp.ndarray) and isinstance(dev.best_W, dev.xp.ndarray)
    saved = np.load(tmp_path / "dev_weights.npy")
    np.testing.assert_array_equal(saved, to_host(dev.best_W))
    cls, kwargs = NETWORKS[name][0]()
    on_cpu = cls(load_weights=dev.best_W, **kwargs)  # a device array loads too
    np.testing.assert_array_equal(on_cpu.W, saved)
    cls, kwargs = NETWORKS[name][0]()
    again = cls(use_GPU=True, load_weights=str(tmp_path / "dev_weights.npy"), **kwargs)
    assert_agree(again.error(inputs=test[0], targets=test[1]), dev.best_error, exact)


class Integrator(hf.nl.Plant):
    """A plant written with NumPy: its state integrates the network's output."""

    shape = (4, 6, 3)

    def __init__(self):
        super().__init__()
        self.reset()

    def reset(self, init=None):
        self.state = np.linspace(-1, 1, 12).reshape(4, 3)
        self.inputs, self.seen = [], []

    def __call__(self, y):
        if y is not None:
            self.seen.append(type(y))
            self.state[:, :2] += 0.1 * np.tanh(y)  # in place: needs host arrays
        self.inputs.append(self.state.copy())
        return self.state

    def get_vecs(self):
        inputs = np.stack(self.inputs, axis=1)
        return inputs, np.full(inputs.shape[:2] + (2,), 0.5)


def test_plant_sees_numpy_arrays(device):
    kwargs = dict(shape=[3, 5, 2], layers=hf.nl.Tanh(), W_init_params=INIT,
                  W_rec_params=REC_INIT)
    cpu = hf.RNNet(rng=np.random.default_rng(0), **kwargs)
    dev = hf.RNNet(use_GPU=True, load_weights=to_host(cpu.W), **kwargs)
    errors = {}
    for net in (cpu, dev):
        plant = Integrator()
        errors[net.use_GPU] = net.run_epochs(plant, None, hf.opt.HessianFree(CG_iter=5),
                                             max_epochs=3, print_period=None)
        assert plant.seen and set(plant.seen) == {np.ndarray}
    if device == "strict":
        assert errors[True] == errors[False]
    else:
        np.testing.assert_allclose(errors[True], errors[False], rtol=5e-3)


# ------------------------------------------------- host-device transfers
def test_only_scalars_cross_inside_cg(monkeypatch):
    """On the device, calc_grad and calc_G never wait for the host, and one
    CG iteration waits for it once: d^T A d and r^T z come back together
    (cg.py); a run adds one transfer at the start (r^T z, phi and b^T M^-1 b)
    and one at the end (is x finite); nothing else crosses."""
    strict_xp.install(monkeypatch)
    _, dev, (x, t), _ = pair("ff_skip_softmax", "strict")
    dev.cache_minibatch(x, t)
    strict_xp.reset()
    grad = dev.calc_grad()
    dev.calc_G(grad, damping=1.0)
    assert strict_xp.n_transfers() == 0

    def transfers_of_cg(iters):
        strict_xp.reset()
        res = cg.conjugate_gradient(lambda v, out: dev.calc_G(v, damping=1.0, out=out),
                                    -grad, None, max_iters=iters, rel_tol=0, res_tol=0)
        assert res.n_iters == iters and res.status == cg.MAX_ITERS
        assert strict_xp.n_transfers() == strict_xp.n_transfers("cg.py")
        return strict_xp.n_transfers()

    assert transfers_of_cg(15) - transfers_of_cg(10) == 1 * 5
    assert transfers_of_cg(10) == 1 + 10 + 1


def test_strict_module_is_strict(monkeypatch):
    """The stand-in refuses what CuPy refuses and counts transfers."""
    xp = strict_xp.install(monkeypatch)
    a = xp.asarray(np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match="host"):
        a + np.ones(3)
    with pytest.raises(TypeError):
        np.linalg.solve(a, a)  # not a function of the checked list
    b = np.tanh(a) * 2 + 1
    b[0] += a[1]
    assert backend.array_module(b) is xp and strict_xp.n_transfers() == 0
    assert float(b.sum()) == pytest.approx(float((np.tanh(np.arange(6.0)) * 2 + 1).sum()
                                                 + np.arange(3.0, 6.0).sum()))
    assert strict_xp.n_transfers() == 1


# -------------------------------------------- without a device (any machine)
@pytest.mark.skipif(hf.gpu_enabled, reason="a CUDA device is available")
@pytest.mark.parametrize("cls, shape", [(hf.FFNet, [2, 3, 1]), (hf.RNNet, [2, 3, 1])])
def test_use_GPU_without_device_says_what_to_install(cls, shape):
    with pytest.raises(RuntimeError, match='pip install "hessianfree\\[gpu\\]"'):
        cls(shape, use_GPU=True)


def test_gpu_enabled_reflects_detection():
    assert hf.gpu_enabled is gpu.gpu_enabled is backend.gpu_enabled
    assert hf.gpu_enabled is (gpu.cupy is not None)
    if importlib.util.find_spec("cupy") is None:
        assert hf.gpu_enabled is False
        assert "CuPy is not importable" in gpu.unavailable_reason
    if not hf.gpu_enabled:
        assert gpu.unavailable_reason


def _stub_cupy(device_count):
    def count():
        if isinstance(device_count, Exception):
            raise device_count
        return device_count
    stub = types.ModuleType("cupy")
    stub.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=count))
    stub.zeros = np.zeros
    return stub


@pytest.mark.parametrize("stub, reason", [
    (None, "CuPy is not importable"),
    (_stub_cupy(0), "CuPy found no CUDA device"),
    (_stub_cupy(RuntimeError("cudaErrorInsufficientDriver")),
     "CuPy could not use a CUDA device (RuntimeError: cudaErrorInsufficientDriver)"),
    (_stub_cupy(1), None),
])
def test_detection_needs_cupy_and_a_device(monkeypatch, stub, reason):
    monkeypatch.setitem(sys.modules, "cupy", stub)
    module, why = gpu._detect()
    assert (module is None) == (reason is not None)
    assert why is None if reason is None else why.startswith(reason)


@pytest.mark.parametrize("name", ["ff_skip_softmax", "ff_logistic_sparse",
                                  "rnn_continuous", "rnn_truncated_softmax"])
def test_hessian_chunks_and_operator_agree(device, name):
    """Exact Hessian products, chunked derivatives and the SciPy operator
    on the device (the operator hands NumPy vectors to SciPy)."""
    cpu, dev, (x, t), exact = pair(name, device)
    v = np.random.default_rng(6).standard_normal(cpu.n_params).astype(np.float32)
    v_dev = dev.xp.asarray(v)
    for net in (cpu, dev):
        net.cache_minibatch(x, t)
    assert_agree(dev.calc_Hv(v_dev, damping=0.2), cpu.calc_Hv(v, damping=0.2), exact)
    assert_agree(dev.curvature_operator("hessian") @ v, cpu.calc_Hv(v), exact)
    for net in (cpu, dev):
        net.chunk_size = 5
        net.cache_minibatch(x, t)
        net.cache_curvature_batch(np.array([0, 3, 4, 9, 12, 15]))
    # chunk-sized recurrent products round differently (BLAS beta=1 on the CPU)
    for dev_value, cpu_value in ((dev.error(), cpu.error()),
                                 (dev.calc_grad(), cpu.calc_grad()),
                                 (dev.calc_G(v_dev), cpu.calc_G(v)),
                                 (dev.calc_Hv(v_dev), cpu.calc_Hv(v))):
        assert_agree(dev_value, cpu_value, exact and not isinstance(cpu, hf.RNNet))
