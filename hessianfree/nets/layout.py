"""Where the weights live: the network's structure and its flat parameter vector.

A network keeps all its parameters in one flat vector ``W``.  The vector is
made of *blocks*, one per connection ``(pre, post)``: the ``(n_pre,
n_post)`` weight matrix in row-major order followed by the ``n_post``
biases.  :class:`ParameterLayout` records where each block starts and ends
and hands out views into a vector; the networks list their blocks in
groups (:class:`~hessianfree.FFNet` its feed-forward connections,
:class:`~hessianfree.RNNet` adds one group with the recurrent ones), each
group initialized by :func:`init_weights` with arguments of its own.

This module also checks the arguments that define the structure (the
layers' nonlinearities and the connections) and reads saved weights.
"""

import copy
import numbers
import os

import numpy as np

from hessianfree.base import backend
from hessianfree.layers import nonlinearities as nl
from hessianfree.base import validation as val

INIT_TYPES = ("sparse", "uniform", "gaussian")


class ParameterLayout:
    """Offsets of the parameter blocks in the flat vector.

    Parameters
    ----------
    blocks : list of ((pre, post), n_pre, n_post)
        The connections in parameter-vector order.

    Attributes
    ----------
    offsets : dict (pre, post) -> (start, weights_end, biases_end)
        Where each connection's weights and biases live.
    shapes : dict (pre, post) -> (n_pre, n_post)
        The weight matrices' shapes.
    n_params : int
        Length of the vector.
    """

    def __init__(self, blocks):
        self.offsets, self.shapes = {}, {}
        start = 0
        for conn, n_pre, n_post in blocks:
            w_end = start + n_pre * n_post
            self.offsets[conn] = (start, w_end, w_end + n_post)
            self.shapes[conn] = (n_pre, n_post)
            start = w_end + n_post
        self.n_params = start

    def get_weights(self, params, conn):
        """Views of one connection's weights and biases in ``params``.

        Parameters
        ----------
        params : (n_params,) array
            A parameter vector with this layout.
        conn : tuple of int
            ``(pre, post)`` layer indices.

        Returns
        -------
        weights : (n_pre, n_post) array view
        biases : (n_post,) array view
        """
        if getattr(params, "shape", None) != (self.n_params,) or \
                getattr(getattr(params, "dtype", None), "kind", None) != "f":
            val.check_vector(params, "params", self.n_params)  # raises
        try:
            start, w_end, b_end = self.offsets[conn]
        except (KeyError, TypeError):
            raise ValueError(f"conn must be a connection (pre, post) of this network, "
                             f"one of {sorted(self.offsets)}, got "
                             f"{val.describe(conn)}") from None
        return params[start:w_end].reshape(self.shapes[conn]), params[w_end:b_end]


# -------------------------------------------------------------- structure
def as_rng(rng):
    """The random generator ``rng=`` describes: a RandomState or Generator
    as is, an int seed as ``numpy.random.default_rng(seed)``, None as a
    fresh unseeded Generator."""
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (np.random.RandomState, np.random.Generator)):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise ValueError(f"rng as a seed must be an int >= 0, got {rng!r}")
        return np.random.default_rng(int(rng))
    raise TypeError("rng must be an int seed, a numpy.random.RandomState or a "
                    f"numpy.random.Generator, got {val.describe(rng)}")


def resolve_layers(layers, n_layers):
    """One nonlinearity per layer from ``FFNet(layers=...)``: a list with
    one entry per layer, or one nonlinearity for all but the (then Linear)
    input layer; stateful ones are copied so that each layer has its own
    state."""
    if isinstance(layers, (list, tuple)):
        if len(layers) != n_layers:
            raise ValueError(f"layers has {val.plural(len(layers), 'entry', 'entries')} "
                             f"but shape has {val.plural(n_layers, 'layer')}")
        return [nl.resolve(layer, f"layers[{i}]") for i, layer in enumerate(layers)]
    layer = nl.resolve(layers, "layers")
    if layer.stateful and not isinstance(layer, nl.Plant):
        return [nl.Linear()] + [copy.deepcopy(layer) for _ in range(n_layers - 1)]
    return [nl.Linear()] + [layer] * (n_layers - 1)


def _check_layer_index(value, name, low, n_layers):
    val.check_int(value, f"{name} {value!r}: a layer index")
    if not low < value < n_layers:
        raise ValueError(f"{name} {value!r}: connections must go from a layer to a "
                         f"later layer in ({low}, {n_layers})")
    return int(value)


