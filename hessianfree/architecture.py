"""A network's architecture as plain data, and a network rebuilt from it.

:func:`describe` turns an :class:`~hessianfree.FFNet` or
:class:`~hessianfree.RNNet` into a JSON-able dict (shape, layers with their
parameters, connections, loss, recurrent layers, truncation, dtype); no
weights.  :func:`build` makes a new network from such a dict.  :func:`save`
and :func:`load` (``net.save(path)`` and ``hf.load(path)``) store the
description as JSON next to the weights in one ``.npz`` file, with no pickle,
so loading a file cannot run code.

Only the library's own nonlinearities and losses can be described, each
through the arguments of its constructor (read back from the attributes of
the same name).  A custom class, or a subclass of a built-in, raises a
:class:`TypeError` naming it: keep the code that builds such a network and
save its weights with ``np.save(path, net.W)``.  A link to a live object is
not data: :class:`~hessianfree.loss_funcs.StructuralDamping`'s ``optimizer``
is saved as None, so a loaded network's structural damping uses
:math:`\\lambda = 1` until that attribute is set again.
"""

import inspect
import json
import numbers
import os

import numpy as np

from hessianfree import backend, loss_funcs, nonlinearities
from hessianfree import validation as val

#: Value of the ``"format"`` key of a description.
FORMAT = "hessianfree-architecture-1"

#: Built-in classes a description may name, by name.
_NONLINEARITIES = {name: getattr(nonlinearities, name) for name in (
    "Linear", "Tanh", "Logistic", "ReLU", "Gaussian", "Softmax", "SoftLIF",
    "Continuous")}
_LOSSES = {name: getattr(loss_funcs, name) for name in (
    "SquaredError", "CrossEntropy", "ClassificationError", "SparseL1", "SparseL2",
    "StructuralDamping", "LossSet")}
#: Constructor arguments that refer to live objects, recorded as None.
_LINKS = ("optimizer",)


def _plain(value, where):
    """``value`` as JSON data (arrays become lists); TypeError naming
    ``where`` if it cannot be."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, nonlinearities.Nonlinearity):
        return _describe_object(value, _NONLINEARITIES, where)
    if isinstance(value, loss_funcs.LossFunction):
        return _describe_object(value, _LOSSES, where)
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return _plain(backend.to_numpy(value).tolist(), where)
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"cannot describe {where}: {type(value).__name__} is not "
                    f"plain data")


def _init_parameters(cls):
    """``(name, kind)`` of the constructor's parameters, ``self`` first; none
    beyond ``self`` for a class that keeps the base class's constructor."""
    if cls.__init__ in (nonlinearities.Nonlinearity.__init__, object.__init__):
        return [("self", None)]
    return [(name, p.kind) for name, p in
            inspect.signature(cls.__init__).parameters.items()]


def _describe_object(obj, known, where):
    """``{"type": name, "params": {...}}`` for a built-in nonlinearity or loss."""
    name = type(obj).__name__
    if known.get(name) is not type(obj):
        raise TypeError(
            f"cannot describe {where}: {type(obj).__module__}.{type(obj).__qualname__} "
            f"is not one of the library's built-in classes ({', '.join(known)}); "
            f"rebuild the network in code and save its weights with "
            f"np.save(path, net.W)")
    params = {}
    for param, kind in _init_parameters(type(obj))[1:]:
        if kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if param in _LINKS:
            params[param] = None
            continue
        if not hasattr(obj, param):
            raise TypeError(f"cannot describe {where}: {name} has no attribute "
                            f"{param!r} to read its argument from")
        params[param] = _plain(getattr(obj, param), f"{where} ({name}.{param})")
    return {"type": name, "params": params}


def class_name(entry):
    """The qualified class name (``module.qualname``) of a layer or loss as
    a description names it: a ``{"type", "params"}`` entry of a built-in, or
    a str, returned as is."""
    if isinstance(entry, dict) and entry.get("type") in {**_NONLINEARITIES, **_LOSSES}:
        cls = {**_NONLINEARITIES, **_LOSSES}[entry["type"]]
        return f"{cls.__module__}.{cls.__qualname__}"
    return entry if isinstance(entry, str) else repr(entry)


