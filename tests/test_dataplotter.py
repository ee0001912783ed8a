"""Tests for hessianfree.run.dataplotter and the plot file format (rendering
without a display; plot files that cannot run code)."""

import importlib
import json
import math
import os
import pickle
import sys

import numpy as np
import pytest

from hessianfree.run import plotfile

pytest.importorskip("matplotlib")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hessianfree.run import dataplotter  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

PLOTS = {
    "training error (log)": [1.0, 0.3, 0.05, 0.004],
    "test error (log)": [1.1, 0.5, 0.2, 0.1],
    "damping (log)": [1.0, 0.66, 1.5, 1e-3],
    "CG iterations": [2.0, 2.0, 1.0, 2.0],
}


def write_plots(path, plots=PLOTS):
    plotfile.write(path, plots)
    return path


def write_pickle(path, plots=PLOTS):
    with open(path, "wb") as f:
        pickle.dump(plots, f)
    return path


def new_figure():
    fig = Figure()
    FigureCanvasAgg(fig)
    return fig


def axes_by_title(fig):
    return {ax.get_title(): ax for ax in fig.axes}


class RunsCode:
    """Unpickling this creates a file: a stand-in for a malicious pickle."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_split_name():
    assert dataplotter.split_name("damping (log)") == ("damping", True)
    assert dataplotter.split_name("error") == ("error", False)
    assert dataplotter.split_name("(log) error") == ("(log) error", False)


# ------------------------------------------------------------ plot files
def test_plot_file_is_json_and_roundtrips_nan_as_null(tmp_path):
    path = tmp_path / "HF_plots.json"
    plotfile.write(path, {"a": [1.0, math.nan, math.inf, 2]})
    document = json.loads(path.read_text())  # strict JSON
    assert document == {"format": "hessianfree plots", "version": 1,
                        "series": {"a": [1.0, None, None, 2.0]}}
    back = dataplotter.load(path)
    assert back["a"][0] == 1.0 and math.isnan(back["a"][1]) and back["a"][3] == 2.0


def test_plot_filename():
    assert plotfile.plot_filename(None) == "HF_plots.json"
    assert plotfile.plot_filename("runs/mnist") == "runs/mnist_plots.json"


def test_load_roundtrip(tmp_path):
    assert dataplotter.load(write_plots(tmp_path / "HF_plots.json")) == PLOTS


def test_pickles_are_refused_without_opt_in(tmp_path):
    path = write_pickle(tmp_path / "HF_plots.pkl")
    with pytest.raises(ValueError, match="allow_pickle=True.*run code"):
        dataplotter.load(path)
    assert dataplotter.load(path, allow_pickle=True) == PLOTS


def test_crafted_pickle_runs_no_code_even_with_opt_in(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil_plots.pkl"
    with open(path, "wb") as f:
        pickle.dump({"error": [1.0], "x": RunsCode(marker)}, f)
    for allow in (False, True):
        with pytest.raises(ValueError, match="evil_plots.pkl"):
            dataplotter.load(path, allow_pickle=allow)
    assert not marker.exists()
    assert dataplotter.main([str(path), "--save", str(tmp_path / "x.png")]) == 1
    assert dataplotter.main([str(path), "--allow-pickle", "--save",
                             str(tmp_path / "x.png")]) == 1
    assert not marker.exists()


def test_legacy_pickle_of_the_original_package(tmp_path):
    """hessianfree 0.4 pickled a defaultdict(list) of NumPy scalars."""
    import collections
    plots = collections.defaultdict(list)
    plots["test error (log)"] += [np.float32(0.5), np.float64(0.25)]
    plots["CG iterations"] += [np.int64(3), 5]
    path = write_pickle(tmp_path / "HF_plots.pkl", plots)
    assert dataplotter.load(path, allow_pickle=True) == {
        "test error (log)": [0.5, 0.25], "CG iterations": [3.0, 5.0]}
    out = tmp_path / "legacy.png"
    assert dataplotter.main([str(path), "--allow-pickle", "--save", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.parametrize("content, match", [
    (b'{"format": "hessianfree plots", "version": 1, "series": {"a": ["x"]}}',
     "series 'a'"),
    (b'{"format": "hessianfree plots", "version": 1, "series": [1]}', "dict"),
    (b'{"format": "other"}', "not a hessianfree plot file"),
    (b'{"format": "hessianfree plots", "version": 7, "series": {}}', "version 7"),
    (b'{"format": ', "not a readable plot file"),
    (b"\x00\x01garbage", "not a JSON plot file"),
])
def test_bad_plot_files_are_refused_naming_the_file(tmp_path, content, match):
    path = tmp_path / "bad_plots.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        dataplotter.load(path)
    assert "bad_plots.json" in str(info.value)


def test_load_missing_file_names_it(tmp_path):
    missing = tmp_path / "nothing_plots.json"
    with pytest.raises(FileNotFoundError, match="nothing_plots.json") as info:
        dataplotter.load(missing)
    assert info.value.filename == str(missing)
    with pytest.raises(FileNotFoundError, match="nothing_plots.json"):
        dataplotter.save(missing)


# --------------------------------------------------------------- figures
def test_save_writes_png(tmp_path):
    image = dataplotter.save(write_plots(tmp_path / "HF_plots.json"),
                             tmp_path / "curves.png")
    assert image == str(tmp_path / "curves.png")
    data = open(image, "rb").read()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 1000


def test_save_default_image_name(tmp_path):
    image = dataplotter.save(str(write_plots(tmp_path / "run_plots.json")))
    assert image == str(tmp_path / "run_plots.png")
    assert os.path.getsize(image) > 0


def test_training_and_test_error_share_one_panel_with_labels_and_title():
    fig = dataplotter.plot(PLOTS, new_figure(), title="my run")
    assert fig._suptitle.get_text() == "my run"
    axes = axes_by_title(fig)
    assert set(axes) == {"error", "damping", "CG iterations"}
    error = axes["error"]
    assert [line.get_label() for line in error.get_lines()] == ["training error",
                                                                "test error"]
    assert list(error.get_lines()[1].get_ydata()) == PLOTS["test error (log)"]
    assert error.get_legend() is not None
    assert error.get_yscale() == "log" and axes["damping"].get_yscale() == "log"
    assert axes["CG iterations"].get_yscale() == "linear"
    assert error.get_ylabel() == "error (log scale)"
    assert axes["CG iterations"].get_ylabel() == "CG iterations"
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)


@pytest.mark.parametrize("values, log_scale, expected", [
    ([0.1, 0.1, 0.1], False, (0.05, 0.15)),
    ([0.0, 0.0], False, (-1.0, 1.0)),
    ([-4.0], False, (-6.0, -2.0)),
    ([3.0, 3.0], True, (1.0, 9.0)),
    ([1e8, 1e8 * (1 + 1e-12)], False, (5e7, 1.5e8)),
])
def test_constant_series_get_a_readable_range(values, log_scale, expected):
    name = "learning rate" + (" (log)" if log_scale else "")
    fig = dataplotter.plot({name: values}, new_figure())
    np.testing.assert_allclose(fig.axes[0].get_ylim(), expected, rtol=1e-6)
    assert dataplotter.value_range([1.0, 2.0], False) is None


def test_log_series_without_positive_values_falls_back_to_linear():
    fig = dataplotter.plot({"damping (log)": [0.0, 0.0], "x": [math.nan]}, new_figure())
    axes = axes_by_title(fig)
    assert axes["damping"].get_yscale() == "linear"
    assert "no finite values" in [t.get_text() for t in axes["x"].texts]


def test_plot_redraw_replaces_axes():
    fig = new_figure()
    dataplotter.plot(PLOTS, fig)
    dataplotter.plot({"error": [3.0, 2.0]}, fig)
    assert [ax.get_title() for ax in fig.axes] == ["error"]


def test_plot_empty_dict_and_bad_type():
    fig = new_figure()
    dataplotter.plot({}, fig)
    assert fig.axes == []
    with pytest.raises(TypeError, match="plots must be a dict"):
        dataplotter.plot([1.0, 2.0], fig)


def test_reload_if_changed(tmp_path):
    path = tmp_path / "HF_plots.json"
    plots, mtime = dataplotter.reload_if_changed(path, None)
    assert plots is None and mtime is None  # no file yet
    write_plots(path)
    plots, mtime = dataplotter.reload_if_changed(path, None)
    assert plots == PLOTS and mtime is not None
    assert dataplotter.reload_if_changed(path, mtime) == (None, mtime)
    path.write_bytes(b'{"format": "hessian')  # replaced by something unreadable
    os.utime(path, ns=(mtime + 10**9, mtime + 10**9))
    assert dataplotter.reload_if_changed(path, mtime) == (None, mtime)


@pytest.mark.parametrize("backend, display", [("agg", ":0"), ("tkagg", None)])
def test_run_without_a_display_saves_a_png_and_prints_its_path(
        tmp_path, monkeypatch, capsys, backend, display):
    import matplotlib

    monkeypatch.setattr(matplotlib, "get_backend", lambda: backend)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if display is None:
        monkeypatch.delenv("DISPLAY", raising=False)
    else:
        monkeypatch.setenv("DISPLAY", display)
    path = write_plots(tmp_path / "HF_plots.json")
    fig = dataplotter.run(path)
    image = tmp_path / "HF_plots.png"
    assert image.read_bytes()[:8] == PNG_SIGNATURE
    out = capsys.readouterr().out
    assert str(image) in out and ("DISPLAY" in out or backend in out)
    assert len(fig.axes) == 3


def test_display_detection(monkeypatch):
    import matplotlib

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":1")
    monkeypatch.setattr(matplotlib, "get_backend", lambda: "tkagg")
    assert dataplotter.no_display_reason() is None
    monkeypatch.setattr(matplotlib, "get_backend", lambda: "webagg")
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert dataplotter.no_display_reason() is None  # served to a browser
    monkeypatch.setattr(matplotlib, "get_backend",
                        lambda: "module://matplotlib_inline.backend_inline")
    assert "cannot show a window" in dataplotter.no_display_reason()


def test_cli_save(tmp_path, capsys):
    path = write_plots(tmp_path / "HF_plots.json")
    out = tmp_path / "cli.png"
    assert dataplotter.main([str(path), "--save", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    assert dataplotter.main([str(tmp_path / "missing.json"), "--save"]) == 1
    assert "missing.json" in capsys.readouterr().err


def test_cli_help_says_why_pickles_need_opt_in(capsys):
    with pytest.raises(SystemExit):
        dataplotter.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--allow-pickle" in text and "can run code" in text
    assert "HF_plots.json" in text  # the default file


def test_cli_default_file_is_hf_plots_json(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_plots(tmp_path / "HF_plots.json")
    assert dataplotter.main(["--save"]) == 0
    assert capsys.readouterr().out.strip() == "HF_plots.png"


def test_missing_matplotlib_message(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    module = importlib.reload(dataplotter)  # importing needs no matplotlib
    with pytest.raises(ImportError, match=r'pip install "hessianfree\[demos\]"'):
        module.plot({"error": [1.0]})


def test_epochs_on_the_x_axis_count_from_1():
    # as the progress bar and the training loop's messages number them
    fig = dataplotter.plot(PLOTS, fig=new_figure())
    for ax in fig.axes:
        for line in ax.get_lines():
            assert list(line.get_xdata()) == [1, 2, 3, 4], ax.get_title()
