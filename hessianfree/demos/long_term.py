"""The pathological long-term-dependency problems demo (Martens & Sutskever
2011, with the settings of :func:`hessianfree.presets.pathological_settings`)."""

import numpy as np

from hessianfree.data import tasks
from hessianfree.demos._common import _pyplot
from hessianfree.demos._registry import register
from hessianfree.presets import pathological_settings


@register
def pathological(task="temporal_order", T=50, plots=True, n_train=10000, n_test=1000,
                 minibatch_size=None, CG_iter=None, curvature_fraction=None,
                 max_epochs=200, seed=0):
    """A pathological long-term-dependency problem with Martens & Sutskever's
    recipe.

    Trains :func:`hessianfree.data.tasks.tanh_rnn` (100 ``tanh`` units, sparse
    initialization, recurrent spectral radius 1.2, structural damping 1/30)
    with the settings of :func:`pathological_settings` on
    ``hessianfree.data.tasks.generate(task, T, n_train)`` until the test error
    meets the task's success criterion (test MSE < 0.01 or test error < 1%,
    see :mod:`hessianfree.data.tasks`), on ``n_test`` held-out sequences.

    Parameters
    ----------
    task : str
        One of ``hessianfree.data.tasks.TASKS``.
    T : int
        Minimal time lag.
    plots : bool
        Draw the test error over the epochs.
    n_train, n_test : int
        Training and test sequences.
    minibatch_size : int, optional
        Sequences per epoch (default: :func:`pathological_settings`' 1000).
    CG_iter : int, optional
        Maximum CG iterations per update (default 300).
    curvature_fraction : float, optional
        Curvature products on this fraction of each minibatch (default 0.2).
    max_epochs : int
    seed : int
        Seed of the data (``seed`` and ``seed + 1``) and of the weights.

    Returns
    -------
    net : RNNet
        The trained network, holding the weights with the lowest test error.
    """
    spec = tasks.get_task(task)
    train = tasks.generate(task, T, n_train, rng=seed)
    test_x, test_t = tasks.generate(task, T, n_test, rng=seed + 1)
    overrides = {name: value for name, value in (
        ("CG_iter", CG_iter), ("curvature_fraction", curvature_fraction))
        if value is not None}
    optimizer, default_minibatch = pathological_settings(task, **overrides)
    minibatch_size = default_minibatch if minibatch_size is None else minibatch_size
    net = tasks.tanh_rnn(task, optimizer=optimizer, rng=seed)
    test_err, target_err = spec.stopping_rule()
    print(f"{task}, T={T}: {n_train} training and {n_test} test sequences; solved "
          f"when the test {'MSE' if spec.kind == 'regression' else 'error'} is "
          f"below {spec.threshold:g}")
    errors = net.run_epochs(*train, optimizer=optimizer,
                            minibatch_size=min(minibatch_size, n_train),
                            test=(test_x, spec.scored(test_t)), test_err=test_err,
                            target_err=target_err, max_epochs=max_epochs,
                            print_period=5)
    net.W = net.best_W.copy()
    error = tasks.test_error(task, net.forward(test_x)[-1], test_t)
    print(f"test {'MSE' if spec.kind == 'regression' else 'error'} {error:.4f} "
          f"after {len(errors)} epochs: {'solved' if error < spec.threshold else 'not solved'}")
    if plots:
        plt = _pyplot()
        plt.figure()
        plt.semilogy(np.arange(1, len(errors) + 1), errors)
        plt.xlabel("epoch")
        plt.ylabel(f"test {type(test_err).__name__}")
        plt.title(f"{task}, T={T}")
        plt.show()
    return net
