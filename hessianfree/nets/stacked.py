"""A recurrent layer's inputs stacked into one matrix.

Within one batch, the input of a recurrent layer :math:`i` at step
:math:`t` is linear in everything it does not compute itself:

.. math::

    x_t = a_{t-1} W_{rec} + \\sum_{pre} a^{pre}_t W_{pre} + \\sum_{pre} b_{pre}
          + [t = 0]\\, b_{rec}

with :math:`a_{-1} = 0` (the recurrent biases :math:`b_{rec}` act on the
first step only).  Stacking those inputs as the rows of

.. math:: Z_t = [a_{t-1},\\; a^{pre}_t \\ldots,\\; 1,\\; [t = 0]]

and the matching parameter blocks as the rows of a matrix :math:`M`
gives :math:`x_t = Z_t M`.  The Gauss-Newton product uses this twice on a
cached batch, where :math:`Z` stays fixed:

* the R-forward pass needs :math:`Z_t M_v` (:math:`M_v` from the
  direction :math:`v`) on every step, one GEMM over all steps
  (:func:`R_input`), where summing separate products would read and write
  every ``(time, batch, n)`` array once per term;
* the backward pass needs :math:`Z^T \\delta` for all of the layer's
  weight and bias gradients, again one GEMM (:func:`gradient`).

The backward pass through time stacks the same way (:func:`backward`): the
error at the layer's output on step :math:`t` is :math:`e_t = [\\delta^{post}_t
\\ldots,\\; \\delta_{t+1}] [W_{post}^T; \\ldots; W_{rec}^T]`, one GEMM per
step with the later layers' errors beside the layer's own, instead of a
product over all steps plus an addition per step.

:math:`Z` costs one more array of the layer's size per cached batch
(``Batch.stacked``), built on first use.  A chunked minibatch
(:mod:`hessianfree.nets.chunking`) recomputes each chunk's activations for every
product, and with them its :math:`Z`: one more copy per chunk and product.
"""

from hessianfree.nets.passes import apply_derivative


def rows(net, i):
    """``(connection, k, rows)`` for each block of recurrent layer ``i``'s
    stacked inputs: ``net.get_weights(params, connection)[k]`` (k = 0 the
    weight matrix, k = 1 the biases) multiplies the stacked columns
    ``rows``.  Every incoming connection's biases share the column of 1s."""
    col, out = net.shape[i], [((i, i), 0, slice(0, net.shape[i]))]
    for pre in net.back_conns[i]:
        out.append(((pre, i), 0, slice(col, col + net.shape[pre])))
        col += net.shape[pre]
    out += [((pre, i), 1, col) for pre in net.back_conns[i]]
    return out + [((i, i), 1, col + 1)]


def inputs(net, i, cache):
    """The stacked inputs :math:`Z` of recurrent layer ``i`` on the batch
    ``cache``, ``(time, batch, K)`` time-major (built once per batch)."""
    Z = cache.stacked.get(i)
    if Z is None:
        acts, blocks = cache.acts, rows(net, i)
        Z = net.xp.zeros(acts[i].shape[:2] + (blocks[-1][2] + 1,), dtype=net.dtype)
        Z[1:, :, :net.shape[i]] = acts[i][:-1]
        for (pre, _), k, cols in blocks[1:-1]:  # the inputs and their 1s
            Z[..., cols] = acts[pre] if k == 0 else 1
        Z[0, :, -1] = 1
        cache.stacked[i] = Z
    return Z


def R_input(net, i, cache, v):
    """R-input of recurrent layer ``i`` from the direction ``v`` alone, on
    every step at once: :math:`Z M_v` (the :math:`a V` terms, the biases and
    :math:`a_{t-1} V_{rec}`; the :math:`R a\\, W` terms are the caller's)."""
    Z = inputs(net, i, cache)
    M = cache.buffer("stacked_V", i, (Z.shape[-1], net.shape[i]))
    M[...] = 0
    for conn, k, cols in rows(net, i):
        M[cols] += net.get_weights(v, conn)[k]
    R_in = cache.buffer("R_in", i, cache.acts[i].shape)
    net.xp.matmul(Z.reshape(-1, Z.shape[-1]), M, out=R_in.reshape(-1, net.shape[i]))
    return R_in


def gradient(net, i, Z, deltas, out, batch):
    """Write every gradient block of recurrent layer ``i``, :math:`Z^T
    \\delta`, into the parameter vector ``out`` (``Z`` and ``deltas``
    time-major over the same steps; scratch arrays from ``batch``)."""
    G = batch.buffer("stacked_grad", i, (Z.shape[-1], net.shape[i]))
    net.xp.matmul(Z.reshape(-1, Z.shape[-1]).T, deltas.reshape(-1, net.shape[i]), out=G)
    for conn, k, cols in rows(net, i):
        net.get_weights(out, conn)[k][...] = G[cols]


def transposed_weights(net, i, batch):
    """:math:`[W_{post}^T; \\ldots; W_{rec}^T]` of recurrent layer ``i``,
    built once per batch and weights version (CG's products all use the
    same weights)."""
    key = ("stacked_WT", i)
    version, M = batch.weight_arrays.get(key, (None, None))
    if version != net.weights_version:
        width = sum(net.shape[post] for post in net.conns[i])
        M = batch.buffer("stacked_WT", i, (width + net.shape[i], net.shape[i]))
        col = 0
        for post in net.conns[i]:
            M[col:col + net.shape[post]] = net.get_weights(net.W, (i, post))[0].T
            col += net.shape[post]
        M[width:] = net.get_weights(net.W, (i, i))[0].T
        batch.weight_arrays[key] = (net.weights_version, M)
    return M


def backward(net, i, deltas, d, batch, error=None):
    """Backpropagate through time into recurrent layer ``i``: per step,
    :math:`\\delta_t = f'(x_t)^T (e^{own}_t + [\\delta^{post}_t \\ldots,\\;
    \\delta_{t+1}] [W_{post}^T; \\ldots; W_{rec}^T])`.

    Parameters
    ----------
    net : RNNet
    i : int
        A recurrent, stateless layer with outgoing connections.
    deltas : list of arrays
        The later layers' input errors, ``(time * batch, n_post)``.
    d : (time, batch, n) or (time, batch, n, n) array
        Layer ``i``'s activation derivatives.
    batch : hessianfree.nets.batch.Batch
        The batch (for its scratch arrays).
    error : (time, batch, n) array, optional
        The loss's own error at the layer's output :math:`e^{own}` (a
        hidden-layer loss such as structural damping).

    Returns
    -------
    (time, batch, n) array
        The layer's input errors: a view whose rows sit in a larger buffer
        (rows of the stacked errors), valid until the next pass.
    """
    n_steps, n_batch, n = d.shape[:3]
    posts = net.conns[i]
    width = sum(net.shape[post] for post in posts)
    Y = batch.buffer("stacked_delta", i, (n_steps + 1, n_batch, width + n))
    col = 0
    for post in posts:  # row block t + 1 holds the later layers' step-t errors
        Y[1:, :, col:col + net.shape[post]] = deltas[post].reshape(n_steps, n_batch, -1)
        col += net.shape[post]
    M = transposed_weights(net, i, batch)
    Y[n_steps, :, width:] = 0  # no error arrives from after the last step
    e = batch.buffer("step_tmp", i, (n_batch, n))
    for t in range(n_steps - 1, -1, -1):
        net.xp.matmul(Y[t + 1], M, out=e)
        if error is not None:
            e += error[t]
        apply_derivative(d[t], e, Y[t, :, width:], transpose=True)
    return Y[:n_steps, :, width:]
