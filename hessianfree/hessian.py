"""Exact Hessian-vector products of a network's loss (Pearlmutter 1994).

:func:`hessian_product` computes :math:`H v`, :math:`H` the Hessian of the
loss on the network's cached (curvature) minibatch, by R-propagation through
the forward *and* the backward pass.  It shares the passes with the
Gauss-Newton product (:meth:`~hessianfree.ffnet.FFNet.calc_G`) and adds
the terms the Gauss-Newton approximation leaves out.  With :math:`x_i` a
layer's input, :math:`a_i = f(x_i)` its activation, :math:`e_i = \\partial L /
\\partial a_i` (loss plus backpropagated error) and :math:`\\delta_i =
f'(x_i)^T e_i` the error at its input, the R-backward pass is

.. math::

    R e_i &= \\nabla^2_{a_i} L \\; R a_i
             + \\textstyle\\sum_{post} (R\\delta_{post} W^T + \\delta_{post} V^T) \\\\
    R \\delta_i &= f'(x_i)^T R e_i
                  + \\big(f''(x_i)[R x_i]\\big)^T e_i \\\\
    R \\nabla_W &= a_{pre}^T R\\delta_{post} + R a_{pre}^T \\delta_{post}

(:math:`V` the part of :math:`v` that multiplies like :math:`W`).  Dropping
the terms in :math:`\\delta`, :math:`e` and :math:`f''` gives the
Gauss-Newton product; this module supplies them: the gradient pass's
:math:`e_i, \\delta_i` (kept per cached batch), the injected
:math:`\\delta V^T` errors, the second-derivative term (from the
nonlinearities' ``d2_activation``) and the :math:`R a^T \\delta` weight term.
Recurrent networks add the same terms for the recurrent weights.  A
stateful layer with a linear state update :math:`s_t = \\alpha x_t + \\beta
s_{t-1}`, :math:`a_t = f(s_t)` (``Continuous``) gets its second-derivative
term :math:`f''(s_t)\\, R s_t \\circ e_t` added to the error of its state,
with :math:`f''(s_t)` from ``d2_activation`` (replaying the state) and
:math:`R s_t` from the R-inputs.
"""

from hessianfree import backend
from hessianfree import nonlinearities as nl


class _SecondOrderState:
    """What every Hessian product on one cached batch reuses: the gradient
    pass's output errors ``errors`` and input errors ``deltas``, the exact
    loss curvature ``d2_loss`` (scaled by 1/batch) and each layer's
    ``d2_activation`` (None where unused)."""

    def __init__(self, net, cache):
        self.cache = cache
        self.W = net.W.copy()
        user_acts = [None if a is None else net._external(a) for a in cache.acts]
        targets = cache.targets
        scale = cache.scale
        grad_errors = [None if e is None else net._internal(e * scale)
                       for e in net.loss_type.d_loss(user_acts, targets)]
        record = {}
        net._backward(grad_errors, net.xp.empty(net.n_params, dtype=net.dtype), cache,
                      record=record)
        self.errors, self.deltas = record["errors"], record["deltas"]
        self.d2_loss = [None if d is None else net._internal(d * scale)
                        for d in net.loss_type.d2_loss_exact(user_acts, targets)]
        inputs = layer_inputs(net, cache)
        self.inputs = inputs
        self.d2_acts = [None] * net.n_layers
        for i in range(1, net.n_layers):
            layer = net.layers[i]
            if layer.stateful:
                self.d2_acts[i] = _replayed_d2(layer, inputs[i])
            elif layer.elementwise or not isinstance(layer, nl.Softmax):
                self.d2_acts[i] = layer.d2_activation(inputs[i], cache.acts[i])

    def matches(self, net, cache):
        return cache is self.cache and bool(net.xp.array_equal(net.W, self.W))


def _replayed_d2(layer, x):
    """``d2_activation`` of a stateful layer at every step of the inputs
    ``x`` (time first), replaying its state from the start (the state must
    be read right after the step's ``activation``)."""
    out = backend.array_module(x).empty_like(x)
    layer.reset(None)
    for t in range(len(x)):
        out[t] = layer.d2_activation(x[t], layer.activation(x[t]))
    layer.reset(None)
    return out


def _state_directions(d, R_in):
    """:math:`R s_t = \\partial s_t/\\partial x_t\\, R x_t + \\partial
    s_t/\\partial s_{t-1}\\, R s_{t-1}` of a stateful layer with element-wise
    derivatives ``d`` (stacked on the last axis) and R-inputs ``R_in`` (time
    first)."""
    R_s = backend.array_module(R_in).multiply(d[..., 0], R_in)
    for t in range(1, len(R_in)):
        R_s[t] += d[t][..., 1] * R_s[t - 1]
    return R_s


def _recurrent_layers(net):
    """The layers with recurrent weights (none in a feed-forward network)."""
    return getattr(net, "rec_layers", ())


def layer_inputs(net, cache):
    """Every layer's input :math:`x_i` (before its nonlinearity) on the batch
    ``cache``, recomputed from the cached activations (internal layout; a
    recurrent layer adds :math:`a_i[t-1] W_{rec}`, and its recurrent bias on
    the first step)."""
    acts = cache.acts
    flat = [a.reshape(-1, a.shape[-1]) for a in acts]
    inputs = [None] * net.n_layers
    for i in range(1, net.n_layers):
        x = net._layer_input(i, flat, net.W).reshape(acts[i].shape)
        if i in _recurrent_layers(net):
            W_rec, b_rec = net.get_weights(net.W, (i, i))
            x[0] += b_rec
            x[1:] += net.xp.matmul(acts[i][:-1], W_rec)
        inputs[i] = x
    return inputs


