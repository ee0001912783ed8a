"""Feed-forward networks trained with Hessian-free optimization.

:class:`FFNet` holds the weights as one flat vector and computes the three
quantities the optimizers need on a cached minibatch: the loss, its gradient
(backpropagation) and Gauss-Newton matrix-vector products (one R-forward and
one backward pass; Schraudolph 2002, Pearlmutter 1994).  The recurrent
network :class:`hessianfree.rnnet.RNNet` reuses these pieces per time step.
"""

import copy
import dataclasses
import numbers
import os

import numpy as np

from hessianfree import architecture, backend
from hessianfree import derivative_checks as dc
from hessianfree import distributed
from hessianfree import loss_funcs
from hessianfree import nonlinearities as nl
from hessianfree import training
from hessianfree import validation as val
from hessianfree.optimizers import Optimizer

INIT_TYPES = ("sparse", "uniform", "gaussian")


def apply_derivative(d, x, out, transpose=False):
    """Multiply ``x`` by a layer's activation derivative.

    Parameters
    ----------
    d : (..., n) or (..., n, n) array
        Elementwise derivative, or per-example Jacobian with
        ``d[..., i, j] = da_i / dx_j``.
    x : (..., n) array
        Vector to multiply (an R-input going forward, an error going back).
    out : (..., n) array
        Result buffer; may be ``x`` itself for elementwise derivatives.
    transpose : bool
        Multiply by the transposed Jacobian (used going backward).
    """
    xp = backend.array_module(x)
    if d.ndim == x.ndim:
        return xp.multiply(d, x, out=out)
    if transpose:
        xp.matmul(x[..., None, :], d, out=out[..., None, :])
    else:
        xp.matmul(d, x[..., None], out=out[..., None])
    return out


@dataclasses.dataclass
class BatchCache:
    """What the derivative passes reuse on one batch (internal layout).

    Attributes
    ----------
    acts, d_acts : list of arrays
        Every layer's activations and activation derivatives.
    d2_loss : list of arrays or None
        Diagonal loss curvature per layer, already scaled by ``scale``.
    scale : float
        One over the number of examples.
    """

    acts: list
    d_acts: list
    d2_loss: list
    scale: float


def layer_product(xp, a, W, out=None):
    """``a @ W`` for activations ``a`` and a weight matrix ``W``.

    With a single input unit the product is an outer product, which BLAS
    runs about 3x slower than the equivalent broadcast multiplication.
    """
    if W.shape[0] == 1:
        return xp.multiply(a, W, out=out)
    return xp.matmul(a, W, out=out)


def _as_rng(rng):
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


def _as_float_dtype(dtype):
    try:
        dtype = np.dtype(dtype)
    except Exception:  # numpy raises several kinds for odd specifications
        raise TypeError(f"dtype must be a floating point type such as np.float32, "
                        f"got {val.describe(dtype)}") from None
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating point type, got {dtype}")
    return dtype


def _check_indices(indices, name, n):
    """``indices`` as a non-empty 1-D int array with values in [0, n)."""
    try:
        indices = np.asarray(backend.to_numpy(indices) if hasattr(
            indices, "__cuda_array_interface__") else indices)
    except (TypeError, ValueError):
        indices = None
    if indices is None or indices.ndim != 1 or indices.size == 0 or \
            indices.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a non-empty 1-D array of example indices")
    if indices.min() < 0 or indices.max() >= n:
        raise ValueError(f"{name} must lie in [0, {n})")
    return indices


def check_init_params(params, name):
    """Check a dict of :meth:`FFNet.init_weights` keyword arguments (its
    values are checked by ``init_weights``)."""
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


