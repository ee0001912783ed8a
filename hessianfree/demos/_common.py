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


def _curve_args(name, curves, resume=False):
    """``run_epochs`` arguments that record the training curves of demo
    ``name`` and its checkpoint (files ``<name>_plots.json``,
    ``<name>_weights.npy`` and ``<name>_checkpoint.npz`` in the current
    directory; :func:`_save_and_list` says what each is for), and continue
    from that checkpoint if ``resume``; or none."""
    if resume and not curves:
        raise ValueError("resume needs the checkpoint the demo writes, which "
                         "curves=False (--no-curves) turns off")
    return dict(plotting=True, file_output=name, resume=resume) if curves else {}


#: What each file a demo writes is for: (suffix, what it is, how to use it).
_FILES = (
    ("_model.npz", "the trained network (architecture and weights)",
     "net = hf.load({path!r})"),
    ("_weights.npy", "the weights with the lowest test (else training) error, as a "
     "bare vector", "hf.{cls}(<the same architecture>, load_weights={path!r})"),
    ("_checkpoint.npz", "the state of the run, to continue it",
     "run the demo again with --resume (resume=True in Python)"),
    ("_plots.json", "the training curves",
     "python -m hessianfree.run.dataplotter {path} (without a display: add --save "
     "{prefix}_curves.png), or hf.dataplotter.run({path!r})"),
)


def _save_and_list(net, file_output, curves):
    """Save the whole trained model as ``<file_output>_model.npz``
    (``net.save``) and list every file the demo wrote, with what it is for
    and how to use it; nothing without ``file_output`` or ``curves``."""
    if not curves or file_output is None:
        return
    import os

    try:
        net.save(f"{file_output}_model.npz")
    except TypeError as e:  # a custom layer (a plant) has no description
        print(f"the model is not saved as one file: {e}")
    paths = [(f"{file_output}{suffix}", what, use) for suffix, what, use in _FILES]
    paths = [entry for entry in paths if os.path.exists(entry[0])]
    width = max(len(path) for path, _, _ in paths)
    print("files written:")
    for path, what, use in paths:
        how = use.format(path=path, prefix=file_output, cls=type(net).__name__)
        print(f"  {path:<{width}}  {what}:\n  {'':<{width}}  {how}")


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
