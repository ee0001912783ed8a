"""Show the training curves that :meth:`~hessianfree.nets.ffnet.FFNet.run_epochs` records.

With ``plotting=True``, ``run_epochs`` keeps a dict of named series (training
and test error, damping, CG iterations, step size, ...) and writes it to the
JSON file ``<file_output or "HF">_plots.json`` after every epoch
(:mod:`hessianfree.run.plotfile`).  This module draws such a dict: training and
test error share one panel, every other series gets its own, with epochs on
the x axis and the series' name on the y axis.  A name ending in
``" (log)"`` gets a logarithmic y axis (the suffix is dropped from the
labels).

Typical use, in a second terminal while a network trains::

    python -m hessianfree.run.dataplotter HF_plots.json

or from Python ``hessianfree.run.dataplotter.run("HF_plots.json")``; the window
refreshes whenever the file changes.  Without a display (no ``DISPLAY`` on
Linux, or a non-interactive matplotlib backend such as Agg) :func:`run`
writes a PNG instead and prints its path; :func:`save` always does.

Plot files are read without pickle.  The original package's
``HF_plots.pkl`` pickles are read only with ``allow_pickle=True`` (command
line: ``--allow-pickle``): unpickling can run code stored in the file.

matplotlib is an optional dependency (``pip install "hessianfree[demos]"``);
it is imported only when a function here needs it.
"""

import argparse
import errno
import math
import os
import sys

from hessianfree.run import plotfile
from hessianfree.base import validation as val

LOG_SUFFIX = " (log)"
INSTALL_HINT = 'pip install "hessianfree[demos]"'
#: Series drawn together in the first panel, under this label.
ERROR_SERIES = ("training error", "test error")
ERROR_LABEL = "error"
DEFAULT_TITLE = "hessianfree training curves"

# matplotlib backends that cannot open a window (used when the backend
# registry of matplotlib >= 3.9 is not available)
_NONINTERACTIVE = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


def _matplotlib():
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("hessianfree.run.dataplotter needs matplotlib; install "
                          f"it with: {INSTALL_HINT}") from e
    return matplotlib


def _pyplot():
    _matplotlib()
    import matplotlib.pyplot as plt
    return plt


def split_name(name):
    """Split a series name into ``(title, log_scale)``.

    >>> split_name("damping (log)")
    ('damping', True)
    >>> split_name("training error")
    ('training error', False)
    """
    if name.endswith(LOG_SUFFIX):
        return name[:-len(LOG_SUFFIX)], True
    return name, False