def check_conns(conns, n_layers):
    """``FFNet(conns=...)`` checked: a dict ``pre -> [post, ...]`` with every
    ``post > pre`` and every layer but the input one reached (default: a
    chain)."""
    if conns is None:
        return {i: [i + 1] for i in range(n_layers - 1)}
    if not isinstance(conns, dict):
        raise TypeError(f"conns must be a dict pre -> list of post layers, "
                        f"got {type(conns).__name__}")
    checked = {}
    for pre, posts in conns.items():
        val.check_int(pre, f"conns key {pre!r}: a layer index")
        if not 0 <= pre < n_layers:
            raise ValueError(f"conns key {pre!r} is not a layer index in "
                             f"[0, {n_layers})")
        posts = val.check_sequence(posts, f"conns[{pre}] (layer indices)")
        posts = [_check_layer_index(post, f"conns[{pre}] contains", pre, n_layers)
                 for post in posts]
        if len(set(posts)) != len(posts):
            raise ValueError(f"conns[{pre}] lists a layer twice: {posts}")
        checked[int(pre)] = posts
    missing = [i for i in range(1, n_layers)
               if not any(i in posts for posts in checked.values())]
    if missing:
        raise ValueError(f"conns gives layers {missing} no input connection")
    return checked


def check_init_params(params, name):
    """Check a dict of :func:`init_weights` keyword arguments (its values are
    checked by ``init_weights``)."""
    if params is None:
        return None
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict of init_weights arguments, got "
                        f"{type(params).__name__}")
    unknown = [key for key in params if key not in ("coeff", "biases", "init_type")]
    if unknown:
        raise TypeError(f"{name} has unknown keys {unknown}; init_weights takes "
                        f"coeff, biases and init_type")
    return params


# --------------------------------------------------------- initialization
def init_weights(rng, shapes, coeff=1.0, biases=0.0, init_type="sparse"):
    """Initial weights for a list of weight-matrix shapes.

    Parameters
    ----------
    rng : numpy.random.Generator or numpy.random.RandomState
        Source of the random values.
    shapes : list of (n_pre, n_post)
        One entry per weight matrix.
    coeff, biases, init_type : scalar/str, or list with one per matrix
        ``"sparse"``: each unit gets ``min(15, n_pre)`` nonzero incoming
        weights drawn from :math:`\\mathcal{N}(0, 1) \\cdot coeff`
        (Martens 2010 §5); ``"uniform"``:
        :math:`U(-coeff/\\sqrt{n_{pre}}, coeff/\\sqrt{n_{pre}})`;
        ``"gaussian"``: :math:`\\mathcal{N}(0, 1) \\cdot coeff`.
        Biases are set to ``biases``.

    Returns
    -------
    (n_params,) ndarray
        The weights, each matrix followed by its biases (on the host,
        float64).
    """
    shapes = [_check_matrix_shape(s, f"shapes[{k}]") for k, s in
              enumerate(val.check_sequence(shapes, "shapes (a list of (n_pre, "
                                                   "n_post))"))]
    n = len(shapes)
    coeff, biases, init_type = (
        _per_matrix(value, name, n) for value, name in
        ((coeff, "coeff"), (biases, "biases"), (init_type, "init_type")))
    coeff = [val.check_real(c, "coeff") for c in coeff]
    biases = [val.check_real(b, "biases") for b in biases]
    for t in init_type:
        val.check_choice(t, "init_type", INIT_TYPES)
    parts = []
    for (n_pre, n_post), c, b, t in zip(shapes, coeff, biases, init_type):
        parts.append(_init_matrix(rng, n_pre, n_post, c, t).ravel())
        parts.append(np.full(n_post, b, dtype=np.float64))
    return np.concatenate(parts) if parts else np.zeros(0)


def _check_matrix_shape(shape, name):
    shape = val.check_sequence(shape, f"{name} (a pair (n_pre, n_post))")
    if len(shape) != 2:
        raise ValueError(f"{name} must be a pair (n_pre, n_post), got {shape!r}")
    return tuple(val.check_positive_int(m, f"{name}[{i}]") for i, m in enumerate(shape))


def _per_matrix(value, name, n):
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray)
                                            and value.ndim > 0):
        value = val.check_sequence(value, name)
        if len(value) != n:
            raise ValueError(f"{name} has {val.plural(len(value), 'entry', 'entries')} "
                             f"but there {'is' if n == 1 else 'are'} "
                             f"{val.plural(n, 'weight matrix', 'weight matrices')}")
        return list(value)
    return [value] * n


