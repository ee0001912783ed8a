"""Derivatives of a feed-forward network's outputs with respect to its inputs.

For inputs :math:`x \\in \\mathbb{R}^d` and outputs :math:`y(x) \\in
\\mathbb{R}^m`, :func:`input_derivatives` computes, per example, the Jacobian
:math:`\\partial y_o / \\partial x_p`, the Hessians :math:`\\partial^2 y_o /
\\partial x_p \\partial x_q` and the Laplacians :math:`\\sum_p \\partial^2 y_o /
\\partial x_p^2`, exactly (to rounding), for any connection graph
(``conns`` with skip connections).  Each layer computes :math:`z_i =
\\sum_{pre} a_{pre} W_{pre,i} + b_{pre,i}` and :math:`a_i = f_i(z_i)`; the
layer inputs are affine in the earlier activations, so only the
nonlinearities have second derivatives.

*Forward mode* carries the derivatives of every layer with respect to
:math:`x` from the input to the output (the chain rule on the Jacobian and,
for the Hessian, :math:`H_{a} = f'(z) H_{z} + f''(z) (\\nabla z \\otimes \\nabla
z)`); the symmetric Hessians are kept as their :math:`d (d + 1) / 2` upper
entries.  Its cost grows with :math:`d` (Jacobian) and :math:`d^2` (Hessian)
but not with :math:`m`, and the Laplacian alone costs about as much as the
Jacobian (:math:`\\Delta a = f' \\Delta z + f'' |\\nabla z|^2`).

*Backward mode* carries the adjoints :math:`\\lambda_i = \\partial y /
\\partial a_i` (:math:`m` per layer) from the output back to the input; the
Jacobian is the input's adjoint, and the Hessian is assembled from the
layers' curvature,

.. math::

    \\nabla^2 y_o = \\sum_i \\sum_k \\lambda_{i,ok} f_i''(z_{ik})
                  \\nabla z_{ik} \\nabla z_{ik}^T,

with the forward Jacobians :math:`\\nabla z_i` (for a non-element-wise
nonlinearity the inner sum becomes :math:`\\sum_{kjl} \\lambda_{i,ok}
T_{kjl} \\nabla z_{ij} \\nabla z_{il}^T`).  Its cost grows with :math:`m`
and only with :math:`d^2` in the final sum, so it suits few outputs and
many inputs.  The same ideas underlie hessQuik (Newman, Ruthotto et al.
2022, "hessQuik: Fast Hessian computation of composite functions").

All array code runs on the network's array module (NumPy or CuPy).  The
examples are processed in chunks so that the intermediate arrays stay
within :data:`CHUNK_BYTES`.
"""

import collections

import numpy as np

from hessianfree.layers import jacobians
from hessianfree.layers import nonlinearities as nl
from hessianfree.base import validation as val
from hessianfree.base.backend import array_module
from hessianfree.nets.model import as_examples
from hessianfree.nets.records import ForwardRecord

MODES = ("forward", "backward")

#: Target size in bytes of the intermediate arrays of one chunk of examples.
CHUNK_BYTES = 2 ** 27

InputDerivatives = collections.namedtuple(
    "InputDerivatives", ["outputs", "jacobian", "hessian", "laplacian"])
InputDerivatives.__doc__ = """Outputs and input derivatives of a network (a named tuple)."""
InputDerivatives.outputs.__doc__ = "(batch, n_out) array: the network outputs y."
InputDerivatives.jacobian.__doc__ = (
    "(batch, n_out, n_in) array or None: dy_o / dx_p (None unless gradient=True).")
InputDerivatives.hessian.__doc__ = (
    "(batch, n_out, n_in, n_in) array or None: d^2 y_o / dx_p dx_q (None unless "
    "hessian=True).")
InputDerivatives.laplacian.__doc__ = (
    "(batch, n_out) array or None: sum_p d^2 y_o / dx_p^2 (None unless "
    "laplacian=True).")


