"""Reliability against adversarial use: half-written or tampered checkpoints
are refused before anything is restored, targets outside a loss's domain and
all-NaN targets are refused before training, run_epochs says what it does
with existing files, keeps the user's file permissions, refuses a second
writer and does not claim a vanished checkpoint is intact, and load_weights
reads files header first."""

import json
import os
import stat
import subprocess
import sys
import textwrap
import tracemalloc
import warnings

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.run import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RNG = np.random.default_rng(5)
X = RNG.standard_normal((40, 4)).astype(np.float32)
T = np.tanh(X @ RNG.standard_normal((4, 2))).astype(np.float32)


def ffnet():
    return hf.FFNet([4, 6, 2], layers=hf.nl.Tanh(), rng=np.random.RandomState(1))


def train(net, epochs, optimizer=None, **kwargs):
    kwargs.setdefault("print_period", None)
    return net.run_epochs(X[:30], T[:30], optimizer or hf.opt.HessianFree(CG_iter=4),
                          max_epochs=epochs, test=(X[30:], T[30:]), **kwargs)


def rewrite_meta(path, change):
    """Apply ``change(document)`` to the JSON inside a checkpoint."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    document = json.loads(str(arrays.pop("meta")[()]))
    change(document)
    with open(path, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(document)), **arrays)


def set_field(path, value):
    def change(document):
        *parents, last = path.split(".")
        target = document
        for key in parents:
            target = target[key]
        target[last] = value
    return change


def rng_state(net):
    return repr(checkpoint.rng_state(net.rng)[1])


# ------------------------------------------------- 2. half-restored resume
@pytest.mark.parametrize("field, value", [
    ("best_error", None),
    ("best_error", "0.1"),
    ("plots", 3),
    ("plots", {"training error (log)": "abc"}),
    ("rng.state", {"bit_generator": "MT19937", "state": {"key": [1, 2], "pos": 0}}),
    ("rng.state", 17),
    ("errors", ["x", "y"]),
    ("elapsed", None),
    ("failures", -2),
    ("epoch", 1.5),
    ("optimizer_state", None),
    ("optimizer_state.damping", None),
    ("optimizer_state.plots", [1]),
])
def test_wrongly_typed_checkpoint_fields_restore_nothing(tmp_path, field, value):
    prefix = str(tmp_path / "run")
    train(ffnet(), 2, file_output=prefix)
    path = prefix + "_checkpoint.npz"
    rewrite_meta(path, set_field(field, value))
    net, optimizer = ffnet(), hf.opt.HessianFree(CG_iter=4)
    W, rng, state = net.W.copy(), rng_state(net), optimizer.state
    with pytest.raises(ValueError) as info:
        train(net, 4, optimizer, file_output=prefix, resume=True)
    message = str(info.value)
    assert path in message and repr(field.split(".")[0])[1:-1] in message, message
    np.testing.assert_array_equal(net.W, W)
    assert net.optimizer is None and net.best_W is None
    assert optimizer.state is state and optimizer.net is None and optimizer.plots == {}
    assert rng_state(net) == rng


def test_a_valid_checkpoint_still_resumes(tmp_path, capsys):
    prefix = str(tmp_path / "ok")
    reference = ffnet()
    expected = train(reference, 5)
    train(ffnet(), 2, file_output=prefix)
    net = ffnet()
    assert train(net, 5, file_output=prefix, resume=True) == expected
    np.testing.assert_array_equal(net.W, reference.W)
    assert f"resuming from {prefix + '_checkpoint.npz'!r} after epoch 2" in \
        capsys.readouterr().out


# ------------------------------------------ 5. targets outside the domain
def softmax_net(loss=None):
    return hf.FFNet([4, 6, 2], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                    loss_type=loss or hf.loss_funcs.CrossEntropy(),
                    rng=np.random.RandomState(0))


PROBS = np.abs(T) / np.abs(T).sum(axis=1, keepdims=True)


@pytest.mark.parametrize("value", [1.5, -0.25, 40.0])
@pytest.mark.parametrize("where", ["targets", "test"])
def test_cross_entropy_refuses_targets_outside_0_1(where, value):
    targets, test = PROBS[:30].copy(), PROBS[30:].copy()
    (targets if where == "targets" else test)[3, 1] = value
    for loss in (hf.loss_funcs.CrossEntropy(),
                 [hf.loss_funcs.CrossEntropy(), hf.loss_funcs.SparseL2(0.1)]):
        net = softmax_net(loss)
        W = net.W.copy()
        name = "targets" if where == "targets" else r"test\[1\] \(test targets\)"
        with pytest.raises(ValueError, match=rf"CrossEntropy needs {name} in \[0, 1\] "
                                             rf".*\[3, 1\] = {value:g}"):
            net.run_epochs(X[:30], targets, hf.opt.HessianFree(CG_iter=3),
                           test=(X[30:], test), max_epochs=3, print_period=None)
        np.testing.assert_array_equal(net.W, W)
        assert net.optimizer is None


def test_targets_inside_the_domain_with_missing_values_train():
    targets = PROBS[:30].copy()
    targets[::3] = np.nan
    net = softmax_net()
    errors = net.run_epochs(X[:30], targets, hf.opt.HessianFree(CG_iter=3),
                            max_epochs=2, print_period=None,
                            test=(X[30:], PROBS[30:] * 7),  # any value for this loss
                            test_err=hf.loss_funcs.ClassificationError())
    assert len(errors) == 2
    assert hf.loss_funcs.SquaredError().check_targets(np.full((2, 2), 1e9)) is None


@pytest.mark.parametrize("where", ["targets", "test"])
def test_all_nan_targets_are_refused(where):
    targets, test = T[:30].copy(), T[30:].copy()
    (targets if where == "targets" else test)[...] = np.nan
    net = ffnet()
    with pytest.raises(ValueError, match="all NaN: no example has a target"):
        net.run_epochs(X[:30], targets, hf.opt.HessianFree(CG_iter=3),
                       test=(X[30:], test), max_epochs=3, target_err=1e-3,
                       print_period=None)
    assert net.optimizer is None


# -------------------------------------------------- 6. what happens to files
def test_resume_without_a_checkpoint_says_it_starts_fresh(tmp_path, capsys):
    prefix = str(tmp_path / "typo")
    train(ffnet(), 1, file_output=prefix, resume=True)
    out = capsys.readouterr().out
    assert f"no checkpoint at {prefix + '_checkpoint.npz'!r}, starting fresh" in out


def test_a_fresh_run_warns_before_overwriting_an_earlier_runs_files(tmp_path, capsys):
    prefix = str(tmp_path / "run")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the first run warns about nothing
        train(ffnet(), 2, file_output=prefix)
    with pytest.warns(UserWarning, match=r"overwrites .*run_checkpoint.npz.* and "
                                         r".*run_weights.npy.*resume=True"):
        train(ffnet(), 1, file_output=prefix)
    os.remove(prefix + "_checkpoint.npz")
    with pytest.warns(UserWarning, match=r"overwrites .*run_weights.npy' of an "
                                         r"earlier run$"):
        train(ffnet(), 1, file_output=prefix, resume=True)
    assert "starting fresh" in capsys.readouterr().out


@pytest.mark.skipif(not hasattr(os, "umask") or sys.platform == "win32",
                    reason="POSIX permissions")
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600),
                                         (0o002, 0o664)])
def test_files_get_the_users_umask(tmp_path, umask, mode):
    prefix = str(tmp_path / "perm")
    old = os.umask(umask)
    try:
        train(ffnet(), 1, file_output=prefix, plotting=True)
    finally:
        os.umask(old)
    for suffix in ("_checkpoint.npz", "_weights.npy", "_plots.json"):
        assert stat.S_IMODE(os.stat(prefix + suffix).st_mode) == mode, suffix


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_an_existing_file_keeps_its_permissions(tmp_path):
    prefix = str(tmp_path / "keep")
    train(ffnet(), 1, file_output=prefix)
    os.chmod(prefix + "_weights.npy", 0o640)
    os.chmod(prefix + "_checkpoint.npz", 0o644)
    old = os.umask(0o077)
    try:
        train(ffnet(), 2, file_output=prefix, resume=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(prefix + "_weights.npy").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(prefix + "_checkpoint.npz").st_mode) == 0o644


def test_a_vanished_directory_is_not_called_intact(tmp_path, monkeypatch):
    directory = tmp_path / "out"
    directory.mkdir()
    prefix = str(directory / "run")
    save, calls = checkpoint.save, []

    def save_then_lose_the_directory(filename, meta, arrays):
        calls.append(filename)
        if len(calls) == 3:  # after two good checkpoints, someone removes it
            for name in os.listdir(directory):
                os.remove(directory / name)
            os.rmdir(directory)
        return save(filename, meta, arrays)

    monkeypatch.setattr(checkpoint, "save", save_then_lose_the_directory)
    with pytest.raises(checkpoint.CheckpointError) as info:
        train(ffnet(), 5, file_output=prefix)
    message = str(info.value)
    assert "no longer exists" in message and "intact" not in message, message
    assert str(directory) in message


@pytest.mark.skipif(sys.platform == "win32", reason="needs flock")
def test_a_second_writer_on_the_same_prefix_is_refused(tmp_path):
    prefix = str(tmp_path / "shared")
    holder = textwrap.dedent(f"""
        import sys
        from hessianfree.run import checkpoint
        with checkpoint.exclusive_output({prefix!r}):
            print("holding", flush=True)
            sys.stdin.read()
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    with subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout.readline().strip() == "holding"
            net = ffnet()
            with pytest.raises(checkpoint.CheckpointError,
                               match=rf"another process \(pid {proc.pid}\) is "
                                     rf"writing there"):
                train(net, 2, file_output=prefix)
            assert net.optimizer is None
            assert not os.path.exists(prefix + "_checkpoint.npz")
        finally:
            proc.communicate("", timeout=30)
    assert len(train(ffnet(), 2, file_output=prefix)) == 2  # free again
    assert sorted(os.listdir(tmp_path)) == ["shared_checkpoint.npz",
                                            "shared_weights.npy"]


