"""The record of one training run, and its checkpoint.

:func:`hessianfree.training.run_epochs` keeps, besides the network's
weights and the optimizer's state, a :class:`RunState` (epochs done, errors,
failures in a row, time).  Its checkpoint holds all three, so that a resumed
run (``resume=True``) ends exactly where an uninterrupted one would; this
module writes that record into the checkpoint's contents and restores it
(the file format is :mod:`hessianfree.checkpoint`'s).
"""

import dataclasses
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


def checkpoint_contents(net, optimizer, run):
    """What the checkpoint of ``run`` holds: ``(meta, arrays)`` for
    :func:`hessianfree.checkpoint.save`."""
    kind, state = checkpoint.rng_state(net.rng)
    meta = {"network": type(net).__name__, "n_params": net.n_params,
            "dtype": str(net.dtype), "optimizer": type(optimizer).__name__,
            "epoch": run.epoch, "errors": run.errors, "failures": run.failures,
            "elapsed": run.elapsed, "best_error": net.best_error, "plots": net.plots,
            "rng": {"kind": kind, "state": state},
            "optimizer_state": optimizer.state_dict()}
    return meta, {"W": net.W, "best_W": net.best_W}


def read_checkpoint(net, optimizer, file_output):
    """Load and check the checkpoint of ``file_output`` against this run.

    Returns ``(meta, arrays)``, or None when there is no checkpoint.  Raises
    ValueError if it does not fit the network, optimizer or rng.
    """
    filename = checkpoint.checkpoint_filename(file_output)
    if not os.path.exists(filename):
        return None
    meta, arrays = checkpoint.load(filename)
    try:
        check_checkpoint(net, optimizer, meta, arrays)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"cannot resume from {filename!r}: "
                         f"{e if not isinstance(e, KeyError) else f'{e} missing'}"
                         ) from e
    return meta, arrays


def check_checkpoint(net, optimizer, meta, arrays):
    """Raise ValueError (KeyError, TypeError) unless a checkpoint fits
    ``net``, ``optimizer`` and the network's rng."""
    own = {"network": type(net).__name__, "n_params": net.n_params,
           "dtype": str(net.dtype), "optimizer": type(optimizer).__name__}
    for key, value in own.items():
        if meta[key] != value:
            raise ValueError(f"it was written with {key} {meta[key]!r}, this run "
                             f"has {value!r}")
    for name in ("W", "best_W"):
        W = arrays[name]
        if W.shape != (net.n_params,) or W.dtype.kind != "f" or \
                not np.all(np.isfinite(W)):
            raise ValueError(f"{name} is not a finite vector of {net.n_params} floats")
    epoch, failures = meta["epoch"], meta["failures"]
    if not (isinstance(epoch, int) and isinstance(failures, int) and epoch >= 0
            and failures >= 0 and len(meta["errors"]) == epoch):
        raise ValueError("its epoch count or error list is inconsistent")
    checkpoint.check_rng_state(net.rng, meta["rng"]["kind"], meta["rng"]["state"])


def restore(net, optimizer, saved):
    """Put the network and optimizer into the checkpointed state."""
    meta, arrays = saved
    previous = optimizer.net
    optimizer.net = net  # load_state_dict converts arrays for this network
    try:
        optimizer.load_state_dict(meta["optimizer_state"])
    except (KeyError, TypeError, ValueError) as e:
        optimizer.net = previous
        raise ValueError(f"cannot resume: the optimizer state in the checkpoint "
                         f"does not fit: {e}") from e
    net.optimizer = optimizer
    net.W[...] = net.xp.asarray(arrays["W"], dtype=net.dtype)
    net.best_W = net.xp.asarray(arrays["best_W"], dtype=net.dtype)
    net.best_error = float(meta["best_error"])
    net.plots = {name: [float(v) for v in series]
                 for name, series in meta["plots"].items()}
    checkpoint.set_rng_state(net.rng, meta["rng"]["state"])
    return RunState(epoch=meta["epoch"], errors=[float(e) for e in meta["errors"]],
                    failures=meta["failures"], elapsed=float(meta["elapsed"]),
                    saved_epoch=meta["epoch"])


def start(net, optimizer, saved):
    """The :class:`RunState` of a run from scratch (``saved=None``) or
    resumed from ``saved``, with the network and optimizer set up for it."""
    if saved is not None:
        return restore(net, optimizer, saved)
    net.optimizer = optimizer
    net.best_W, net.best_error = net.W.copy(), np.inf
    net.plots, optimizer.plots = {}, {}
    return RunState()
