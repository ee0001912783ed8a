"""Exact Hessian-vector products of a network's loss (Pearlmutter 1994).

:func:`hessian_product` computes :math:`H v`, :math:`H` the Hessian of the
loss on the network's cached (curvature) minibatch, by R-propagation through
the forward *and* the backward pass.  It shares the passes with the
Gauss-Newton product (:meth:`~hessianfree.nets.ffnet.FFNet.calc_G`) and adds
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

from hessianfree.base import backend
from hessianfree.layers import nonlinearities as nl
from hessianfree.nets.records import ForwardRecord


def _needs_d2(i, layer):
    """Whether the state keeps layer ``i``'s ``d2_activation`` (Softmax's
    term has a closed form, the input layer has none)."""
    return i > 0 and (layer.stateful or layer.elementwise
                      or not isinstance(layer, nl.Softmax))


class SecondOrderState:
    """What every Hessian product on one batch at one weights version
    reuses: the gradient pass's output errors ``errors`` and input errors
    ``deltas``, the exact loss curvature ``d2_loss`` (scaled by one over the
    batch's ``n_examples``), every layer's input ``inputs`` and
    ``d2_activation`` ``d2_acts`` (None where unused; a stateful layer's
    from its state at each step), from one forward pass with a
    :class:`~hessianfree.nets.records.ForwardRecord`.

    Built by :func:`second_order_state`, once per batch and weights
    version; ``builds`` counts the builds (for tests and profiling).
    """

    builds = 0

    def __init__(self, net, batch):
        SecondOrderState.builds += 1
        self.version = net.weights_version
        record = ForwardRecord(net.n_layers, second=_needs_d2)
        net._internal_forward(batch.inputs, record)
        self.inputs, self.d2_acts = record.inputs, record.d2
        grad_errors, self.d2_loss = net._loss_errors(batch, exact_curvature=True)
        record = {}
        net._backward(grad_errors, net.xp.empty(net.n_params, dtype=net.dtype), batch,
                      record=record)
        self.errors, self.deltas = record["errors"], record["deltas"]


def _recurrent_layers(net):
    """The layers with recurrent weights (none in a feed-forward network)."""
    return getattr(net, "rec_layers", ())


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


def second_order_state(net, batch):
    """The :class:`SecondOrderState` of ``batch`` at the current weights:
    kept on the batch and rebuilt only when the weights version moves."""
    state = batch.second_order
    if state is None or state.version != net.weights_version:
        state = batch.second_order = SecondOrderState(net, batch)
    return state


def second_derivative_term(layer, d2, x, a, e, r, out=None):
    """:math:`(f''(x)[r])^T e`, the change of :math:`f'(x)^T e` along the
    input direction :math:`r` (element-wise layers write it into ``out``
    if given).

    Element-wise: :math:`f''(x) \\circ r \\circ e`.  Softmax, with
    :math:`R a = a \\circ (r - a^T r)`: :math:`R a \\circ (e - a^T e) - a\\,
    (R a^T e)`, :math:`O(n)` per example.  Other non-element-wise layers
    contract the ``(..., n, n, n)`` tensor ``d2`` of ``d2_activation``:
    :math:`\\sum_{ij} e_i T_{ijk} r_j`.
    """
    xp = backend.array_module(a)
    if layer.elementwise:
        out = xp.multiply(d2, r, out=out)
        out *= e
        return out
    if isinstance(layer, nl.Softmax):
        Ra = a * (r - (a * r).sum(axis=-1, keepdims=True))
        term = Ra * (e - (a * e).sum(axis=-1, keepdims=True))
        term -= a * (Ra * e).sum(axis=-1, keepdims=True)
        return term
    return xp.einsum("...ijk,...i,...j->...k", d2, e, r)


def _error_terms(net, v, state, batch, R_acts):
    """Output errors of the R-backward pass before backpropagation:
    :math:`\\nabla^2_a L\\, R a + \\sum_{post} \\delta_{post} V^T`, and for a
    recurrent layer :math:`\\delta_i[t+1] V_{rec}^T` at step :math:`t`
    (internal layout: time first)."""
    xp = net.xp
    acts = batch.acts
    errors = [None] * net.n_layers
    for i, d2 in enumerate(state.d2_loss):
        if d2 is not None and R_acts[i] is not None:
            errors[i] = xp.multiply(d2, R_acts[i], out=batch.buffer("H_error", i, d2.shape))

    def add(i, product, rows=slice(None)):
        """Write ``product(out)`` into layer ``i``'s error (its ``rows``;
        zeros elsewhere) or add it to the error already there."""
        if errors[i] is None:
            errors[i] = batch.buffer("H_error", i, acts[i].shape)
            errors[i][...] = 0
            product(errors[i][rows])
        else:
            errors[i][rows] += product(batch.buffer("H_term", i, errors[i][rows].shape))
    for pre, post in net._conn_list():
        if pre == 0:
            continue
        V, _ = net.get_weights(v, (pre, post))
        delta = state.deltas[post]
        add(pre, lambda out: xp.matmul(delta, V.T, out=out))
    for i in _recurrent_layers(net):
        V_rec, _ = net.get_weights(v, (i, i))
        delta = state.deltas[i][1:]
        add(i, lambda out: xp.matmul(delta, V_rec.T, out=out), slice(0, -1))
    return errors


def _weight_terms(net, state, R_acts, out, batch):
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
        W += xp.matmul(R_a.reshape(-1, n_pre).T, delta.reshape(-1, n_post),
                       out=batch.buffer("H_weights", conn, W.shape))


def hessian_product(net, v, out, batch):
    """:math:`H v` on ``batch`` (the network's curvature batch or one chunk
    of it; local to this process), written into ``out``.

    Parameters
    ----------
    net : FFNet or RNNet
        With a cached minibatch; every nonlinearity after the input layer
        must be stateless and define ``d2_activation``.
    v : (n_params,) array
    out : (n_params,) array
    batch : hessianfree.nets.batch.Batch

    Returns
    -------
    (n_params,) array
        ``out``.
    """
    check_supported(net)
    state = second_order_state(net, batch)
    R_inputs, R_states = [None] * net.n_layers, [None] * net.n_layers
    R_acts = net._R_forward(v, batch, R_inputs, R_states)
    errors = _error_terms(net, v, state, batch, R_acts)
    inject = [None] * net.n_layers
    for i in range(1, net.n_layers):
        layer = net.layers[i]
        buffer = batch.buffer("H_inject", i, batch.acts[i].shape)
        if layer.stateful:  # the output's second derivative, along R s_t
            inject[i] = net.xp.multiply(state.d2_acts[i], R_states[i], out=buffer)
            inject[i] *= state.errors[i]
            continue
        inject[i] = second_derivative_term(layer, state.d2_acts[i], state.inputs[i],
                                           batch.acts[i], state.errors[i], R_inputs[i],
                                           out=buffer)
    net._backward(errors, out, batch, inject=inject)
    _weight_terms(net, state, R_acts, out, batch)
    return out
