"""Train a small network with Hessian-free optimization, then plot its input
gradient field and Laplacian.

The network learns the 2-D function u(x, y) = sin(pi x) cos(pi y / 2) on
[-1, 1]^2 from 400 samples.  ``net.input_derivatives`` then gives, exactly,
the gradient of the learned function (a vector field, drawn as arrows over
the contours of u) and its Laplacian, which the plot compares with the true
Laplacian -(5 pi^2 / 4) u.

Run with ``python examples/input_gradient_field.py``; it writes
``input_gradient_field.png``.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import hessianfree as hf  # noqa: E402


def target(xy):
    return np.sin(np.pi * xy[:, :1]) * np.cos(np.pi * xy[:, 1:] / 2)


rng = np.random.default_rng(0)
inputs = rng.uniform(-1, 1, (400, 2))
net = hf.FFNet([2, 24, 24, 1], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Tanh(),
                                       hf.nl.Linear()],
               dtype=np.float64, rng=rng,
               W_init_params=dict(init_type="uniform", coeff=1.0))
net.run_epochs(inputs, target(inputs), optimizer=hf.opt.HessianFree(CG_iter=50),
               max_epochs=60, print_period=20)

# derivatives of the trained network on a grid
side = np.linspace(-1, 1, 41)
grid = np.stack(np.meshgrid(side, side), axis=-1).reshape(-1, 2)
u, J, _, lap = net.input_derivatives(grid, gradient=True, laplacian=True)
u, lap = u[:, 0].reshape(41, 41), lap[:, 0].reshape(41, 41)
grad = J[:, 0, :].reshape(41, 41, 2)
true_lap = -1.25 * np.pi ** 2 * target(grid)[:, 0].reshape(41, 41)
inner = slice(4, -4)  # the fit is loosest at the edges of the data
print(f"training error {net.error(inputs=inputs, targets=target(inputs)):.2e}; "
      f"Laplacian vs the true one (interior): max |difference| "
      f"{np.abs(lap - true_lap)[inner, inner].max():.2f} "
      f"of max |true| {np.abs(true_lap).max():.2f}")

fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
axes[0].contourf(side, side, u, levels=20, cmap="RdBu_r")
step = slice(None, None, 3)
axes[0].quiver(side[step], side[step], grad[step, step, 0], grad[step, step, 1])
axes[0].set_title("network u and its input gradient")
for ax, values, title in ((axes[1], lap, "Laplacian of the network"),
                          (axes[2], true_lap, "true Laplacian")):
    image = ax.contourf(side, side, values, levels=20, cmap="RdBu_r",
                        vmin=true_lap.min(), vmax=true_lap.max())
    ax.set_title(title)
fig.colorbar(image, ax=axes[1:])
for ax in axes:
    ax.set_aspect("equal")
fig.savefig("input_gradient_field.png", dpi=100)
print("wrote input_gradient_field.png")