def input_derivatives(net, x, gradient=True, hessian=False, laplacian=False,
                      mode="forward"):
    """Outputs of ``net`` and their derivatives with respect to the inputs.

    Parameters
    ----------
    net : FFNet
        The network (its current weights ``net.W``).
    x : (batch, n_in) array_like, or (n_in,) for one example
        Input vectors (as for :meth:`~hessianfree.FFNet.predict`: one
        example gives results without the batch axis).
    gradient, hessian, laplacian : bool
        Which derivatives to return.
    mode : {"forward", "backward"}
        Accumulation order: forward mode costs grow with ``n_in`` (and
        ``n_in**2`` for the Hessian), backward mode costs with ``n_out``;
        both give the same values to rounding.

    Returns
    -------
    InputDerivatives
        Named tuple ``(outputs, jacobian, hessian, laplacian)``, shapes
        ``(batch, n_out)``, ``(batch, n_out, n_in)``, ``(batch, n_out, n_in,
        n_in)`` and ``(batch, n_out)`` (without ``batch`` for one example),
        in the network's dtype and array module; the derivatives not asked
        for are None.

    Raises
    ------
    TypeError
        For a recurrent network, a non-boolean flag, or (with ``hessian`` or
        ``laplacian``) a layer whose nonlinearity does not define
        ``d2_activation``.
    ValueError
        For an unknown ``mode`` or badly shaped ``x``.
    """
    want = [val.check_bool(v, name) for v, name in
            ((gradient, "gradient"), (hessian, "hessian"), (laplacian, "laplacian"))]
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if getattr(net, "rec_layers", None) is not None:
        raise TypeError("input_derivatives supports feed-forward networks (FFNet); "
                        f"got a {type(net).__name__}")
    if want[1] or want[2]:
        _check_second_derivatives(net.layers)
    x, single = as_examples(net, x, "x")
    x = val.as_batch(x, "x", net.shape[0], 2, net.dtype, net.xp)
    graph = _Graph(net)
    chunk = _chunk_size(net, x.shape[0], want, mode)
    parts = [graph.run(x[start:start + chunk], *want, mode)
             for start in range(0, x.shape[0], chunk)]
    if len(parts) == 1:
        results = parts[0]
    else:
        results = [None if p[0] is None else net.xp.concatenate(p) for p in zip(*parts)]
    return InputDerivatives(*[r[0] if single and r is not None else r for r in results])


def _check_second_derivatives(layers):
    for i, layer in enumerate(layers):
        if not layer.has_d2_activation():
            raise TypeError(
                f"layers[{i}] ({layer!r}) does not define d2_activation(x, a), the "
                f"second derivative its Hessian and Laplacian need; define it on "
                f"{type(layer).__name__} or ask for gradient only")


