"""What a derivative pass keeps besides its result.

The forward pass keeps every layer's input and, where asked, its second
derivative (:class:`ForwardRecord`: the exact Hessian product and the input
derivatives need them); the backward pass keeps every layer's output and
input errors (:func:`record_errors`: the Hessian product's gradient pass).
"""

from hessianfree.base import backend


class ForwardRecord:
    """What a forward pass keeps besides the activations: every layer's
    input :math:`x_i` (before its nonlinearity) and, for the layers
    ``second(i, layer)`` selects, the second derivative
    ``layer.d2_activation(x_i, a_i)`` (computed right after the layer's
    ``activation``, so a stateful layer's comes from its state at that
    step).  The Hessian product (:mod:`hessianfree.nets.hessian`) and the
    input derivatives (:mod:`hessianfree.nets.input_derivatives`) ask for them.

    Attributes
    ----------
    inputs, d2 : list
        One entry per layer (internal layout; None where not kept).
    """

    def __init__(self, n_layers, second=None):
        self.inputs, self.d2 = [None] * n_layers, [None] * n_layers
        self.second = second

    def keep(self, i, layer, x, a, t=None, n_steps=None):
        """Keep layer ``i``'s input ``x`` (and second derivative) of the
        whole batch, or of time step ``t`` of ``n_steps``."""
        want = self.second is not None and self.second(i, layer)
        values = [(self.inputs, x)] + ([(self.d2, layer.d2_activation(x, a))]
                                       if want else [])
        for store, value in values:
            if t is None:
                store[i] = value
                continue
            if store[i] is None:
                store[i] = backend.array_module(value).empty(
                    (n_steps,) + value.shape, dtype=value.dtype)
            store[i][t] = value


def record_errors(record, i, error, delta, n_layers):
    """Keep copies of layer ``i``'s output and input errors in the dict
    ``record`` (see ``FeedForwardPasses._backward``)."""
    if record is None:
        return
    for key, x in (("errors", error), ("deltas", delta)):
        record.setdefault(key, [None] * n_layers)[i] = x.copy()
