"""Recurrent networks trained with Hessian-free optimization.

:class:`RNNet` is an :class:`~hessianfree.nets.ffnet.FFNet` whose data carry a time
axis, ``(batch, time, units)``, and whose recurrent layers feed their own
output back as input on the next time step (Martens & Sutskever 2011).  It
reuses FFNet's feed-forward pieces for whole sequences at once (one GEMM per
connection over ``batch * time`` rows) and only steps through time where a
layer is recurrent or stateful.

Internally, activations are stored time-major, ``(time, batch, units)``, so
that every time step is one contiguous matrix; the user sees batch-major
views.

Running in closed loop with a plant (a
:class:`~hessianfree.layers.nonlinearities.Plant` as ``inputs``) is inherited from
:class:`~hessianfree.nets.closed_loop.ClosedLoop`.
"""

from hessianfree.nets import architecture
from hessianfree.layers import nonlinearities as nl
from hessianfree.nets import stacked
from hessianfree.base import validation as val
from hessianfree.base.backend import matmul_add
from hessianfree.nets.closed_loop import ClosedLoop
from hessianfree.nets.ffnet import FFNet
from hessianfree.nets.layout import check_init_params
from hessianfree.layers import jacobians
from hessianfree.layers.jacobians import JacobianOperator
from hessianfree.nets.passes import apply_derivative, record_errors


def _flat(arrays):
    """``(time, batch, n)`` arrays as ``(time * batch, n)`` views."""
    return [None if a is None else a.reshape(-1, a.shape[-1]) for a in arrays]


def _state_parts(layer, d):
    """``parts(t) = (d_input, d_state, d_output)`` of a stateful layer at
    step ``t`` from its derivatives ``d`` (time first): the stacked last
    axis, or the layer's constant :meth:`state_derivatives` beside ``d``."""
    constant = layer.state_derivatives(d[0])
    if constant is None:
        return lambda t: (d[t][..., 0], d[t][..., 1], d[t][..., 2])
    d_input, d_state = constant
    return lambda t: (d_input, d_state, d[t])


def _check_rec_layers(rec_layers, n_layers):
    """``rec_layers`` checked (default: every hidden layer), sorted."""
    if rec_layers is None:
        return list(range(1, n_layers - 1))
    rec_layers = val.check_sequence(rec_layers, "rec_layers (layer indices)")
    for k, i in enumerate(rec_layers):
        val.check_int(i, f"rec_layers[{k}]")
        if not 0 < i < n_layers:
            raise ValueError(f"rec_layers contains {i!r}: recurrent layers must "
                             f"be in [1, {n_layers}) (the input layer cannot be "
                             f"recurrent)")
    return sorted(set(int(i) for i in rec_layers))


def _check_truncation(truncation):
    """``truncation`` checked: None or two positive ints ``(n, k)``."""
    if truncation is None:
        return None
    truncation = val.check_sequence(truncation, "truncation (two positive ints n, k)")
    if len(truncation) != 2:
        raise ValueError(f"truncation must be two positive ints (n, k), got {truncation}")
    return tuple(val.check_int(n, f"truncation[{k}]", low=1) for k, n in enumerate(truncation))


