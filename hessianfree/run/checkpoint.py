"""Crash-safe files for long training runs.

:func:`~hessianfree.run.training.run_epochs` with ``file_output`` set writes, at
the end of every epoch,

- ``<file_output>_weights.npy``: the best weights so far (``np.save``);
- ``<file_output>_checkpoint.npz``: everything needed to continue the run
  exactly -- the weights, the best weights and error, the optimizer state
  (damping, CG warm start, counters), the state of ``net.rng``, the errors and
  plot series so far and the number of completed epochs.

Every file is written by :func:`write_atomically`: to a temporary file in
the same directory, flushed and fsynced, then renamed over the old one.  A
crash, a kill or a full disk at any moment leaves either the old or the new
file, never a mixture.  The checkpoint is one ``.npz`` archive: the arrays,
plus a JSON document stored as a 0-d string array under the key ``"meta"``.
Both load with ``np.load(..., allow_pickle=False)``, so reading a checkpoint
cannot run code.
"""

import contextlib
import errno
import glob
import json
import math
import os
import secrets
import stat

import numpy as np

from hessianfree.base.backend import to_numpy

#: Version of the checkpoint layout; :func:`load` refuses other versions.
FORMAT_VERSION = 1
FORMAT_NAME = "hessianfree checkpoint"
TMP_PREFIX = ".tmp_"


class CheckpointError(OSError):
    """Writing the run's files failed (disk full, directory removed, no
    permission, ...).  The files of the last completed write are intact."""


def checkpoint_filename(file_output):
    """Name of the checkpoint for a ``file_output`` prefix."""
    return f"{os.fspath(file_output)}_checkpoint.npz"


def weights_filename(file_output):
    """Name of the best-weights file for a ``file_output`` prefix."""
    return f"{os.fspath(file_output)}_weights.npy"


def _fsync_directory(directory):
    """Make a rename in ``directory`` durable (where the OS allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. directories cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_temporary(filename):
    """Open a new temporary file beside ``filename``: ``(fd, path)``.

    It gets the permissions of ``filename`` if that exists, else those the
    user's umask gives a new file (not the 0600 of :func:`tempfile.mkstemp`).
    """
    directory, base = os.path.split(os.path.abspath(filename))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f"{TMP_PREFIX}{secrets.token_hex(4)}{base}")
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, stat.S_IMODE(os.stat(filename).st_mode))
        except FileNotFoundError:
            pass
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no free temporary file name", directory)


def write_atomically(filename, write):
    """Call ``write(fileobj)`` on a temporary file, then rename it over
    ``filename``, so that readers never see a half-written file.

    The temporary file is in the same directory (a rename across file systems
    would not be atomic), is flushed and fsynced before the rename, and is
    removed if anything fails.  The file keeps the permissions of the file
    it replaces; a new file gets those of the user's umask.

    Raises
    ------
    OSError
        Whatever the file system reported (``filename`` is unchanged).
    """
    filename = os.fspath(filename)
    directory = os.path.dirname(os.path.abspath(filename))
    fd, tmp = _create_temporary(filename)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filename)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_directory(directory)


def remove_stale_temporaries(filename):
    """Delete temporary files that a killed :func:`write_atomically` left
    next to ``filename``."""
    filename = os.fspath(filename)
    pattern = os.path.join(os.path.dirname(os.path.abspath(filename)),
                           glob.escape(TMP_PREFIX) + "*" +
                           glob.escape(os.path.basename(filename)))
    for path in glob.glob(pattern):
        with contextlib.suppress(OSError):
            os.remove(path)


# ------------------------------------------------------------- one writer
def lock_filename(file_output):
    """Name of the lock file a run holds while it writes under a prefix."""
    return f"{os.fspath(file_output)}.lock"


def _acquire(path, fcntl):
    """Lock ``path`` (created if needed) and write our pid into it; return
    the descriptor, or None where the file system cannot lock."""
    for _ in range(10):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            return holder or "?"
        except OSError:  # e.g. ENOLCK on some network file systems
            os.close(fd)
            return None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:  # the previous holder removed it meanwhile
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            return fd
        os.close(fd)
    return None


@contextlib.contextmanager
def exclusive_output(file_output):
    """Hold ``<file_output>.lock`` while the block runs, so that two
    processes never write the same run's files.

    Raises
    ------
    CheckpointError
        (``errno.EBUSY``) if another process holds the lock; the message
        names the file and that process's id.
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): no protection
        yield
        return
    path = lock_filename(file_output)
    fd = _acquire(path, fcntl)
    if isinstance(fd, str):
        raise CheckpointError(errno.EBUSY, f"file_output {os.fspath(file_output)!r}: "
                              f"another process (pid {fd}) is writing there (it "
                              f"holds {path!r}); wait for it to finish or choose "
                              f"another file_output")
    try:
        yield
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.remove(path)
            os.close(fd)


