"""Checkpoints and resuming: an interrupted run continued with resume=True
ends with exactly the weights of an uninterrupted one; checkpoint files are
written atomically, load without pickle, and are checked before use."""

import json
import os

import math

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.run import checkpoint
from hessianfree.run import plotfile

RNG = np.random.default_rng(0)
X = RNG.standard_normal((120, 6)).astype(np.float32)
T = np.tanh(X @ RNG.standard_normal((6, 2))).astype(np.float32)
SEQ_X = RNG.standard_normal((16, 5, 2)).astype(np.float32)
SEQ_T = np.cumsum(SEQ_X[..., :1], axis=1).astype(np.float32) * 0.3


def ffnet(rng_kind="RandomState"):
    rng = (np.random.RandomState(3) if rng_kind == "RandomState"
           else np.random.default_rng(3))
    return hf.FFNet([6, 10, 2], layers=hf.nl.Tanh(), rng=rng)


def train_ff(net, epochs, optimizer=None, **kwargs):
    optimizer = optimizer or hf.opt.HessianFree(CG_iter=8)
    kwargs.setdefault("print_period", None)
    return net.run_epochs(X[:90], T[:90], optimizer, max_epochs=epochs,
                          minibatch_size=30, test=(X[90:], T[90:]), **kwargs)


def assert_same_run(a, b, errors_a, errors_b):
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.best_W, b.best_W)
    assert errors_a == errors_b
    assert a.best_error == b.best_error
    assert_same_state(a.optimizer.state_dict(), b.optimizer.state_dict())


