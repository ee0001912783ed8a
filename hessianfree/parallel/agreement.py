"""What the processes of a data-parallel run must agree on.

Under MPI every process must make the same collective calls in the same
order, or they wait for each other for ever.  Which calls a process makes
is decided by its ``run_epochs`` arguments: the number of epochs, the
stopping rules, the minibatch (or its schedule), the checkpoint it resumes
from, the network, and every setting of the optimizer and of the objects it
holds (its preconditioner).  :func:`describe_run` checks one process's
arguments (all the checks the single-process code makes) and describes all
of that; :func:`hessianfree.parallel.distributed.run_epochs` gathers the
descriptions in one ``allgather``, before any other collective call, and
:func:`check_agreement` names the first setting on which they differ, with
every process's value.
"""

import hashlib
import inspect
import json
import numbers
import types

import numpy as np

from hessianfree.run import checkpoint
from hessianfree.run import run_state
from hessianfree.optim import schedule as schedules
from hessianfree.run import training
from hessianfree.layers.nonlinearities import Plant
from hessianfree.run.run_checks import check_run_args

#: Attributes that are not settings: the network, what an object carries
#: from one update to the next (an optimizer's is compared through its
#: ``state_dict``), plot series, and what only rank 0 uses.
NOT_SETTINGS = frozenset({"net", "state", "plots", "plotting", "progress", "last_status",
                          "last_cg", "last_error", "last_gradient_statistics"})
#: How deeply settings objects are followed (an optimizer's preconditioner's
#: settings are two levels down).
DEPTH = 3
#: Stands for a setting that one process's description lacks.
ABSENT = "(absent)"
#: Longest rendering of one process's value in a message.
SHOWN_CHARS = 240

_LEFT_OUT = object()  # a value that is not a setting (an array, a function)


def _bound_arguments(net, kwargs):
    """All ``run_epochs`` arguments of this process, defaults filled in."""
    signature = inspect.signature(training.run_epochs)
    bound = signature.bind(net, **kwargs)  # TypeError for unknown arguments
    bound.apply_defaults()
    return bound.arguments


def _is_scalar(value):
    return value is None or isinstance(value, (bool, np.bool_, numbers.Number, str))


