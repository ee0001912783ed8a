"""Plot files: the training curves that ``run_epochs(plotting=True)`` writes.

A plot file holds named series of numbers, one value per epoch (training
and test error, damping, CG iterations, ...).  It is a JSON document::

    {"format": "hessianfree plots", "version": 1,
     "series": {"training error (log)": [0.52, 0.31, null, ...], ...}}

A value that is NaN or infinite is stored as ``null`` (strict JSON has no
NaN) and read back as NaN.  Reading JSON cannot run code.

The original package (hessianfree 0.4) pickled the same dict to
``HF_plots.pkl``.  Unpickling a file can run arbitrary code, so
:func:`read` refuses pickles unless the caller passes ``allow_pickle=True``
for a file it trusts; even then only the types such a file holds (dicts,
lists, numbers, NumPy scalars and arrays) are accepted.
"""

import collections
import io
import json
import math
import os
import pickle

import numpy as np

from hessianfree.run import checkpoint

FORMAT_NAME = "hessianfree plots"
FORMAT_VERSION = 1
#: Largest plot file :func:`read` accepts (a run of millions of epochs).
MAX_BYTES = 256 * 2 ** 20
_ZIP_MAGIC = b"PK\x03\x04"


def plot_filename(file_output):
    """Name of the plot file for a ``file_output`` prefix (None: ``"HF"``),
    e.g. ``"runs/mnist_plots.json"``."""
    prefix = "HF" if file_output is None else os.fspath(file_output)
    return f"{prefix}_plots.json"


def dumps(plots):
    """The JSON text of a plot dict (name -> sequence of numbers)."""
    series = {str(name): [float(v) if math.isfinite(float(v)) else None for v in values]
              for name, values in plots.items()}
    return json.dumps({"format": FORMAT_NAME, "version": FORMAT_VERSION,
                       "series": series}, allow_nan=False)


def write(filename, plots):
    """Write ``plots`` to ``filename`` atomically (see
    :func:`hessianfree.run.checkpoint.write_atomically`)."""
    text = dumps(plots).encode("utf-8")
    checkpoint.write_atomically(filename, lambda f: f.write(text))


def _as_float(value):
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(type(value).__name__)
    return float(value)


def _series(plots, filename):
    """``plots`` as a dict of str -> list of float, or ValueError naming the
    file and the entry that is not."""
    if not isinstance(plots, dict):
        raise ValueError(f"{filename!r} should hold a dict of name -> list of "
                         f"numbers, not {type(plots).__name__}")
    result = {}
    for name, values in plots.items():
        try:
            if not isinstance(name, str) or not isinstance(values, (list, tuple)):
                raise TypeError(type(values).__name__)
            result[name] = [_as_float(v) for v in values]
        except (TypeError, ValueError, OverflowError) as e:
            raise ValueError(f"{filename!r}: series {name!r} must be a list of "
                             f"numbers (found {e})") from None
    return result


def parse(text, filename="<plots>"):
    """The series of a JSON plot document (ValueError if it is not one)."""
    try:
        document = json.loads(text)
    except ValueError as e:  # also UnicodeDecodeError
        raise ValueError(f"{filename!r} is not a readable plot file ({e})") from e
    checkpoint.check_format(document, filename, FORMAT_NAME, FORMAT_VERSION,
                            "plot file")
    return _series(document.get("series"), filename)


class _LegacyUnpickler(pickle.Unpickler):
    """Unpickles only what a hessianfree 0.4 plot file holds."""

    def find_class(self, module, name):
        try:
            from numpy._core import multiarray
        except ImportError:  # NumPy < 2
            from numpy.core import multiarray
        allowed = {("collections", "defaultdict"): collections.defaultdict,
                   ("builtins", "list"): list, ("__builtin__", "list"): list,
                   ("builtins", "dict"): dict, ("__builtin__", "dict"): dict,
                   ("numpy", "dtype"): np.dtype, ("numpy", "ndarray"): np.ndarray}
        for core in ("numpy.core.multiarray", "numpy._core.multiarray"):
            allowed[core, "scalar"] = multiarray.scalar
            allowed[core, "_reconstruct"] = multiarray._reconstruct
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not "
                                         f"part of a plot file")
        return allowed[module, name]


def _read_pickle(data, filename, allow_pickle):
    if not allow_pickle:
        raise ValueError(
            f"{filename!r} is not a JSON plot file; if it is a pickle from "
            f"hessianfree 0.4 (HF_plots.pkl), read it with allow_pickle=True "
            f"(command line: --allow-pickle), but only if you trust it: "
            f"unpickling a file can run code that it contains")
    try:
        plots = _LegacyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as e:  # noqa: BLE001 -- any unpickling failure
        raise ValueError(f"{filename!r} is not a readable plot pickle "
                         f"({type(e).__name__}: {e})") from e
    return _series(dict(plots) if isinstance(plots, dict) else plots, filename)


def read(filename, allow_pickle=False):
    """Read the plot series of a file.

    Parameters
    ----------
    filename : str or os.PathLike
        A JSON plot file (:func:`write`), a checkpoint ``*_checkpoint.npz``
        (which holds the same series), or, with ``allow_pickle``, a pickle
        from hessianfree 0.4.
    allow_pickle : bool
        Read a pickle.  Unpickling can run code stored in the file: pass True
        only for files you trust.

    Returns
    -------
    dict of str -> list of float

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is not one of the above, is larger than
        :data:`MAX_BYTES`, or is a pickle and ``allow_pickle`` is False.
    """
    filename = os.fspath(filename)
    with open(filename, "rb") as f:
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ValueError(f"{filename!r} is larger than {MAX_BYTES} bytes; not a "
                         f"plot file")
    if data.startswith(_ZIP_MAGIC):
        meta, _ = checkpoint.load(filename)
        return _series(meta.get("plots", {}), filename)
    if data.lstrip()[:1] == b"{":
        return parse(data.decode("utf-8", errors="replace"), filename)
    return _read_pickle(data, filename, allow_pickle)
