"""Real crashes, in subprocesses: a run killed with SIGKILL mid-epoch and
resumed ends with exactly the weights of an uninterrupted run; a run whose
files cannot be written (file-size limit: the OS refuses to grow them, like a
full disk) fails with a clear error and leaves the previous checkpoint
intact."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hessianfree.run import checkpoint

pytestmark = pytest.mark.skipif(
    sys.platform == "win32" or not hasattr(signal, "SIGKILL"),
    reason="needs POSIX signals and resource limits")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Builds the data and network of every run here (same seed every time).
SETUP = textwrap.dedent("""
    import numpy as np
    import hessianfree as hf

    def problem():
        rng = np.random.default_rng(0)
        x = rng.standard_normal((300, 12)).astype(np.float32)
        t = np.tanh(x @ rng.standard_normal((12, 4))).astype(np.float32)
        net = hf.FFNet([12, 24, 4], layers=hf.nl.Tanh(),
                       rng=np.random.RandomState(0))
        return net, x, t

    def train(net, x, t, max_epochs, optimizer=None, **kwargs):
        optimizer = optimizer or hf.opt.HessianFree(CG_iter=30)
        return net.run_epochs(x, t, optimizer, max_epochs=max_epochs,
                              minibatch_size=100, target_err=0, **kwargs)
""")

#: A run that resumes from its checkpoint.  ``cg N`` makes it pause in the
#: middle of epoch N's CG (minibatch drawn, update half computed), ``write N``
#: in the middle of writing the checkpoint after N epochs (temporary file
#: written, not yet renamed); it says so and waits to be killed.
KILL_SCRIPT = SETUP + textwrap.dedent("""
    import sys, time
    from hessianfree.run import checkpoint
    prefix, max_epochs, where, epoch = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
    epoch = int(epoch)

    def pause(message):
        print(message, flush=True)
        time.sleep(60)

    class PausingHF(hf.opt.HessianFree):
        def progress(self, i, max_iters):  # called after each CG iteration
            if where == "cg" and self.state.epoch == epoch and i == 2:
                pause(f"inside epoch {epoch}")

    save = checkpoint.save

    def pausing_save(filename, meta, arrays):  # the loop saves through this
        if where == "write" and meta["epoch"] == epoch:
            write_atomically = checkpoint.write_atomically

            def write_and_pause(name, write):
                def write_then_pause(f):
                    write(f)
                    f.flush()
                    pause(f"writing checkpoint {epoch}")
                return write_atomically(name, write_then_pause)
            checkpoint.write_atomically = write_and_pause
        return save(filename, meta, arrays)

    checkpoint.save = pausing_save
    net, x, t = problem()
    train(net, x, t, max_epochs, PausingHF(CG_iter=30), file_output=prefix,
          resume=True, print_period=1)
    np.save(prefix + "_last_W.npy", net.W)
    print("finished", flush=True)
""")

DISK_SCRIPT = SETUP + textwrap.dedent("""
    import resource, signal, sys
    from hessianfree.run.checkpoint import CheckpointError
    prefix = sys.argv[1]
    net, x, t = problem()
    train(net, x, t, 3, file_output=prefix, print_period=None)
    # from now on no file may grow beyond twice the size of the weights
    # file: the OS fails the writes (EFBIG), as it would on a full disk
    limit = 2 * (net.n_params * 4 + 128)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    net, x, t = problem()
    try:
        train(net, x, t, 8, file_output=prefix, resume=True, print_period=None)
    except CheckpointError as e:
        print("CheckpointError:", e)
        sys.exit(3)
    print("no error")
