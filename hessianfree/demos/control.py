"""The plant demo: a recurrent network controlling a point mass
(:class:`hessianfree.layers.nonlinearities.PointMass`) in closed loop."""

import numpy as np

import hessianfree as hf
from hessianfree.base import validation as val
from hessianfree.base.backend import to_numpy
from hessianfree.demos._common import _curve_args, _save_and_list, _pyplot, _show
from hessianfree.demos._registry import register
from hessianfree.layers.plants import PointMass


@register
def plant(plots=True, n_plants=32, n_steps=20, max_epochs=100, seed=0, curves=True,
          resume=False):
    """A network controlling a dynamic plant in closed loop.

    Two features: a custom stateful nonlinearity, and a plant that generates
    the network's inputs and targets on line.  :class:`PointMass` is both.
    As the output layer of ``RNNet([2, 16, 2])`` (linear input, recurrent
    tanh hidden layer), its ``activation`` advances a point mass by one step
    of :math:`s_t = A s_{t-1} + B(s_{t-1}) x_t` and outputs the state
    (position, velocity); its ``d_activation`` returns the three
    derivatives (d_input, d_state, d_output) of a stateful nonlinearity, here
    as 2x2 Jacobians.  As the input (``run_epochs(plant, None, ...)``) it
    feeds each state back to the network, so the inputs depend on the
    network's own outputs and are generated while it runs; ``get_vecs``
    then hands the states seen and the targets to the training step.

    The masses start at rest at random positions in [-1, 1]; the targets
    are position 1 and velocity 0 over the second half of the run.  It
    prints the mean distance to the target at the start and at the end.

    Parameters
    ----------
    plots : bool
        Draw the positions and velocities over time.
    n_plants : int
        Number of masses (sequences) controlled at once.
    n_steps : int
        Time steps per run.
    max_epochs : int
        Number of training epochs.
    seed : int
        Seed of the start positions and the initial weights.
    curves : bool
        Record the training curves (``run_epochs(plotting=True,
        file_output="plant")``) and say what each file written is for.
    resume : bool
        Continue the run from the checkpoint an earlier, interrupted run of
        this demo wrote (``--resume`` on the command line; needs ``curves``).

    Returns
    -------
    net : RNNet
        The trained network (its output layer is the plant).
    """
    plt = _pyplot() if plots else None  # a missing matplotlib shows before training
    n_plants = val.check_positive_int(n_plants, "n_plants")
    n_steps = val.check_positive_int(n_steps, "n_steps")
    rng = np.random.RandomState(seed)
    mass = PointMass(rng.uniform(-1, 1, size=n_plants), n_steps,
                     target_steps=max(1, n_steps // 2))
    net = hf.RNNet([2, 16, 2], layers=[hf.nl.Linear(), hf.nl.Tanh(), mass],
                   W_init_params={"coeff": 0.3}, W_rec_params={"coeff": 0.3}, rng=rng)
    # the training batch is replayed open loop (the fed-back states held
    # fixed), so keep the steps moderate with a floor on the damping
    net.run_epochs(mass, None,
                   optimizer=hf.opt.HessianFree(CG_iter=20, init_damping=10,
                                                min_damping=1),
                   max_epochs=max_epochs, print_period=20,
                   **_curve_args("plant", curves, resume))

    mass.reset()
    net.forward(mass)
    states, targets = mass.get_vecs()
    final = to_numpy(mass.state)
    start = np.abs(mass.init_state[:, 0] - 1).mean()
    print(f"mean distance to position 1: {start:.3f} at the start, "
          f"{np.abs(final[:, 0] - 1).mean():.4f} at the end "
          f"(max {np.abs(final[:, 0] - 1).max():.4f}); mean final speed "
          f"{np.abs(final[:, 1]).mean():.4f}")
    _save_and_list(net, "plant", curves)
    if plots:
        trajectory = np.concatenate([states, final[:, None]], axis=1)
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for k, (ax, name) in enumerate(zip(axes, ("position", "velocity"))):
            ax.plot(trajectory[:, :, k].T, linewidth=1)
            ax.axhline(targets[0, -1, k], color="k", linestyle="--")
            ax.set_title(name)
            ax.set_xlabel("time step")
        fig.tight_layout()
        _show(plt, fig, "plant")
    return net
