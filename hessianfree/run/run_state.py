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
import json
import math
import numbers
import os

import numpy as np

from hessianfree.nets import architecture
from hessianfree.run import checkpoint


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
    schedule : hessianfree.optim.schedule.VarianceSchedule or None
        The minibatch schedule of ``minibatch_size="auto"``; its size is
        saved in the checkpoint and restored as ``minibatch_size``.
    minibatch_size : int or None
        The schedule's size read from a checkpoint.
    """

    epoch: int = 0
    errors: list = dataclasses.field(default_factory=list)
    failures: int = 0
    elapsed: float = 0.0
    saved_epoch: int = None
    schedule: object = None
    minibatch_size: int = None


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


#: Keys of an architecture description that fix how the weights are laid
#: out and what they mean; a checkpoint resumes only if they match.
STRUCTURE_KEYS = ("class", "shape", "layers", "conns", "rec_layers")


def _qualified_name(obj):
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def describe_architecture(net):
    """The architecture of ``net`` as JSON data: what ``net.save`` writes
    (:func:`hessianfree.nets.architecture.describe`), or, for networks with
    custom layers or losses, which that cannot describe, their class names.
    """
    try:
        return architecture.describe(net)
    except TypeError:  # a custom class
        pass
    description = {"class": type(net).__name__, "shape": list(net.shape),
                   "layers": [_qualified_name(layer) for layer in net.layers],
                   "conns": {str(pre): list(posts)
                             for pre, posts in sorted(net.conns.items())},
                   "loss": _qualified_name(net.loss_type), "dtype": str(net.dtype)}
    if hasattr(net, "rec_layers"):
        description["rec_layers"] = list(net.rec_layers)
    return description


def check_architecture(net, saved):
    """Raise ValueError naming the first structural difference between the
    description ``saved`` and ``net`` (None: nothing saved, nothing to check)."""
    if saved is None:  # written before checkpoints recorded it
        return
    if not isinstance(saved, dict):
        raise ValueError(f"field 'architecture' must be a dict, got "
                         f"{type(saved).__name__}")
    own = describe_architecture(net)
    if saved.get("format") != own.get("format"):
        # one network has custom layers or losses (described by class
        # names), the other not: compare the class names
        own = dict(own, layers=[_qualified_name(layer) for layer in net.layers])
        saved = dict(saved, layers=[architecture.class_name(entry)
                                    for entry in saved.get("layers") or []])
    for key in STRUCTURE_KEYS:
        if key in own and json.dumps(saved.get(key)) != json.dumps(own[key]):
            raise ValueError(f"field 'architecture': the checkpoint was written by a "
                             f"network with {key} {saved.get(key)!r}; this network "
                             f"has {key} {own[key]!r}")


def checkpoint_contents(net, optimizer, run):
    """``(meta, arrays)`` for :func:`hessianfree.run.checkpoint.save`."""
    kind, state = checkpoint.rng_state(net.rng)
    meta = {"network": type(net).__name__, "n_params": net.n_params,
            "architecture": describe_architecture(net),
            "dtype": str(net.dtype), "optimizer": type(optimizer).__name__,
            "epoch": run.epoch, "errors": run.errors, "failures": run.failures,
            "elapsed": run.elapsed, "best_error": net.best_error, "plots": net.plots,
            "rng": {"kind": kind, "state": state},
            "minibatch_size": None if run.schedule is None else run.schedule.size,
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
    size = meta.get("minibatch_size")
    if size is not None:
        size = _field(meta, "minibatch_size", _count)
    return RunState(epoch=epoch, errors=errors, failures=_field(meta, "failures", _count),
                    elapsed=elapsed, saved_epoch=epoch, minibatch_size=size or None)


def check_saved(net, optimizer, meta, arrays):
    """Check a loaded checkpoint against ``net`` and ``optimizer``; return
    its contents as a :class:`Saved`.  Changes nothing.

    Raises
    ------
    ValueError
        Naming the field (or array) that does not fit.
    """
    _check_identity(net, optimizer, meta)
    check_architecture(net, meta.get("architecture"))
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
    net.weights_changed()
    net.best_W = net.xp.asarray(saved.best_W, dtype=net.dtype)
    net.best_error = saved.best_error
    net.plots = saved.plots
    checkpoint.set_rng_state(net.rng, saved.rng_state)
    return saved.run


def start(net, optimizer, saved):
    """The :class:`RunState` of a run from scratch (``saved=None``) or
    resumed from ``saved``, with the network and optimizer set up for it."""
    if saved is not None:
        return restore(net, optimizer, saved)
    net.optimizer = optimizer
    net.best_W, net.best_error = net.W.copy(), np.inf
    net.plots, optimizer.plots = {}, {}
    return RunState()
