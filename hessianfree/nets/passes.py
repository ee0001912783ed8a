"""The derivative passes of a feed-forward network over a cached batch.

Read top to bottom, this module is one Hessian-free step's worth of
network arithmetic:

1. :meth:`FeedForwardPasses.forward`: activations of every layer,
   :math:`a_i = f_i(\\sum_{pre} a_{pre} W_{pre,i} + b_{pre,i})`, and their
   derivatives (what :meth:`~hessianfree.FFNet.cache_minibatch` keeps in a
   :class:`~hessianfree.nets.batch.Batch`);
2. :meth:`FeedForwardPasses.calc_grad`: backpropagation of the loss errors
   into the gradient, ``FeedForwardPasses._backward``;
3. :meth:`FeedForwardPasses.calc_G`: the Gauss-Newton product
   :math:`J^T H_L J v`, an R-forward pass (``FeedForwardPasses._R_forward``,
   Pearlmutter 1994) that gives :math:`J v`, the loss curvature
   :math:`H_L`, and the same backward pass (Schraudolph 2002).

:class:`~hessianfree.FFNet` inherits these passes; it supplies the
structure (``shape``, ``layers``, ``conns``, ``back_conns``), the weights
(``W``, ``get_weights``), the array module ``xp`` and the cached minibatch
(``batch``, a :class:`~hessianfree.nets.batch.Batch`, and the layouts
``_internal``, ``_external``).  Every pass over a batch takes the batch
explicitly and takes its scratch arrays from it.
:class:`~hessianfree.RNNet` overrides the passes with their versions
through time and reuses the per-connection pieces.
"""

from hessianfree.base import backend
from hessianfree.nets import chunking
from hessianfree.nets import curvature
from hessianfree.nets import hessian
from hessianfree.nets import work
from hessianfree.base import validation as val
from hessianfree.layers import jacobians
from hessianfree.layers.jacobians import JacobianOperator
from hessianfree.nets.records import record_errors


def apply_derivative(d, x, out, transpose=False):
    """Multiply ``x`` by a layer's activation derivative.

    Parameters
    ----------
    d : (..., n) or (..., n, n) array, or JacobianOperator
        Elementwise derivative, per-example Jacobian with
        ``d[..., i, j] = da_i / dx_j``, or a
        :class:`~hessianfree.layers.jacobians.JacobianOperator` standing for
        the Jacobians (what :meth:`Nonlinearity.cached_derivative
        <hessianfree.layers.nonlinearities.Nonlinearity.cached_derivative>` gives).
    x : (..., n) array
        Vector to multiply (an R-input going forward, an error going back).
    out : (..., n) array
        Result buffer; may be ``x`` itself for elementwise derivatives.
    transpose : bool
        Multiply by the transposed Jacobian (used going backward).
    """
    if isinstance(d, JacobianOperator):
        return d.matvec(x, out, transpose)
    xp = backend.array_module(x)
    if d.ndim <= x.ndim:  # element-wise, or per-unit constants
        return xp.multiply(d, x, out=out)
    if transpose:
        xp.matmul(x[..., None, :], d, out=out[..., None, :])
    else:
        xp.matmul(d, x[..., None], out=out[..., None])
    return out


def layer_product(xp, a, W, out=None):
    """``a @ W`` for activations ``a`` and a weight matrix ``W``.

    With a single input unit the product is an outer product, which BLAS
    runs about 3x slower than the equivalent broadcast multiplication.
    """
    if W.shape[0] == 1:
        return xp.multiply(a, W, out=out)
    return xp.matmul(a, W, out=out)


