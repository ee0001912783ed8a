"""Base classes for user-defined nonlinearities and plants.

:class:`Nonlinearity` fixes the interface every layer nonlinearity has
(activation, first and second derivative, state reset); :class:`Plant` is
the base of dynamical systems in a closed loop with a recurrent network.
Both are importable from :mod:`hessianfree.layers.nonlinearities` (``hf.nl``),
which holds the built-ins and describes the derivative conventions.
"""

from hessianfree.base.backend import array_module


class Nonlinearity:
    """Base class for layer nonlinearities.

    Parameters
    ----------
    stateful : bool
        True if the nonlinearity has internal state; its
        :meth:`d_activation` then returns ``d_input``, ``d_state`` and
        ``d_output`` stacked on the last axis (see
        :class:`~hessianfree.layers.nonlinearities.Continuous`).

    Notes
    -----
    Subclasses implement :meth:`activation` and :meth:`d_activation`, and
    :meth:`d2_activation` if second derivatives are wanted (exact Hessian
    products, Hessians and Laplacians with respect to the inputs); without
    it those raise an error naming the missing method.  A subclass whose
    derivative is not element-wise sets the class attribute
    ``elementwise = False`` and returns a Jacobian (and a third-order
    tensor from :meth:`d2_activation`).
    """

    elementwise = True

    def __init__(self, stateful=False):
        self.stateful = bool(stateful)

    def activation(self, x):
        """Apply the nonlinearity.

        Parameters
        ----------
        x : (..., n) array
            Summed input to the layer.

        Returns
        -------
        (..., n) array
            The activation :math:`a = f(x)`.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement activation(x)")

    def d_activation(self, x, a):
        """Derivative of the activation with respect to the input.

        Parameters
        ----------
        x : (..., n) array
            Input that was passed to :meth:`activation`.
        a : (..., n) array
            The value ``activation(x)`` returned (saves recomputing it).

        Returns
        -------
        array
            ``(..., n)`` :math:`f'(x)` if ``elementwise``; ``(..., n, n)``
            Jacobian ``J[..., i, j] = d a_i / d x_j`` otherwise; ``(..., n,
            3)`` ``[d_input, d_state, d_output]`` if ``stateful`` (only
            ``(..., n)`` ``d_output`` when
            :meth:`~hessianfree.layers.nonlinearities.Nonlinearity.state_derivatives` gives
            the other two).
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement d_activation(x, a)")

    def cached_derivative(self, x, a):
        """The derivative that a network's passes keep for a minibatch and
        multiply by (:func:`hessianfree.nets.passes.apply_derivative`).

        :meth:`d_activation`'s value by default.  A non-element-wise
        nonlinearity whose Jacobian has structure returns a
        :class:`~hessianfree.layers.jacobians.JacobianOperator` instead,
        which multiplies by it without forming the ``(..., n, n)`` array
        (:class:`~hessianfree.layers.nonlinearities.Softmax`).
        """
        return self.d_activation(x, a)

    def state_derivatives(self, x):
        """The derivatives of a stateful layer's state
        :math:`s_t = f(s_{t-1}, x_t)` that do not depend on the data, or None.

        A layer whose state update is linear with fixed coefficients
        (:class:`~hessianfree.layers.nonlinearities.Continuous`) returns
        ``(d_input, d_state)``, arrays that broadcast against ``x`` (per
        unit); its :meth:`d_activation` then returns only ``d_output``,
        which keeps the derivative passes from storing two constant arrays
        per time step.  The default, None, means :meth:`d_activation`
        stacks all three.
        """
        return None

    def d2_activation(self, x, a):
        """Second derivative of the activation with respect to the input.

        Parameters
        ----------
        x : (..., n) array
            Input that was passed to :meth:`activation`.
        a : (..., n) array
            The value ``activation(x)`` returned.

        Returns
        -------
        array
            ``(..., n)`` :math:`f''(x)` if ``elementwise``; otherwise the
            ``(..., n, n, n)`` tensor ``T[..., i, j, k] = d^2 a_i / d x_j
            d x_k`` of every example (symmetric in ``j, k``).  A stateful
            nonlinearity whose state update is linear returns the ``(...,
            n)`` second derivative of its output with respect to its state.

        Raises
        ------
        NotImplementedError
            In this base class: a custom nonlinearity defines it to support
            second derivatives.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not implement d2_activation(x, a), the "
            f"second derivative of its activation; define it to get Hessians "
            f"and Laplacians")

    def has_d2_activation(self):
        """Whether this nonlinearity defines :meth:`d2_activation`."""
        return type(self).d2_activation is not Nonlinearity.d2_activation

    def d2_contract(self, x, a, u, v):
        """Second directional derivatives of a non-element-wise activation.

        Parameters
        ----------
        x, a : (..., n) array
            Input and activation, as for :meth:`d2_activation`.
        u, v : (..., k, n) array
            ``k`` pairs of input directions per example.

        Returns
        -------
        (..., k, n) array
            ``out[..., p, i] = sum_jl T[..., i, j, l] u[..., p, j] v[..., p, l]``
            with ``T = d2_activation(x, a)``.

        Notes
        -----
        This default forms ``T`` (:math:`n^3` numbers per example); a
        subclass with a cheaper formula overrides it (see
        :class:`~hessianfree.layers.nonlinearities.Softmax`).
        """
        T = self.d2_activation(x, a)
        n, k = T.shape[-1], u.shape[-2]
        Tv = T.reshape(T.shape[:-3] + (n * n, n)) @ v.swapaxes(-1, -2)
        Tv = Tv.reshape(T.shape[:-3] + (n, n, k))  # [..., i, j, p]
        Tv = Tv.transpose(tuple(range(Tv.ndim - 3)) + (Tv.ndim - 1, Tv.ndim - 3,
                                                       Tv.ndim - 2))
        return (Tv @ u[..., None])[..., 0]

    def reset(self, init=None):
        """Reset the internal state (no-op for stateless nonlinearities)."""

    def __repr__(self):
        return f"{type(self).__name__}()"


class Plant(Nonlinearity):
    """Base class for a plant that generates a network's inputs on line.

    A plant is a dynamical system in a closed loop with a recurrent network:
    at each time step the network's output drives the plant
    (``__call__``), and the plant's new state is the network's next
    input.  It also serves as a stateful layer (usually the input layer);
    by default that layer passes its input through unchanged and the plant's
    dynamics are not differentiated (``d_activation`` returns ``[1, 0,
    1]`` and ``d2_activation`` zeros), so subclasses that want gradients
    through the plant override :meth:`d_activation`.

    Subclasses implement ``__call__``, :meth:`get_vecs` and
    :meth:`reset`.

    Parameters
    ----------
    stateful : bool
        Plants have state, so this is True.
    """

    def __init__(self, stateful=True):
        super().__init__(stateful=stateful)

    def __call__(self, x):
        """Advance the plant one step.

        Parameters
        ----------
        x : (batch, n_out) ndarray or None
            The network's output on the previous time step, always a NumPy
            array (also when the network runs on the GPU); None on the first
            step.

        Returns
        -------
        (batch, n_in) array
            The network's input on the next time step.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement __call__(x): take the "
            f"network's output at the previous step, shape (batch, n_out), "
            f"and return its next input, shape (batch, n_in)")

    def get_vecs(self):
        """Return the ``(inputs, targets)`` generated since the last reset.

        Returns
        -------
        inputs : (batch, time, n_in) array
        targets : (batch, time, n_out) array
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement get_vecs(): return the "
            f"(inputs, targets) arrays, each (batch, time, n), generated "
            f"since the last reset")

    def reset(self, init=None):
        """Reset the plant to its initial state.

        Parameters
        ----------
        init : array or None
            Overrides the default initial state.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement reset(init=None): return "
            f"the plant to its initial state (or to init)")

    def activation(self, x):
        return x

    def d_activation(self, x, a):
        d = array_module(x).zeros(x.shape + (3,), dtype=x.dtype)
        d[..., 0] = 1
        d[..., 2] = 1
        return d

    def d2_activation(self, x, a):
        return array_module(x).zeros_like(x)