def describe(net):
    """The architecture of a network as JSON-able data.

    Parameters
    ----------
    net : FFNet or RNNet
        A network whose layers and loss are the library's built-ins.

    Returns
    -------
    dict
        ``format``, ``class`` (``"FFNet"`` or ``"RNNet"``), ``shape``,
        ``layers`` (one ``{"type", "params"}`` per layer), ``conns`` (keys as
        strings, as JSON requires), ``loss``, ``dtype``, ``debug`` and, for an
        RNNet, ``rec_layers`` and ``truncation``.  Two networks with equal
        descriptions compute the same function of the same weights.

    Raises
    ------
    TypeError
        If ``net`` is not an FFNet or RNNet (or is a subclass of one), or a
        layer or loss is a custom class; the message names the class.
    """
    cls = _network_class(type(net).__name__)
    if cls is None or type(net) is not cls:
        raise TypeError(f"net must be a hessianfree.FFNet or hessianfree.RNNet, got "
                        f"{type(net).__module__}.{type(net).__qualname__}")
    description = {
        "format": FORMAT, "class": cls.__name__, "shape": list(net.shape),
        "layers": [_describe_object(layer, _NONLINEARITIES, f"layers[{i}]")
                   for i, layer in enumerate(net.layers)],
        "conns": {str(pre): list(posts) for pre, posts in sorted(net.conns.items())},
        "loss": _describe_object(net.loss_type, _LOSSES, "loss"),
        "dtype": np.dtype(net.dtype).name, "debug": bool(net.debug)}
    if cls.__name__ == "RNNet":
        description["rec_layers"] = list(net.rec_layers)
        description["truncation"] = (None if net.truncation is None
                                     else list(net.truncation))
    return description


def _network_class(name):
    import hessianfree  # the public namespace (imports this module's users)
    return {"FFNet": hessianfree.FFNet, "RNNet": hessianfree.RNNet}.get(name)


def _rebuild(spec, known, where):
    """The object a ``{"type", "params"}`` entry describes."""
    if not isinstance(spec, dict) or set(spec) != {"type", "params"} \
            or not isinstance(spec["params"], dict):
        raise ValueError(f"{where} must be a dict with keys 'type' and 'params', "
                         f"got {val.describe(spec)}")
    cls = known.get(spec["type"])
    if cls is None:
        raise ValueError(f"{where} names an unknown type {spec['type']!r}; known: "
                         f"{', '.join(known)}")
    params = {}
    for name, value in spec["params"].items():
        if isinstance(value, dict):
            value = _rebuild(value, known, f"{where}.{name}")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            value = [_rebuild(v, known, f"{where}.{name}[{i}]")
                     for i, v in enumerate(value)]
        params[name] = value
    return cls(**params)


def build(description, **kwargs):
    """A new network with the architecture :func:`describe` returned.

    Parameters
    ----------
    description : dict
        From :func:`describe` (or its JSON text, parsed).
    **kwargs
        More arguments for the network (``load_weights``, ``rng``,
        ``use_GPU``, ``W_init_params``, ...).  Without ``load_weights`` the
        weights are initialised afresh.

    Returns
    -------
    FFNet or RNNet

    Raises
    ------
    TypeError, ValueError
        If ``description`` is not such a dict.
    """
    if not isinstance(description, dict):
        raise TypeError(f"description must be a dict from describe(), got "
                        f"{val.describe(description)}")
    if description.get("format") != FORMAT:
        raise ValueError(f"description['format'] must be {FORMAT!r}, got "
                         f"{description.get('format')!r}")
    cls = _network_class(description.get("class"))
    if cls is None:
        raise ValueError(f"description['class'] must be 'FFNet' or 'RNNet', got "
                         f"{description.get('class')!r}")
    try:
        conns = {int(pre): list(posts) for pre, posts in description["conns"].items()}
        args = dict(layers=[_rebuild(spec, _NONLINEARITIES, f"layers[{i}]")
                            for i, spec in enumerate(description["layers"])],
                    conns=conns, loss_type=_rebuild(description["loss"], _LOSSES, "loss"),
                    dtype=np.dtype(description["dtype"]),
                    debug=bool(description.get("debug", False)))
        if cls.__name__ == "RNNet":
            truncation = description.get("truncation")
            args.update(rec_layers=description["rec_layers"],
                        truncation=None if truncation is None else tuple(truncation))
    except (KeyError, AttributeError) as e:
        raise ValueError(f"description is incomplete or malformed: {e!r}") from None
    args.update(kwargs)
    return cls(description["shape"], **args)


def save(net, path):
    """Write ``net``'s architecture (JSON) and weights to one ``.npz`` file.

    Parameters
    ----------
    net : FFNet or RNNet
    path : str or os.PathLike
        File name; NumPy appends ``.npz`` if it is missing.

    Raises
    ------
    TypeError
        If the architecture cannot be described (see :func:`describe`).
    """
    text = json.dumps(describe(net))
    np.savez(path, architecture=np.array(text), W=backend.to_numpy(net.W))


def load(path, **kwargs):
    """Rebuild the network :func:`save` wrote (``hf.load``).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file (``.npz`` is appended if the name lacks it and no
        such file exists).
    **kwargs
        More arguments for the network (``use_GPU``, ``rng``, ...).

    Returns
    -------
    FFNet or RNNet
        Same architecture, same weights and dtype.

    Raises
    ------
    ValueError
        If the file does not hold an architecture and weights.
    """
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.exists(path + ".npz"):
        path += ".npz"
    with np.load(path, allow_pickle=False) as data:
        if set(data.files) != {"architecture", "W"}:
            raise ValueError(f"{path} was not written by net.save(): it holds "
                             f"{sorted(data.files)}, not 'architecture' and 'W'")
        description = json.loads(str(data["architecture"]))
        W = data["W"]
    return build(description, load_weights=W, **kwargs)
