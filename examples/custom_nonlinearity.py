"""Define a custom nonlinearity and train a network that uses it.

A nonlinearity subclasses ``hf.nl.Nonlinearity`` and implements
``activation(x)`` and ``d_activation(x, a)``, the derivative of the
activation with respect to its input (``a`` is ``activation(x)``, passed in
so that it need not be computed again).  ``debug=True`` makes the network
compare the gradient and curvature products against finite differences while
it trains (in float64), which catches a wrong ``d_activation``.

Defining ``d2_activation(x, a)``, the second derivative (same shape as
``x``), is optional: exact Hessian products and the Hessian or Laplacian
with respect to the inputs (``net.input_derivatives``) need it, and say so
when it is missing.

Run with ``python examples/custom_nonlinearity.py``.
"""

import numpy as np

import hessianfree as hf


class SoftPlus(hf.nl.Nonlinearity):
    """Smooth rectifier, :math:`f(x) = \\log(1 + e^x)`."""

    def activation(self, x):
        return np.logaddexp(0, x)

    def d_activation(self, x, a):
        # f'(x) = 1 / (1 + e^{-x}) = 1 - e^{-f(x)}
        return 1 - np.exp(-a)

    def d2_activation(self, x, a):
        # f''(x) = f'(x) (1 - f'(x))
        d = 1 - np.exp(-a)
        return d * (1 - d)


inputs = np.asarray([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
targets = np.asarray([[0], [1], [1], [0]], dtype=np.float32)

net = hf.FFNet([2, 5, 1],
               layers=[hf.nl.Linear(), SoftPlus(), hf.nl.Logistic()],
               debug=True)
net.run_epochs(inputs, targets, optimizer=hf.opt.HessianFree(CG_iter=2),
               max_epochs=40)

outputs = net.forward(inputs)[-1]
for x, y, t in zip(inputs, outputs, targets):
    print(f"{x} -> {float(y[0]):.3f} (target {t[0]:.0f})")
print("final error:", net.error(inputs=inputs, targets=targets))
