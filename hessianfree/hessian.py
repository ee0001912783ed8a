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
Recurrent networks add the same terms for the recurrent weights.
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
            if layer.elementwise or not isinstance(layer, nl.Softmax):
                self.d2_acts[i] = layer.d2_activation(inputs[i], cache.acts[i])

    def matches(self, net, cache):
        return cache is self.cache and bool(net.xp.array_equal(net.W, self.W))


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
    not cover (stateful nonlinearities)."""
    for i, layer in enumerate(net.layers[1:], start=1):
        if layer.stateful:
            raise NotImplementedError(
                f"calc_Hv: layer {i} ({layer!r}) is stateful; exact Hessian "
                f"products through stateful nonlinearities are not implemented "
                f"(use the Gauss-Newton product calc_G)")


def second_order_state(net, cache):
    """The :class:`_SecondOrderState` of the batch ``cache`` at the current
    weights (computed once and kept until either changes)."""
    state = getattr(net, "_hv_state", None)
    if state is None or not state.matches(net, cache):
        state = net._hv_state = _SecondOrderState(net, cache)
    return state


def second_derivative_term(layer, d2, x, a, e, r):
    """:math:`(f''(x)[r])^T e`, the change of :math:`f'(x)^T e` along the
    input direction :math:`r`.

    Element-wise: :math:`f''(x) \\circ r \\circ e`.  :class:`Softmax`, with
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
    R_full = [xp.zeros_like(state.cache.acts[0]) if i == 0 else R
              for i, R in enumerate(R_acts)]
    extra = xp.zeros_like(out)
    net._weight_grads(R_full, state.deltas, extra)
    for conn in net._conn_list():
        net.get_weights(extra, conn)[1][...] = 0
    for i in _recurrent_layers(net):
        n = net.shape[i]
        W, _ = net.get_weights(extra, (i, i))
        W += xp.matmul(R_acts[i][:-1].reshape(-1, n).T,
                       state.deltas[i][1:].reshape(-1, n))
    out += extra


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
        inject[i] = second_derivative_term(net.layers[i], state.d2_acts[i],
                                           state.inputs[i], cache.acts[i],
                                           state.errors[i], R_inputs[i])
    net._backward(errors, out, cache, inject=inject)
    _weight_terms(net, state, R_acts, out)
    return out
