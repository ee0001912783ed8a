"""What a training run saves in its checkpoint, and how it comes back.

:func:`checkpoint_contents` collects the state of a run (network weights,
optimizer state, rng state, errors, plot series, counters);
:func:`read_checkpoint` loads a checkpoint and checks *every* field against
the run that wants to continue it -- types, ranges, array shapes, the rng
state (tried on a copy of ``net.rng``) and the optimizer state (tried on a
copy of the optimizer) -- before :func:`restore` changes anything.  A
checkpoint that does not fit is refused with a ValueError naming the file
and the field, and the network and optimizer stay exactly as they were.
"""

import copy
import dataclasses
import math
import numbers
import os

import numpy as np

from hessianfree import checkpoint


@dataclasses.dataclass
class RunState:
    """Bookkeeping of one training run beyond the network and optimizer
    (saved in the checkpoint with them).

    Attributes
    ----------
    epoch : int
        Number of completed epochs.
    errors : list of float
        The (test, else training) error after each epoch.
    failures : int
        Failed (non-finite) updates in a row.
    elapsed : float
        Seconds of training so far (over all resumed calls).
    saved_epoch : int or None
        ``epoch`` of the checkpoint on disk (None: none written yet).
    """

    epoch: int = 0
    errors: list = dataclasses.field(default_factory=list)
    failures: int = 0
    elapsed: float = 0.0
    saved_epoch: int = None


@dataclasses.dataclass
class Saved:
    """A checkpoint's contents, checked and converted for one network."""

    W: np.ndarray
    best_W: np.ndarray
    best_error: float
    plots: dict
    rng_state: object
    optimizer_state: dict
    run: RunState


def checkpoint_contents(net, optimizer, run):
    """``(meta, arrays)`` for :func:`hessianfree.checkpoint.save`."""
    kind, state = checkpoint.rng_state(net.rng)
    meta = {"network": type(net).__name__, "n_params": net.n_params,
            "dtype": str(net.dtype), "optimizer": type(optimizer).__name__,
            "epoch": run.epoch, "errors": run.errors, "failures": run.failures,
            "elapsed": run.elapsed, "best_error": net.best_error, "plots": net.plots,
            "rng": {"kind": kind, "state": state},
            "optimizer_state": optimizer.state_dict()}
    return meta, {"W": net.W, "best_W": net.best_W}


# ------------------------------------------------------------ converters
def _count(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"must be an integer >= 0, got {value!r}")
    return int(value)


def _number(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"must be a number, got {value!r}")
    return float(value)


def _numbers(value):
    if not isinstance(value, list):
        raise ValueError(f"must be a list of numbers, got {type(value).__name__}")
    return [_number(v) for v in value]


def _plots(value):
    if not isinstance(value, dict):
        raise ValueError(f"must be a dict of name -> list of numbers, got "
                         f"{type(value).__name__}")
    return {str(name): _numbers(series) for name, series in value.items()}


def _field(meta, path, convert=lambda v: v):
    """``convert(meta[a][b]...)`` for ``path = "a.b"``; ValueError naming
    the field if it is missing or ``convert`` refuses it."""
    value = meta
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise ValueError(f"field {path!r} is missing")
        value = value[key]
    try:
        return convert(value)
    except (TypeError, ValueError, OverflowError) as e:
        raise ValueError(f"field {path!r} {e}") from None


# ------------------------------------------------------------ the checks
def _check_identity(net, optimizer, meta):
    own = {"network": type(net).__name__, "n_params": net.n_params,
           "dtype": str(net.dtype), "optimizer": type(optimizer).__name__}
    for key, value in own.items():
        saved = _field(meta, key)
        if saved != value:
            raise ValueError(f"it was written with {key} {saved!r}, this run "
                             f"has {value!r}")


def _weights(arrays, name, n_params):
    W = arrays.get(name)
    if W is None:
        raise ValueError(f"array {name!r} is missing")
    if W.shape != (n_params,) or W.dtype.kind != "f" or not np.all(np.isfinite(W)):
        raise ValueError(f"array {name!r} is not a finite vector of {n_params} floats")
    return W


def _rng_state(net, meta):
    kind, state = _field(meta, "rng.kind"), _field(meta, "rng.state")
    try:
        checkpoint.check_rng_state(net.rng, kind, state)
    except ValueError as e:
        raise ValueError(f"field 'rng': {e}") from None
    try:
        checkpoint.set_rng_state(copy.deepcopy(net.rng), state)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as e:
        raise ValueError(f"field 'rng.state' is not a valid state of a {kind} "
                         f"({type(e).__name__}: {e})") from None
    return state


def _optimizer_state(net, optimizer, meta):
    state = _field(meta, "optimizer_state")
    trial = copy.copy(optimizer)  # load_state_dict replaces, never mutates
    trial.net = net
    try:
        trial.load_state_dict(state)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"field 'optimizer_state' does not fit "
                         f"{type(optimizer).__name__}: {e}") from None
    return state


def _run_state(meta):
    epoch = _field(meta, "epoch", _count)
    errors = _field(meta, "errors", _numbers)
    if len(errors) != epoch:
        raise ValueError(f"field 'errors' has {len(errors)} entries for {epoch} epochs")
    elapsed = _field(meta, "elapsed", _number)
    if not (math.isfinite(elapsed) and elapsed >= 0):
        raise ValueError(f"field 'elapsed' must be finite and >= 0, got {elapsed!r}")
    return RunState(epoch=epoch, errors=errors, failures=_field(meta, "failures", _count),
                    elapsed=elapsed, saved_epoch=epoch)


def check_saved(net, optimizer, meta, arrays):
    """Check a loaded checkpoint against ``net`` and ``optimizer``; return
    its contents as a :class:`Saved`.  Changes nothing.

    Raises
    ------
    ValueError
        Naming the field (or array) that does not fit.
    """
    _check_identity(net, optimizer, meta)
    best_error = _field(meta, "best_error", _number)
    if math.isnan(best_error):
        raise ValueError("field 'best_error' is NaN")
    return Saved(W=_weights(arrays, "W", net.n_params),
                 best_W=_weights(arrays, "best_W", net.n_params),
                 best_error=best_error, plots=_field(meta, "plots", _plots),
                 rng_state=_rng_state(net, meta),
                 optimizer_state=_optimizer_state(net, optimizer, meta),
                 run=_run_state(meta))


def read_checkpoint(net, optimizer, file_output):
    """Load and check the checkpoint of ``file_output`` against this run.

    Returns a :class:`Saved`, or None when there is no checkpoint.  Raises
    ValueError naming the file and the field if it does not fit the network,
    optimizer or rng, or is damaged.
    """
    filename = checkpoint.checkpoint_filename(file_output)
    if not os.path.exists(filename):
        return None
    meta, arrays = checkpoint.load(filename)
    try:
        return check_saved(net, optimizer, meta, arrays)
    except ValueError as e:
        raise ValueError(f"cannot resume from {filename!r}: {e}") from e


def restore(net, optimizer, saved):
    """Put ``net`` and ``optimizer`` into the state of ``saved`` (from
    :func:`read_checkpoint`, so nothing here can fail); return its
    :class:`RunState`."""
    optimizer.net = net
    optimizer.load_state_dict(saved.optimizer_state)
    net.optimizer = optimizer
    net.W[...] = net.xp.asarray(saved.W, dtype=net.dtype)
    net.best_W = net.xp.asarray(saved.best_W, dtype=net.dtype)
    net.best_error = saved.best_error
    net.plots = saved.plots
    checkpoint.set_rng_state(net.rng, saved.rng_state)
    return saved.run