def _plain(value):
    """A scalar as the Python type it compares and prints as."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, numbers.Number):
        return repr(value)
    return value


def _is_settings_object(value):
    """An instance that may hold settings (not an array, network, function,
    class or module)."""
    return (hasattr(value, "__dict__") and not callable(value) and not hasattr(value, "shape")
            and not isinstance(value, (type, types.ModuleType)))


def _setting(value, depth):
    """``value`` as comparable data, or ``_LEFT_OUT``."""
    if _is_scalar(value):
        return _plain(value)
    if isinstance(value, (list, tuple)):
        items = [_setting(item, depth) for item in value]
        return _LEFT_OUT if any(item is _LEFT_OUT for item in items) else items
    if isinstance(value, dict):
        items = {str(key): _setting(item, depth) for key, item in value.items()}
        return {key: item for key, item in items.items() if item is not _LEFT_OUT}
    if depth > 0 and _is_settings_object(value):
        return describe_settings(value, depth - 1)
    return _LEFT_OUT


def describe_settings(obj, depth=DEPTH):
    """The settings of an object (an optimizer, a preconditioner, a
    schedule, a loss) as comparable data.

    Parameters
    ----------
    obj : object
        Its settings are what ``obj.settings()`` returns if it has such a
        method, and its other public attributes (``vars(obj)``, leaving out
        :data:`NOT_SETTINGS`), so that a setting the method forgets still
        takes part.
    depth : int
        How many levels of objects held in settings are described the same
        way (e.g. a ``HessianFree``'s K-FAC preconditioner).

    Returns
    -------
    dict
        ``{"class": class name, setting: value, ...}`` in the object's
        order; values are scalars, lists, dicts and the descriptions of
        objects.  Arrays, networks, functions and objects deeper than
        ``depth`` are left out.
    """
    method = getattr(obj, "settings", None)
    items = dict(method()) if callable(method) else {}
    for name, value in vars(obj).items():
        if not (name.startswith("_") or name in NOT_SETTINGS or name in items):
            items[name] = value
    description = {"class": type(obj).__name__}
    for name, value in items.items():
        value = _setting(value, depth)
        if value is not _LEFT_OUT:
            description[name] = value
    return description


def optimizer_settings(optimizer):
    """Every setting of an optimizer (:func:`describe_settings`, including
    those of the objects it holds, such as its preconditioner) and, under
    ``"state"``, what its ``state_dict()`` holds but arrays and plot series
    (damping and counters, its preconditioner's counters)."""
    description = describe_settings(optimizer)
    state = _setting({name: value for name, value in optimizer.state_dict().items()
                      if name != "plots"}, DEPTH)
    if state:
        description["state"] = state
    return description


def _minibatch(minibatch_size):
    """``minibatch_size`` as comparable data: a number, None, or the
    settings of its schedule (``"auto"`` is the default schedule; not its
    current size, which every run starts from ``initial`` again)."""
    if isinstance(minibatch_size, str):
        minibatch_size = schedules.resolve(minibatch_size)
    if not isinstance(minibatch_size, schedules.VarianceSchedule):
        return minibatch_size
    description = describe_settings(minibatch_size)
    description.pop("size", None)
    return description


def _checkpoint_seen(net, args):
    """What ``resume=True`` would continue from on this process."""
    if not args["resume"]:
        return "not resuming"
    saved = run_state.read_checkpoint(net, args["optimizer"], args["file_output"])
    if saved is None:
        return f"no checkpoint ({checkpoint.checkpoint_filename(args['file_output'])!r})"
    digest = hashlib.sha256(np.ascontiguousarray(saved.W).tobytes()).hexdigest()[:12]
    return f"epoch {saved.run.epoch}, weights {digest}"


def describe_run(net, kwargs, root=True):
    """Check this process's ``run_epochs`` arguments (raising as the
    single-process code would) and describe everything that decides which
    collective calls it will make.

    Parameters
    ----------
    net : FFNet or RNNet
    kwargs : dict
        The arguments of :func:`hessianfree.run.training.run_epochs` but
        ``net``.
    root : bool
        Whether this process writes the output files (then it also checks
        that it can).

    Returns
    -------
    dict
        Under the names used in error messages, the values every process
        must agree on (plain data: scalars, lists and dicts).
    """
    args = _bound_arguments(net, kwargs)
    check_run_args(*(args[name] for name in (
        "net", "inputs", "targets", "optimizer", "max_epochs", "minibatch_size",
        "test", "test_err", "target_err", "file_output", "print_period", "resume",
        "max_failures")), plotting=args["plotting"], callback=args["callback"],
        write_files=root)
    test_err = args["test_err"]
    description = {
        "kind of inputs (data or a Plant)": isinstance(args["inputs"], Plant),
        "kind of test data (all or none)": args["test"] is not None,
        "minibatch_size": _minibatch(args["minibatch_size"]),
        "max_epochs": args["max_epochs"],
        "target_err": args["target_err"],
        "max_failures": args["max_failures"],
        "test_err": None if test_err is None else describe_settings(test_err),
        "callback (given or not)": args["callback"] is not None,
        "resume": bool(args["resume"]),
        "checkpoint (resume=True)": _checkpoint_seen(net, args),
        "n_params": net.n_params,
        "network": run_state.describe_architecture(net),
        "optimizer": optimizer_settings(args["optimizer"]),
    }
    return {name: _setting(value, DEPTH) for name, value in description.items()}


# ------------------------------------------------------------ comparing
def _text(value):
    """``value`` as canonical text (dict order aside; NaN equals NaN)."""
    return json.dumps(value, sort_keys=True, default=repr)


def _all_equal(values):
    texts = [_text(v) for v in values]
    return all(text == texts[0] for text in texts)


def _class(description):
    """The class a dict describes: its ``"class"`` (:func:`describe_settings`)
    or ``"type"`` (what ``settings()`` methods and architecture
    descriptions use), else None."""
    name = description.get("class", description.get("type"))
    return name if isinstance(name, str) else None


def _nested(values):
    """Whether the differing ``values`` are to be compared key by key:
    dicts of the same class (or of none)."""
    return (all(isinstance(v, dict) for v in values)
            and len({_class(v) for v in values}) == 1)


def first_difference(name, values):
    """``(path, values by rank)`` of the innermost setting on which
    ``values`` (one per process, not all equal) differ: ``name``, or
    ``name.key`` (``name.key.subkey``, ...) where they are descriptions of
    the same class that differ in ``key``; a key that a process lacks has
    the value :data:`ABSENT` there."""
    while _nested(values):
        for key in dict.fromkeys(k for v in values for k in v):  # in order
            column = [v.get(key, ABSENT) for v in values]
            if not _all_equal(column):
                name, values = f"{name}.{key}", column
                break
        else:  # equal key by key: nothing more precise to name
            break
    return name, values


def show(value):
    """A value of a description as a message shows it: an object's settings
    as ``Class(name=value, ...)``, strings quoted, at most
    :data:`SHOWN_CHARS` characters."""
    text = _show(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3] + "..."


def _show(value):
    if isinstance(value, str) and value == ABSENT:
        return ABSENT
    if isinstance(value, dict) and _class(value) is not None:
        key = "class" if "class" in value else "type"
        items = ", ".join(f"{k}={_show(v)}" for k, v in value.items() if k != key)
        return f"{value[key]}({items})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def _ranks(ranks):
    """``rank 3`` or ``ranks 0, 2-5``."""
    runs = []
    for r in ranks:
        if runs and r == runs[-1][1] + 1:
            runs[-1][1] = r
        else:
            runs.append([r, r])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
    return f"rank{'s' if len(ranks) > 1 else ''} {text}"


def by_rank(values):
    """``values`` (one per process) as ``rank 0: x; ranks 1-3: y``: the
    ranks that share a value grouped, in order of their first rank."""
    groups = {}
    for rank, value in enumerate(values):
        groups.setdefault(_text(value), (value, []))[1].append(rank)
    return "; ".join(f"{_ranks(ranks)}: {show(value)}" for value, ranks in groups.values())


def check_agreement(runs):
    """Raise ValueError naming the first setting on which the processes'
    :func:`describe_run` descriptions differ (:func:`first_difference`),
    with its value on every process (:func:`by_rank`), e.g. ``every process
    must pass the same optimizer.preconditioner.period; got rank 0: 1;
    rank 1: 3``."""
    for name in runs[0]:
        values = [run.get(name, ABSENT) for run in runs]
        if not _all_equal(values):
            path, column = first_difference(name, values)
            raise ValueError(f"every process must pass the same {path}; got "
                             f"{by_rank(column)}")