# ---------------------------------------------------- 7. bounded reads
N_PARAMS = ffnet().n_params


def write_header(path, shape, descr="<f8"):
    from numpy.lib import format as npy
    with open(path, "wb") as f:
        npy.write_array_header_1_0(f, {"descr": descr, "fortran_order": False,
                                       "shape": shape})
    return path


def saved(save, value):
    """Write ``value`` with ``save`` (np.save or np.savez) under exactly ``path``."""
    def make(path):
        with open(path, "wb") as f:
            save(f, value) if save is np.save else save(f, W=value)
    return make


@pytest.mark.parametrize("make, match", [
    (saved(np.savez, np.zeros(N_PARAMS)), r"is a \.npz archive"),
    (lambda p: open(p, "w").write("0.5\n" * N_PARAMS), "is not a .npy file"),
    (saved(np.save, np.arange(N_PARAMS)), "dtype int64"),
    (saved(np.save, np.zeros((2, N_PARAMS))), rf"shape \(2, {N_PARAMS}\)"),
    (saved(np.save, np.array(["a"] * N_PARAMS)), "dtype <U1"),
    (lambda p: write_header(p, (N_PARAMS,)), "truncated"),
    (lambda p: os.mkdir(p), "cannot read"),
])
def test_load_weights_says_what_it_expected(tmp_path, make, match):
    path = str(tmp_path / "weights.bin")
    make(path)
    with pytest.raises(ValueError, match=match) as info:
        ffnet_with(path)
    message = str(info.value)
    assert "load_weights" in message and path in message
    if "cannot read" not in match:
        assert f"expected a .npy file holding {N_PARAMS} floating point" in message \
            or "truncated" in message


