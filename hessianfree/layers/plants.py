"""Plants: dynamical systems that a recurrent network drives in closed loop.

:class:`~hessianfree.layers.nonlinearities.Plant` is the base class (see
:mod:`hessianfree.nets.closed_loop`); :class:`PointMass` is a worked example with
differentiable dynamics, the plant of :func:`hessianfree.demos.plant`.  Both
are public as ``hf.nl.Plant`` and ``hf.nl.PointMass``.
"""

import numpy as np

from hessianfree.base import validation as val
from hessianfree.base.backend import array_module, to_numpy
from hessianfree.layers.nl_base import Plant

__all__ = ["PointMass"]


class PointMass(Plant):
    """A point mass on a line, pushed by a network: the plant of
    :func:`hessianfree.demos.plant`.

    Its state is :math:`s = (p, v)`, position and velocity, and it evolves as

    .. math::

        s_t = A s_{t-1} + B(s_{t-1}) x_t, \\qquad
        A = \\begin{pmatrix} 1 & dt \\\\ 0 & 1 \\end{pmatrix}, \\qquad
        B(s) = \\begin{pmatrix} 0 & 0 \\\\ 0 & g(p) \\end{pmatrix},

    with :math:`g(p) = dt / (1 + p^2)`: the second input is a force on the
    velocity that weakens away from the origin (the first input has no
    effect).  The output is the state.  Used as the network's output layer,
    ``d_activation`` returns per-example Jacobians (``elementwise = False``)
    ``J[b, i, j, k]`` :math:`= \\partial out_i / \\partial in_j`, stacked over
    ``k``:

    .. math::

        \\frac{\\partial s_t}{\\partial x_t} = B(s_{t-1}), \\qquad
        \\frac{\\partial s_t}{\\partial s_{t-1}} = A + \\frac{\\partial B}
        {\\partial s}(s_{t-1})\\, x_t, \\qquad
        \\frac{\\partial a_t}{\\partial s_t} = I.

    Used as the network's input (``run_epochs(plant, None, ...)``), each
    call returns the current state, and :meth:`get_vecs` returns the states
    seen and the targets, position 1 and velocity 0 over the last
    ``target_steps`` steps (NaN, "no target", before).

    Parameters
    ----------
    init_pos : (batch,) array_like
        Start positions (the velocity starts at 0).
    n_steps : int
        Time steps per run.
    dt : float
        Time step.
    target_steps : int
        Number of final steps with a target (all of them if more than
        ``n_steps``).
    """

    elementwise = False

    def __init__(self, init_pos, n_steps, dt=0.2, target_steps=10):
        super().__init__(stateful=True)
        init_pos = np.asarray(init_pos, dtype=np.float64)
        if init_pos.ndim != 1 or init_pos.size == 0:
            raise ValueError(f"init_pos must be a non-empty 1-D array of start "
                             f"positions, got shape {init_pos.shape}")
        n_steps = val.check_positive_int(n_steps, "n_steps")
        target_steps = val.check_positive_int(target_steps, "target_steps")
        self.dt = val.check_nonneg_float(dt, "dt")
        if self.dt == 0:
            raise ValueError("dt must be > 0, got 0")
        self.A = np.array([[1.0, self.dt], [0.0, 1.0]])
        self.init_state = np.stack([init_pos, np.zeros_like(init_pos)], axis=1)
        self.shape = (len(init_pos), n_steps, 2)
        self.targets = np.full(self.shape, np.nan)
        self.targets[:, n_steps - min(target_steps, n_steps):] = [1.0, 0.0]
        self.reset()

    def gain(self, p):
        """:math:`g(p) = dt / (1 + p^2)`."""
        return self.dt / (1 + p * p)

    def d_gain(self, p):
        """:math:`g'(p)`."""
        return -2 * self.dt * p / (1 + p * p) ** 2

    def reset(self, init=None):
        """Back to the start positions with zero velocity (or to ``init``,
        a ``(batch, 2)`` state)."""
        self.state = self.init_state.copy() if init is None else np.array(init)
        self.prev = self.x = None
        self.seen = []

    def activation(self, x):
        xp = array_module(x)
        prev = xp.asarray(self.state, dtype=x.dtype)
        state = xp.matmul(prev, xp.asarray(self.A.T, dtype=x.dtype))
        state[:, 1] += self.gain(prev[:, 0]) * x[:, 1]
        self.prev, self.x, self.state = prev, x, state
        return state.copy()

    def d_activation(self, x, a):
        xp = array_module(x)
        p = self.prev[:, 0]
        d = xp.zeros(x.shape + (2, 3), dtype=x.dtype)
        d[:, 1, 1, 0] = self.gain(p)                        # ds_t / dx_t
        d[..., 1] = xp.asarray(self.A, dtype=x.dtype)       # ds_t / ds_{t-1}
        d[:, 1, 0, 1] += self.d_gain(p) * self.x[:, 1]
        d[:, 0, 0, 2] = d[:, 1, 1, 2] = 1                   # output = state
        return d

    def __call__(self, x):
        state = to_numpy(self.state)
        self.seen.append(state.copy())
        return state

    def get_vecs(self):
        return np.stack(self.seen, axis=1), self.targets
