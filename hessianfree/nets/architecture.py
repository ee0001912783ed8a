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
not data: :class:`~hessianfree.losses.loss_funcs.StructuralDamping`'s ``optimizer``
is saved as None, so a loaded network's structural damping uses
:math:`\\lambda = 1` until that attribute is set again.

:func:`save` writes atomically (:func:`hessianfree.run.checkpoint.write_atomically`)
and refuses weights that are not finite.  :func:`load` refuses, with a
:class:`ValueError` naming the file and the field, anything :func:`save`
would not have written: a bare ``.npy`` weight vector, a text file, a
truncated or damaged archive, a malformed description, and weights whose
``.npy`` header does not announce the ``n_params`` floats the description's
layout needs -- checked from the header, before any weights are read or
decompressed (:mod:`hessianfree.nets.modelfile`), so the memory a file can make
:func:`load` use is bounded by the network it describes.
"""

import inspect
import json
import numbers
import os

import numpy as np

from hessianfree.base import backend
from hessianfree.nets import layout
from hessianfree.losses import loss_funcs
from hessianfree.nets import modelfile
from hessianfree.layers import nonlinearities
from hessianfree.base import validation as val
from hessianfree.run.checkpoint import write_atomically

#: Value of the ``"format"`` key of a description.
FORMAT = "hessianfree-architecture-1"

#: Built-in classes a description may name, by name.
_NONLINEARITIES = {name: getattr(nonlinearities, name) for name in (
    "Linear", "Tanh", "Logistic", "ReLU", "Gaussian", "Softmax", "SoftLIF",
    "Continuous")}
#: Every loss class that :mod:`hessianfree.losses.loss_funcs` exports.
_LOSSES = {name: cls for name, cls in
           ((name, getattr(loss_funcs, name)) for name in loss_funcs.__all__)
           if isinstance(cls, type) and issubclass(cls, loss_funcs.LossFunction)
           and cls is not loss_funcs.LossFunction}
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
    if isinstance(entry, dict) and isinstance(entry.get("type"), str) and \
            entry["type"] in {**_NONLINEARITIES, **_LOSSES}:
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


#: The network classes a description may name, by class name.  The network
#: modules, which import this one, enter their classes here
#: (:func:`register_network`), so that this module never imports them.
NETWORKS = {}


def register_network(cls):
    """Let descriptions name the network class ``cls`` (FFNet, RNNet)."""
    NETWORKS[cls.__name__] = cls
    return cls


def _network_class(name):
    return NETWORKS.get(name) if isinstance(name, str) else None


def _rebuild(spec, known, where):
    """The object a ``{"type", "params"}`` entry describes; ValueError naming
    ``where`` if the entry is malformed or its constructor refuses it."""
    if not isinstance(spec, dict) or set(spec) != {"type", "params"} \
            or not isinstance(spec["params"], dict):
        raise ValueError(f"{where} must be a dict with keys 'type' and 'params', "
                         f"got {val.describe(spec)}")
    cls = known.get(spec["type"]) if isinstance(spec["type"], str) else None
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
    try:
        return cls(**params)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {spec['type']}({', '.join(params)}) refused its "
                         f"parameters: {e}") from None


def _field(description, key, check, *default):
    """``check(description[key])``, with a missing key (unless there is a
    ``default``) and the TypeError or ValueError of ``check`` turned into a
    ValueError naming the field."""
    where = f"description[{key!r}]"
    if key not in description and not default:
        raise ValueError(f"{where} is missing")
    value = description.get(key, *default)
    try:
        return check(value, where)
    except (TypeError, ValueError) as e:
        message = str(e)
        raise ValueError(message if message.startswith(where) else
                         f"{where}: {message}") from None


def _check_list(value, where):
    if not isinstance(value, list):
        raise TypeError(f"{where} must be a list, got {val.describe(value)}")
    return value


def _check_conns(value, where, n_layers):
    """Connections with str keys (as JSON has them) checked and keyed by int."""
    if not isinstance(value, dict):
        raise TypeError(f"{where} must be a dict layer -> list of layers, got "
                        f"{val.describe(value)}")
    conns = {}
    for key, posts in value.items():
        if isinstance(key, str) and key.isdigit() and key.isascii():
            pre = int(key)
        elif isinstance(key, int) and not isinstance(key, bool):
            pre = key
        else:
            raise ValueError(f"{where} has the key {key!r}, which is not a layer index")
        conns[pre] = [val.check_int(post, f"{where}[{key!r}] entry")
                      for post in _check_list(posts, f"{where}[{key!r}]")]
    return layout.check_conns(conns, n_layers)


def _check_dtype(value, where):
    if not isinstance(value, str):
        raise TypeError(f"{where} must be the name of a float dtype, got "
                        f"{val.describe(value)}")
    dtype = val.float_dtype(value)
    if dtype is None:
        raise ValueError(f"{where} must be the name of a float dtype such as "
                         f"'float32', got {value!r}")
    return dtype


def _check_json_bool(value, where):
    if not isinstance(value, bool):
        raise TypeError(f"{where} must be true or false (a JSON boolean), got "
                        f"{val.describe(value)}")
    return value


def _arguments(description):
    """``(cls, shape, args)`` of the network a description describes, every
    field checked; ValueError naming the first bad field."""
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
    shape = _field(description, "shape", lambda v, where: val.check_shape(
        _check_list(v, where)))
    layers = _field(description, "layers", _check_list)
    args = dict(
        layers=[_rebuild(spec, _NONLINEARITIES, f"description['layers'][{i}]")
                for i, spec in enumerate(layers)],
        conns=_field(description, "conns",
                     lambda v, where: _check_conns(v, where, len(shape))),
        loss_type=_rebuild(_field(description, "loss", lambda v, where: v),
                           _LOSSES, "description['loss']"),
        dtype=_field(description, "dtype", _check_dtype),
        debug=_field(description, "debug", _check_json_bool, False))
    if cls.__name__ == "RNNet":
        args["rec_layers"] = _field(description, "rec_layers", lambda v, where: (
            cls._check_rec_layers(_check_list(v, where), len(shape))))
        args["truncation"] = _field(description, "truncation", lambda v, where: (
            None if v is None else cls._check_truncation(_check_list(v, where))), None)
    return cls, shape, args


def _n_params(shape, args):
    """Length of the parameter vector of the network ``_arguments`` gave."""
    conns = [(pre, post) for pre, posts in args["conns"].items() for post in posts]
    conns += [(i, i) for i in args.get("rec_layers", ())]
    return layout.ParameterLayout([(c, shape[c[0]], shape[c[1]]) for c in conns]).n_params


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
    TypeError
        If ``description`` is not a dict.
    ValueError
        If a field is missing or malformed (the message names it):
        ``debug`` must be a bool, ``conns`` keys layer indices, and so on.
    """
    cls, shape, args = _arguments(description)
    args.update(kwargs)
    return cls(shape, **args)


