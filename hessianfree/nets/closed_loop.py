"""Running a recurrent network in closed loop with a plant.

A :class:`~hessianfree.layers.nonlinearities.Plant` given as ``inputs`` generates
the network's input at every time step from the network's output on the
step before.  :class:`ClosedLoop` is the part of
:class:`~hessianfree.RNNet` that handles it: checking the plant against the
network, the forward pass in closed loop, and the data of a training epoch,
which are the plant's recorded inputs and targets (``get_vecs``), replayed
open loop by the derivative passes.
"""

import numpy as np

from hessianfree.layers import nonlinearities as nl
from hessianfree.base import validation as val


class ClosedLoop:
    """Plant handling that :class:`~hessianfree.RNNet` inherits.

    It relies on the network's ``shape``, ``n_layers``, ``dtype``, ``xp``,
    its per-step update ``_step``, ``_layer_input``, ``_host``,
    ``_as_targets`` and ``forward``.
    """

    def _check_plant(self, plant):
        """Validate a plant against the network; return its ``shape``."""
        shape = getattr(plant, "shape", None)
        if shape is None or len(shape) != 3:
            raise TypeError("a Plant used as inputs needs a shape attribute "
                            "(batch, time, n_inputs)")
        shape = [val.check_positive_int(n, f"plant.shape[{k}]")
                 for k, n in enumerate(shape)]
        if shape[-1] != self.shape[0]:
            raise ValueError(f"plant.shape {tuple(shape)} gives {shape[-1]} inputs, "
                             f"but the network's input layer has {self.shape[0]}")
        return shape

    def _run_closed_loop(self, plant, params, deriv, init_acts):
        """Forward pass with a plant: the input at each step is the plant's
        response to the network's output on the previous step."""
        n_batch, n_steps = self._check_plant(plant)[:2]
        acts, d_acts = [None] * self.n_layers, [None] * self.n_layers
        for t in range(n_steps):
            for i in range(self.n_layers):
                if i == 0:
                    # plants are host code: they see NumPy arrays
                    x = plant(self._host(acts[-1][t - 1]) if t > 0 else None)
                    x = val.as_batch(x, "the plant's output (its __call__)",
                                     self.shape[0], 2, self.dtype, self.xp)
                    if x.shape[0] != n_batch:
                        raise ValueError(f"the plant returned {x.shape[0]} inputs, "
                                         f"but plant.shape says {n_batch}")
                else:
                    x = self._layer_input(i, [None if a is None else a[t] for a in acts],
                                          params)
                self._step(i, t, x, acts, d_acts, params, deriv, init_acts, n_steps)
        return acts, d_acts

    def _epoch_data(self, inputs, targets, minibatch_size):
        """This epoch's data: for a plant, the inputs and targets it recorded
        (``get_vecs``) during a closed-loop run, checked to replay that run;
        otherwise the base class's."""
        if not isinstance(inputs, nl.Plant):
            return super()._epoch_data(inputs, targets, minibatch_size)
        inputs.reset()
        closed_loop = self.forward(inputs)[-1]
        x, t = inputs.get_vecs()
        try:
            x = val.as_batch(x, "inputs", self.shape[0], 3, self.dtype, self.xp)
            t = self._as_targets(t, x)
        except (TypeError, ValueError) as e:
            raise type(e)(f"plant.get_vecs() does not fit the network: {e}") from e
        self._check_replay(closed_loop, self.forward(x)[-1])
        return x, t

    def _check_replay(self, closed_loop, replayed):
        """The derivative passes replay the plant's recorded inputs with every
        stateful layer reset; that must reproduce the closed-loop run."""
        scale = float(abs(closed_loop).max()) + 1.0
        tol = 1e-3 if self.dtype == np.float32 else 1e-8
        if float(abs(closed_loop - replayed).max()) > tol * scale:
            raise ValueError(
                "replaying the plant's recorded inputs (get_vecs()) does not "
                "reproduce the closed-loop run: the plant's reset() must restore "
                "the same initial state every time it is called with init=None")