@architecture.register_network
class RNNet(ClosedLoop, FFNet):
    """A recurrent network trained with Hessian-free optimization.

    Parameters
    ----------
    shape : list of int
        Number of units in each layer, input layer first.
    rec_layers : list of int, optional
        Layers with a recurrent connection onto themselves (default: all but
        the first and last).
    W_rec_params : dict, optional
        :meth:`~hessianfree.FFNet.init_weights` arguments for the recurrent
        matrices (``W_init_params`` covers the feed-forward ones).
    truncation : tuple (n, k), optional
        Truncated backpropagation through time for the gradient: every ``n``
        steps, the errors of those ``n`` steps are propagated back ``k``
        steps (at least to the start of their own ``n`` steps).  ``None``
        (default) propagates through the whole sequence.  The Gauss-Newton
        product always uses whole sequences, so that it stays symmetric
        positive semi-definite, which conjugate gradient needs.
    **kwargs
        Everything :class:`~hessianfree.FFNet` takes (``layers``, ``conns``,
        ``loss_type``, ``W_init_params``, ``use_GPU``, ``load_weights``,
        ``debug``, ``rng``, ``dtype``).

    Notes
    -----
    Inputs and targets are ``(batch, time, units)``.  The parameter vector
    holds the feed-forward connections as in FFNet, then, for each recurrent
    layer in ascending order, its ``(n, n)`` recurrent matrix followed by
    ``n`` biases that act as the recurrent input on the first time step.

    Stateful nonlinearities (:class:`~hessianfree.layers.nonlinearities.Continuous`,
    plants, custom ones) keep a state :math:`s_t = f(s_{t-1}, x_t)` with
    output :math:`a_t = g(s_t)`; both derivative passes use all three of
    their derivatives (d_input, d_state, d_output).
    """

    _data_ndim = 3
    _check_rec_layers = staticmethod(_check_rec_layers)  # what hf.load checks with
    _check_truncation = staticmethod(_check_truncation)

    def __init__(self, shape, rec_layers=None, W_rec_params=None, truncation=None,
                 **kwargs):
        shape = val.check_shape(shape)
        rec_layers = _check_rec_layers(rec_layers, len(shape))
        truncation = _check_truncation(truncation)
        check_init_params(W_rec_params, "W_rec_params")
        self.rec_layers, self.truncation = rec_layers, truncation
        self._W_rec_params = W_rec_params
        super().__init__(shape, **kwargs)

    # ----------------------------------------------------------------- setup
    @staticmethod
    def _check_layer_kinds(layers):
        pass  # recurrent nets run stateful nonlinearities step by step

    def _param_groups(self):
        """FFNet's feed-forward blocks, then one group with the recurrent
        blocks ``(i, i)`` in ascending ``i`` (initialized with
        ``W_rec_params``)."""
        return super()._param_groups() + [
            (self._W_rec_params, [((i, i), self.shape[i], self.shape[i])
                                  for i in self.rec_layers])]

    def _steps_in_time(self, i):
        return i in self.rec_layers or self.layers[i].stateful

    def _internal(self, x):
        return x.swapaxes(0, 1)

    _external = _internal

    # --------------------------------------------------------- forward pass
    def forward(self, inputs, params=None, deriv=False, init_activations=None,
                init_state=None):
        """Run input sequences through the network.

        Parameters
        ----------
        inputs : (batch, time, n_in) array_like or Plant
            Input sequences, or a plant that generates them in closed loop
            with the network's output.
        params : (n_params,) array, optional
            Parameters to use instead of ``self.W``.
        deriv : bool
            Also return each layer's activation derivatives.
        init_activations : list, optional
            One entry per layer: None, or the ``(batch, n)`` activations of a
            recurrent layer on the step before the first; their recurrent
            input then replaces the recurrent biases on the first step.
        init_state : list, optional
            One entry per layer: initial state of a stateful nonlinearity
            (passed to its ``reset``), or None.

        Returns
        -------
        activations : list of (batch, time, n_i) arrays
        d_activations : list of arrays
            Only with ``deriv=True``.
        """
        params = self._check_params(params)
        deriv = val.check_bool(deriv, "deriv")
        if isinstance(inputs, nl.Plant):
            source, n_batch = inputs, self._check_plant(inputs)[0]
        else:
            inputs = val.as_batch(inputs, "inputs", self.shape[0], 3, self.dtype,
                                  self.xp)
            source, n_batch = self._internal(inputs), inputs.shape[0]
        init_acts = self._check_init(init_activations, "init_activations", n_batch)
        init_state = self._check_init(init_state, "init_state", None)
        acts, d_acts = self._run(source, params, deriv, init_acts, init_state)
        acts = [self._external(a) for a in acts]
        if deriv:
            return acts, [self._external(jacobians.as_array(d)) for d in d_acts]
        return acts

    def _forward(self, inputs, params, deriv, record=None):
        acts, d_acts = self._run(self._internal(inputs), params, deriv, None, None,
                                 record)
        acts = [self._external(a) for a in acts]
        if deriv:
            return acts, [None if d is None else self._external(jacobians.as_array(d))
                          for d in d_acts]
        return acts

    def _check_init(self, init, name, n_batch):
        if init is None:
            return None
        if not isinstance(init, (list, tuple)) or len(init) != self.n_layers:
            raise TypeError(f"{name} must be a list with one entry (None or an "
                            f"array) per layer ({self.n_layers})")
        if n_batch is None:
            return list(init)
        return [None if a is None else
                val.as_batch(a, f"{name}[{i}]", self.shape[i], 2, self.dtype, self.xp)
                for i, a in enumerate(init)]

    def _run(self, source, params, deriv, init_acts, init_state, record=None):
        """Forward pass in the internal (time-major) layout: the one forward
        pass of a recurrent network (``record``, a
        :class:`~hessianfree.nets.records.ForwardRecord`, keeps the layers' inputs).

        Layers are processed in order; each gets its feed-forward input for
        the whole sequence at once, then steps through time only if it is
        recurrent or stateful.
        """
        for i, layer in enumerate(self.layers):
            if layer.stateful:
                layer.reset(None if init_state is None else init_state[i])
        if isinstance(source, nl.Plant):
            return self._run_closed_loop(source, params, deriv, init_acts)
        source = self.xp.ascontiguousarray(source)
        n_steps, n_batch = source.shape[:2]
        acts, d_acts = [None] * self.n_layers, [None] * self.n_layers
        for i, layer in enumerate(self.layers):
            if i == 0:
                x = source
            else:
                x = self._layer_input(i, _flat(acts), params)
                x = x.reshape(n_steps, n_batch, -1)
            if self._steps_in_time(i):
                for t in range(n_steps):
                    self._step(i, t, x[t], acts, d_acts, params, deriv, init_acts,
                               n_steps, record)
            else:
                acts[i] = layer.activation(x)
                if deriv:
                    d_acts[i] = layer.cached_derivative(x, acts[i])
                if record is not None:
                    record.keep(i, layer, x, acts[i])
        return acts, d_acts

    def _step(self, i, t, x, acts, d_acts, params, deriv, init_acts, n_steps,
              record=None):
        """Advance layer ``i`` by time step ``t`` given its feed-forward input."""
        if i in self.rec_layers:
            W_rec, b_rec = self.get_weights(params, (i, i))
            if t > 0:
                x = x + self.xp.matmul(acts[i][t - 1], W_rec)
            elif init_acts is not None and init_acts[i] is not None:
                x = x + self.xp.matmul(init_acts[i], W_rec)
            else:
                x = x + b_rec
        a = self.layers[i].activation(x)
        if acts[i] is None:
            acts[i] = self.xp.empty((n_steps,) + a.shape, dtype=self.dtype)
        acts[i][t] = a
        if deriv:  # arrays: the passes through time index them step by step
            d = self.layers[i].d_activation(x, a)
            if d_acts[i] is None:
                d_acts[i] = self.xp.empty((len(acts[i]),) + d.shape, dtype=self.dtype)
            d_acts[i][t] = d
        if record is not None:
            record.keep(i, self.layers[i], x, a, t, n_steps)

    # ------------------------------------------------------------ caching
    def _internal_forward(self, inputs, record=None):
        return self._run(self._internal(inputs), self.W, True, None, None, record)

    def _take(self, x, indices):
        # NumPy lays out x[:, indices] with the indexed axis first in memory;
        # a contiguous copy keeps every later reshape a view.
        if isinstance(x, JacobianOperator):
            return x.map(lambda a: self._take(a, indices))
        return self.xp.ascontiguousarray(x[:, indices])

    # ------------------------------------------------- gradient and curvature
    def _R_forward(self, v, cache, R_inputs=None, R_states=None):
        """R-forward pass through time over the batch ``cache``: :math:`J v`
        for every layer's activations (internal layout); ``R_inputs`` as in
        :meth:`FFNet._R_forward` (with the recurrent terms); the list
        ``R_states``, if given, receives a stateful layer's state directions
        :math:`R s_t`."""
        acts, d_acts = cache.acts, cache.d_acts
        flat = _flat(acts)
        R_acts, R_flat = [None] * self.n_layers, [None] * self.n_layers
        for i in range(1, self.n_layers):
            if i in self.rec_layers:
                R_in = stacked.R_input(self, i, cache, v)
                self._add_R_terms(i, R_flat, R_in.reshape(-1, self.shape[i]), cache)
            else:
                R_in = self._R_layer_input(i, flat, R_flat, v, cache).reshape(
                    acts[i].shape)
            if self._steps_in_time(i):  # adds recurrence
                R_acts[i] = self._R_steps(i, R_in, d_acts[i], cache, R_states)
            if R_inputs is not None:
                R_inputs[i] = cache.buffer("R_input_copy", i, R_in.shape)
                R_inputs[i][...] = R_in
            if not self._steps_in_time(i):
                R_acts[i] = self._R_activation(i, d_acts[i], R_in, cache)
            R_flat[i] = R_acts[i].reshape(-1, self.shape[i])
        return R_acts

    def _R_steps(self, i, R_in, d, batch, R_states=None):
        """Step layer ``i``'s R-forward through time (recurrence and state;
        a stateful layer's :math:`R s_t` go to ``R_states[i]`` if asked).

        For a recurrent layer the R-input of step :math:`t` gains
        :math:`R a_{t-1} W_{rec}`, accumulated into ``R_in[t]`` by BLAS
        while that step's rows are in cache
        (:func:`~hessianfree.base.backend.matmul_add`); every other term is
        already in ``R_in`` (:func:`~hessianfree.nets.stacked.R_input`)."""
        R_act = batch.buffer("R_act", i, R_in.shape)
        stateful = self.layers[i].stateful
        parts = _state_parts(self.layers[i], d) if stateful else None
        tmp = batch.buffer("step_tmp", i, R_in.shape[1:])
        if i in self.rec_layers:
            W_rec = self.get_weights(self.W, (i, i))[0]
        R_s, R_s_new = (batch.buffer("R_state", (i, k), R_in.shape[1:]) for k in (0, 1))
        keep = None
        if stateful and R_states is not None:
            keep = R_states[i] = batch.buffer("R_states", i, R_in.shape)
        for t in range(len(R_in)):
            r = R_in[t]
            if i in self.rec_layers and t > 0:
                matmul_add(R_act[t - 1], W_rec, r, tmp)
            if not stateful:
                apply_derivative(d[t], r, R_act[t])
                continue
            # R s_t = d_input R x_t + d_state R s_{t-1};  R a_t = d_output R s_t
            d_input, d_state, d_output = parts(t)
            apply_derivative(d_input, r, R_s_new)
            if t > 0:
                R_s_new += apply_derivative(d_state, R_s, tmp)
            if keep is not None:
                keep[t] = R_s_new
            apply_derivative(d_output, R_s_new, R_act[t])
            R_s, R_s_new = R_s_new, R_s
        return R_act

    def _backward(self, errors, out, cache, squared=None, window=None, inject=None,
                  record=None):
        """Backpropagation through time of per-layer errors (internal layout)
        over the batch ``cache`` into the gradient ``out``;
        ``window=(start, stop)`` restricts it to those time steps, holding
        the activations before ``start`` fixed.  ``squared`` as in
        :meth:`FFNet._weight_grads`, with time steps counted as examples;
        ``inject`` and ``record`` as in :meth:`FFNet._backward` (whole
        sequences only)."""
        acts, d_acts, init = self._window(cache, window)
        n_steps, n_batch = acts[0].shape[:2]
        flat = _flat(acts)
        deltas, d_flat = [None] * self.n_layers, [None] * self.n_layers
        for i in range(self.n_layers - 1, 0, -1):
            add = None if inject is None else inject[i]
            if (add is None and record is None and i in self.rec_layers
                    and not self.layers[i].stateful and self.conns.get(i)):
                deltas[i] = stacked.backward(self, i, d_flat, d_acts[i], cache, errors[i])
                d_flat[i] = deltas[i].reshape(-1, self.shape[i])
                continue
            error = None if errors[i] is None else errors[i].reshape(-1, self.shape[i])
            e = self._error_buffer(i, d_flat, error, flat[i].shape, cache).reshape(
                acts[i].shape)
            if self._steps_in_time(i):
                deltas[i] = self._backward_steps(i, e, d_acts[i], cache, add)
            else:
                deltas[i] = apply_derivative(d_acts[i], e, cache.buffer("delta", i, e.shape),
                                             transpose=True)
                if add is not None:
                    deltas[i] += add
            record_errors(record, i, e, deltas[i], self.n_layers)
            d_flat[i] = deltas[i].reshape(-1, self.shape[i])
        # layers whose stacked inputs this batch has get all their gradient
        # blocks from one GEMM (the squared statistic takes the plain route)
        inputs = {} if squared is not None else {
            i: Z if window is None else Z[window[0]:window[1]]
            for i, Z in cache.stacked.items()}
        self._weight_grads(cache, flat, d_flat, out, squared, skip=inputs)
        for i in self.rec_layers:
            if i in inputs:
                stacked.gradient(self, i, inputs[i], deltas[i], out, cache)
                continue
            if out is not None:
                self._recurrent_grads(i, flat[i], deltas[i], init, out, cache)
            if squared is not None:
                self._recurrent_grads(i, flat[i] ** 2, deltas[i] ** 2,
                                      None if init is None else [a ** 2 for a in init],
                                      squared, cache)
        return out

    def _recurrent_grads(self, i, acts, deltas, init, out, batch):
        """Gradient of layer ``i``'s recurrent weights and first-step biases
        (``acts`` flattened over time, ``deltas`` time-major)."""
        n_batch = deltas.shape[1]
        W, b = self.get_weights(out, (i, i))
        self.xp.matmul(acts[:-n_batch].T, deltas[1:].reshape(-1, self.shape[i]), out=W)
        if init is None:
            self.xp.matmul(batch.workspace.ones(n_batch), deltas[0], out=b)
        else:
            W += self.xp.matmul(init[i].T, deltas[0])
            b[...] = 0

    @staticmethod
    def _window(cache, window):
        if window is None:
            return cache.acts, cache.d_acts, None
        start, stop = window
        acts = [a[start:stop] for a in cache.acts]
        d_acts = [None if d is None else d[start:stop] for d in cache.d_acts]
        init = None if start == 0 else [a[start - 1] for a in cache.acts]
        return acts, d_acts, init

    def _backward_steps(self, i, e, d, batch, inject=None):
        """Step layer ``i``'s backward pass from the last time step to the
        first (recurrence and state); ``inject[t]`` is added to the input
        error of step ``t`` (to the state error for a stateful layer)."""
        delta = batch.buffer("delta", i, e.shape)
        stateful = self.layers[i].stateful
        parts = _state_parts(self.layers[i], d) if stateful else None
        W_rec = self.get_weights(self.W, (i, i))[0] if i in self.rec_layers else None
        tmp = batch.buffer("step_tmp", i, e.shape[1:])
        d_s, d_s_next = (batch.buffer("d_state", (i, k), e.shape[1:]) for k in (0, 1))
        last = len(e) - 1
        for t in range(last, -1, -1):
            r = e[t]
            if W_rec is not None and t < last:
                matmul_add(delta[t + 1], W_rec.T, r, tmp)
            if not stateful:
                apply_derivative(d[t], r, delta[t], transpose=True)
                if inject is not None:
                    delta[t] += inject[t]
                continue
            # ds_t = d_output^T e_t + d_state(t+1)^T ds_{t+1};  dx_t = d_input^T ds_t
            d_input, _, d_output = parts(t)
            apply_derivative(d_output, r, d_s, transpose=True)
            if t < last:
                d_s += apply_derivative(parts(t + 1)[1], d_s_next, tmp, transpose=True)
            if inject is not None:  # a stateful layer's is added to its state error
                d_s += inject[t]
            apply_derivative(d_input, d_s, delta[t], transpose=True)
            d_s, d_s_next = d_s_next, d_s
        return delta

    def _gradient(self, errors, cache, squared=None):
        """Full or truncated backpropagation through time of the loss errors
        (the squared per-example statistic always uses whole sequences)."""
        if self.truncation is None:
            return super()._gradient(errors, cache, squared)
        if squared is not None:  # whole sequences, without their gradient
            self._backward(errors, None, cache, squared=squared)
        n, k = self.truncation
        n_steps = cache.acts[0].shape[0]
        grad = self.xp.zeros(self.n_params, dtype=self.dtype)
        part = self.xp.empty_like(grad)
        for stop in range(n_steps, 0, -n):
            chunk_start = max(0, stop - n)
            start = max(0, min(stop - k, chunk_start))
            window_errors = []
            for e in errors:
                if e is not None:
                    e = e[start:stop].copy()
                    e[:chunk_start - start] = 0
                window_errors.append(e)
            grad += self._backward(window_errors, part, cache, window=(start, stop))
        return grad