# ----------------------------------------------------------- JSON + arrays
def _is_array(value):
    return isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__")


def encode(value, name, arrays):
    """Split ``value`` into JSON and arrays.

    Arrays (NumPy or CuPy) go into ``arrays[name...]`` as NumPy arrays and
    are replaced by ``{"__array__": key}``; NumPy scalars become Python
    numbers; tuples become lists.
    """
    if _is_array(value):
        arrays[name] = to_numpy(value)
        return {"__array__": name}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"{name}: only str keys can be saved")
        return {k: encode(v, f"{name}.{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v, f"{name}.{i}", arrays) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{name}: cannot save a {type(value).__name__} in a checkpoint")


def decode(value, arrays):
    """Inverse of :func:`encode`."""
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {k: decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v, arrays) for v in value]
    return value


# -------------------------------------------------------------- rng state
def rng_state(rng):
    """State of a ``RandomState`` or ``Generator`` as ``(kind, state dict)``."""
    if isinstance(rng, np.random.RandomState):
        return "RandomState", rng.get_state(legacy=False)
    if isinstance(rng, np.random.Generator):
        return "Generator", rng.bit_generator.state
    raise TypeError(f"rng must be a numpy RandomState or Generator, got "
                    f"{type(rng).__name__}")


def check_rng_state(rng, kind, state):
    """Raise ValueError unless ``state`` (from :func:`rng_state`) fits ``rng``."""
    own_kind, own_state = rng_state(rng)
    saved = state.get("bit_generator") if isinstance(state, dict) else None
    if kind != own_kind or saved != own_state["bit_generator"]:
        raise ValueError(f"the checkpoint holds the state of a {kind} ({saved}), "
                         f"but net.rng is a {own_kind} ({own_state['bit_generator']}); "
                         f"build the network with the same kind of rng")


def set_rng_state(rng, state):
    """Restore ``state`` (from :func:`rng_state`) into ``rng`` in place."""
    if isinstance(rng, np.random.RandomState):
        rng.set_state(state)
    else:
        rng.bit_generator.state = state


# ------------------------------------------------------------- save/load
def save(filename, meta, arrays):
    """Write a checkpoint atomically.

    Parameters
    ----------
    filename : str or os.PathLike
    meta : dict
        JSON-compatible data; arrays inside it are split off with
        :func:`encode`.
    arrays : dict of str -> array
        Top-level arrays (``"W"``, ``"best_W"``, ...).
    """
    stored = {name: to_numpy(a) for name, a in arrays.items()}
    document = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                **encode(meta, "meta", stored)}
    text = json.dumps(document, allow_nan=True)
    write_atomically(filename, lambda f: np.savez(f, meta=np.array(text), **stored))


def check_format(document, filename, name, version, what):
    """Raise ValueError unless the JSON ``document`` read from ``filename``
    says it is format ``name``, ``version`` (``what`` names it)."""
    if not isinstance(document, dict) or document.get("format") != name:
        raise ValueError(f"{filename!r} is not a hessianfree {what}")
    if document.get("version") != version:
        raise ValueError(f"{filename!r} has {what} version "
                         f"{document.get('version')!r}; this hessianfree reads "
                         f"version {version}")


def load(filename):
    """Read a checkpoint written by :func:`save`.

    Returns
    -------
    meta : dict
        The JSON document with its arrays put back.
    arrays : dict of str -> ndarray
        The top-level arrays.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is not a readable checkpoint of this version.
    """
    filename = os.fspath(filename)
    try:
        with np.load(filename, allow_pickle=False) as data:
            stored = {name: data[name] for name in data.files}
        document = json.loads(str(stored.pop("meta")[()]))
    except FileNotFoundError:
        raise
    except Exception as e:  # zip, npy, JSON or key errors: a damaged file
        raise ValueError(f"{filename!r} is not a readable hessianfree checkpoint "
                         f"({type(e).__name__}: {e})") from e
    check_format(document, filename, FORMAT_NAME, FORMAT_VERSION, "checkpoint")
    try:
        meta = decode(document, stored)
    except KeyError as e:
        raise ValueError(f"{filename!r} is damaged: array {e} is missing") from e
    return meta, stored


def load_plots(filename):
    """The plot series stored in a checkpoint (dict name -> list of float)."""
    meta, _ = load(filename)
    plots = meta.get("plots", {})
    return {name: [float(v) if v is not None else math.nan for v in series]
            for name, series in plots.items()}
