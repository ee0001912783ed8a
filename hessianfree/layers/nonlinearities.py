"""Layer nonlinearities.

A nonlinearity maps a layer's summed input ``x`` to its activation
``a = f(x)`` and supplies the derivative that backpropagation and the
Gauss-Newton product (Schraudolph 2002; Martens 2010) need, and the second
derivative that exact Hessian products and the input derivatives of
:meth:`FFNet.input_derivatives` need.  Three kinds exist, told apart by two
attributes:

- element-wise (``elementwise = True``, ``stateful = False``):
  ``d_activation(x, a)`` returns :math:`f'(x)` and ``d2_activation(x, a)``
  returns :math:`f''(x)`, both with the shape of ``x``;
- non-element-wise (``elementwise = False``, e.g. :class:`Softmax`):
  ``d_activation`` returns the Jacobian of every example, shape
  ``(..., n, n)`` with ``J[..., i, j] = d a_i / d x_j`` (row = output unit),
  and ``d2_activation`` the second-derivative tensor, shape
  ``(..., n, n, n)`` with ``T[..., i, j, k] = d^2 a_i / d x_j d x_k``;
- stateful (``stateful = True``, e.g. :class:`Continuous`): ``activation``
  advances an internal state :math:`s` by one time step and
  ``d_activation`` returns three element-wise derivatives stacked on a new
  last axis, shape ``(..., n, 3)``: :math:`\\partial s_t / \\partial x_t`,
  :math:`\\partial s_t / \\partial s_{t-1}` and
  :math:`\\partial a_t / \\partial s_t`.

All array code uses NumPy functions that dispatch to CuPy, so the same
objects run on the CPU and the GPU.  ``activation`` never modifies its
input in place.
"""

import numpy as np
import scipy.special

from hessianfree.base import backend
from hessianfree.base import validation as val
from hessianfree.base.backend import array_module
from hessianfree.layers.jacobians import SoftmaxJacobian
from hessianfree.layers.nl_base import Nonlinearity, Plant
from hessianfree.layers.plants import PointMass

__all__ = ["Continuous", "Gaussian", "Linear", "Logistic", "Nonlinearity", "Plant",
           "PointMass", "ReLU", "SoftLIF", "Softmax", "Tanh", "resolve"]


def _check_positive(value, name, allow_zero=False):
    """Return ``value`` as a float, or raise if it is not a positive number."""
    return val.check_real(value, name, low=0.0, low_open=not allow_zero)