def load(filename, allow_pickle=False):
    """Read a plot dict.

    Parameters
    ----------
    filename : str or os.PathLike
        A plot file written by ``run_epochs(..., plotting=True)``
        (``*_plots.json``), or a checkpoint ``*_checkpoint.npz`` written by
        ``run_epochs(..., file_output=...)``, which holds the same series.
    allow_pickle : bool, optional
        Also read a pickle written by hessianfree 0.4 (``HF_plots.pkl``).
        Unpickling can run code stored in the file; pass True only for files
        you trust.

    Returns
    -------
    plots : dict
        Series name -> list of floats (one entry per epoch).

    Raises
    ------
    FileNotFoundError
        If ``filename`` does not exist (the message names it).
    ValueError
        If the file is not a plot file (or is a pickle and ``allow_pickle``
        is False).
    """
    if not isinstance(filename, (str, bytes, os.PathLike)):
        raise TypeError(f"filename must be a file name, got {type(filename).__name__}")
    allow_pickle = val.check_bool(allow_pickle, "allow_pickle")
    filename = os.fsdecode(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(
            errno.ENOENT, f"plot data file {filename!r} not found (run_epochs "
            f"writes it when called with plotting=True)", filename)
    return plotfile.read(filename, allow_pickle=allow_pickle)


def _as_series(name, values):
    """``values`` as a list of floats, or TypeError naming the series."""
    try:
        if isinstance(values, (str, bytes, dict)):
            raise TypeError
        return [float(v) for v in values]
    except (TypeError, ValueError):
        text = repr(values)
        raise TypeError(f"plots[{name!r}] must be a list of numbers, got "
                        f"{type(values).__name__}: {text[:60]}") from None


def _panels(plots):
    """Group the series into panels: ``[(label, log_scale, [(name, values)])]``,
    training and test error first and together."""
    errors, others = [], []
    for name, values in plots.items():
        title, log_scale = split_name(str(name))
        if title in ERROR_SERIES:
            errors.append((title, log_scale, values))
        else:
            others.append((title, log_scale, [(title, values)]))
    panels = others
    if errors:
        log_scale = all(log for _, log, _ in errors)
        panels.insert(0, (ERROR_LABEL, log_scale,
                          [(title, values) for title, _, values in errors]))
    return panels


def _grid(n):
    """Rows and columns for ``n`` subplots, as close to square as possible."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return max(1, math.ceil(n / cols)), cols


def value_range(values, log_scale):
    """y limits for a series that is constant (to rounding), else None.

    matplotlib would zoom into the rounding noise of a constant series, or
    show no tick at all on a log axis; a constant ``v`` gets ``v / 3 .. 3 v``
    on a log axis and ``v +- |v| / 2`` (``-1 .. 1`` for 0) on a linear one.
    """
    finite = [v for v in values if math.isfinite(v) and (v > 0 or not log_scale)]
    if not finite:
        return None
    low, high = min(finite), max(finite)
    if high - low > 1e-9 * max(abs(low), abs(high)):
        return None
    if log_scale:
        return low / 3, high * 3
    spread = abs(low) / 2 or 1.0
    return low - spread, high + spread


def _draw_panel(ax, label, log_scale, lines):
    from matplotlib.ticker import MaxNLocator

    values = [v for _, series in lines for v in series]
    if log_scale and not any(math.isfinite(v) and v > 0 for v in values):
        log_scale = False  # nothing to show on a log axis
    for name, series in lines:
        ax.plot(range(1, len(series) + 1), series, label=name)  # epochs from 1
    if log_scale:
        ax.set_yscale("log", nonpositive="mask")
    limits = value_range(values, log_scale)
    if limits is not None:
        ax.set_ylim(*limits)
    if not any(math.isfinite(v) for v in values):
        ax.text(0.5, 0.5, "no finite values", ha="center", va="center",
                transform=ax.transAxes)
    if len(lines) > 1:
        ax.legend()
    ax.set_title(label)
    ax.set_ylabel(label + (" (log scale)" if log_scale else ""))
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot(plots, fig=None, title=DEFAULT_TITLE):
    """Draw the series of ``plots`` into ``fig``.

    Training and test error share the first panel (with a legend); every
    other series gets a panel of its own.  Each panel has the epoch on its x
    axis (counting from 1, as the progress bar does) and the series' name as
    its title and y label.

    Parameters
    ----------
    plots : dict
        Series name -> sequence of floats.  Names ending in ``" (log)"`` get a
        log y axis.
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (it is cleared first); a new pyplot figure if None.
    title : str, optional
        Title of the figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    if not isinstance(plots, dict):
        raise TypeError(f"plots must be a dict of name -> list of floats, "
                        f"not {type(plots).__name__}")
    plots = {name: _as_series(name, values) for name, values in plots.items()}
    if fig is None:
        fig = _pyplot().figure(figsize=(10, 7))
    fig.clear()
    fig.suptitle(str(title))
    if not plots:
        fig.text(0.5, 0.5, "no data yet", ha="center", va="center")
        return fig
    panels = _panels(plots)
    rows, cols = _grid(len(panels))
    for i, panel in enumerate(panels):
        _draw_panel(fig.add_subplot(rows, cols, i + 1), *panel)
    fig.tight_layout()
    return fig


def _render(plots, image_filename, dpi, title):
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7))
    FigureCanvasAgg(fig)
    plot(plots, fig, title=title)
    fig.savefig(image_filename, format="png", dpi=dpi)
    return fig


def default_image_name(filename):
    """``filename`` with its extension replaced by ``.png``."""
    return os.path.splitext(os.fspath(filename))[0] + ".png"


def save(filename, image_filename=None, dpi=100, allow_pickle=False):
    """Render the plots in ``filename`` to a PNG, without a display.

    Parameters
    ----------
    filename : str or os.PathLike
        Plot file (see :func:`load`).
    image_filename : str or os.PathLike, optional
        Output path; defaults to ``filename`` with its extension replaced by
        ``.png``.
    dpi : int, optional
        Resolution of the image.
    allow_pickle : bool, optional
        See :func:`load`.

    Returns
    -------
    image_filename : str
        Path of the written PNG.
    """
    plots = load(filename, allow_pickle=allow_pickle)
    image_filename = os.fspath(image_filename if image_filename is not None
                               else default_image_name(filename))
    _render(plots, image_filename, dpi, os.path.basename(os.fspath(filename)))
    return image_filename


