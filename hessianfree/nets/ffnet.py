"""Feed-forward networks trained with Hessian-free optimization.

:class:`FFNet` holds the weights as one flat vector and computes the three
quantities the optimizers need on a cached minibatch: the loss, its gradient
(backpropagation) and Gauss-Newton matrix-vector products (one R-forward and
one backward pass; Schraudolph 2002, Pearlmutter 1994).  The recurrent
network :class:`hessianfree.nets.rnnet.RNNet` reuses these pieces per time step.

The class is assembled from one module per concern: the parameter layout
and initialization (:mod:`hessianfree.nets.layout`), the derivative passes
(:mod:`hessianfree.nets.passes`), the finite-difference checks
(:mod:`hessianfree.nets.derivative_checks`), the means over examples
(:mod:`hessianfree.nets.reduction`) and the training loop
(:mod:`hessianfree.run.training`); this module keeps the construction, the
batch caching and the loss.
"""

import numpy as np

from hessianfree.nets import architecture
from hessianfree.base import backend
from hessianfree.nets import batch as batches
from hessianfree.nets import chunking
from hessianfree.nets import input_derivatives
from hessianfree.nets import layout
from hessianfree.losses import loss_funcs
from hessianfree.layers import nonlinearities as nl
from hessianfree.layers import jacobians
from hessianfree.nets import reduction
from hessianfree.base import validation as val
from hessianfree.nets.derivative_checks import CheckMethods
from hessianfree.nets.layout import INIT_TYPES, check_init_params  # noqa: F401
from hessianfree.nets.model import WholeModel
from hessianfree.optim.optimizer_base import MAX_FAILURES, Optimizer
from hessianfree.nets.passes import FeedForwardPasses, apply_derivative, layer_product  # noqa: F401


def _as_float_dtype(dtype):
    checked = val.float_dtype(dtype)
    if checked is None:
        raise TypeError(f"dtype must be a floating point type such as np.float32, "
                        f"got {val.describe(dtype)}")
    return checked