def _check_time_constants(tau):
    """``tau`` as a positive float, or as a float64 array of positive
    values (one per unit)."""
    if isinstance(tau, (list, tuple)) or getattr(tau, "ndim", 0) != 0:
        try:
            taus = np.array(backend.to_numpy(tau) if hasattr(tau, "ndim") else tau,
                            dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise TypeError(f"tau must be a positive number or a 1-D array of "
                            f"them, got {val.describe(tau)}") from e
        if taus.ndim != 1 or taus.size == 0:
            raise ValueError(f"tau must be a number or a 1-D array with one time "
                             f"constant per unit, got shape {taus.shape}")
        if not np.all(np.isfinite(taus) & (taus > 0)):
            raise ValueError(f"tau must hold finite numbers > 0, got {taus!r}")
        return taus
    return _check_positive(tau, "tau")


def _expit(x):
    """Logistic sigmoid :math:`1 / (1 + e^{-x})` without overflow warnings."""
    if isinstance(x, np.ndarray):
        return scipy.special.expit(x)
    return 0.5 * np.tanh(0.5 * x) + 0.5  # CuPy (or scalars): same function


class Linear(Nonlinearity):
    """Linear activation (passes inputs unchanged).

    :math:`f(x) = x`

    Notes
    -----
    ``activation`` returns ``x`` itself, not a copy.
    """

    def activation(self, x):
        return x

    def d_activation(self, x, a):
        return array_module(x).ones_like(x)

    def d2_activation(self, x, a):
        return array_module(x).zeros_like(x)


class Tanh(Nonlinearity):
    """Hyperbolic tangent.

    :math:`f(x) = \\tanh(x)`, :math:`f'(x) = 1 - f(x)^2`,
    :math:`f''(x) = -2 f(x) (1 - f(x)^2)`
    """

    def activation(self, x):
        return np.tanh(x)

    def d_activation(self, x, a):
        return 1 - a * a

    def d2_activation(self, x, a):
        return -2 * a * (1 - a * a)


class Logistic(Nonlinearity):
    """Logistic sigmoid.

    :math:`f(x) = 1 / (1 + e^{-x})`, :math:`f'(x) = f(x) (1 - f(x))`,
    :math:`f''(x) = f'(x) (1 - 2 f(x))`

    Uses :func:`scipy.special.expit` for NumPy arrays and the equivalent
    :math:`(1 + \\tanh(x/2)) / 2` otherwise (CuPy), so large inputs do not
    overflow.
    """

    def activation(self, x):
        return _expit(x)

    def d_activation(self, x, a):
        return a * (1 - a)

    def d2_activation(self, x, a):
        return a * (1 - a) * (1 - 2 * a)


class ReLU(Nonlinearity):
    """Rectified linear unit, clipped above.

    :math:`f(x) = \\min(\\max(x, 0), max)`; the derivative is 1 on
    :math:`0 < x < max` and 0 elsewhere, the second derivative is 0 (the
    function is piecewise linear; at the kinks 0 and ``max`` the one-sided
    values are used).

    Parameters
    ----------
    max : float
        Upper bound on the activation, to help avoid numerical blow-up.
    """

    def __init__(self, max=1e10):  # noqa: A002 (public name of the parameter)
        super().__init__()
        self.max = _check_positive(max, "max")

    def activation(self, x):
        return np.clip(x, 0, self.max)

    def d_activation(self, x, a):
        return ((x > 0) & (x < self.max)).astype(x.dtype)

    def d2_activation(self, x, a):
        return array_module(x).zeros_like(x)

    def __repr__(self):
        return f"ReLU(max={self.max!r})"


class Gaussian(Nonlinearity):
    """Gaussian bump.

    :math:`f(x) = e^{-x^2}`, :math:`f'(x) = -2 x f(x)`,
    :math:`f''(x) = (4 x^2 - 2) f(x)`
    """

    def activation(self, x):
        return np.exp(-(x * x))

    def d_activation(self, x, a):
        return -2 * x * a

    def d2_activation(self, x, a):
        return (4 * x * x - 2) * a


class Softmax(Nonlinearity):
    """Softmax over the last axis.

    :math:`f(x)_i = e^{x_i} / \\sum_j e^{x_j}`, computed after subtracting
    :math:`\\max_j x_j` so large inputs do not overflow.

    ``d_activation`` returns the Jacobian of each example, shape
    ``(..., n, n)``: :math:`J_{ij} = a_i (\\delta_{ij} - a_j)`, and
    ``d2_activation`` the second-derivative tensor, shape ``(..., n, n, n)``:

    .. math::

        T_{ijk} = \\frac{\\partial^2 a_i}{\\partial x_j \\partial x_k}
                = a_i \\left[(\\delta_{ij} - a_j)(\\delta_{ik} - a_k)
                  - a_j (\\delta_{jk} - a_k)\\right].

    The tensor holds :math:`n^3` numbers per example, which suits output
    layers (a few classes); its contractions with vectors cost
    :math:`O(n)` through :meth:`d2_contract`, which the input derivatives
    of :meth:`~hessianfree.FFNet.input_derivatives` use.  One unit is refused.
    """

    elementwise = False

    def activation(self, x):
        if x.shape[-1] < 2:
            raise ValueError(f"a Softmax layer needs at least 2 units, got {x.shape[-1]} (its "
                             "output is 1 for any input); use one Logistic unit for yes/no")
        e = x - x.max(axis=-1, keepdims=True)
        np.exp(e, out=e)
        e /= e.sum(axis=-1, keepdims=True)
        return e

    def d_activation(self, x, a):
        return SoftmaxJacobian(a).toarray()

    def cached_derivative(self, x, a):
        if type(self).d_activation is not Softmax.d_activation:
            return self.d_activation(x, a)  # a subclass with its own derivative
        return SoftmaxJacobian(a)

    def d2_activation(self, x, a):
        eye = array_module(a).eye(a.shape[-1], dtype=a.dtype)
        P = eye - a[..., None, :]  # P[..., i, j] = delta_ij - a_j
        return a[..., :, None, None] * (P[..., :, :, None] * P[..., :, None, :]
                                        - a[..., None, :, None] * P[..., None, :, :])

    def d2_contract(self, x, a, u, v):
        """Second directional derivatives :math:`T(u, v)` without the tensor.

        See :meth:`Nonlinearity.d2_contract`; here

        .. math::

            \\sum_{jl} T_{ijl} u_j v_l
            = a_i [(u_i - a \\cdot u)(v_i - a \\cdot v)
            - (a \\cdot (u \\odot v) - (a \\cdot u)(a \\cdot v))]

        in :math:`O(n)` per pair of directions.
        """
        a = a[..., None, :]
        au = (a * u).sum(axis=-1, keepdims=True)
        av = (a * v).sum(axis=-1, keepdims=True)
        auv = (a * u * v).sum(axis=-1, keepdims=True)
        return a * ((u - au) * (v - av) - (auv - au * av))


class SoftLIF(Nonlinearity):
    """Firing rate of a leaky integrate-and-fire neuron with a soft threshold.

    .. math::

        j(x) = \\sigma \\log(1 + e^{x / \\sigma}), \\qquad
        f(x) = \\frac{amp}{\\tau_{ref} + \\tau_{RC} \\log(1 + 1 / j(x))}

    i.e. the LIF rate curve applied to a soft-rectified input (Hunsberger &
    Eliasmith 2015, "Spiking deep networks with LIF neurons",
    arXiv:1510.08829).  The derivative is

    .. math::

        f'(x) = \\frac{\\tau_{RC}}{amp} f(x)^2 g, \\qquad
        g = \\frac{s}{j (1 + j)}, \\qquad s = \\mathrm{expit}(x / \\sigma),

    and the second derivative

    .. math::

        f''(x) = \\frac{\\tau_{RC}}{amp} f(x) \\left(2 f'(x) g + f(x) g'\\right),
        \\qquad g' = g \\left(\\frac{1 - s}{\\sigma} - g (1 + 2 j)\\right).

    Where :math:`j` is below the smallest normal number of the dtype
    (:math:`j \\approx 0`, far below threshold) the output and the derivative
    are 0, so very negative or positive inputs give neither warnings nor
    non-finite values.

    Parameters
    ----------
    sigma : float
        Smoothness of the threshold (> 0).
    tau_rc : float
        LIF membrane (RC) time constant (> 0).
    tau_ref : float
        LIF refractory period (>= 0).
    amp : float
        Scale of the output (> 0).
    """

    def __init__(self, sigma=1, tau_rc=0.02, tau_ref=0.002, amp=0.01):
        super().__init__()
        self.sigma = _check_positive(sigma, "sigma")
        self.tau_rc = _check_positive(tau_rc, "tau_rc")
        self.tau_ref = _check_positive(tau_ref, "tau_ref", allow_zero=True)
        self.amp = _check_positive(amp, "amp")

    def _rectify(self, x):
        """Soft-rectified input :math:`j`, clipped below at ``tiny``."""
        tiny = np.finfo(x.dtype).tiny
        j = self.sigma * np.logaddexp(0, x / self.sigma)
        return np.maximum(j, tiny), j >= tiny

    def activation(self, x):
        j, active = self._rectify(x)
        rate = self.amp / (self.tau_ref + self.tau_rc * np.log1p(1 / j))
        rate *= active
        return rate

    def _slope_factor(self, x):
        """``(g, s, j, active)``: :math:`g = s / (j (1 + j))` and its parts."""
        j, active = self._rectify(x)
        s = _expit(x / self.sigma)
        return s / j / (1 + j), s, j, active

    def d_activation(self, x, a):
        g, _, _, active = self._slope_factor(x)
        g *= (self.tau_rc / self.amp) * a * a * active
        return g

    def d2_activation(self, x, a):
        g, s, j, active = self._slope_factor(x)
        c = (self.tau_rc / self.amp) * a * active
        d_g = g * ((1 - s) / self.sigma - g * (1 + 2 * j))
        return c * (2 * (c * a * g) * g + a * d_g)

    def __repr__(self):
        return (f"SoftLIF(sigma={self.sigma!r}, tau_rc={self.tau_rc!r}, "
                f"tau_ref={self.tau_ref!r}, amp={self.amp!r})")


class Continuous(Nonlinearity):
    """A nonlinearity applied to a low-pass filtered (continuous-time) state.

    Each call of :meth:`activation` advances the state one Euler step of
    :math:`ds/dt = (x - s) / \\tau` and applies ``base`` to it:

    .. math::

        s_t = s_{t-1} + \\frac{dt}{\\tau} (x_t - s_{t-1}), \\qquad
        a_t = base(s_t)

    The state's derivatives are constants, :math:`[\\partial s_t/\\partial x_t,
    \\partial s_t/\\partial s_{t-1}] = [dt/\\tau, 1 - dt/\\tau]`
    (:meth:`state_derivatives`), so :meth:`d_activation` returns only
    :math:`\\partial a_t/\\partial s_t = base'(s_t)` (shape ``(..., n)``).
    The state update is linear, so the only second derivative is
    :math:`\\partial^2 a_t / \\partial s_t^2 = base''(s_t)`, which
    :meth:`d2_activation` returns (shape ``(..., n)``).  Both must be called
    after the :meth:`activation` of the same step (they use the current
    state).

    Parameters
    ----------
    base : Nonlinearity, type or str
        Element-wise, stateless output nonlinearity (anything
        :func:`resolve` accepts).
    tau : float or (n,) array_like
        Time constant of the input filter (> 0); larger means a slower state.
        An array gives each of the layer's ``n`` units its own time constant.
    dt : float
        Simulation time step (> 0).

    Attributes
    ----------
    state : (..., n) array or None
        The filter state :math:`s`; None after :meth:`reset` until the next
        :meth:`activation`.
    """

    def __init__(self, base, tau=1.0, dt=1.0):
        super().__init__(stateful=True)
        base = resolve(base, "base")
        if not base.elementwise or base.stateful:
            raise TypeError(f"base must be an element-wise, stateless "
                            f"Nonlinearity, got {base!r}")
        self.base = base
        self.tau = _check_time_constants(tau)
        self.dt = _check_positive(dt, "dt")
        self.coeff = self.dt / self.tau
        self._coeff_arrays = {}
        self.state = None

    def _coeff(self, x):
        """:math:`dt / \\tau` as a number, or per unit in ``x``'s array module
        and dtype."""
        if not isinstance(self.coeff, np.ndarray):
            return self.coeff
        if x.shape[-1] != self.coeff.shape[0]:
            raise ValueError(f"Continuous has {self.coeff.shape[0]} time constants "
                             f"(tau) but its layer has {val.plural(x.shape[-1], 'unit')}")
        xp = array_module(x)
        key = (xp, x.dtype)
        cached = self._coeff_arrays.get(key)
        if cached is None:  # moved to the device once, not at every step
            cached = self._coeff_arrays[key] = xp.asarray(self.coeff, dtype=x.dtype)
        return cached

    def activation(self, x):
        coeff = self._coeff(x)
        if self.state is None:
            state = array_module(x).zeros_like(x)
        else:
            state = self._check_state(x)
        self.state = state + coeff * (x - state)  # a new array
        return self.base.activation(self.state)

    def _check_state(self, x):
        """Return the state in ``x``'s dtype, checking its shape."""
        try:
            shape = np.broadcast_shapes(self.state.shape, x.shape)
        except ValueError:
            shape = None
        if shape != x.shape:
            raise ValueError(f"x has shape {x.shape}, which does not match "
                             f"the state's shape {self.state.shape} (set "
                             f"with reset(init))")
        return array_module(x).asarray(self.state, dtype=x.dtype)

    def d_activation(self, x, a):
        if self.state is None:
            raise RuntimeError("d_activation needs the state of the step: "
                               "call activation(x) first")
        return self.base.d_activation(self.state, a)

    def state_derivatives(self, x):
        """``(dt / tau, 1 - dt / tau)``: :math:`\\partial s_t/\\partial x_t`
        and :math:`\\partial s_t/\\partial s_{t-1}`, per unit or scalar, in
        ``x``'s array module and dtype."""
        xp = array_module(x)
        key = ("state", xp, x.dtype)
        cached = self._coeff_arrays.get(key)
        if cached is None:
            coeff = xp.asarray(self._coeff(x), dtype=x.dtype)
            cached = self._coeff_arrays[key] = (coeff, 1 - coeff)
        return cached

    def d2_activation(self, x, a):
        if self.state is None:
            raise RuntimeError("d2_activation needs the state of the step: "
                               "call activation(x) first")
        return self.base.d2_activation(self.state, a)

    def reset(self, init=None):
        """Reset the state.

        Parameters
        ----------
        init : array or None
            Initial state (copied); it must broadcast to the input shape.
            None means zeros shaped like the next input.
        """
        if init is None:
            self.state = None
        elif hasattr(init, "copy") and hasattr(init, "shape"):
            self.state = init.copy()
        else:
            self.state = np.array(init, dtype=np.float64)

    def __repr__(self):
        return f"Continuous({self.base!r}, tau={self.tau!r}, dt={self.dt!r})"


_BUILTINS = (Linear, Tanh, Logistic, ReLU, Gaussian, Softmax, SoftLIF)
_BY_NAME = {cls.__name__.lower(): cls for cls in _BUILTINS}


def resolve(layer, name="layer"):
    """Turn a layer specification into a :class:`Nonlinearity` instance.

    Parameters
    ----------
    layer : Nonlinearity, type or str
        An instance (returned as is), a subclass (instantiated with no
        arguments) or the name of a built-in, case-insensitive (``"Tanh"``,
        ``"relu"``, ``"softmax"``, ...).
    name : str
        What to call ``layer`` in error messages (the caller's parameter).

    Returns
    -------
    Nonlinearity

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known names).
    TypeError
        For anything else.
    """
    instance = val.instance_of(layer, Nonlinearity, name)
    if instance is not None:
        return instance
    if isinstance(layer, str):
        try:
            return _BY_NAME[layer.lower()]()
        except KeyError:
            known = ", ".join(cls.__name__ for cls in _BUILTINS)
            raise ValueError(f"{name}: unknown nonlinearity {layer!r}; known "
                             f"names (case-insensitive): {known}") from None
    raise TypeError(f"{name} must be a Nonlinearity, a Nonlinearity subclass "
                    f"or a name, got {val.describe(layer)}")