def assert_same_state(value, other, where="state"):
    """Equal nested dicts/lists of numbers and arrays (arrays bit for bit)."""
    if isinstance(value, dict):
        assert value.keys() == other.keys(), where
        for key in value:
            assert_same_state(value[key], other[key], f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        assert len(value) == len(other), where
        for k, (v, o) in enumerate(zip(value, other)):
            assert_same_state(v, o, f"{where}[{k}]")
    elif isinstance(value, np.ndarray):
        np.testing.assert_array_equal(value, other, err_msg=where)
    elif isinstance(value, float) and math.isnan(value):
        assert isinstance(other, float) and math.isnan(other), where
    else:
        assert value == other, where


@pytest.mark.parametrize("rng_kind", ["RandomState", "Generator"])
@pytest.mark.parametrize("stops", [(5,), (1, 7, 12)])
def test_interrupted_runs_end_like_an_uninterrupted_one(tmp_path, rng_kind, stops):
    reference = ffnet(rng_kind)
    expected = train_ff(reference, 16)
    prefix = str(tmp_path / "run")
    for stop in stops + (16,):
        net = ffnet(rng_kind)  # a new process would build the network again
        errors = train_ff(net, stop, file_output=prefix, resume=True)
        assert len(errors) == stop
    assert_same_run(reference, net, expected, errors)
    np.testing.assert_array_equal(np.load(prefix + "_weights.npy"), net.best_W)
    # the rng continues where the uninterrupted run's rng is
    assert reference.rng.random() == net.rng.random()


def test_resume_with_curvature_subsets_drawn_from_the_rng(tmp_path):
    def optimizer():
        return hf.opt.HessianFree(CG_iter=8, curvature_fraction=0.5,
                                  preconditioner=True)

    reference = ffnet()
    expected = train_ff(reference, 9, optimizer())
    prefix = str(tmp_path / "subsets")
    train_ff(ffnet(), 4, optimizer(), file_output=prefix)
    net = ffnet()
    errors = train_ff(net, 9, optimizer(), file_output=prefix, resume=True)
    assert_same_run(reference, net, expected, errors)


def test_resume_recurrent_network_with_sgd(tmp_path):
    def make():
        return hf.RNNet([2, 6, 1], layers=hf.nl.Tanh(), rng=np.random.default_rng(1))

    def train(net, epochs, **kwargs):
        return net.run_epochs(SEQ_X, SEQ_T, hf.opt.SGD(l_rate=0.1, plotting=True),
                              max_epochs=epochs, minibatch_size=8,
                              print_period=None, **kwargs)

    reference = make()
    expected = train(reference, 12)
    prefix = str(tmp_path / "rnn")
    train(make(), 5, file_output=prefix)
    net = make()
    errors = train(net, 12, file_output=prefix, resume=True)
    assert_same_run(reference, net, expected, errors)
    assert net.plots["learning rate"] == [0.1] * 12
    assert len(net.plots["training error (log)"]) == 12


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    a, b = ffnet(), ffnet()
    errors_a = train_ff(a, 4)
    errors_b = train_ff(b, 4, file_output=str(tmp_path / "new"), resume=True)
    assert_same_run(a, b, errors_a, errors_b)


def test_resume_after_the_run_finished_does_nothing(tmp_path):
    prefix = str(tmp_path / "done")
    net = ffnet()
    errors = train_ff(net, 6, file_output=prefix)
    again = ffnet()
    assert train_ff(again, 6, file_output=prefix, resume=True) == errors
    np.testing.assert_array_equal(again.W, net.W)


def test_resume_keeps_plot_series_and_plot_file(tmp_path):
    prefix = str(tmp_path / "plots")
    train_ff(ffnet(), 3, file_output=prefix, plotting=True)
    net = ffnet()
    train_ff(net, 7, file_output=prefix, plotting=True, resume=True)
    plots = plotfile.read(prefix + "_plots.json")
    assert len(plots["training error (log)"]) == 7
    assert len(plots["damping (log)"]) == 7
    assert len(plots["time (s)"]) == 7
    assert plots["time (s)"] == sorted(plots["time (s)"])
    assert checkpoint.load_plots(prefix + "_checkpoint.npz") == plots


def test_checkpoint_is_npz_with_json_and_no_pickle(tmp_path):
    prefix = str(tmp_path / "fmt")
    net = ffnet("Generator")
    train_ff(net, 3, file_output=prefix)
    with np.load(prefix + "_checkpoint.npz", allow_pickle=False) as data:
        assert all(data[name].dtype != object for name in data.files)
        meta = json.loads(str(data["meta"][()]))
        np.testing.assert_array_equal(data["W"], net.W)
    assert meta["format"] == checkpoint.FORMAT_NAME
    assert meta["version"] == checkpoint.FORMAT_VERSION
    assert meta["epoch"] == 3 and len(meta["errors"]) == 3
    assert meta["rng"]["kind"] == "Generator"
    state = meta["optimizer_state"]
    assert state["damping"] == net.optimizer.damping
    assert state["init_delta"] == {"__array__": "meta.optimizer_state.init_delta"}
    assert [f for f in os.listdir(tmp_path) if f.startswith(".tmp_")] == []


def test_stale_temporary_files_are_removed_on_start(tmp_path):
    prefix = str(tmp_path / "stale")
    leftover = tmp_path / ".tmp_abc123stale_checkpoint.npz"
    leftover.write_bytes(b"half a file")
    other = tmp_path / ".tmp_abc123unrelated.npz"
    other.write_bytes(b"not ours")
    train_ff(ffnet(), 1, file_output=prefix)
    assert not leftover.exists() and other.exists()


def test_write_atomically_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old contents")

    def write_half_then_fail(f):
        f.write(b"new con")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        checkpoint.write_atomically(target, write_half_then_fail)
    assert target.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["data.bin"]


def test_encode_decode_roundtrip():
    value = {"a": np.arange(3.0), "b": [1, (2.5, np.float32(0.5))], "c": None,
             "d": {"e": np.int64(7), "f": "text"}, "big": 2 ** 100}
    arrays = {}
    document = json.loads(json.dumps(checkpoint.encode(value, "x", arrays)))
    back = checkpoint.decode(document, arrays)
    np.testing.assert_array_equal(back.pop("a"), value["a"])
    assert back == {"b": [1, [2.5, 0.5]], "c": None, "d": {"e": 7, "f": "text"},
                    "big": 2 ** 100}
    with pytest.raises(TypeError, match="cannot save a object"):
        checkpoint.encode({"o": object()}, "x", {})


def snapshot(net):
    return (net.W.copy(), net.optimizer, net.best_W, dict(net.plots),
            checkpoint.rng_state(net.rng)[1]["state"])


def assert_unchanged(net, before):
    W, optimizer, best_W, plots, rng_state = before
    np.testing.assert_array_equal(net.W, W)
    assert net.optimizer is optimizer and net.best_W is best_W and net.plots == plots
    after = checkpoint.rng_state(net.rng)[1]["state"]
    assert after.keys() == rng_state.keys()
    for key in after:
        np.testing.assert_array_equal(after[key], rng_state[key])


@pytest.mark.parametrize("make, optimizer, match", [
    (lambda: hf.FFNet([6, 11, 2], rng=np.random.RandomState(3)), None, "n_params"),
    (lambda: ffnet(), hf.opt.SGD(), "optimizer"),
    (lambda: ffnet("Generator"), None, "RandomState"),
    (lambda: hf.FFNet([6, 10, 2], rng=np.random.RandomState(3), dtype=np.float64),
     None, "dtype"),
])
def test_mismatched_checkpoint_is_refused_and_changes_nothing(tmp_path, make,
                                                              optimizer, match):
    prefix = str(tmp_path / "mismatch")
    train_ff(ffnet(), 2, file_output=prefix)
    net = make()
    before = snapshot(net)
    with pytest.raises(ValueError, match=match):
        train_ff(net, 4, optimizer=optimizer, file_output=prefix, resume=True)
    assert_unchanged(net, before)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "pickle", "version",
                                    "bad_state"])
