"""Helpers that the demos share: printing results, recording and drawing
training curves, merging argument overrides."""

import numpy as np

import hessianfree as hf
from hessianfree.data import datasets
from hessianfree.base.backend import to_numpy


def _report(net, inputs, targets):
    """Print the network's output next to the targets, and the final error."""
    outputs = to_numpy(net.forward(inputs)[-1])
    print("input -> output (target)")
    for x, y, t in zip(inputs, outputs, targets):
        print(f"  {np.array2string(x, precision=0)} -> "
              f"{np.array2string(y, precision=3, suppress_small=True)} "
              f"({np.array2string(t, precision=0)})")
    error = net.error(inputs=inputs, targets=targets)
    print(f"final error: {float(error):.4g}")
    return error


def _curve_args(name, curves):
    """``run_epochs`` arguments that record the training curves of demo
    ``name`` (files ``<name>_plots...``, ``<name>_weights.npy`` and
    ``<name>_checkpoint.npz`` in the current directory), or none."""
    return dict(plotting=True, file_output=name) if curves else {}


def _print_curves(file_output, curves):
    """Tell where ``run_epochs(plotting=True, file_output=...)`` recorded
    the training curves and how to view them."""
    if not curves:
        return
    from hessianfree.run import plotfile

    path = plotfile.plot_filename(file_output)
    print(f"training curves recorded in {path}; view them with\n"
          f"    python -m hessianfree.run.dataplotter {path}\n"
          f"or hf.dataplotter.run({path!r}) (without a display: "
          f"python -m hessianfree.run.dataplotter {path} --save "
          f"{file_output or 'HF'}_curves.png)")


def _pyplot():
    """``matplotlib.pyplot``, imported only when a demo draws."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError('plots=True needs matplotlib: pip install '
                          '"hessianfree[demos]", or pass plots=False') from e
    return plt


def _merged(defaults, overrides, name):
    """``defaults`` updated with the dict ``overrides`` (``dict.update``)."""
    if overrides is None:
        return dict(defaults)
    if not isinstance(overrides, dict):
        raise TypeError(f"{name} must be a dict of keyword arguments, got "
                        f"{type(overrides).__name__}")
    merged = dict(defaults)
    merged.update(overrides)
    return merged


def _as_random_state(rng, name="rng"):
    if rng is None:
        return np.random.RandomState()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return hf.layout.as_rng(rng)  # an int seed, as the networks take it
    if not isinstance(rng, (np.random.RandomState, np.random.Generator)):
        raise TypeError(f"{name} must be an int seed, a numpy.random.RandomState or "
                        f"Generator, got {type(rng).__name__}")
    return rng


def _show(plt, fig, name):
    """Show a demo's figure; without a display (a non-interactive matplotlib
    backend), save it as ``<name>.png`` and print the path instead."""
    import matplotlib

    backend = matplotlib.get_backend().lower()
    if backend in ("agg", "pdf", "ps", "svg", "cairo", "pgf", "template") or \
            backend.startswith("module://matplotlib_inline"):
        path = f"{name}.png"
        fig.savefig(path)
        print(f"no display: figure saved to {path}")
    else:
        plt.show()


def _mse(outputs, targets):
    """Mean squared error over the entries that have a (non-NaN) target."""
    mask = ~np.isnan(targets)
    return float(np.mean((to_numpy(outputs)[mask] - targets[mask]) ** 2))


def _dataset(data, allow_pickle):
    """``data`` if it is a :class:`~hessianfree.data.datasets.Dataset`, else
    ``datasets.load(data, allow_pickle=allow_pickle)``."""
    if isinstance(data, datasets.Dataset):
        return data
    return datasets.load(data, allow_pickle=allow_pickle)