class FeedForwardPasses:
    """Forward, backward and R-forward passes of :class:`~hessianfree.FFNet`
    (a base class: see the module docstring for what it expects)."""

    # --------------------------------------------------------- forward pass
    def _W_as(self, W):
        """``W`` as this network's array type and dtype."""
        return self.xp.asarray(W, dtype=self.dtype)

    def _check_params(self, params, name="params"):
        """``params`` (default ``self.W``) checked as a parameter vector."""
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

    def _layer_input(self, i, acts, params, out=None, batch=None):
        """Input to layer ``i``: the sum of ``acts[pre] @ W + b`` over its
        incoming connections (``acts`` are 2-D, one time step for RNNs);
        scratch arrays from ``batch`` if given."""
        xp = self.xp
        for k, pre in enumerate(self.back_conns[i]):
            W, b = self.get_weights(params, (pre, i))
            if k == 0:
                out = layer_product(xp, acts[pre], W, out=out)
                out += b
            else:
                tmp = None if batch is None else batch.buffer("input_tmp", i, out.shape)
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
        if not deriv:
            return self._forward(inputs, params, False)
        acts, d_acts = self._forward(inputs, params, True)
        return acts, [None if d is None else jacobians.as_array(d) for d in d_acts]

    def _forward(self, inputs, params, deriv, record=None):
        """:meth:`forward` on inputs and parameters already checked (user
        layout), the one forward pass of a feed-forward network; a
        :class:`ForwardRecord` ``record`` receives the layers' inputs."""
        acts, d_acts = [None] * self.n_layers, [None] * self.n_layers
        for i, layer in enumerate(self.layers):
            x = inputs if i == 0 else self._layer_input(i, acts, params)
            acts[i] = layer.activation(x)
            if deriv:
                d_acts[i] = layer.cached_derivative(x, acts[i])
            if record is not None:
                record.keep(i, layer, x, acts[i])
        return (acts, d_acts) if deriv else acts

    def _internal_forward(self, inputs, record=None):
        """Activations and derivatives of checked ``inputs`` at ``W`` in the
        internal layout (``record`` as in :meth:`_forward`)."""
        return self._forward(inputs, self.W, True, record)

    # ------------------------------------------------- gradient and curvature
    def _weight_grads(self, batch, acts, deltas, out, squared=None, skip=()):
        """Write ``acts[pre]^T deltas[post]`` and the bias sums into ``out``
        for every connection (leading axes are flattened, so recurrent nets
        pass whole sequences) except those into the layers in ``skip``.
        With ``squared``, also write the sums of the squared per-example
        terms, :math:`(a \\circ a)^T (\\delta \\circ \\delta)`, into it (``out``
        may then be None: the statistic alone)."""
        xp = self.xp
        for pre, post in self._conn_list():
            if post in skip:
                continue
            a = acts[pre].reshape(-1, acts[pre].shape[-1])
            d = deltas[post].reshape(-1, deltas[post].shape[-1])
            if out is not None:
                W, b = self.get_weights(out, (pre, post))
                xp.matmul(a.T, d, out=W)
                xp.matmul(batch.workspace.ones(d.shape[0]), d, out=b)
            if squared is not None:
                W, b = self.get_weights(squared, (pre, post))
                d = d * d
                xp.matmul((a * a).T, d, out=W)
                xp.matmul(batch.workspace.ones(d.shape[0]), d, out=b)

    def _layer_error(self, i, deltas, error, out, batch):
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
                                     out=batch.buffer("error_tmp", i, out.shape))
        if error is not None:
            out += error
        return out

    def _backward(self, errors, out, cache, squared=None, inject=None, record=None):
        """Backpropagate per-layer errors through the batch ``cache`` and
        write the parameter gradient into ``out`` (already scaled: the errors
        carry the 1/batch); see :meth:`_weight_grads` for ``squared``.

        ``inject[i]`` (optional) is added to layer ``i``'s input error right
        after its activation derivative (the second-derivative term of the
        Hessian product); a ``record`` dict receives copies of every layer's
        output and input errors (:func:`record_errors`)."""
        deltas = self._deltas(errors, cache, inject, record)
        self._weight_grads(cache, cache.acts, deltas, out, squared)
        return out

    def _deltas(self, errors, cache, inject=None, record=None):
        """Backpropagate per-layer errors through the batch ``cache``: the
        gradient with respect to each layer's summed input (per example, in
        reused buffers); ``inject`` and ``record`` as in :meth:`_backward`."""
        deltas = [None] * self.n_layers
        for i in range(self.n_layers - 1, 0, -1):
            e = self._error_buffer(i, deltas, errors[i], cache.acts[i].shape, cache)
            deltas[i] = apply_derivative(cache.d_acts[i], e,
                                         cache.buffer("delta", i, e.shape),
                                         transpose=True)
            if inject is not None and inject[i] is not None:
                deltas[i] += inject[i]
            record_errors(record, i, e, deltas[i], self.n_layers)
        return deltas

    def _error_buffer(self, i, deltas, error, shape, batch):
        """:meth:`_layer_error` in a reused buffer of ``batch`` (zeros if
        nothing arrives)."""
        e = self._layer_error(i, deltas, error, batch.buffer("error", i, shape), batch)
        if e is None:
            e = batch.buffer("error", i, shape)
            e[...] = 0
        return e

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
        batch = self._require_batch()
        total = None
        for part in chunking.parts(self, batch):
            grads = self._local_gradient(part, squared)
            if total is None:
                total = list(grads)
            else:
                for t, g in zip(total, grads):
                    t += g
        total = self._combine(total, batch.size)
        work.count(self, "gradient", batch.size)
        return tuple(total) if squared else total[0]

    def _loss_errors(self, batch, exact_curvature=False):
        """The loss's errors :math:`\\partial L / \\partial a_i` on ``batch``,
        scaled by one over its ``n_examples`` (internal layout); with
        ``exact_curvature``, also its exact curvature (``d2_loss_exact``),
        scaled alike."""
        errors = self._to_internal(
            self.loss_type.d_loss(batch.user_acts, batch.targets), batch.scale)
        if not exact_curvature:
            return errors
        return errors, self._to_internal(
            self.loss_type.d2_loss_exact(batch.user_acts, batch.targets), batch.scale)

    def _local_gradient(self, batch, squared):
        """``[gradient]``, or ``[gradient, squared statistic]``, on ``batch``,
        before the reduction over processes."""
        errors = self._loss_errors(batch)
        if not squared:
            return [self._gradient(errors, batch)]
        sq = self.xp.empty(self.n_params, dtype=self.dtype)
        grad = self._gradient(errors, batch, squared=sq)
        sq *= self.dtype.type(batch.n_examples)  # the errors carry 1/N; squared 1/N^2
        return [grad, sq]

    def _combine(self, arrays, n_examples):
        """Means over this process's ``n_examples`` examples -> means over
        the examples of every process, in place (see
        :mod:`hessianfree.nets.reduction`)."""
        return self.reduction.mean(arrays, n_examples)

    def _gradient(self, errors, cache, squared=None):
        """Backpropagate the scaled loss errors through the batch ``cache``
        into a new gradient vector (and the squared per-example terms into
        ``squared``)."""
        return self._backward(errors, self.xp.empty(self.n_params, dtype=self.dtype),
                              cache, squared=squared)

    def _R_forward(self, v, cache, R_inputs=None, R_states=None):
        """R-forward pass (Pearlmutter 1994) over the batch ``cache``: the
        directional derivative :math:`J v` of every layer's activation (and
        copies of every layer's R-input in the list ``R_inputs``, if given;
        ``R_states`` is for the stateful layers of recurrent networks)."""
        R_acts = [None] * self.n_layers
        for i in range(1, self.n_layers):
            R_in = self._R_layer_input(i, cache.acts, R_acts, v, cache)
            if R_inputs is not None:
                R_inputs[i] = cache.buffer("R_input_copy", i, R_in.shape)
                R_inputs[i][...] = R_in
            R_acts[i] = self._R_activation(i, cache.d_acts[i], R_in, cache)
        return R_acts

    def _R_activation(self, i, d, R_in, batch):
        """:math:`R a = \\partial a / \\partial x \\cdot R x` for layer ``i``
        (in place for elementwise derivatives)."""
        out = R_in if d.ndim == R_in.ndim else batch.buffer("R_act", i, R_in.shape)
        return apply_derivative(d, R_in, out)

    def _R_layer_input(self, i, acts, R_acts, v, batch):
        """R-input of layer ``i`` from its feed-forward connections:
        :math:`\\sum_{pre} (a_{pre} V + R a_{pre} W) + V_b` (2-D arrays)."""
        R_in = self._layer_input(i, acts, v, out=batch.buffer("R_in", i, acts[i].shape),
                                 batch=batch)
        return self._add_R_terms(i, R_acts, R_in, batch)

    def _add_R_terms(self, i, R_acts, R_in, batch):
        """Add :math:`R a_{pre} W` to ``R_in`` for every connection into
        layer ``i`` whose source has an R-activation (2-D arrays)."""
        for pre in self.back_conns[i]:
            if R_acts[pre] is not None:
                W, _ = self.get_weights(self.W, (pre, i))
                R_in += layer_product(self.xp, R_acts[pre], W,
                                      out=batch.buffer("tmp", i, R_in.shape))
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
        damping = self._check_product_args(v, damping, out)
        return self._product(self._local_G, v, damping, out)

    def calc_Hv(self, v, damping=0, out=None):
        """Exact Hessian-vector product on the cached minibatch.

        .. math:: (H + \\lambda I) v, \\quad H = \\nabla^2_W f

        by R-propagation through the forward and backward passes (Pearlmutter
        1994; :mod:`hessianfree.nets.hessian`).  Unlike the Gauss-Newton matrix of
        :meth:`calc_G`, :math:`H` may be indefinite.  Uses the loss's exact
        second derivative (``d2_loss_exact``) and the nonlinearities'
        ``d2_activation``; costs about 1.5 Gauss-Newton products, plus one
        gradient pass the first time on each batch.  Parameters and result
        as for :meth:`calc_G`.

        Raises
        ------
        NotImplementedError
            If a layer is a Plant or stateful with non-element-wise
            derivatives, or a custom nonlinearity does not define
            ``d2_activation``.
        """
        damping = self._check_product_args(v, damping, out)
        return self._product(self._local_Hv, v, damping, out)

    def _check_product_args(self, v, damping, out):
        """Checks of :meth:`calc_G` and :meth:`calc_Hv`; returns the damping."""
        for name, x in (("v", v), ("out", out)):  # cheap checks: CG calls this often
            if (x is not None or name == "v") and (
                    getattr(x, "shape", None) != (self.n_params,) or
                    getattr(getattr(x, "dtype", None), "kind", None) != "f"):
                val.check_vector(x, name, self.n_params)  # raises
        damping = val.check_real(damping, "damping")
        self._require_batch()
        return damping

    def _product(self, local_product, v, damping, out):
        """``local_product(v, out, batch)`` over the curvature batch (chunk
        by chunk for a chunked minibatch), reduced over processes, plus
        ``damping * v``.  ``out`` may be ``v`` itself."""
        batch = self.batch
        if out is None:
            out = self.xp.empty(self.n_params, dtype=self.dtype)
        # the passes read v while they write the result: never into v itself
        result = batch.buffer("product", 0, v.shape) if out is v else out
        first = True
        for part in chunking.parts(self, batch, curvature=True):
            if first:
                local_product(v, result, part)
                first = False
            else:
                result += local_product(v, batch.buffer("product_part", 0, v.shape), part)
        self._combine([result], batch.n_curvature())
        work.count(self, "curvature", batch.n_curvature())
        if damping:
            result += self.xp.multiply(v, self.dtype.type(damping),
                                       out=batch.buffer("damping", 0, v.shape))
        if result is not out:
            out[...] = result
        return out

    def _local_G(self, v, out, cache):
        """Gauss-Newton product on the batch ``cache`` into ``out``."""
        R_acts = self._R_forward(v, cache)
        errors = [None] * self.n_layers
        for i, d2 in enumerate(cache.d2_loss):
            if d2 is not None and R_acts[i] is not None:
                errors[i] = self.xp.multiply(
                    d2, R_acts[i], out=cache.buffer("R_err", i, d2.shape))
        return self._backward(errors, out, cache)

    def _local_Hv(self, v, out, cache):
        """Hessian product on the batch ``cache`` into ``out``."""
        return hessian.hessian_product(self, v, out, cache)

    def curvature_operator(self, kind="gauss-newton", damping=0):
        """The curvature matrix on the cached minibatch as a SciPy
        ``LinearOperator`` (see :func:`hessianfree.nets.curvature.curvature_operator`).

        Parameters
        ----------
        kind : {"gauss-newton", "hessian"}
            Which curvature matrix (:meth:`calc_G` or :meth:`calc_Hv`).
        damping : float
            Tikhonov damping :math:`\\lambda \\ge 0` added to it.

        Returns
        -------
        scipy.sparse.linalg.LinearOperator
        """
        return curvature.curvature_operator(self, kind, damping)

    def _n_curvature(self):
        """Number of examples :meth:`calc_G` averages over on this process."""
        return self._require_batch().n_curvature()
