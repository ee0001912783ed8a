"""Train a small network on xor with Hessian-free optimization.

Run with ``python examples/xor.py``.
"""

import numpy as np

import hessianfree as hf

inputs = np.asarray([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
targets = np.asarray([[0], [1], [1], [0]], dtype=np.float32)

# two inputs, five logistic hidden units, one logistic output
net = hf.FFNet([2, 5, 1])

# a few conjugate gradient iterations per epoch are plenty for xor
net.run_epochs(inputs, targets, optimizer=hf.opt.HessianFree(CG_iter=2),
               max_epochs=40)

outputs = net.forward(inputs)[-1]  # forward() returns every layer's activations
for x, y, t in zip(inputs, outputs, targets):
    print(f"{x} -> {float(y[0]):.3f} (target {t[0]:.0f})")
print("final error:", net.error(inputs=inputs, targets=targets))

# the trained parameters are one flat vector; save it and build a copy
np.save("xor_weights.npy", net.W)
copy = hf.FFNet([2, 5, 1], load_weights="xor_weights.npy")
assert np.allclose(copy.forward(inputs)[-1], outputs)