def _chunk_size(net, batch, want, mode):
    """Examples per chunk so that the intermediates fit :data:`CHUNK_BYTES`
    (an estimate of the arrays kept per example)."""
    d, m, n, total = net.shape[0], net.shape[-1], max(net.shape), sum(net.shape)
    pairs = d * (d + 1) // 2 if want[1] else 0
    second = want[1] or want[2]
    if mode == "forward":  # tangents of every layer, plus temporaries
        per_example = (total + 3 * n) * (d + 2 * pairs + 2)
    else:  # forward pass, adjoints, forward Jacobians, curvature terms
        per_example = 3 * total + m * (total + n) + (2 * total * d if second else 0) \
            + (m * d * (total + 2 * d) if want[1] else 0)
    per_example *= np.dtype(net.dtype).itemsize
    return int(min(batch, max(1, CHUNK_BYTES // per_example)))


def _is_affine(layer):
    """Built-ins whose second derivative is zero (skipped, not multiplied)."""
    return type(layer) in (nl.Linear, nl.ReLU)


def _times(T, W):
    """``T @ W`` over the last axis of ``T``, as one matrix product."""
    if T is None:
        return None
    out = T.reshape(-1, T.shape[-1]) @ W
    return out.reshape(T.shape[:-1] + (W.shape[-1],))


def _add(total, term):
    if term is None:
        return total
    return term if total is None else total + term


class _Graph:
    """The layers, weights and connection graph of one network."""

    def __init__(self, net):
        self.net, self.layers, self.xp = net, net.layers, net.xp
        self.back_conns = net.back_conns
        self.weights = {(pre, i): net.get_weights(net.W, (pre, i))
                        for i in range(len(net.layers)) for pre in net.back_conns[i]}

    def run(self, x, gradient, hessian, laplacian, mode):
        """The four results (None where not asked) for one chunk ``x``."""
        second = hessian or laplacian
        self.forward_pass(x, second)
        if mode == "forward" and (gradient or second):
            J, H, L = self.forward_mode(hessian, laplacian)
        elif mode == "backward" and (gradient or second):
            J, H, L = self.backward_mode(hessian, laplacian)
        else:
            J = H = L = None
        return (self.a[-1], J if gradient else None, H if hessian else None,
                L if laplacian else None)

    # ------------------------------------------------------------ forward
    def forward_pass(self, x, second):
        """Layer inputs, activations and their derivatives (``f2`` None for
        affine layers or when no second derivative is wanted), from the
        network's own forward pass."""
        record = ForwardRecord(len(self.layers), second=(
            (lambda i, layer: not _is_affine(layer)) if second else None))
        self.a, f1 = self.net._forward(x, self.net.W, True, record)
        self.f1 = [None if d is None else jacobians.as_array(d) for d in f1]
        self.z, self.f2 = record.inputs, record.d2

    def input_terms(self, i, Ja, Ha=None, La=None, pairs=None):
        """Derivatives of layer ``i``'s input: the sums over its incoming
        connections of the earlier layers' derivatives times the weights.

        An element-wise input layer's Jacobian is diagonal; its terms are
        formed directly (``Ja[0]`` is not used)."""
        Jz = Hz = Lz = None
        for pre in self.back_conns[i]:
            W = self.weights[(pre, i)][0]
            if pre == 0 and self.layers[0].elementwise:
                Jz = _add(Jz, self.f1[0][:, :, None] * W)
                f2 = self.f2[0]
                if f2 is not None and Ha is not None:
                    Hz = _add(Hz, self._diagonal_pairs(f2[:, :, None] * W, pairs))
                if f2 is not None and La is not None:
                    Lz = _add(Lz, f2 @ W)
            else:
                Jz = _add(Jz, _times(Ja[pre], W))
                Hz = _add(Hz, None if Ha is None else _times(Ha[pre], W))
                Lz = _add(Lz, None if La is None else _times(La[pre], W))
        return Jz, Hz, Lz

    def _diagonal_pairs(self, values, pairs):
        """(batch, P, n) zeros but for ``values`` (batch, d, n) on the pairs
        (p, p)."""
        out = self.xp.zeros((values.shape[0], pairs[2], values.shape[2]),
                            dtype=values.dtype)
        out[:, pairs[3]] = values
        return out

    def _input_jacobian(self, x):
        """:math:`\\nabla z_0`: the identity, once per example."""
        d = x.shape[1]
        eye = self.xp.eye(d, dtype=x.dtype)
        return self.xp.broadcast_to(eye, (x.shape[0], d, d))

    def forward_mode(self, hessian, laplacian):
        """Jacobian, Hessian and Laplacian by forward accumulation."""
        n, x = len(self.layers), self.z[0]
        pairs = _pairs(self.xp, x.shape[1]) if hessian else None
        Ja = [None] * n
        Ha = [None] * n if hessian else None
        La = [None] * n if laplacian and not hessian else None
        for i, layer in enumerate(self.layers):
            if i == 0:
                if layer.elementwise:
                    continue  # diagonal: see input_terms
                Jz, Hz, Lz = self._input_jacobian(x), None, None
            else:
                Jz, Hz, Lz = self.input_terms(i, Ja, Ha, La, pairs)
            Ja[i], H_i, L_i = _through_layer(layer, self.z[i], self.a[i], self.f1[i],
                                             self.f2[i], Jz, Hz, Lz, pairs, La is not None)
            if Ha is not None:
                Ha[i] = H_i
            if La is not None:
                La[i] = L_i
        J = Ja[-1].swapaxes(1, 2)
        H = L = None
        if hessian:
            H = _unpack(self.xp, Ha[-1], pairs, J.shape, x.dtype)
            L = _trace(H) if laplacian else None
        elif laplacian:
            L = La[-1] if La[-1] is not None else self.xp.zeros(J.shape[:2], dtype=x.dtype)
        return J, H, L

    # ----------------------------------------------------------- backward
    def backward_mode(self, hessian, laplacian):
        """Jacobian by backward accumulation; Hessian and Laplacian from
        the adjoints, the second derivatives and the forward Jacobians."""
        xp, n, x = self.xp, len(self.layers), self.z[0]
        b, d, m = x.shape[0], x.shape[1], self.a[-1].shape[1]
        curved = [i for i in range(n) if self.f2[i] is not None]
        Jz = self._layer_jacobians(max(curved)) if curved else None
        lam = [None] * n
        lam[-1] = xp.broadcast_to(xp.eye(m, dtype=x.dtype), (b, m, m))
        H = xp.zeros((b, m, d, d), dtype=x.dtype) if hessian else None
        L = xp.zeros((b, m), dtype=x.dtype) if laplacian else None
        elementwise = []  # (Jz_i, lambda_i f2_i) of element-wise curved layers
        for i in range(n - 1, -1, -1):
            if lam[i] is None:  # a layer the outputs do not depend on
                continue
            if i in curved and self.layers[i].elementwise:
                elementwise.append((Jz[i], lam[i] * self.f2[i][:, None, :]))
            elif i in curved:
                H, L = self._tensor_terms(i, lam[i], Jz[i], H, L)
            mu = _apply_first(self.layers[i], self.f1[i], lam[i], backward=True)
            for pre in self.back_conns[i]:
                lam[pre] = _add(lam[pre], _times(mu, self.weights[(pre, i)][0].T))
        if elementwise:
            H, L = self._elementwise_terms(elementwise, H, L)
        return mu, H, L

    def _layer_jacobians(self, last):
        """:math:`\\nabla z_i` (batch, d, n_i) of layers ``0..last``."""
        Jz, Ja = [None] * (last + 1), [None] * (last + 1)
        for i in range(last + 1):
            layer = self.layers[i]
            Jz[i] = self._input_jacobian(self.z[0]) if i == 0 else \
                self.input_terms(i, Ja)[0]
            if i > 0 or not layer.elementwise:
                Ja[i] = _apply_first(layer, self.f1[i], Jz[i])
        return Jz

    def _elementwise_terms(self, terms, H, L):
        """Add :math:`\\sum_k c_{ok} \\nabla z_k \\nabla z_k^T` over the units of
        all element-wise curved layers at once, ``c`` = adjoint times
        :math:`f''`: one stacked matrix product per example."""
        xp = self.xp
        Jz = xp.concatenate([t[0] for t in terms], axis=2)  # (batch, d, N)
        c = xp.concatenate([t[1] for t in terms], axis=2)  # (batch, m, N)
        if H is not None:  # (batch, m, d, N) @ (batch, 1, N, d), both C-ordered
            JzT = xp.ascontiguousarray(Jz.swapaxes(1, 2))[:, None]
            H += (Jz[:, None, :, :] * c[:, :, None, :]) @ JzT
        if L is not None:
            L += (c * (Jz * Jz).sum(axis=1)[:, None, :]).sum(axis=2)
        return H, L

    def _tensor_terms(self, i, lam, Jz, H, L):
        """Add the second-derivative terms of the non-element-wise layer ``i``
        (through its ``d2_contract``)."""
        layer, z, a = self.layers[i], self.z[i], self.a[i]
        if H is not None:
            pairs = _pairs(self.xp, Jz.shape[1])
            Q = layer.d2_contract(z, a, Jz[:, pairs[0]], Jz[:, pairs[1]])
            lamT = self.xp.ascontiguousarray(lam.swapaxes(1, 2))
            H = H + _unpack(self.xp, Q @ lamT, pairs, H.shape[:3], H.dtype)
        if L is not None:
            s = layer.d2_contract(z, a, Jz, Jz).sum(axis=1)  # (batch, n)
            L = L + (lam @ s[:, :, None])[:, :, 0]
        return H, L


def _apply_first(layer, f1, T, backward=False):
    """Rows of ``T`` (batch, k, n) times the layer's Jacobian :math:`F`:
    tangents :math:`T F^T` going forward, adjoints :math:`T F` going backward
    (``f1 * T`` for an element-wise layer)."""
    if layer.elementwise:
        return f1[:, None, :] * T
    if backward:
        return T @ f1
    # a C-ordered right operand keeps NumPy's stacked matmul on BLAS
    return T @ array_module(f1).ascontiguousarray(f1.swapaxes(1, 2))


def _through_layer(layer, z, a, f1, f2, Jz, Hz, Lz, pairs, want_L):
    """Forward mode: derivatives of a layer's activation from those of its
    input (``Hz``, ``Lz`` None when zero; ``f2`` None when zero)."""
    Ja = _apply_first(layer, f1, Jz)
    Ha = La = None
    if pairs is not None:
        Ha = None if Hz is None else _apply_first(layer, f1, Hz)
        if f2 is not None:
            u, v = Jz[:, pairs[0]], Jz[:, pairs[1]]
            Ha = _add(Ha, f2[:, None, :] * u * v if layer.elementwise
                      else layer.d2_contract(z, a, u, v))
    if want_L:
        La = None if Lz is None else _apply_first(layer, f1, Lz[:, None, :])[:, 0]
        if f2 is not None:
            La = _add(La, f2 * (Jz * Jz).sum(axis=1) if layer.elementwise
                      else layer.d2_contract(z, a, Jz, Jz).sum(axis=1))
    return Ja, Ha, La


def _pairs(xp, d):
    """Index pairs (p <= q) of the packed Hessian: ``(rows, cols, count,
    positions of the pairs (p, p))``."""
    rows, cols = np.triu_indices(d)
    diagonal = np.flatnonzero(rows == cols)
    return xp.asarray(rows), xp.asarray(cols), rows.size, xp.asarray(diagonal)


def _unpack(xp, packed, pairs, shape, dtype):
    """(batch, P, m) packed symmetric entries (None: zeros) -> (batch, m, d,
    d), ``shape = (batch, m, d)``."""
    shape = tuple(shape) + (shape[-1],)
    if packed is None:
        return xp.zeros(shape, dtype=dtype)
    H = xp.empty(shape, dtype=dtype)
    values = packed.swapaxes(1, 2)
    H[:, :, pairs[0], pairs[1]] = values
    H[:, :, pairs[1], pairs[0]] = values
    return H


def _trace(H):
    return H.diagonal(axis1=-2, axis2=-1).sum(axis=-1)
