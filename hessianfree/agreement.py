"""What the processes of a data-parallel run must agree on.

Under MPI every process must make the same collective calls in the same
order, or they wait for each other for ever.  Which calls a process makes
is decided by its ``run_epochs`` arguments: the number of epochs, the
stopping rules, the minibatch, the checkpoint it resumes from, the network
and the optimizer.  :func:`describe_run` checks one process's arguments
(exactly as the single-process code would) and describes all of that;
:func:`hessianfree.distributed.run_epochs` gathers the descriptions in one
``allgather``, before any other collective call, and
:func:`check_agreement` names the first argument on which they differ.
"""

import hashlib
import inspect
import json
import numbers

import numpy as np

from hessianfree import checkpoint
from hessianfree import run_state
from hessianfree import training
from hessianfree import validation as val
from hessianfree.nonlinearities import Plant
from hessianfree.run_checks import check_run_args


def _n_examples(inputs):
    if isinstance(inputs, Plant):
        return int(inputs.shape[0])
    return int(inputs.shape[0]) if hasattr(inputs, "shape") else len(inputs)


def _bound_arguments(net, kwargs):
    """All ``run_epochs`` arguments of this process, defaults filled in."""
    signature = inspect.signature(training.run_epochs)
    bound = signature.bind(net, **kwargs)  # TypeError for unknown arguments
    bound.apply_defaults()
    return bound.arguments


def _plain(value):
    """``value`` as a string if it is not a plain scalar (for comparing)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return repr(value)


#: Optimizer attributes that are not settings (or that only rank 0 uses).
_NOT_SETTINGS = ("net", "plots", "plotting", "progress", "last_status", "last_cg")


def _is_scalar(value):
    return value is None or isinstance(value, (bool, numbers.Real, str))


def optimizer_settings(optimizer):
    """The settings and scalar state of an optimizer, as comparable data."""
    settings = {"class": type(optimizer).__name__}
    for name, value in sorted(vars(optimizer).items()):
        if name not in _NOT_SETTINGS and _is_scalar(value):
            settings[name] = _plain(value)
    for name, value in optimizer.state_dict().items():
        if _is_scalar(value):
            settings[f"state.{name}"] = _plain(value)
    return settings


def _checkpoint_seen(net, args):
    """What ``resume=True`` would continue from on this process."""
    if not args["resume"]:
        return "not resuming"
    saved = run_state.read_checkpoint(net, args["optimizer"], args["file_output"])
    if saved is None:
        return f"no checkpoint ({checkpoint.checkpoint_filename(args['file_output'])!r})"
    digest = hashlib.sha256(np.ascontiguousarray(saved.W).tobytes()).hexdigest()[:12]
    return f"epoch {saved.run.epoch}, weights {digest}"


def describe_run(net, kwargs):
    """Check this process's ``run_epochs`` arguments (raising as the
    single-process code would) and describe everything that decides which
    collective calls it will make.

    Returns
    -------
    dict
        ``"n_examples"`` (this shard's size, which may differ) and, under
        the names used in error messages, the values every process must
        agree on.
    """
    args = _bound_arguments(net, kwargs)
    val.check_bool(args["plotting"], "plotting")
    check_run_args(*(args[name] for name in (
        "net", "inputs", "targets", "optimizer", "max_epochs", "minibatch_size",
        "test", "test_err", "target_err", "file_output", "print_period", "resume",
        "max_failures")))
    test_err = args["test_err"]
    return {
        "n_examples": _n_examples(args["inputs"]),
        "kind of inputs (data or a Plant)": isinstance(args["inputs"], Plant),
        "kind of test data (all or none)": args["test"] is not None,
        "minibatch_size": args["minibatch_size"],
        "max_epochs": args["max_epochs"],
        "target_err": _plain(float(args["target_err"])),
        "max_failures": args["max_failures"],
        "test_err": None if test_err is None else type(test_err).__name__,
        "callback (given or not)": args.get("callback") is not None,
        "resume": bool(args["resume"]),
        "checkpoint (resume=True)": _checkpoint_seen(net, args),
        "n_params": net.n_params,
        "network": run_state.describe_architecture(net),
        "optimizer": optimizer_settings(args["optimizer"]),
    }


#: Stands for a key that one process's description lacks.
ABSENT = "(absent)"


def _all_equal(values):
    """Whether ``values`` are equal as data (dict order and NaN aside)."""
    texts = [json.dumps(v, sort_keys=True, default=repr) for v in values]
    return all(text == texts[0] for text in texts)


def _first_difference(values):
    """For dicts that differ: ``(key, values by rank)`` of the first key
    whose values differ; else ``(None, values)``."""
    if all(isinstance(v, dict) for v in values):
        for key in dict.fromkeys(k for v in values for k in v):  # in order
            column = [v.get(key, ABSENT) for v in values]
            if not _all_equal(column):
                return key, column
    return None, values


def check_agreement(runs):
    """Raise ValueError naming the first argument on which the processes'
    :func:`describe_run` descriptions differ, with its values by rank."""
    for name in runs[0]:
        if name == "n_examples":
            continue
        values = [run[name] for run in runs]
        if _all_equal(values):
            continue
        key, column = _first_difference(values)
        what = name if key is None else f"{name} ({key})"
        raise ValueError(f"every process must pass the same {what}; got, by rank: "
                         f"{column}")