def _model_filename(path):
    """``path`` with ``.npz`` appended where NumPy's ``savez`` appends it."""
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


def save(net, path):
    """Write ``net``'s architecture (JSON) and weights to one ``.npz`` file.

    The file is written atomically: to a temporary file in the same
    directory, flushed and fsynced, then renamed over ``path``, so a failed
    write (a full disk) leaves the previous file as it was.

    Parameters
    ----------
    net : FFNet or RNNet
    path : str, os.PathLike or binary file object
        File name; ``.npz`` is appended if it is missing (as by NumPy).  An
        open file is written directly (not atomically).

    Raises
    ------
    TypeError
        If the architecture cannot be described (see :func:`describe`).
    ValueError
        If ``net.W`` holds NaN or inf (:func:`load` would refuse the file).
    OSError
        If the file cannot be written; the message names it.
    """
    text = json.dumps(describe(net))
    W = backend.to_numpy(net.W)
    bad = np.flatnonzero(~np.isfinite(W))
    if bad.size:
        raise ValueError(f"net.W holds NaN or inf ({bad.size} of {W.size} weights, the "
                         f"first W[{bad[0]}] = {W[bad[0]]}); a model file must hold "
                         f"finite weights (hf.load refuses others): save "
                         f"net.best_W or weights from before the fault")
    def write(f):
        np.savez(f, architecture=np.array(text), W=W)
    if hasattr(path, "write"):  # an open binary file: the caller's to replace safely
        write(path)
        return
    filename = _model_filename(path)
    try:
        write_atomically(filename, write)
    except OSError as e:
        message = (f"net.save could not write {filename!r} ({e.strerror or e}); a file "
                   f"that was there before is unchanged")
        raise (OSError(message) if e.errno is None else OSError(e.errno, message)) from e


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
        Naming the file (and the field) if it is not what :func:`save`
        writes: a bare ``.npy`` weight vector, a text file, a truncated or
        damaged archive, a malformed description, or weights of the wrong
        shape or dtype or with NaN or inf.  The ``.npy`` headers are checked
        before any data is read, so a file whose header claims a huge array
        allocates nothing for it; nothing is unpickled.
    """
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.exists(path + ".npz"):
        path += ".npz"
    with modelfile.open_archive(path) as archive:
        description = modelfile.read_description(archive, path)
        try:
            cls, shape, args = _arguments(description)
            n_params = _n_params(shape, args)
        except (TypeError, ValueError, RecursionError) as e:
            raise ValueError(f"{path!r}: {e}") from None
        W = modelfile.read_weights(archive, path, n_params)
    try:
        return cls(shape, load_weights=W, **args, **kwargs)
    except ValueError as e:
        raise ValueError(f"{path!r}: {e}") from None
