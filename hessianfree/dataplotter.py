"""Show the training curves that :meth:`~hessianfree.ffnet.FFNet.run_epochs` records.

With ``plotting=True``, ``run_epochs`` keeps a dict of named series (training
and test error, damping, CG iterations, step size, ...) and pickles it to
``<file_output or "HF">_plots.pkl`` as training goes.  This module draws such
a dict: one subplot per series, epochs on the x axis.  A name ending in
``" (log)"`` gets a logarithmic y axis (the suffix is dropped from the title).

Typical use, in a second terminal while a network trains::

    python -m hessianfree.dataplotter HF_plots.pkl

or from Python ``hessianfree.dataplotter.run("HF_plots.pkl")``; the window
refreshes whenever the file changes.  :func:`save` renders the same figure to a
PNG without a display.

matplotlib is an optional dependency (``pip install "hessianfree[demos]"``);
it is imported only when a function here needs it.
"""

import argparse
import errno
import math
import os
import pickle
import sys
import warnings

LOG_SUFFIX = " (log)"
INSTALL_HINT = 'pip install "hessianfree[demos]"'

# matplotlib backends that cannot open a window (used when the backend
# registry of matplotlib >= 3.9 is not available)
_NONINTERACTIVE = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


def _matplotlib():
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("hessianfree.dataplotter needs matplotlib; install "
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


def load(filename):
    """Read a plot dict.

    Parameters
    ----------
    filename : str or os.PathLike
        File written by ``run_epochs(..., plotting=True)`` (a pickle,
        ``*_plots.pkl``), or a checkpoint ``*_checkpoint.npz`` written by
        ``run_epochs(..., file_output=...)``, which holds the same series and
        loads without pickle.

    Returns
    -------
    plots : dict
        Series name -> list of floats (one entry per epoch).

    Raises
    ------
    FileNotFoundError
        If ``filename`` does not exist (the message names it).
    TypeError
        If the file does not hold a dict.
    """
    if not isinstance(filename, (str, bytes, os.PathLike)):
        raise TypeError(f"filename must be a file name, got {type(filename).__name__}")
    filename = os.fsdecode(filename)
    if not os.path.exists(filename):
        raise FileNotFoundError(
            errno.ENOENT, f"plot data file {filename!r} not found (run_epochs "
            f"writes it when called with plotting=True)", filename)
    if filename.endswith(".npz"):
        from hessianfree import checkpoint
        return checkpoint.load_plots(filename)
    with open(filename, "rb") as f:
        plots = pickle.load(f)
    if not isinstance(plots, dict):
        raise TypeError(f"{filename!r} should hold a dict of name -> list of "
                        f"floats, not {type(plots).__name__}")
    return plots


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


def _grid(n):
    """Rows and columns for ``n`` subplots, as close to square as possible."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return max(1, math.ceil(n / cols)), cols


def plot(plots, fig=None):
    """Draw every series of ``plots`` into ``fig``, one subplot each.

    Parameters
    ----------
    plots : dict
        Series name -> sequence of floats.  Names ending in ``" (log)"`` get a
        log y axis.
    fig : matplotlib.figure.Figure, optional
        Figure to draw into (it is cleared first); a new pyplot figure if None.

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
    if not plots:
        fig.text(0.5, 0.5, "no data yet", ha="center", va="center")
        return fig
    from matplotlib.ticker import MaxNLocator

    rows, cols = _grid(len(plots))
    for i, (name, values) in enumerate(plots.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        title, log_scale = split_name(str(name))
        ax.plot(list(values))
        if log_scale:
            ax.set_yscale("log", nonpositive="mask")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def save(filename, image_filename=None, dpi=100):
    """Render the plots in ``filename`` to a PNG, without a display.

    Parameters
    ----------
    filename : str or os.PathLike
        Pickled plot dict (see :func:`load`).
    image_filename : str or os.PathLike, optional
        Output path; defaults to ``filename`` with its extension replaced by
        ``.png``.
    dpi : int, optional
        Resolution of the image.

    Returns
    -------
    image_filename : str
        Path of the written PNG.
    """
    plots = load(filename)
    if image_filename is None:
        image_filename = os.path.splitext(os.fspath(filename))[0] + ".png"
    image_filename = os.fspath(image_filename)
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7))
    FigureCanvasAgg(fig)
    plot(plots, fig)
    fig.savefig(image_filename, format="png", dpi=dpi)
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


def _mtime(filename):
    try:
        return os.stat(filename).st_mtime_ns
    except FileNotFoundError:
        return None


def reload_if_changed(filename, last_mtime):
    """Return ``(plots, mtime)`` if ``filename`` changed since ``last_mtime``.

    Returns ``(None, last_mtime)`` when the file is unchanged, missing, or
    still being written (unreadable pickle), so the caller tries again later.
    """
    mtime = _mtime(filename)
    if mtime is None or mtime == last_mtime:
        return None, last_mtime
    try:
        return load(filename), mtime
    except (EOFError, pickle.UnpicklingError, FileNotFoundError, ValueError):
        return None, last_mtime


def run(filename, interval=1.0):
    """Show the plots in ``filename`` and refresh them while the file changes.

    Opens a window with one subplot per series and checks the file's
    modification time every ``interval`` seconds, redrawing when training has
    written new data.  Returns when every window is closed.  With a
    non-interactive matplotlib backend (no display) it draws once, warns, and
    returns the figure; use :func:`save` to get an image instead.

    Parameters
    ----------
    filename : str or os.PathLike
        Pickled plot dict, e.g. ``"HF_plots.pkl"``.
    interval : float, optional
        Seconds between checks of the file.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    filename = os.fspath(filename)
    plots = load(filename)
    mtime = _mtime(filename)
    matplotlib = _matplotlib()
    plt = _pyplot()
    fig = plot(plots)
    if not _interactive_backend(matplotlib):
        warnings.warn(f"matplotlib backend {matplotlib.get_backend()!r} cannot "
                      "show a window; use hessianfree.dataplotter.save() to "
                      "write an image instead", stacklevel=2)
        return fig
    try:
        fig.canvas.manager.set_window_title(os.path.basename(filename))
    except AttributeError:
        pass
    plt.show(block=False)
    while plt.get_fignums():
        plt.pause(interval)
        new_plots, mtime = reload_if_changed(filename, mtime)
        if new_plots is not None and plt.fignum_exists(fig.number):
            plot(new_plots, fig)
            fig.canvas.draw_idle()
    return fig


def main(argv=None):
    """Command line: ``python -m hessianfree.dataplotter FILE [--save PNG]``."""
    parser = argparse.ArgumentParser(
        prog="python -m hessianfree.dataplotter",
        description="Show (and keep refreshing) the training curves pickled "
                    "by run_epochs(plotting=True).")
    parser.add_argument("filename", help="plot data file, e.g. HF_plots.pkl")
    parser.add_argument("--save", metavar="PNG", nargs="?", const="",
                        help="write a PNG instead of opening a window "
                             "(default name: FILE with .png)")
    args = parser.parse_args(argv)
    try:
        if args.save is not None:
            print(save(args.filename, args.save or None))
        else:
            run(args.filename)
    except (FileNotFoundError, TypeError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
