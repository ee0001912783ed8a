"""Tests for hessianfree.dataplotter (rendering without a display)."""

import importlib
import os
import pickle
import sys
import warnings

import pytest

pytest.importorskip("matplotlib")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hessianfree import dataplotter  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

PLOTS = {
    "training error (log)": [1.0, 0.3, 0.05, 0.004],
    "test error": [1.1, 0.5, 0.2, 0.1],
    "damping (log)": [1.0, 0.66, 1.5, 1e-3],
    "CG iterations": [2, 2, 1, 2],
}


def write_plots(path, plots=PLOTS):
    with open(path, "wb") as f:
        pickle.dump(plots, f)
    return path


def axes_by_title(fig):
    return {ax.get_title(): ax for ax in fig.axes}


def test_split_name():
    assert dataplotter.split_name("damping (log)") == ("damping", True)
    assert dataplotter.split_name("error") == ("error", False)
    assert dataplotter.split_name("(log) error") == ("(log) error", False)


def test_save_writes_png(tmp_path):
    pkl = write_plots(tmp_path / "HF_plots.pkl")
    image = dataplotter.save(pkl, tmp_path / "curves.png")
    assert image == str(tmp_path / "curves.png")
    data = open(image, "rb").read()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 1000


def test_save_default_image_name(tmp_path):
    pkl = write_plots(tmp_path / "run_plots.pkl")
    image = dataplotter.save(str(pkl))
    assert image == str(tmp_path / "run_plots.png")
    assert os.path.getsize(image) > 0


def test_plot_log_axes_and_titles():
    fig = Figure()
    FigureCanvasAgg(fig)
    dataplotter.plot(PLOTS, fig)
    axes = axes_by_title(fig)
    assert set(axes) == {"training error", "test error", "damping",
                         "CG iterations"}
    assert axes["training error"].get_yscale() == "log"
    assert axes["damping"].get_yscale() == "log"
    assert axes["test error"].get_yscale() == "linear"
    assert axes["CG iterations"].get_yscale() == "linear"
    line = axes["test error"].get_lines()[0]
    assert list(line.get_ydata()) == PLOTS["test error"]


def test_plot_redraw_replaces_axes():
    fig = Figure()
    FigureCanvasAgg(fig)
    dataplotter.plot(PLOTS, fig)
    dataplotter.plot({"error": [3.0, 2.0]}, fig)
    assert [ax.get_title() for ax in fig.axes] == ["error"]


def test_plot_empty_dict_and_bad_type():
    fig = Figure()
    FigureCanvasAgg(fig)
    dataplotter.plot({}, fig)
    assert fig.axes == []
    with pytest.raises(TypeError, match="plots must be a dict"):
        dataplotter.plot([1.0, 2.0], fig)


def test_load_roundtrip(tmp_path):
    pkl = write_plots(tmp_path / "HF_plots.pkl")
    assert dataplotter.load(pkl) == PLOTS


def test_load_missing_file_names_it(tmp_path):
    missing = tmp_path / "nothing_plots.pkl"
    with pytest.raises(FileNotFoundError, match="nothing_plots.pkl") as info:
        dataplotter.load(missing)
    assert info.value.filename == str(missing)
    with pytest.raises(FileNotFoundError, match="nothing_plots.pkl"):
        dataplotter.save(missing)


def test_load_rejects_non_dict(tmp_path):
    pkl = write_plots(tmp_path / "list_plots.pkl", [1.0, 2.0])
    with pytest.raises(TypeError, match="dict"):
        dataplotter.load(pkl)


def test_reload_if_changed(tmp_path):
    pkl = tmp_path / "HF_plots.pkl"
    plots, mtime = dataplotter.reload_if_changed(pkl, None)
    assert plots is None and mtime is None  # no file yet
    write_plots(pkl)
    plots, mtime = dataplotter.reload_if_changed(pkl, None)
    assert plots == PLOTS and mtime is not None
    assert dataplotter.reload_if_changed(pkl, mtime) == (None, mtime)
    pkl.write_bytes(b"\x80\x04")  # a pickle cut off mid-write
    os.utime(pkl, ns=(mtime + 10**9, mtime + 10**9))
    assert dataplotter.reload_if_changed(pkl, mtime) == (None, mtime)


def test_run_headless_returns(tmp_path, monkeypatch):
    import matplotlib
    import matplotlib.pyplot as plt

    monkeypatch.setattr(matplotlib, "get_backend", lambda: "agg")
    pkl = write_plots(tmp_path / "HF_plots.pkl")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = dataplotter.run(pkl)
    try:
        assert any("save()" in str(w.message) for w in caught)
        assert len(fig.axes) == len(PLOTS)
    finally:
        plt.close(fig)


def test_cli_save(tmp_path, capsys):
    pkl = write_plots(tmp_path / "HF_plots.pkl")
    out = tmp_path / "cli.png"
    assert dataplotter.main([str(pkl), "--save", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    assert dataplotter.main([str(tmp_path / "missing.pkl"), "--save"]) == 1
    assert "missing.pkl" in capsys.readouterr().err


def test_missing_matplotlib_message(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    module = importlib.reload(dataplotter)  # importing needs no matplotlib
    with pytest.raises(ImportError, match=r'pip install "hessianfree\[demos\]"'):
        module.plot({"error": [1.0]})