def test_damaged_checkpoint_is_refused_and_changes_nothing(tmp_path, damage):
    prefix = str(tmp_path / "damaged")
    train_ff(ffnet(), 2, file_output=prefix)
    path = prefix + "_checkpoint.npz"
    arrays = checkpoint.load(path)[1]  # holds the optimizer's arrays too
    data = open(path, "rb").read()
    if damage == "truncate":
        open(path, "wb").write(data[:len(data) // 2])
    elif damage == "garbage":
        open(path, "wb").write(b"\0" * 100)
    elif damage == "pickle":  # an object array would need pickle to load
        np.savez(path, meta=np.array([{"a": 1}], dtype=object))
    else:
        document = json.loads(str(np.load(path)["meta"][()]))
        if damage == "version":
            document["version"] = 99
        else:
            document["optimizer_state"]["damping"] = -1.0
        with open(path, "wb") as f:
            np.savez(f, **arrays, meta=np.array(json.dumps(document)))
    net = ffnet()
    optimizer = hf.opt.HessianFree(CG_iter=8)
    before = snapshot(net)
    state_before = optimizer.state
    with pytest.raises(ValueError, match="checkpoint|damping|resume"):
        train_ff(net, 4, optimizer=optimizer, file_output=prefix, resume=True)
    assert_unchanged(net, before)
    assert optimizer.state is state_before and optimizer.net is None


def test_optimizer_state_dict_roundtrip_and_checks():
    net = ffnet()
    hf_opt = hf.opt.HessianFree(CG_iter=4)
    train_ff(net, 2, optimizer=hf_opt)
    state = hf_opt.state_dict()
    other = hf.opt.HessianFree(CG_iter=4)
    other.net = net
    other.load_state_dict(state)
    assert other.state.damping == hf_opt.state.damping
    assert other.state.epoch == 2
    np.testing.assert_array_equal(other.state.init_delta, hf_opt.state.init_delta)
    assert other.plots == hf_opt.plots and other.plots is not hf_opt.plots
    for bad, match in [
        ({**state, "damping": "x"}, "damping"),
        ({**state, "epoch": -1}, "epoch"),
        ({**state, "init_delta": np.zeros(3)}, "init_delta"),
        ({**state, "init_delta": np.full(net.n_params, np.nan)}, "init_delta"),
        ({**state, "plots": {"a": ["x"]}}, "plots"),
        ([1, 2], "state"),
    ]:
        fresh = hf.opt.HessianFree()
        fresh.net = net
        with pytest.raises((TypeError, ValueError), match=match):
            fresh.load_state_dict(bad)
        assert fresh.state == hf.opt.HFState(damping=1.0) and fresh.plots == {}
    sgd = hf.opt.SGD(plotting=True)
    sgd.load_state_dict({"plots": {"learning rate": [1.0, 1.0]}})
    assert sgd.state_dict() == {"plots": {"learning rate": [1.0, 1.0]}}


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(resume=True), ValueError, "file_output"),
    (dict(resume="yes", file_output="x"), TypeError, "resume"),
    (dict(max_failures=0), ValueError, "max_failures"),
    (dict(max_failures=2.5), TypeError, "max_failures"),
    (dict(file_output="/no/such/directory/run"), ValueError, "file_output"),
])
def test_bad_resume_arguments(kwargs, exc, match):
    net = ffnet()
    W = net.W.copy()
    with pytest.raises(exc, match=match):
        train_ff(net, 2, **kwargs)
    np.testing.assert_array_equal(net.W, W)
    assert net.optimizer is None


def _features(kind):
    """A network, an optimizer and the run arguments with the features on."""
    if kind == "rnn":
        net = hf.RNNet([2, 6, 1], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()],
                       truncation=(3, 3), rng=np.random.default_rng(3))
        opt = hf.opt.HessianFree(CG_iter=6, preconditioner="diagonal",
                                 curvature_fraction=0.5, chunk_size=5,
                                 objective_fraction=0.5)
        return net, opt, dict(inputs=SEQ_X, targets=SEQ_T, minibatch_size=12)
    net = ffnet("Generator")
    opt = hf.opt.HessianFree(CG_iter=6, preconditioner=hf.kfac.KFAC(period=2),
                             curvature_fraction=0.5, chunk_size=16,
                             objective_fraction=0.7,
                             curvature="hessian" if kind == "ff_hessian" else "gauss-newton")
    return net, opt, dict(inputs=X[:90], targets=T[:90], minibatch_size="auto")


@pytest.mark.parametrize("kind", ["ff", "ff_hessian", "rnn"])
def test_resume_is_bit_identical_with_every_feature_on(tmp_path, kind):
    """K-FAC (its factors and counters), a minibatch schedule, chunking,
    curvature and objective subsets, the exact Hessian, a truncated RNN with the diagonal
    preconditioner: a run stopped twice and resumed ends as one that was not."""
    net, opt, args = _features(kind)
    expected = net.run_epochs(optimizer=opt, max_epochs=8, print_period=None, **args)
    prefix = str(tmp_path / "run")
    for stop in (3, 5, 8):
        resumed, opt2, args = _features(kind)
        errors = resumed.run_epochs(optimizer=opt2, max_epochs=stop, print_period=None,
                                    file_output=prefix, resume=True, **args)
    assert_same_run(net, resumed, expected, errors)
