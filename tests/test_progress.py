"""What a user watches during training: the progress bar on a terminal,
plain lines elsewhere, nothing with print_period=None, and an image of a real
run's plot series rendered without a display."""

import io
import re

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.run import progress

RNG = np.random.default_rng(0)
X = RNG.standard_normal((50, 3)).astype(np.float32)
T = np.tanh(X @ RNG.standard_normal((3, 2))).astype(np.float32)


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def train(epochs=5, test=True, optimizer=None, **kwargs):
    net = hf.FFNet([3, 6, 2], layers=hf.nl.Tanh(), rng=np.random.RandomState(0))
    optimizer = optimizer or hf.opt.HessianFree(CG_iter=20)
    net.run_epochs(X[:40], T[:40], optimizer, max_epochs=epochs,
                   test=(X[40:], T[40:]) if test else None, target_err=0, **kwargs)
    return net


def test_plain_lines_when_output_is_not_a_terminal(capsys):
    train(epochs=5, print_period=2)
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("epoch")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/5", "epoch 3/5", "epoch 5/5"]
    assert re.fullmatch(r"epoch 1/5: training error \S+, test error \S+, damping \S+, "
                        r"CG \d+ \(\d+\.\d s\)", lines[0]), lines[0]
    assert "\r" not in capsys.readouterr().out


def test_silent_with_print_period_none(capsys):
    net = train(epochs=3, print_period=None)
    assert capsys.readouterr().out == ""
    assert net.optimizer.progress is None


def test_long_lines_are_cut_to_the_terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    stream = Terminal()
    bar = progress.Progress(10, 5, stream=stream)
    bar.end_epoch(1, 0.5, 0.25, 0.5, 1e-3, 250)
    assert max(len(part) for part in stream.getvalue().split("\r")) <= 39


def test_progress_bar_on_a_terminal(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    monkeypatch.setattr(progress, "REDRAW_INTERVAL", 0.0)  # draw every CG step
    net = train(epochs=6, print_period=3)
    out = terminal.getvalue()
    assert "\r[" in out and out.endswith("\n")
    assert "[################] epoch 6/6" in out
    assert re.search(r"\[#{2}-{14}\] epoch 1/6  train \S+  test \S+  damping \S+  "
                     r"CG \d+  \d+\.\d s", out)
    # CG iterations of the epoch in progress, as they happen
    assert re.search(r"\[#{2}-{14}\] epoch 2/6 [^\r]*CG 1/20\r", out)
    assert re.search(r"CG 2/20", out)
    # lines kept every print_period epochs (after epochs 0 and 3) and at the end
    kept = [line for line in out.split("\n")[:-1]
            if not line.split("\r")[-1].startswith("HF:")]  # the optimizer's own
    assert len(kept) == 3
    assert "epoch 1/6" in kept[0].split("\r")[-1]
    assert "epoch 4/6" in kept[1].split("\r")[-1]
    assert net.optimizer.progress is None  # detached after the run


def test_optimizer_printing_clears_the_bar(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    monkeypatch.setattr(progress, "REDRAW_INTERVAL", 0.0)
    train(epochs=2, print_period=1)
    out = terminal.getvalue()
    assert out.count("HF: CG") == 2
    for match in re.finditer("HF: CG", out):
        before = out[:match.start()]
        assert before == "" or before.endswith("\r") or before.endswith("\n")


def test_progress_without_damping_or_cg(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    train(epochs=2, test=False, optimizer=hf.opt.SGD(l_rate=0.1), print_period=5)
    out = terminal.getvalue()
    assert "train " in out and "damping" not in out and "CG" not in out


def test_stop_message_below_the_bar():
    stream = Terminal()
    bar = progress.Progress(10, 5, stream=stream)
    bar.end_epoch(1, 0.5, 0.25)
    bar.message("target error reached")
    assert stream.getvalue().endswith("\rtarget error reached\n")
    assert progress.Progress(10, None, stream=stream).terminal is False


def test_broken_stream_is_not_a_terminal():
    class Closed(io.StringIO):
        def isatty(self):
            raise ValueError("I/O operation on closed file")

    assert progress.Progress(3, 1, stream=Closed()).terminal is False


# ------------------------------------------------------------------- plots
def test_png_from_a_real_runs_plot_file(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from hessianfree.run import dataplotter

    prefix = str(tmp_path / "real")
    train(epochs=6, plotting=True, file_output=prefix, print_period=None)
    plots = dataplotter.load(prefix + "_plots.json")
    assert {"training error (log)", "test error (log)", "time (s)", "damping (log)",
            "CG iterations", "step size", "reduction ratio"} <= set(plots)
    assert all(len(series) == 6 for series in plots.values())

    image = dataplotter.save(prefix + "_plots.json", tmp_path / "run.png")
    with open(image, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(image)
    assert pixels.shape[:2] == (700, 1000)  # figsize (10, 7) at 100 dpi
    assert pixels[..., :3].std() > 0.05  # not a blank canvas
    dark = (pixels[..., :3].mean(axis=-1) < 0.5).mean()
    assert 0.005 < dark < 0.5

    fig = Figure()
    FigureCanvasAgg(fig)
    dataplotter.plot(plots, fig)
    titles = {ax.get_title(): ax for ax in fig.axes}
    names = {dataplotter.split_name(name)[0] for name in plots}
    assert set(titles) == {"error"} | names - {"training error", "test error"}
    assert titles["damping"].get_yscale() == "log"
    np.testing.assert_allclose(titles["CG iterations"].get_lines()[0].get_ydata(),
                               plots["CG iterations"])

    # the checkpoint holds the same series and renders without pickle
    assert dataplotter.load(prefix + "_checkpoint.npz") == plots
    image2 = dataplotter.save(prefix + "_checkpoint.npz", tmp_path / "ckpt.png")
    assert matplotlib.image.imread(image2).shape == pixels.shape


def test_bar_and_plain_lines_number_epochs_alike(monkeypatch, capsys):
    train(epochs=4, print_period=2)
    plain = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()
             if line.startswith("epoch")]
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    train(epochs=4, print_period=2)
    kept = [re.search(r"epoch \d+/4", line.split("\r")[-1])[0]
            for line in terminal.getvalue().split("\n")[:-1]
            if re.search(r"epoch \d+/4", line.split("\r")[-1])]
    assert plain == kept[:len(plain)] == ["epoch 1/4", "epoch 3/4"]