class FFNet:
    """A feed-forward network trained with Hessian-free optimization.

    Parameters
    ----------
    shape : list of int
        Number of units in each layer, input layer first.
    layers : Nonlinearity, str, or list of them
        One nonlinearity (the input layer then becomes Linear), or one per
        layer; names such as ``"Tanh"`` resolve to the built-ins.
    conns : dict of int -> list of int, optional
        ``conns[pre]`` lists the later layers that layer ``pre`` projects to.
        Defaults to a chain ``{0: [1], 1: [2], ...}``.
    loss_type : LossFunction or list of LossFunction
        The loss to minimise; a list is summed as a
        :class:`~hessianfree.loss_funcs.LossSet`.
    W_init_params : dict, optional
        Keyword arguments for :meth:`init_weights` (``coeff``, ``biases``,
        ``init_type``; each a scalar or one value per weight matrix).
    use_GPU : bool
        Run on an NVIDIA GPU through CuPy (``pip install "hessianfree[gpu]"``);
        ``W``, ``best_W`` and the arrays the methods return are then CuPy
        arrays (``hessianfree.backend.to_numpy`` copies them to the host).
    load_weights : array_like or str, optional
        Initial parameter vector, or the name of a ``.npy`` file holding one.
    debug : bool
        Use float64 and check the gradient and curvature products against
        finite differences while training (small networks only).
    rng : int, numpy.random.RandomState or numpy.random.Generator, optional
        Source of all randomness (initial weights, minibatches); an int is a
        seed for ``numpy.random.default_rng``.  The same seed gives the same
        weights and the same training run.
    dtype : numpy dtype
        Floating point type of weights and activations (float32 default).

    Notes
    -----
    Parameter layout: one flat vector ``W``.  For each connection, in
    ascending ``pre`` and then in the order ``conns[pre]`` lists ``post``,
    the ``(n_pre, n_post)`` weight matrix in row-major order followed by the
    ``n_post`` biases.
    """

    def __init__(self, shape, layers=nl.Logistic(), conns=None,
                 loss_type=loss_funcs.SquaredError(), W_init_params=None,
                 use_GPU=False, load_weights=None, debug=False, rng=None,
                 dtype=np.float32):
        shape = val.check_shape(shape)
        layers = self._resolve_layers(layers, len(shape))
        conns = self._check_conns(conns, len(shape))
        self._check_layer_kinds(layers)
        loss_type = loss_funcs.resolve_loss(loss_type)
        loss_type.check_layers(layers)
        dtype = _as_float_dtype(np.float64 if debug else dtype)
        rng = _as_rng(rng)
        check_init_params(W_init_params, "W_init_params")
        self.xp = backend.get_array_module(use_GPU)

        self.shape, self.layers, self.conns = shape, layers, conns
        self.n_layers = len(shape)
        self.back_conns = {i: [pre for pre in sorted(conns) if i in conns[pre]]
                           for i in range(self.n_layers)}
        self.loss_type, self.dtype, self.rng = loss_type, dtype, rng
        self.use_GPU, self.debug = use_GPU, debug
        self._optimizer = None
        self.comm = None  # an MPI communicator: see hessianfree.distributed
        self.inputs = self.targets = self._cache_W = None
        self.activations = self.d_activations = None
        self.best_W, self.best_error = None, np.inf
        self.plots = {}
        self.compute_offsets()

        W = (self._load_weights(load_weights) if load_weights is not None
             else self._initial_weights(W_init_params))
        self.W = self.xp.asarray(W, dtype=self.dtype)

    # ----------------------------------------------------------------- setup
    @staticmethod
    def _resolve_layers(layers, n_layers):
        if isinstance(layers, (list, tuple)):
            if len(layers) != n_layers:
                raise ValueError(f"layers has {len(layers)} entries but shape "
                                 f"has {n_layers} layers")
            return [nl.resolve(layer, f"layers[{i}]") for i, layer in enumerate(layers)]
        layer = nl.resolve(layers, "layers")
        if layer.stateful and not isinstance(layer, nl.Plant):
            # each layer needs a state of its own
            return [nl.Linear()] + [copy.deepcopy(layer) for _ in range(n_layers - 1)]
        return [nl.Linear()] + [layer] * (n_layers - 1)

    @staticmethod
    def _check_layer_kinds(layers):
        stateful = [i for i, layer in enumerate(layers) if layer.stateful]
        if stateful:
            raise TypeError(f"layers {stateful} are stateful nonlinearities, which "
                            f"evolve over time: use hessianfree.RNNet")

    @staticmethod
    def _check_conns(conns, n_layers):
        if conns is None:
            return {i: [i + 1] for i in range(n_layers - 1)}
        if not isinstance(conns, dict):
            raise TypeError(f"conns must be a dict pre -> list of post layers, "
                            f"got {type(conns).__name__}")
        checked = {}
        for pre, posts in conns.items():
            if isinstance(pre, (bool, np.bool_)) or not isinstance(pre, numbers.Integral) \
                    or not 0 <= pre < n_layers:
                raise ValueError(f"conns key {pre!r} is not a layer index in "
                                 f"[0, {n_layers})")
            posts = val.check_sequence(posts, f"conns[{pre}] (layer indices)")
            for post in posts:
                if isinstance(post, (bool, np.bool_)) or \
                        not isinstance(post, numbers.Integral) or not pre < post < n_layers:
                    raise ValueError(
                        f"conns[{pre}] contains {post!r}: connections must go "
                        f"from a layer to a later layer in ({pre}, {n_layers})")
            if len(set(posts)) != len(posts):
                raise ValueError(f"conns[{pre}] lists a layer twice: {posts}")
            checked[int(pre)] = [int(p) for p in posts]
        missing = [i for i in range(1, n_layers)
                   if not any(i in posts for posts in checked.values())]
        if missing:
            raise ValueError(f"conns gives layers {missing} no input connection")
        return checked

    def _connection_shapes(self):
        return [(self.shape[pre], self.shape[post]) for pre, post in self._conn_list()]

    def _conn_list(self):
        """All weight matrices ``(pre, post)`` in parameter-vector order."""
        return [(pre, post) for pre in sorted(self.conns)
                for post in self.conns[pre]]

    def compute_offsets(self):
        """Compute where each connection's weights live in the flat vector.

        Sets ``self.offsets[(pre, post)] = (start, weights_end, biases_end)``
        and ``self.n_params``; returns the offsets.
        """
        self.offsets = {}
        start = 0
        for pre, post in self._conn_list():
            w_end = start + self.shape[pre] * self.shape[post]
            self.offsets[(pre, post)] = (start, w_end, w_end + self.shape[post])
            start = w_end + self.shape[post]
        self.n_params = start
        return self.offsets

    def get_weights(self, params, conn):
        """Views of one connection's weights and biases in ``params``.

        Parameters
        ----------
        params : (n_params,) array
            A parameter vector laid out like ``W``.
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
        pre, post = conn
        return (params[start:w_end].reshape(self.shape[pre], self.shape[post]),
                params[w_end:b_end])

    def init_weights(self, shapes, coeff=1.0, biases=0.0, init_type="sparse"):
        """Initial weights for a list of weight-matrix shapes.

        Parameters
        ----------
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
            The weights laid out as in ``W`` (on the host, float64).
        """
        shapes = [self._check_matrix_shape(s, f"shapes[{k}]") for k, s in
                  enumerate(val.check_sequence(shapes, "shapes (a list of (n_pre, "
                                                       "n_post))"))]
        n = len(shapes)
        coeff, biases, init_type = (
            self._per_matrix(value, name, n) for value, name in
            ((coeff, "coeff"), (biases, "biases"), (init_type, "init_type")))
        coeff = [val.check_real(c, "coeff") for c in coeff]
        biases = [val.check_real(b, "biases") for b in biases]
        for t in init_type:
            if not isinstance(t, str) or t not in INIT_TYPES:
                raise ValueError(f"init_type must be one of {INIT_TYPES}, got {t!r}")
        parts = []
        for (n_pre, n_post), c, b, t in zip(shapes, coeff, biases, init_type):
            parts.append(self._init_matrix(n_pre, n_post, c, t).ravel())
            parts.append(np.full(n_post, b, dtype=np.float64))
        return np.concatenate(parts) if parts else np.zeros(0)

    @staticmethod
    def _check_matrix_shape(shape, name):
        shape = val.check_sequence(shape, f"{name} (a pair (n_pre, n_post))")
        if len(shape) != 2:
            raise ValueError(f"{name} must be a pair (n_pre, n_post), got {shape!r}")
        return tuple(val.check_positive_int(m, f"{name}[{i}]") for i, m in enumerate(shape))

    @staticmethod
    def _per_matrix(value, name, n):
        if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray)
                                                and value.ndim > 0):
            value = val.check_sequence(value, name)
            if len(value) != n:
                raise ValueError(f"{name} has {len(value)} entries but there are "
                                 f"{n} weight matrices")
            return list(value)
        return [value] * n

    def _init_matrix(self, n_pre, n_post, coeff, init_type):
        if init_type == "uniform":
            bound = coeff / np.sqrt(n_pre)
            return self.rng.uniform(-bound, bound, size=(n_pre, n_post))
        if init_type == "gaussian":
            return self.rng.standard_normal((n_pre, n_post)) * coeff
        W = np.zeros((n_pre, n_post))
        k = min(15, n_pre)
        for j in range(n_post):
            rows = self.rng.permutation(n_pre)[:k]
            W[rows, j] = self.rng.standard_normal(k) * coeff
        return W

    def _initial_weights(self, W_init_params):
        return self.init_weights(self._connection_shapes(), **(W_init_params or {}))

    def _load_weights(self, load_weights):
        if isinstance(load_weights, (str, os.PathLike)):
            try:
                load_weights = np.load(load_weights)
            except (OSError, ValueError) as e:
                raise ValueError(f"load_weights: cannot read {os.fspath(load_weights)!r}"
                                 f" as a .npy file: {e}") from e
        if hasattr(load_weights, "__cuda_array_interface__"):
            W = backend.to_numpy(load_weights)
        else:
            try:
                W = np.asarray(load_weights)
            except (TypeError, ValueError) as e:
                raise TypeError(f"load_weights must be an array of {self.n_params} "
                                f"floats or a .npy file name, got "
                                f"{val.describe(load_weights)}") from e
        if W.dtype.kind != "f":
            raise TypeError(f"load_weights must hold floating point values, got "
                            f"dtype {W.dtype}")
        if W.shape != (self.n_params,):
            raise ValueError(f"load_weights must have shape ({self.n_params},) for "
                             f"this network, got {W.shape}")
        if not np.all(np.isfinite(W.astype(self.dtype, copy=False))):
            raise ValueError(f"load_weights contains NaN or inf (as {self.dtype})")
        return W

    @property
    def optimizer(self):
        """The optimizer used by :meth:`run_epochs` (setting it sets ``.net``)."""
        return self._optimizer

    @optimizer.setter
    def optimizer(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError("optimizer must be a hessianfree.optimizers.Optimizer, "
                            f"got {type(optimizer).__name__}")
        if optimizer.net is not self:
            optimizer.forget_network()
        optimizer.net = self
        self._optimizer = optimizer

    # ----------------------------------------------------------- the model
    @property
    def loss(self):
        """The network's loss: the :class:`~hessianfree.loss_funcs.LossFunction`
        built from ``loss_type`` (a :class:`~hessianfree.loss_funcs.LossSet`
        for a list), e.g. ``net.loss.batch_loss(net.forward(x), targets)``."""
        return self.loss_type

    def predict(self, inputs, params=None):
        """The network's output (the last layer only).

        Parameters
        ----------
        inputs : (batch, n_in) array_like, or (n_in,) for one example
            Input vectors (RNNet: ``(batch, time, n_in)`` or ``(time, n_in)``).
        params : (n_params,) array, optional
            Parameters to use instead of ``self.W``.

        Returns
        -------
        (batch, n_out) array, or (n_out,) for one example
            RNNet: ``(batch, time, n_out)`` or ``(time, n_out)``.
        """
        if not hasattr(inputs, "ndim"):
            inputs = np.asarray(inputs)
        single = inputs.ndim == self._data_ndim - 1
        outputs = self.forward(inputs[None] if single else inputs, params)[-1]
        return outputs[0] if single else outputs

    def save(self, path):
        """Write the architecture (as JSON) and the weights to one ``.npz``
        file, without pickle; ``hessianfree.load(path)`` rebuilds the network.

        Parameters
        ----------
        path : str or os.PathLike
            File name (NumPy appends ``.npz`` if missing).

        Raises
        ------
        TypeError
            If a layer or the loss is a custom class (the message names it):
            see :func:`hessianfree.architecture.describe`.
        """
        architecture.save(self, path)

    def _run_epoch(self, inputs, targets, minibatch_size=None):
        """One update without :meth:`run_epochs`' bookkeeping (no test
        error, files, plots or checks for NaN): cache this epoch's minibatch
        and add ``optimizer.compute_update()`` to ``W``."""
        inputs, targets = self._epoch_data(inputs, targets, minibatch_size)
        self.cache_minibatch(inputs, targets)
        self.W += self.optimizer.compute_update(False)

    # --------------------------------------------------------- forward pass
    def _check_params(self, params, name="params"):
        if params is None:
            return self.W
        if getattr(params, "shape", None) != (self.n_params,):
            raise ValueError(f"{name} must have shape ({self.n_params},), got "
                             f"{getattr(params, 'shape', type(params).__name__)}")
        if getattr(getattr(params, "dtype", None), "kind", None) != "f":
            raise TypeError(f"{name} must hold floating point values, got dtype "
                            f"{getattr(params, 'dtype', None)}")
        if backend.array_module(params) is not self.xp:  # host weights, GPU net
            return self._W_as(params)
        return params

    def _layer_input(self, i, acts, params, out=None):
        """Input to layer ``i``: the sum of ``acts[pre] @ W + b`` over its
        incoming connections (``acts`` are 2-D, one time step for RNNs)."""
        xp = self.xp
        for k, pre in enumerate(self.back_conns[i]):
            W, b = self.get_weights(params, (pre, i))
            if k == 0:
                out = layer_product(xp, acts[pre], W, out=out)
                out += b
            else:
                tmp = None if self.inputs is None else \
                    self._buffer("input_tmp", i, out.shape)
                out += layer_product(xp, acts[pre], W, out=tmp)
                out += b
        return out

    def forward(self, inputs, params=None, deriv=False):
        """Run inputs through the network.

        Parameters
        ----------
        inputs : (batch, n_in) array_like
            Input vectors.
        params : (n_params,) array, optional
            Parameters to use instead of ``self.W``.
        deriv : bool
            Also return each layer's activation derivative.

        Returns
        -------
        activations : list of (batch, n_i) arrays
            Every layer's output; ``forward(x)[-1]`` is the network output.
        d_activations : list of arrays
            Only with ``deriv=True``: ``d_activation`` of each layer.
        """
        params = self._check_params(params)
        deriv = val.check_bool(deriv, "deriv")
        inputs = val.as_batch(inputs, "inputs", self.shape[0], 2, self.dtype, self.xp)
        return self._forward(inputs, params, deriv)

    def _forward(self, inputs, params, deriv):
        """:meth:`forward` on inputs and parameters already checked."""
        acts, d_acts = [None] * self.n_layers, [None] * self.n_layers
        for i, layer in enumerate(self.layers):
            x = inputs if i == 0 else self._layer_input(i, acts, params)
            acts[i] = layer.activation(x)
            if deriv:
                d_acts[i] = layer.d_activation(x, acts[i])
        return (acts, d_acts) if deriv else acts

    # --------------------------------------------------------------- errors
    def _as_targets(self, targets, inputs):
        targets = val.as_batch(targets, "targets", self.shape[-1], inputs.ndim,
                               self.dtype, self.xp, allow_nan=True)
        if targets.shape[:-1] != inputs.shape[:-1]:
            raise ValueError(f"targets shape {tuple(targets.shape)} does not match "
                             f"inputs shape {tuple(inputs.shape)} (all but the last "
                             f"axis must agree)")
        return targets

    def error(self, W=None, inputs=None, targets=None, loss_type=None):
        """Loss (``loss_type.batch_loss``) of the network.

        Parameters
        ----------
        W : (n_params,) array, optional
            Parameters (default ``self.W``).
        inputs, targets : arrays, optional
            Data (default: the cached minibatch).
        loss_type : LossFunction, optional
            Evaluate this loss instead of the network's (e.g.
            ``ClassificationError()`` on a test set).

        Returns
        -------
        float
        """
        if W is not None:
            W = self._check_params(W, "W")
        if loss_type is not None and not isinstance(loss_type, loss_funcs.LossFunction):
            raise TypeError(f"loss_type must be a LossFunction, got "
                            f"{val.describe(loss_type)}")
        if inputs is None:
            if self.inputs is None:
                raise ValueError("no cached minibatch: pass inputs and targets "
                                 "or call cache_minibatch first")
            acts, targets = self._cached_batch_activations(W), self.targets
        elif targets is None:
            raise ValueError("targets must be given with inputs")
        else:
            acts = self.forward(inputs, W)
            targets = self._as_targets(targets, acts[0])
        loss = self.loss_type if loss_type is None else loss_type
        value = float(loss.batch_loss(acts, targets))
        if self.comm is not None:  # mean over every process's data
            value = distributed.allreduce_error(self.comm, value, loss, targets)
        return value

    def _cached_batch_activations(self, W):
        """Activations of the cached minibatch at ``W``: the cached ones while
        the weights are those they were computed with, else a forward pass
        (the cached inputs are already checked)."""
        xp = self.xp
        if W is None:
            W = self.W
            if self._cache_W is not None and bool(xp.array_equal(W, self._cache_W)):
                return self.activations
        return self._forward(self.inputs, W, False)

    def _host(self, x):
        return backend.to_numpy(x)

    def _epoch_data(self, inputs, targets, minibatch_size):
        """This epoch's training data (a random minibatch, or all of it)."""
        if isinstance(inputs, nl.Plant):
            raise TypeError("a Plant generates inputs over time: use it with "
                            "hessianfree.RNNet")
        idx = training.select_minibatch(self.rng, inputs.shape[0], minibatch_size)
        if idx is None:
            return inputs, targets
        idx = self.xp.asarray(idx)
        return inputs[idx], targets[idx]

    def run_epochs(self, inputs, targets, optimizer, max_epochs=100,
                   minibatch_size=None, test=None, test_err=None, target_err=1e-6,
                   plotting=False, file_output=None, print_period=10, resume=False,
                   max_failures=training.MAX_FAILURES, comm=None):
        """Train the network.

        Parameters
        ----------
        inputs : array or Plant
            Training inputs, ``(batch, n_in)`` (``(batch, time, n_in)`` for
            RNNet), or a :class:`~hessianfree.nonlinearities.Plant` that
            generates inputs and targets (then ``targets=None``).
        targets : array or None
            Training targets; NaN entries mean "no target".
        optimizer : Optimizer
            E.g. ``hf.opt.HessianFree(CG_iter=50)`` or ``hf.opt.SGD()``.
        max_epochs : int
            Maximum number of epochs (weight updates).
        minibatch_size : int, optional
            Examples drawn at random each epoch (default: all).
        test : tuple (test_inputs, test_targets), optional
            Held-out data.  Training stops when the test error is higher than
            it was 10 epochs earlier.
        test_err : LossFunction, optional
            Error used on the test data (default: the network's loss).
        target_err : float
            Stop once the (test, else training) error is below this.
        plotting : bool
            Write the plot series to ``<file_output or "HF">_plots.pkl``
            every epoch (see :func:`hessianfree.dataplotter.run`).
        file_output : str, optional
            File name prefix; every epoch the best weights are saved to
            ``<file_output>_weights.npy`` and everything needed to continue
            the run to ``<file_output>_checkpoint.npz``, each written
            atomically (see :mod:`hessianfree.checkpoint`).
        print_period : int or None
            Show progress: on a terminal a live progress bar (epochs and CG
            iterations, errors, damping) that keeps a line every this many
            epochs; otherwise a plain line every this many epochs.  None:
            silent.
        resume : bool
            Continue from ``<file_output>_checkpoint.npz`` if it exists
            (weights, optimizer state, rng state, errors and plots), so that
            an interrupted run ends exactly where an uninterrupted one would;
            ``max_epochs`` counts all epochs, including those done before.
            Without a checkpoint the run starts from scratch.
        max_failures : int or None
            Stop with :class:`~hessianfree.training.NonFiniteError` after this
            many updates in a row failed with NaN or inf values (each one is
            skipped with a :class:`~hessianfree.optimizers.NonFiniteWarning`
            and raises the damping); None: never stop for that.
        comm : mpi4py.MPI.Intracomm, optional
            Train data-parallel over the processes of this MPI communicator
            (e.g. ``MPI.COMM_WORLD`` under ``mpiexec -n K``): each process
            passes its own shard of ``inputs``, ``targets`` and ``test``;
            ``minibatch_size`` is the total over all processes.  Every
            process ends with the same weights; only rank 0 prints, plots
            and writes files.  See :mod:`hessianfree.distributed`.

        Returns
        -------
        list of float
            The (test, else training) error after each epoch (including the
            epochs before a resume).  The weights with the lowest of these are
            kept in ``best_W`` (error ``best_error``); ``W`` holds the last
            weights.

        Raises
        ------
        hessianfree.training.NonFiniteError
            After ``max_failures`` failed updates in a row.
        hessianfree.checkpoint.CheckpointError
            If the output files cannot be written (disk full, ...); the
            previous checkpoint is intact.
        """
        return training.run_epochs(
            self, inputs, targets, optimizer, max_epochs=max_epochs,
            minibatch_size=minibatch_size, test=test, test_err=test_err,
            target_err=target_err, plotting=plotting, file_output=file_output,
            print_period=print_period, resume=resume, max_failures=max_failures,
            comm=comm)

    def cache_minibatch(self, inputs, targets, minibatch=None):
        """Store a minibatch and its activations for the derivative passes.

        Parameters
        ----------
        inputs, targets : arrays
            The data.
        minibatch : int or array of int, optional
            A number of examples to draw at random (with ``self.rng``), or the
            indices of the examples to use.  Default: all of them.
        """
        inputs = val.as_batch(inputs, "inputs", self.shape[0], self._data_ndim,
                              self.dtype, self.xp)
        targets = self._as_targets(targets, inputs)
        if minibatch is not None:
            minibatch = self.xp.asarray(self._minibatch_indices(minibatch,
                                                                inputs.shape[0]))
            inputs, targets = inputs[minibatch], targets[minibatch]
        acts, d_acts = self._cache_activations(inputs)
        self.inputs, self.targets = inputs, targets
        self._cache_W = self.W.copy()
        self._buffers = {}
        self._batch = self._make_cache(acts, d_acts, self.activations, targets)
        self._curv, self._curv_indices = self._batch, None

    def _minibatch_indices(self, minibatch, n):
        """Example indices for ``cache_minibatch(..., minibatch)`` (drawn
        with ``self.rng`` when ``minibatch`` is a number)."""
        if isinstance(minibatch, numbers.Integral) and \
                not isinstance(minibatch, (bool, np.bool_)):
            size = val.check_positive_int(minibatch, "minibatch")
            return self.rng.permutation(n)[:min(size, n)]
        return _check_indices(minibatch, "minibatch", n)

    #: Number of axes of the data (batch, units); RNNet adds time.
    _data_ndim = 2

    def _cache_activations(self, inputs):
        """Run the forward pass, keep the activations and derivatives as the
        user sees them (``activations``, ``d_activations``) and return them in
        the internal layout of the derivative passes (the same for FFNet)."""
        acts, d_acts = self._forward(inputs, self.W, True)
        self.activations, self.d_activations = acts, d_acts
        return acts, d_acts

    def _make_cache(self, acts, d_acts, user_acts, targets):
        """A :class:`BatchCache` with the loss curvature scaled by 1/batch."""
        scale = self.dtype.type(1.0 / targets.shape[0])
        d2 = self.loss_type.d2_loss(user_acts, targets)
        return BatchCache(acts, d_acts, [None if d is None else self._internal(d * scale)
                                         for d in d2], scale)

    def _take(self, x, indices):
        """Examples ``indices`` of an internal-layout array."""
        return x[indices]

    def cache_curvature_batch(self, indices=None):
        """Use a subset of the cached minibatch for :meth:`calc_G`.

        Martens (2010, §4.3) computes the gradient on a large minibatch and
        the curvature products on a smaller subset of it, which makes every
        CG iteration cheaper at little cost in the quality of the step.

        Parameters
        ----------
        indices : array of int, optional
            Examples of the cached minibatch to use; None restores the
            whole minibatch.
        """
        self._check_cached()
        if indices is None:
            self._curv, self._curv_indices = self._batch, None
            return
        indices = _check_indices(indices, "indices", self.inputs.shape[0])
        idx = self.xp.asarray(indices)
        take = [None if a is None else self._take(a, idx) for a in self._batch.acts]
        d_take = [None if d is None else self._take(d, idx) for d in self._batch.d_acts]
        targets = self.targets[idx]
        self._curv = self._make_cache(take, d_take, [None if a is None else
                                                     self._external(a) for a in take],
                                      targets)
        self._curv_indices = indices

    def _internal(self, x):
        """A user-layout array (batch first) in the internal layout."""
        return x

    def _external(self, x):
        """An internal-layout array in the user layout (batch first)."""
        return x

    def _buffer(self, name, i, shape):
        """A scratch array reused by every derivative pass on this batch."""
        key = (name, i, shape)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = self.xp.empty(shape, dtype=self.dtype)
        return buf

    # ------------------------------------------------- gradient and curvature
    def _weight_grads(self, acts, deltas, out, squared=None):
        """Write ``acts[pre]^T deltas[post]`` and the bias sums into ``out``
        for every connection (leading axes are flattened, so recurrent nets
        pass whole sequences).  With ``squared``, also write the sums of the
        squared per-example terms, :math:`(a \\circ a)^T (\\delta \\circ
        \\delta)`, into it."""
        xp = self.xp
        for pre, post in self._conn_list():
            a = acts[pre].reshape(-1, acts[pre].shape[-1])
            d = deltas[post].reshape(-1, deltas[post].shape[-1])
            W, b = self.get_weights(out, (pre, post))
            xp.matmul(a.T, d, out=W)
            xp.matmul(self._ones(d.shape[0]), d, out=b)
            if squared is not None:
                W, b = self.get_weights(squared, (pre, post))
                d = d * d
                xp.matmul((a * a).T, d, out=W)
                xp.matmul(self._ones(d.shape[0]), d, out=b)

    def _ones(self, n):
        ones = self._buffer("ones", 0, (n,))
        ones[...] = 1
        return ones

    def _layer_error(self, i, deltas, error, out):
        """Backpropagated error at layer ``i``'s output: its own loss error
        plus ``deltas[post] @ W^T`` over its outgoing connections."""
        xp = self.xp
        posts = self.conns.get(i, [])
        if not posts:
            return error
        for k, post in enumerate(posts):
            W, _ = self.get_weights(self.W, (i, post))
            if k == 0:
                layer_product(xp, deltas[post], W.T, out=out)
            else:
                out += layer_product(xp, deltas[post], W.T,
                                     out=self._buffer("error_tmp", i, out.shape))
        if error is not None:
            out += error
        return out

    def _backward(self, errors, out, cache, squared=None):
        """Backpropagate per-layer errors through the batch ``cache`` and
        write the parameter gradient into ``out`` (already scaled: the errors
        carry the 1/batch); see :meth:`_weight_grads` for ``squared``."""
        deltas = [None] * self.n_layers
        for i in range(self.n_layers - 1, 0, -1):
            e = self._error_buffer(i, deltas, errors[i], cache.acts[i].shape)
            deltas[i] = apply_derivative(cache.d_acts[i], e,
                                         self._buffer("delta", i, e.shape),
                                         transpose=True)
        self._weight_grads(cache.acts, deltas, out, squared)
        return out

    def _error_buffer(self, i, deltas, error, shape):
        """:meth:`_layer_error` in a reused buffer (zeros if nothing arrives)."""
        e = self._layer_error(i, deltas, error, self._buffer("error", i, shape))
        if e is None:
            e = self._buffer("error", i, shape)
            e[...] = 0
        return e

    def _check_cached(self):
        if self.activations is None:
            raise ValueError("no cached minibatch: call cache_minibatch first")

    def calc_grad(self, squared=False):
        """Gradient of the loss on the cached minibatch at ``W``.

        Parameters
        ----------
        squared : bool
            Also return the mean of the squared per-example gradients,
            :math:`\\frac{1}{N}\\sum_n (\\nabla_W L_n)^2` (elementwise), the
            statistic of Martens' (2010, §4.7) diagonal preconditioner.  For
            RNNet the squares are taken per time step, summed over time and
            averaged over the sequences,
            :math:`\\frac{1}{N}\\sum_n \\sum_t (\\nabla_W L_{n,t})^2`, where
            :math:`\\nabla_W L_{n,t}` is the part of sequence :math:`n`'s gradient
            collected at step :math:`t` (whole sequences even with truncation).

        Returns
        -------
        grad : (n_params,) array
            :math:`\\nabla_W \\frac{1}{N}\\sum_n L_n`.
        squared_grad : (n_params,) array
            Only with ``squared=True``.
        """
        squared = val.check_bool(squared, "squared")
        self._check_cached()
        scale = self._batch.scale
        errors = [None if e is None else self._internal(e * scale)
                  for e in self.loss_type.d_loss(self.activations, self.targets)]
        if not squared:
            return self._combine([self._gradient(errors)], self.inputs.shape[0])[0]
        sq = self.xp.empty(self.n_params, dtype=self.dtype)
        grad = self._gradient(errors, squared=sq)
        sq *= self.dtype.type(self.inputs.shape[0])  # the errors carry 1/N; squared 1/N^2
        return tuple(self._combine([grad, sq], self.inputs.shape[0]))

    def _combine(self, arrays, n_examples):
        """Means over this process's ``n_examples`` examples -> means over
        the examples of every process of ``self.comm``, in place (nothing
        to do without one; see :func:`hessianfree.distributed.allreduce_mean`)."""
        if self.comm is not None:
            distributed.allreduce_mean(self.comm, arrays, n_examples)
        return arrays

    def _gradient(self, errors, squared=None):
        """Backpropagate the scaled loss errors into a new gradient vector
        (and the squared per-example terms into ``squared``)."""
        return self._backward(errors, self.xp.empty(self.n_params, dtype=self.dtype),
                              self._batch, squared=squared)

    def _R_forward(self, v, cache):
        """R-forward pass (Pearlmutter 1994) over the batch ``cache``: the
        directional derivative :math:`J v` of every layer's activation."""
        R_acts = [None] * self.n_layers
        for i in range(1, self.n_layers):
            R_in = self._R_layer_input(i, cache.acts, R_acts, v)
            R_acts[i] = self._R_activation(i, cache.d_acts[i], R_in)
        return R_acts

    def _R_activation(self, i, d, R_in):
        """:math:`R a = \\partial a / \\partial x \\cdot R x` for layer ``i``
        (in place for elementwise derivatives)."""
        out = R_in if d.ndim == R_in.ndim else self._buffer("R_act", i, R_in.shape)
        return apply_derivative(d, R_in, out)

    def _R_layer_input(self, i, acts, R_acts, v):
        """R-input of layer ``i`` from its feed-forward connections:
        :math:`\\sum_{pre} (a_{pre} V + R a_{pre} W) + V_b` (2-D arrays)."""
        xp = self.xp
        R_in = self._layer_input(i, acts, v,
                                 out=self._buffer("R_in", i, acts[i].shape))
        for pre in self.back_conns[i]:
            if R_acts[pre] is not None:
                W, _ = self.get_weights(self.W, (pre, i))
                R_in += layer_product(xp, R_acts[pre], W,
                                      out=self._buffer("tmp", i, R_in.shape))
        return R_in

    def calc_G(self, v, damping=0, out=None):
        """Gauss-Newton matrix-vector product on the cached minibatch.

        .. math:: (J^T H_L J + \\lambda I) v

        with :math:`J` the Jacobian of all layers' activations with respect to
        the parameters and :math:`H_L` the (diagonal) second derivative of the
        loss with respect to those activations (Schraudolph 2002).

        Parameters
        ----------
        v : (n_params,) array
            Vector to multiply.
        damping : float
            Tikhonov damping :math:`\\lambda`.
        out : (n_params,) array, optional
            Buffer for the result.

        Returns
        -------
        (n_params,) array
        """
        for name, x in (("v", v), ("out", out)):  # cheap checks: CG calls this often
            if (x is not None or name == "v") and (
                    getattr(x, "shape", None) != (self.n_params,) or
                    getattr(getattr(x, "dtype", None), "kind", None) != "f"):
                val.check_vector(x, name, self.n_params)  # raises
        damping = val.check_real(damping, "damping")
        self._check_cached()
        cache = self._curv
        R_acts = self._R_forward(v, cache)
        errors = [None] * self.n_layers
        for i, d2 in enumerate(cache.d2_loss):
            if d2 is not None and R_acts[i] is not None:
                errors[i] = self.xp.multiply(
                    d2, R_acts[i], out=self._buffer("R_err", i, d2.shape))
        if out is None:
            out = self.xp.empty(self.n_params, dtype=self.dtype)
        self._backward(errors, out, cache)
        self._combine([out], self._n_curvature())
        if damping:
            out += self.xp.multiply(v, self.dtype.type(damping),
                                    out=self._buffer("damping", 0, v.shape))
        return out

    def _n_curvature(self):
        """Number of examples :meth:`calc_G` averages over on this process."""
        if self._curv_indices is None:
            return self.inputs.shape[0]
        return len(self._curv_indices)

    # ------------------------------------------------------ derivative checks
    def _host_float64(self, x):
        return backend.to_numpy(x).astype(np.float64)

    def _check_eps(self):
        return 1e-6 if self.dtype == np.float64 else 1e-3

    def _check_tols(self):
        return (1e-4, 1e-6) if self.dtype == np.float64 else (5e-2, 5e-3)

    def _W_as(self, W):
        return self.xp.asarray(W, dtype=self.dtype)

    def check_grad(self, grad):
        """Compare ``grad`` with a finite-difference gradient of :meth:`error`.

        Raises
        ------
        DerivativeCheckError
            If they disagree (use ``debug=True``/float64 for tight checks).
        """
        val.check_vector(grad, "grad", self.n_params)
        W0 = self._host_float64(self.W)
        numeric = dc.central_difference(
            lambda W: self.error(self._W_as(W)), W0, self._check_eps())[0]
        dc.assert_close("gradient", self._host_float64(grad), numeric,
                        *self._check_tols())

    def _fd_jacobian(self):
        """Finite-difference Jacobian of all activations (concatenated)."""
        def all_acts(W):
            acts = self._forward_cached(self._W_as(W))
            return np.concatenate([self._host_float64(a).ravel() for a in acts[1:]])
        return dc.central_difference(all_acts, self._host_float64(self.W),
                                     self._check_eps())

    def _forward_cached(self, W):
        return self.forward(self._curvature_data()[0], W)

    def _curvature_data(self):
        """Inputs and targets of the batch :meth:`calc_G` uses."""
        if self._curv_indices is None:
            return self.inputs, self.targets
        idx = self.xp.asarray(self._curv_indices)
        return self.inputs[idx], self.targets[idx]

    def check_J(self):
        """Compare the R-forward pass with a finite-difference Jacobian.

        Raises
        ------
        DerivativeCheckError
        """
        self._check_cached()
        numeric = self._fd_jacobian()
        analytic = np.zeros_like(numeric)
        for k in range(self.n_params):
            e_k = self.xp.zeros(self.n_params, dtype=self.dtype)
            e_k[k] = 1
            R_acts = self._R_forward(e_k, self._curv)
            analytic[:, k] = np.concatenate(
                [self._host_float64(self._external(a)).ravel() for a in R_acts[1:]])
        dc.assert_close("Jacobian (R-forward)", analytic, numeric, *self._check_tols())

    def explicit_G(self, damping=0):
        """Form the damped Gauss-Newton matrix explicitly from a
        finite-difference Jacobian: :math:`J^T H_L J + \\lambda I`
        (for checks on small networks)."""
        self._check_cached()
        J = self._fd_jacobian()
        inputs, targets = self._curvature_data()
        acts = self.forward(inputs)
        d2_loss = self.loss_type.d2_loss(acts, targets)
        d2 = np.concatenate([
            np.zeros(acts[i].size) if d is None
            else self._host_float64(d).ravel() / targets.shape[0]
            for i, d in enumerate(d2_loss) if i > 0])
        G = self._combine([J.T @ (d2[:, None] * J)], targets.shape[0])[0]
        return G + damping * np.eye(self.n_params)

    def check_G(self, G_v, v, damping=0):
        """Compare a curvature product ``G_v`` with the explicitly formed
        :meth:`explicit_G` times ``v``.

        Raises
        ------
        DerivativeCheckError
        """
        val.check_vector(G_v, "G_v", self.n_params)
        val.check_vector(v, "v", self.n_params)
        damping = val.check_real(damping, "damping")
        expected = self.explicit_G(damping) @ self._host_float64(v)
        dc.assert_close("Gauss-Newton product", self._host_float64(G_v), expected,
                        *self._check_tols())