@architecture.register_network
class FFNet(FeedForwardPasses, WholeModel, CheckMethods):
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
        :class:`~hessianfree.losses.loss_funcs.LossSet`.
    W_init_params : dict, optional
        Keyword arguments for :meth:`init_weights` (``coeff``, ``biases``,
        ``init_type``; each a scalar or one value per weight matrix).
    use_GPU : bool
        Run on an NVIDIA GPU through CuPy (``pip install "hessianfree[gpu]"``);
        ``W``, ``best_W`` and the arrays the methods return are then CuPy
        arrays (``hessianfree.base.backend.to_numpy`` copies them to the host).
    load_weights : array_like or str, optional
        Initial parameter vector, or the name of a ``.npy`` file holding one.
    debug : bool
        Use float64 and check the gradient and curvature products against
        finite differences while training (small networks only).
    rng : int seed, numpy.random.RandomState or numpy.random.Generator, optional
        Source of all randomness (initial weights, minibatches).
    dtype : numpy dtype
        Floating point type of weights and activations (float32 default).

    Attributes
    ----------
    weights_version : int
        A counter that every change of ``W`` advances; what a cached
        minibatch computed lazily (:mod:`hessianfree.nets.batch`) is keyed on.
    batch : hessianfree.nets.batch.Batch or None
        The cached minibatch (:meth:`cache_minibatch`).
    chunk_size : int or None
        Process cached minibatches of more examples in chunks of this many
        (:mod:`hessianfree.nets.chunking`); an optimizer's own ``chunk_size``
        (``HessianFree(chunk_size=...)``) takes precedence while it is
        attached.

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
        layers = layout.resolve_layers(layers, len(shape))
        conns = layout.check_conns(conns, len(shape))
        self._check_layer_kinds(layers)
        loss_type = loss_funcs.resolve_loss(loss_type)
        loss_type.check_layers(layers)
        dtype = _as_float_dtype(np.float64 if debug else dtype)
        rng = layout.as_rng(rng)
        check_init_params(W_init_params, "W_init_params")
        self.xp = backend.get_array_module(use_GPU)

        self.shape, self.layers, self.conns = shape, layers, conns
        self.n_layers = len(shape)
        self.back_conns = {i: [pre for pre in sorted(conns) if i in conns[pre]]
                           for i in range(self.n_layers)}
        self.loss_type, self.dtype, self.rng = loss_type, dtype, rng
        self.use_GPU, self.debug = use_GPU, debug
        self._optimizer = None
        self.reduction = reduction.LOCAL
        self.batch = None
        self.chunk_size = None
        self.weights_version = 0
        self.best_W, self.best_error = None, np.inf
        self.plots = {}
        self._W_init_params = W_init_params
        self.compute_offsets()

        W = (layout.load_weights(load_weights, self.n_params, self.dtype)
             if load_weights is not None else
             layout.initial_weights(self.rng, self._param_groups()))
        self.W = self.xp.asarray(W, dtype=self.dtype)

    # ------------------------------------------------ structure and layout
    @staticmethod
    def _check_layer_kinds(layers):
        stateful = [i for i, layer in enumerate(layers) if layer.stateful]
        if stateful:
            raise TypeError(f"layers {stateful} are stateful nonlinearities, which "
                            f"evolve over time: use hessianfree.RNNet")

    def _conn_list(self):
        """All weight matrices ``(pre, post)`` in parameter-vector order."""
        return [(pre, post) for pre in sorted(self.conns)
                for post in self.conns[pre]]

    def _param_groups(self):
        """The blocks of the parameter vector in order, in groups that
        share :meth:`init_weights` arguments: ``[(init_params, [((pre, post),
        n_pre, n_post), ...]), ...]`` (see :mod:`hessianfree.nets.layout`)."""
        return [(self._W_init_params, [((pre, post), self.shape[pre], self.shape[post])
                                       for pre, post in self._conn_list()])]

    def compute_offsets(self):
        """Compute where each connection's weights live in the flat vector.

        Sets ``self.layout`` (a :class:`~hessianfree.nets.layout.ParameterLayout`),
        ``self.offsets[(pre, post)] = (start, weights_end, biases_end)`` and
        ``self.n_params``; returns the offsets.
        """
        self.layout = layout.ParameterLayout(
            [block for _, blocks in self._param_groups() for block in blocks])
        self.offsets, self.n_params = self.layout.offsets, self.layout.n_params
        return self.offsets

    def get_weights(self, params, conn):
        """Views of one connection's weights and biases in ``params``
        (:meth:`hessianfree.nets.layout.ParameterLayout.get_weights`)."""
        return self.layout.get_weights(params, conn)

    def init_weights(self, shapes, coeff=1.0, biases=0.0, init_type="sparse"):
        """Initial weights for a list of weight-matrix shapes, drawn with
        ``self.rng``; see :func:`hessianfree.nets.layout.init_weights` for the
        arguments and the schemes (sparse, uniform, Gaussian)."""
        return layout.init_weights(self.rng, shapes, coeff, biases, init_type)

    @property
    def optimizer(self):
        """The optimizer used by :meth:`run_epochs` (setting it sets ``.net``)."""
        return self._optimizer

    @optimizer.setter
    def optimizer(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError("optimizer must be a hessianfree.optim.optimizers.Optimizer, "
                            f"got {type(optimizer).__name__}")
        check = getattr(optimizer, "check_network", None)
        if check is not None:
            check(self)  # raises before anything changes
        if optimizer.net is not self:
            optimizer.forget_network()
        optimizer.net = self
        self._optimizer = optimizer

    @property
    def comm(self):
        """The MPI communicator this network trains over, or None (see
        :mod:`hessianfree.parallel.distributed`); setting it sets ``reduction``, the
        :mod:`hessianfree.nets.reduction` that the means over examples use."""
        return self.reduction.comm

    @comm.setter
    def comm(self, comm):
        self.reduction = reduction.for_comm(comm)

    # --------------------------------------------------------------- weights
    @property
    def W(self):
        """The flat parameter vector, ``(n_params,)``.  Assigning to it
        (``net.W = ...``, ``net.W += d``) advances :attr:`weights_version`;
        after writing into it in place (``net.W[...] = ...``), call
        :meth:`weights_changed`."""
        return self._W

    @W.setter
    def W(self, value):
        self._W = value
        self.weights_version += 1

    def weights_changed(self):
        """Tell the network that ``W`` was written in place: what was
        computed lazily on the cached minibatch at the old weights is then
        recomputed when next needed."""
        self.weights_version += 1

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
        loss = self.loss_type if loss_type is None else loss_type
        if inputs is None:
            if self.batch is None:
                raise ValueError("no cached minibatch: pass inputs and targets "
                                 "or call cache_minibatch first")
            targets = self.batch.targets
            value = chunking.error(self, self.batch, W, loss)
        elif targets is None:
            raise ValueError("targets must be given with inputs")
        else:
            acts = self.forward(inputs, W)
            targets = self._as_targets(targets, acts[0])
            value = float(loss.batch_loss(acts, targets))
        return self.reduction.mean_error(value, loss, targets)

    def input_derivatives(self, x, gradient=True, hessian=False, laplacian=False,
                          mode="forward"):
        """Outputs and their exact derivatives with respect to the inputs:
        Jacobian ``(batch, n_out, n_in)``, Hessian ``(batch, n_out, n_in,
        n_in)``, Laplacian ``(batch, n_out)``, in forward or backward mode
        (:func:`hessianfree.nets.input_derivatives.input_derivatives`)."""
        return input_derivatives.input_derivatives(self, x, gradient, hessian,
                                                   laplacian, mode)

    def _host(self, x):
        return backend.to_numpy(x)

    def _epoch_data(self, inputs, targets, minibatch_size):
        """This epoch's training data (a random minibatch, or all of it)."""
        if isinstance(inputs, nl.Plant):
            raise TypeError("a Plant generates inputs over time: use it with "
                            "hessianfree.RNNet")
        idx = batches.select_minibatch(self.rng, inputs.shape[0], minibatch_size)
        if idx is None:
            return inputs, targets
        idx = self.xp.asarray(idx)
        return inputs[idx], targets[idx]

    def run_epochs(self, inputs, targets, optimizer, max_epochs=100,
                   minibatch_size=None, test=None, test_err=None, target_err=1e-6,
                   plotting=False, file_output=None, print_period=10, resume=False,
                   max_failures=MAX_FAILURES, comm=None, callback=None):
        """Train the network: :func:`hessianfree.run.training.run_epochs`, which
        documents the parameters, the return value and the exceptions, or
        with ``comm``, :func:`hessianfree.parallel.distributed.run_epochs`.

        The network does not depend on its trainer: this method reaches the
        training loop through :func:`hessianfree.run.fitting.fit`, imported
        when it is called.

        Parameters
        ----------
        comm : mpi4py.MPI.Intracomm, optional
            Train data-parallel over the processes of this MPI communicator
            (e.g. ``MPI.COMM_WORLD`` under ``mpiexec -n K``): each process
            passes its own shard of ``inputs``, ``targets`` and ``test``;
            ``minibatch_size`` is the total over all processes.  Every
            process ends with the same weights; only rank 0 prints, plots
            and writes files.  See :mod:`hessianfree.parallel.distributed`.
        """
        from hessianfree.run import fitting  # the one import of the layer above
        return fitting.fit(self, inputs=inputs, targets=targets, optimizer=optimizer,
                           max_epochs=max_epochs, minibatch_size=minibatch_size,
                           test=test, test_err=test_err, target_err=target_err,
                           plotting=plotting, file_output=file_output,
                           print_period=print_period, resume=resume,
                           max_failures=max_failures, comm=comm, callback=callback)

    def cache_minibatch(self, inputs, targets, minibatch=None):
        """Store a minibatch and its activations for the derivative passes.

        Parameters
        ----------
        inputs, targets : arrays
            The data.
        minibatch : int or array of int, optional
            A number of examples to draw at random (with ``self.rng``), or the
            indices of the examples to use.  Default: all of them.

        The minibatch becomes :attr:`batch`, a
        :class:`~hessianfree.nets.batch.Batch` that every derivative on the
        cached minibatch reads.  With a chunk size (:attr:`chunk_size`, or
        the attached optimizer's) below its number of examples, only the
        inputs and targets are kept (``activations`` is None) and the
        derivatives run chunk by chunk.
        """
        inputs = val.as_batch(inputs, "inputs", self.shape[0], self._data_ndim,
                              self.dtype, self.xp)
        targets = self._as_targets(targets, inputs)
        if minibatch is not None:
            minibatch = self.xp.asarray(batches.minibatch_indices(
                self.rng, minibatch, inputs.shape[0]))
            inputs, targets = inputs[minibatch], targets[minibatch]
        chunk_size = self._chunk_size()
        if chunk_size is not None and inputs.shape[0] > chunk_size:
            chunking.check_chunkable(self)
        self.batch = None  # free the old activations first
        self.batch = batches.evaluate(self, inputs, targets, chunk_size=chunk_size)

    def _chunk_size(self):
        """The chunk size in force: the attached optimizer's, else
        :attr:`chunk_size`."""
        size = getattr(self._optimizer, "chunk_size", None)
        if size is None:
            size = batches.check_chunk_size(self.chunk_size, "net.chunk_size")
        return size

    def _to_internal(self, arrays, scale=None):
        """User-layout per-layer arrays (None kept) in the internal layout,
        times ``scale`` if given."""
        return [None if x is None else self._internal(x if scale is None else x * scale)
                for x in arrays]

    @property
    def inputs(self):
        """Inputs of the cached minibatch (None before the first)."""
        return None if self.batch is None else self.batch.inputs

    @property
    def targets(self):
        """Targets of the cached minibatch (None before the first)."""
        return None if self.batch is None else self.batch.targets

    @property
    def activations(self):
        """Every layer's activations on the cached minibatch (None before the
        first or for a chunked one)."""
        return None if self.batch is None else self.batch.user_acts

    @property
    def d_activations(self):
        """Every layer's activation derivatives on the cached minibatch
        (None before the first or for a chunked one)."""
        if self.batch is None or self.batch.chunked:
            return None
        return [None if d is None else self._external(jacobians.as_array(d))
                for d in self.batch.d_acts]

    #: Number of axes of the data (batch, units); RNNet adds time.
    _data_ndim = 2

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
        batch = self._require_batch()
        if indices is not None:
            indices = batches.check_indices(indices, "indices", batch.size)
        batches.select_curvature(self, batch, indices)

    def _require_batch(self):
        if self.batch is None:
            raise ValueError("no cached minibatch: call cache_minibatch first")
        return self.batch

    def _internal(self, x):
        """A user-layout array (batch first) in the internal layout."""
        return x

    def _external(self, x):
        """An internal-layout array in the user layout (batch first)."""
        return x