def check_supported(net):
    """Raise NotImplementedError for layers the exact Hessian product does
    not cover (plants, stateful layers with Jacobian derivatives)."""
    for i, layer in enumerate(net.layers[1:], start=1):
        if isinstance(layer, nl.Plant) or (layer.stateful and not layer.elementwise):
            raise NotImplementedError(
                f"calc_Hv: layer {i} ({layer!r}) is a Plant or a stateful layer "
                f"with non-element-wise derivatives; exact Hessian products "
                f"through them are not implemented (use the Gauss-Newton "
                f"product calc_G)")


def second_order_state(net, cache):
    """The ``_SecondOrderState`` of the batch ``cache`` at the current
    weights (computed once and kept until either changes)."""
    state = getattr(net, "_hv_state", None)
    if state is None or not state.matches(net, cache):
        state = net._hv_state = _SecondOrderState(net, cache)
    return state


def second_derivative_term(layer, d2, x, a, e, r):
    """:math:`(f''(x)[r])^T e`, the change of :math:`f'(x)^T e` along the
    input direction :math:`r`.

    Element-wise: :math:`f''(x) \\circ r \\circ e`.  Softmax, with
    :math:`R a = a \\circ (r - a^T r)`: :math:`R a \\circ (e - a^T e) - a\\,
    (R a^T e)`, :math:`O(n)` per example.  Other non-element-wise layers
    contract the ``(..., n, n, n)`` tensor ``d2`` of ``d2_activation``:
    :math:`\\sum_{ij} e_i T_{ijk} r_j`.
    """
    xp = backend.array_module(a)
    if layer.elementwise:
        return d2 * r * e
    if isinstance(layer, nl.Softmax):
        Ra = a * (r - (a * r).sum(axis=-1, keepdims=True))
        term = Ra * (e - (a * e).sum(axis=-1, keepdims=True))
        term -= a * (Ra * e).sum(axis=-1, keepdims=True)
        return term
    return xp.einsum("...ijk,...i,...j->...k", d2, e, r)


def _error_terms(net, v, state, R_acts):
    """Output errors of the R-backward pass before backpropagation:
    :math:`\\nabla^2_a L\\, R a + \\sum_{post} \\delta_{post} V^T`, and for a
    recurrent layer :math:`\\delta_i[t+1] V_{rec}^T` at step :math:`t`
    (internal layout: time first)."""
    xp = net.xp
    acts = state.cache.acts
    errors = [None] * net.n_layers
    for i, d2 in enumerate(state.d2_loss):
        if d2 is not None and R_acts[i] is not None:
            errors[i] = d2 * R_acts[i]
    for pre, post in net._conn_list():
        if pre == 0:
            continue
        V, _ = net.get_weights(v, (pre, post))
        delta = state.deltas[post].reshape(-1, state.deltas[post].shape[-1])
        term = xp.matmul(delta, V.T).reshape(acts[pre].shape)
        errors[pre] = term if errors[pre] is None else errors[pre] + term
    for i in _recurrent_layers(net):
        V_rec, _ = net.get_weights(v, (i, i))
        term = xp.zeros_like(acts[i])
        xp.matmul(state.deltas[i][1:], V_rec.T, out=term[:-1])
        errors[i] = term if errors[i] is None else errors[i] + term
    return errors


def _weight_terms(net, state, R_acts, out):
    """Add :math:`R a_{pre}^T \\delta_{post}` to the weight blocks of ``out``
    (not to the biases, whose input is the constant 1), and
    :math:`\\sum_t R a_i[t-1]^T \\delta_i[t]` to each recurrent block."""
    xp = net.xp
    blocks = [(conn, conn[0], state.deltas[conn[1]]) for conn in net._conn_list()
              if R_acts[conn[0]] is not None]
    blocks += [((i, i), i, state.deltas[i][1:]) for i in _recurrent_layers(net)]
    for conn, pre, delta in blocks:
        R_a = R_acts[pre] if conn[0] != conn[1] else R_acts[pre][:-1]
        n_pre, n_post = R_a.shape[-1], delta.shape[-1]
        W, _ = net.get_weights(out, conn)
        W += xp.matmul(R_a.reshape(-1, n_pre).T, delta.reshape(-1, n_post))


def hessian_product(net, v, out, cache):
    """:math:`H v` on the batch ``cache`` (the network's curvature batch or
    one chunk of it; local to this process), written into ``out``.

    Parameters
    ----------
    net : FFNet or RNNet
        With a cached minibatch; every nonlinearity after the input layer
        must be stateless and define ``d2_activation``.
    v : (n_params,) array
    out : (n_params,) array
    cache : hessianfree.ffnet.BatchCache

    Returns
    -------
    (n_params,) array
        ``out``.
    """
    check_supported(net)
    state = second_order_state(net, cache)
    R_inputs = [None] * net.n_layers
    R_acts = net._R_forward(v, cache, R_inputs)
    errors = _error_terms(net, v, state, R_acts)
    inject = [None] * net.n_layers
    for i in range(1, net.n_layers):
        layer = net.layers[i]
        if layer.stateful:  # the output's second derivative, along R s_t
            R_s = _state_directions(cache.d_acts[i], R_inputs[i])
            inject[i] = state.d2_acts[i] * R_s * state.errors[i]
            continue
        inject[i] = second_derivative_term(layer, state.d2_acts[i], state.inputs[i],
                                           cache.acts[i], state.errors[i], R_inputs[i])
    net._backward(errors, out, cache, inject=inject)
    _weight_terms(net, state, R_acts, out)
    return out