def _interactive_backend(matplotlib):
    """False for backends that cannot show a window (Agg, PDF, inline, ...)."""
    backend = matplotlib.get_backend().lower()
    if "inline" in backend:
        return False
    try:
        from matplotlib.backends import BackendFilter, backend_registry
    except ImportError:  # matplotlib < 3.9
        return backend not in _NONINTERACTIVE
    builtin = backend_registry.list_builtin(BackendFilter.NON_INTERACTIVE)
    return backend not in {b.lower() for b in builtin}


def no_display_reason(matplotlib=None):
    """Why figures cannot be shown here, or None if they can.

    They cannot with a non-interactive matplotlib backend (Agg, PDF, a
    notebook's inline backend, ...), nor on Linux and the BSDs without an X11
    or Wayland display (``DISPLAY``/``WAYLAND_DISPLAY`` unset) unless the
    backend serves figures through a browser (WebAgg, ipympl).
    """
    matplotlib = matplotlib or _matplotlib()
    backend = matplotlib.get_backend()
    if not _interactive_backend(matplotlib):
        return f"matplotlib backend {backend!r} cannot show a window"
    web = any(key in backend.lower() for key in ("webagg", "nbagg", "ipympl", "widget"))
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")) and not web \
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    return None


def _mtime(filename):
    try:
        return os.stat(filename).st_mtime_ns
    except FileNotFoundError:
        return None


def reload_if_changed(filename, last_mtime, allow_pickle=False):
    """Return ``(plots, mtime)`` if ``filename`` changed since ``last_mtime``.

    Returns ``(None, last_mtime)`` when the file is unchanged, missing, or
    unreadable (e.g. replaced by something else), so the caller tries again
    later.
    """
    mtime = _mtime(filename)
    if mtime is None or mtime == last_mtime:
        return None, last_mtime
    try:
        return load(filename, allow_pickle=allow_pickle), mtime
    except (FileNotFoundError, ValueError):
        return None, last_mtime


def run(filename, interval=1.0, allow_pickle=False):
    """Show the plots in ``filename`` and refresh them while the file changes.

    Opens a window and checks the file's modification time every
    ``interval`` seconds, redrawing when training has written new data.
    Returns when every window is closed.  Without a display
    (:func:`no_display_reason`) it writes the figure to a PNG next to
    ``filename`` instead, prints that path, and returns.

    Parameters
    ----------
    filename : str or os.PathLike
        Plot file, e.g. ``"HF_plots.json"`` (see :func:`load`).
    interval : float, optional
        Seconds between checks of the file.
    allow_pickle : bool, optional
        See :func:`load`.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plots = load(filename, allow_pickle=allow_pickle)
    filename = os.fsdecode(filename)
    mtime = _mtime(filename)
    title = os.path.basename(filename)
    reason = no_display_reason()
    if reason is not None:
        image = default_image_name(filename)
        fig = _render(plots, image, 100, title)
        print(f"{reason}: saved the training curves to {image}")
        return fig
    plt = _pyplot()
    fig = plot(plots, title=title)
    try:
        fig.canvas.manager.set_window_title(title)
    except AttributeError:
        pass
    plt.show(block=False)
    while plt.get_fignums():
        plt.pause(interval)
        new_plots, mtime = reload_if_changed(filename, mtime, allow_pickle)
        if new_plots is not None and plt.fignum_exists(fig.number):
            plot(new_plots, fig, title=title)
            fig.canvas.draw_idle()
    return fig


def main(argv=None):
    """Command line: ``python -m hessianfree.run.dataplotter [FILE] [--save [PNG]]
    [--allow-pickle]``."""
    parser = argparse.ArgumentParser(
        prog="python -m hessianfree.run.dataplotter",
        description="Show (and keep refreshing) the training curves that "
                    "run_epochs(plotting=True) writes.  Without a display, "
                    "write them to a PNG and print its path.")
    parser.add_argument("filename", nargs="?", default=plotfile.plot_filename(None),
                        help="plot file (default: %(default)s), or a "
                             "*_checkpoint.npz")
    parser.add_argument("--save", metavar="PNG", nargs="?", const="",
                        help="write a PNG instead of opening a window "
                             "(default name: FILE with .png)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="also read a pickled plot file of hessianfree 0.4 "
                             "(HF_plots.pkl).  Unpickling can run code stored in "
                             "the file, so use this only for files you trust")
    args = parser.parse_args(argv)
    try:
        if args.save is not None:
            print(save(args.filename, args.save or None, allow_pickle=args.allow_pickle))
        else:
            run(args.filename, allow_pickle=args.allow_pickle)
    except (OSError, ValueError, TypeError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