def ffnet_with(load_weights):
    return hf.FFNet([4, 6, 2], layers=hf.nl.Tanh(), load_weights=load_weights)


def test_a_header_claiming_terabytes_is_refused_before_allocating(tmp_path):
    path = write_header(str(tmp_path / "huge.npy"), (2 ** 40,))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=rf"shape \({2 ** 40},\)"):
            ffnet_with(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 ** 20


def test_load_weights_from_a_good_file(tmp_path):
    path = str(tmp_path / "w.npy")
    W = RNG.standard_normal(N_PARAMS)
    np.save(path, W.astype(">f8"))  # another byte order loads too
    np.testing.assert_array_equal(ffnet_with(path).W, W.astype(np.float32))


# ------------------------------------------- 3. architecture fingerprint
@pytest.mark.parametrize("writer, reader, differs", [
    (lambda: hf.FFNet([1, 16, 1], rng=np.random.RandomState(0)),
     lambda: hf.FFNet([4, 8, 1], rng=np.random.RandomState(0)), "shape"),
    (lambda: hf.FFNet([2, 3, 2], layers=hf.nl.Tanh(), rng=np.random.RandomState(0)),
     lambda: hf.FFNet([2, 3, 2], layers=hf.nl.Logistic(), rng=np.random.RandomState(0)),
     "layers"),
    (lambda: hf.FFNet([2, 2, 2, 2], conns={0: [1, 3], 1: [2], 2: [3]},
                      rng=np.random.RandomState(0)),
     lambda: hf.FFNet([2, 2, 2, 2], conns={0: [1], 1: [2, 3], 2: [3]},
                      rng=np.random.RandomState(0)), "conns"),
])
def test_a_checkpoint_of_another_architecture_is_refused(tmp_path, writer, reader,
                                                         differs):
    first, second = writer(), reader()
    assert first.n_params == second.n_params  # the count cannot tell them apart
    prefix = str(tmp_path / "arch")
    data = np.random.default_rng(0)
    x = data.random((8, first.shape[0])).astype(np.float32)
    t = data.random((8, first.shape[-1])).astype(np.float32)
    first.run_epochs(x, t, hf.opt.HessianFree(CG_iter=2), max_epochs=2,
                     file_output=prefix, print_period=None)
    W = second.W.copy()
    x2 = data.random((8, second.shape[0])).astype(np.float32)
    with pytest.raises(ValueError, match=rf"arch_checkpoint.npz.*architecture.*"
                                         rf"{differs}"):
        second.run_epochs(x2, t, hf.opt.HessianFree(CG_iter=2), max_epochs=4,
                          file_output=prefix, resume=True, print_period=None)
    np.testing.assert_array_equal(second.W, W)


def test_custom_layers_are_fingerprinted_by_class(tmp_path):
    class MyTanh(hf.nl.Tanh):
        pass

    prefix = str(tmp_path / "custom")
    net = hf.FFNet([2, 3, 1], layers=MyTanh(), rng=np.random.RandomState(0))
    net.run_epochs(X[:8, :2], T[:8, :1], hf.opt.HessianFree(CG_iter=2), max_epochs=1,
                   file_output=prefix, print_period=None)
    again = hf.FFNet([2, 3, 1], layers=MyTanh(), rng=np.random.RandomState(0))
    again.run_epochs(X[:8, :2], T[:8, :1], hf.opt.HessianFree(CG_iter=2), max_epochs=2,
                     file_output=prefix, resume=True, print_period=None)
    other = hf.FFNet([2, 3, 1], layers=hf.nl.Tanh(), rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match="layers"):
        other.run_epochs(X[:8, :2], T[:8, :1], hf.opt.HessianFree(CG_iter=2),
                         max_epochs=3, file_output=prefix, resume=True, print_period=None)


def test_target_checks_run_on_device_arrays(monkeypatch):
    """The same checks on the GPU path (a strict CuPy stand-in here; CuPy on
    a machine with a device: tests/test_gpu.py's backends)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        import strict_xp
    finally:
        sys.path.pop(0)
    xp = strict_xp.install(monkeypatch)
    targets = PROBS[:30].copy()
    targets[7, 0] = 2.0
    net = hf.FFNet([4, 6, 2], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                   loss_type=hf.loss_funcs.CrossEntropy(), use_GPU=True)
    with pytest.raises(ValueError, match=r"targets\[7, 0\] = 2"):
        net.run_epochs(xp.asarray(X[:30]), xp.asarray(targets),
                       hf.opt.HessianFree(CG_iter=2), max_epochs=1, print_period=None)
    with pytest.raises(ValueError, match="all NaN"):
        net.run_epochs(X[:30], np.full((30, 2), np.nan), hf.opt.HessianFree(CG_iter=2),
                       max_epochs=1, print_period=None)
    errors = net.run_epochs(X[:30], PROBS[:30], hf.opt.HessianFree(CG_iter=2),
                            max_epochs=1, print_period=None)
    assert len(errors) == 1


def test_the_checkpoint_stores_the_description_that_net_save_writes(tmp_path):
    net = hf.RNNet([2, 4, 1], layers=hf.nl.Tanh(), truncation=(3, 2),
                   rng=np.random.RandomState(0))
    x = np.random.default_rng(0).standard_normal((6, 5, 2)).astype(np.float32)
    net.run_epochs(x, x[..., :1], hf.opt.HessianFree(CG_iter=2), max_epochs=1,
                   file_output=str(tmp_path / "rnn"), print_period=None)
    net.save(tmp_path / "saved.npz")
    with np.load(tmp_path / "saved.npz", allow_pickle=False) as data:
        saved = json.loads(str(data["architecture"][()]))
    meta, _ = checkpoint.load(tmp_path / "rnn_checkpoint.npz")
    assert meta["architecture"] == saved
    other = hf.RNNet([2, 4, 1], layers=hf.nl.Tanh(), rec_layers=[],
                     rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match="n_params|rec_layers"):
        other.run_epochs(x, x[..., :1], hf.opt.HessianFree(CG_iter=2), max_epochs=2,
                         file_output=str(tmp_path / "rnn"), resume=True,
                         print_period=None)