""")

MAX_EPOCHS = 20
#: (where, epoch): kill inside the CG of that epoch, or while the checkpoint
#: after that many epochs is being written.
KILLS = [("cg", 2), ("cg", 7), ("write", 11), ("cg", 15), ("write", 18)]


def script(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def environment():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def problem():
    namespace = {}
    exec(SETUP, namespace)
    return namespace


def start(path, *args):
    return subprocess.Popen([sys.executable, path, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=environment())


def kill_at(process, marker):
    """Read the output until a line starts with ``marker`` and SIGKILL the
    process; return its exit status."""
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith(marker):
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            process.stdout.close()
            return process.returncode
    process.wait(timeout=30)
    raise AssertionError(f"no {marker!r} before the run ended (exit status "
                         f"{process.returncode}):\n{''.join(seen)}")


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tmp_path):
    setup = problem()
    reference, x, t = setup["problem"]()
    expected = setup["train"](reference, x, t, MAX_EPOCHS, print_period=None)

    path = script(tmp_path, "train.py", KILL_SCRIPT)
    prefix = str(tmp_path / "run")
    survived = 0
    for where, epoch in KILLS:
        process = start(path, prefix, MAX_EPOCHS, where, epoch)
        marker = (f"inside epoch {epoch}" if where == "cg" else
                  f"writing checkpoint {epoch}")
        assert kill_at(process, marker) == -signal.SIGKILL
        meta, arrays = checkpoint.load(prefix + "_checkpoint.npz")  # never torn
        # the last complete checkpoint: before the killed epoch, or before
        # the one whose write was killed
        assert meta["epoch"] == (epoch if where == "cg" else epoch - 1)
        if where == "write":  # the half-done temporary file is left behind
            assert any(f.startswith(".tmp_") for f in os.listdir(tmp_path))
        survived += 1
    process = start(path, prefix, MAX_EPOCHS, "none", -1)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0 and "finished" in out, out

    meta, arrays = checkpoint.load(prefix + "_checkpoint.npz")
    assert meta["epoch"] == MAX_EPOCHS
    np.testing.assert_array_equal(arrays["W"], reference.W)
    np.testing.assert_array_equal(arrays["best_W"], reference.best_W)
    np.testing.assert_array_equal(np.load(prefix + "_weights.npy"), reference.best_W)
    assert meta["errors"] == expected
    assert meta["optimizer_state"]["damping"] == reference.optimizer.damping
    assert not any(f.startswith(".tmp_") for f in os.listdir(tmp_path))
    assert survived == len(KILLS)
    print(f"\nkills survived: {survived}")


def test_ctrl_c_mid_epoch_ends_with_one_message_and_the_completed_epochs(tmp_path):
    path = script(tmp_path, "train.py", KILL_SCRIPT)
    prefix = str(tmp_path / "run")
    process = start(path, prefix, MAX_EPOCHS, "cg", 7)
    for line in process.stdout:
        if line.startswith("inside epoch 7"):  # in the CG of the eighth epoch
            process.send_signal(signal.SIGINT)
            break
    out = process.stdout.read()
    assert process.wait(timeout=60) == 0 and "finished" in out, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert (f"interrupted after epoch 7, whose weights the network keeps; the checkpoint "
            f"after epoch 7 is intact ({prefix + '_checkpoint.npz'!r}); resume with "
            f"resume=True") in out.splitlines(), out
    meta, arrays = checkpoint.load(prefix + "_checkpoint.npz")
    assert meta["epoch"] == 7
    np.testing.assert_array_equal(np.load(prefix + "_last_W.npy"), arrays["W"])
    # and resuming ends where an uninterrupted run ends
    setup = problem()
    reference, x, t = setup["problem"]()
    setup["train"](reference, x, t, MAX_EPOCHS, print_period=None)
    out, _ = start(path, prefix, MAX_EPOCHS, "none", -1).communicate(timeout=120)
    assert "finished" in out, out
    np.testing.assert_array_equal(np.load(prefix + "_last_W.npy"), reference.W)


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE")
def test_failing_writes_stop_with_clear_error_and_keep_checkpoint(tmp_path):
    pytest.importorskip("resource")
    path = script(tmp_path, "disk.py", DISK_SCRIPT)
    prefix = str(tmp_path / "full")
    process = start(path, prefix)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 3, out
    assert "_checkpoint.npz" in out and "File too large" in out, out
    # epochs count from 1, as on the progress bar: 3 epochs done, the
    # checkpoint written after the third is intact
    assert "the checkpoint after epoch 3 is intact" in out, out
    assert "resume=True" in out

    meta, arrays = checkpoint.load(prefix + "_checkpoint.npz")
    assert meta["epoch"] == 3
    assert [f for f in os.listdir(tmp_path) if f.startswith(".tmp_")] == []
    best = np.load(prefix + "_weights.npy")  # written before the checkpoint
    assert best.shape == arrays["best_W"].shape and np.all(np.isfinite(best))

    # with room again, the run continues from the intact checkpoint and ends
    # where an uninterrupted run ends
    setup = problem()
    reference, x, t = setup["problem"]()
    expected = setup["train"](reference, x, t, 8, print_period=None)
    net, _, _ = setup["problem"]()
    errors = setup["train"](net, x, t, 8, file_output=prefix, resume=True,
                            print_period=None)
    assert errors == expected
    np.testing.assert_array_equal(net.W, reference.W)
    np.testing.assert_array_equal(np.load(prefix + "_weights.npy"), reference.best_W)