def _init_matrix(rng, n_pre, n_post, coeff, init_type):
    if init_type == "uniform":
        bound = coeff / np.sqrt(n_pre)
        return rng.uniform(-bound, bound, size=(n_pre, n_post))
    if init_type == "gaussian":
        return rng.standard_normal((n_pre, n_post)) * coeff
    W = np.zeros((n_pre, n_post))
    k = min(15, n_pre)
    for j in range(n_post):
        rows = rng.permutation(n_pre)[:k]
        W[rows, j] = rng.standard_normal(k) * coeff
    return W


def initial_weights(rng, groups):
    """The initial parameter vector for ``groups``, a list of
    ``(init_params, blocks)`` with ``blocks`` as in :class:`ParameterLayout`
    and ``init_params`` the :func:`init_weights` arguments (or None)."""
    parts = [init_weights(rng, [(n_pre, n_post) for _, n_pre, n_post in blocks],
                          **(params or {})) for params, blocks in groups]
    return np.concatenate(parts) if parts else np.zeros(0)


# ---------------------------------------------------------------- loading
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


def _npy_header(f):
    """``(shape, dtype)`` from the header of the open ``.npy`` file ``f``."""
    from numpy.lib import format as npy

    version = npy.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = npy.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = npy.read_array_header_2_0(f)
    else:
        raise ValueError(f"uses .npy format version {version}, which is not supported")
    return shape, dtype


def read_weights(filename, n_params):
    """Read a weight vector saved with ``np.save`` (``load_weights=``).

    The header is checked before any data is read, so a file that claims a
    huge array, holds something other than floats, or is not a ``.npy``
    file at all is refused without allocating anything for it.

    Parameters
    ----------
    filename : str or os.PathLike
    n_params : int
        Number of weights the network expects.

    Returns
    -------
    (n_params,) ndarray

    Raises
    ------
    ValueError
        Naming ``load_weights``, the file and what was expected.
    """
    filename = os.fspath(filename)
    expected = (f"expected a .npy file holding {n_params} floating point weights "
                f"(as written by np.save(path, net.W), or run_epochs' "
                f"<file_output>_weights.npy)")
    try:
        with open(filename, "rb") as f:
            magic = f.read(len(_NPY_MAGIC))
            if magic != _NPY_MAGIC:
                kind = ("a .npz archive" if magic.startswith(_ZIP_MAGIC)
                        else "not a .npy file")
                raise ValueError(f"is {kind}; {expected}")
            f.seek(0)
            shape, dtype = _npy_header(f)
            if dtype.kind != "f" or tuple(shape) != (n_params,):
                raise ValueError(f"holds an array of shape {tuple(shape)} and "
                                 f"dtype {dtype}; {expected}")
            data = f.read(n_params * dtype.itemsize)
    except OSError as e:
        raise ValueError(f"load_weights: cannot read {filename!r} "
                         f"({e.strerror or e})") from e
    except ValueError as e:
        raise ValueError(f"load_weights: {filename!r} {e}") from e
    if len(data) != n_params * dtype.itemsize:
        raise ValueError(f"load_weights: {filename!r} is truncated: {len(data)} of "
                         f"{n_params * dtype.itemsize} bytes of weights")
    return np.frombuffer(data, dtype=dtype).copy()


def load_weights(load_weights, n_params, dtype):
    """A parameter vector from an array or a ``.npy`` file name, checked to
    hold ``n_params`` finite floats (as ``dtype``); returned on the host."""
    if isinstance(load_weights, (str, os.PathLike)):
        load_weights = read_weights(load_weights, n_params)
    if hasattr(load_weights, "__cuda_array_interface__"):
        W = backend.to_numpy(load_weights)
    else:
        try:
            W = np.asarray(load_weights)
        except (TypeError, ValueError) as e:
            raise TypeError(f"load_weights must be an array of {n_params} "
                            f"floats or a .npy file name, got "
                            f"{val.describe(load_weights)}") from e
    if W.dtype.kind != "f":
        raise TypeError(f"load_weights must hold floating point values, got "
                        f"dtype {W.dtype}")
    if W.shape != (n_params,):
        raise ValueError(f"load_weights must have shape ({n_params},) for "
                         f"this network, got {W.shape}")
    if not np.all(np.isfinite(W.astype(dtype, copy=False))):
        raise ValueError(f"load_weights contains NaN or inf (as {dtype})")
    return W
