"""The pathological long-term-dependency problems demo (Martens & Sutskever
2011, with the recipes of :func:`hessianfree.presets.pathological_recipe`)."""

import time

import numpy as np

from hessianfree.data import tasks
from hessianfree.nets import work
from hessianfree.run import data_source
from hessianfree.demos._common import _pyplot
from hessianfree.demos._registry import register
from hessianfree.presets import pathological_recipe


@register
def pathological(task="addition", T=50, plots=True, n_train=None, n_test=2000,
                 minibatch_size=None, CG_iter=None, curvature_fraction=None,
                 max_epochs=500, seed=0, preset="recommended", criterion="library"):
    """A pathological long-term-dependency problem with Martens & Sutskever's
    network, trained with the library's or Martens & Sutskever's recipe.

    Trains :func:`hessianfree.data.tasks.tanh_rnn` (100 ``tanh`` units, sparse
    initialization, recurrent spectral radius 1.2, structural damping) with
    the recipe :func:`~hessianfree.presets.pathological_recipe` names
    (``preset="recommended"``: :func:`~hessianfree.presets.pathological_settings`;
    ``"paper"``: Martens & Sutskever's own; both on fresh sequences every
    update) until the test error on ``n_test`` held-out
    sequences meets the task's success criterion (``criterion="library"``:
    test MSE < 0.01 or test error < 1%; ``"paper"``: fewer than 0.1% of the
    sequences wrong, see :func:`hessianfree.data.tasks.test_error`), and
    prints the work it took in Martens & Sutskever's unit (minibatches of
    1,000 sequences through a gradient or a curvature product,
    :mod:`hessianfree.nets.work`).  A plateau of the test error does not
    stop it (the problems sit on one for many updates): only the criterion
    or ``max_epochs`` does.  With the defaults (addition, ``T=50``) on the
    recipe's earlier fixed set (``n_train=10000``) it solved seeds 0, 1, 2
    and 3 after 19, 23, 32 and 20 epochs, 302, 462, 595 and 326 units, in
    18-39 s (docs/demos.rst).

    Parameters
    ----------
    task : str
        One of ``hessianfree.data.tasks.TASKS``.
    T : int
        Minimal time lag.
    plots : bool
        Draw the test error over the epochs.
    n_train : int, optional
        A fixed set of this many training sequences (default: the preset's,
        fresh sequences every update).
    n_test : int
        Held-out sequences of the criterion.
    minibatch_size : int, optional
        Sequences per epoch (default: the preset's, 1000 or 10,000).
    CG_iter : int, optional
        Maximum CG iterations per update (default 300).
    curvature_fraction : float, optional
        Curvature products on this fraction of each minibatch (default: the
        preset's, 0.2 or 0.1).
    max_epochs : int
    seed : int
        Seed of the data (``seed`` and a held-out stream) and of the weights.
    preset : {"recommended", "paper"}
    criterion : {"library", "paper"}

    Returns
    -------
    net : RNNet
        The trained network, holding the weights with the lowest test error.
    """
    tasks.threshold(task, criterion)  # checks task and criterion
    overrides = {name: value for name, value in (
        ("CG_iter", CG_iter), ("curvature_fraction", curvature_fraction))
        if value is not None}
    recipe = pathological_recipe(task, preset, **overrides)
    optimizer = recipe.optimizer
    minibatch_size = recipe.minibatch_size if minibatch_size is None else minibatch_size
    test_x, test_t = tasks.generate(task, T, n_test, rng=10 ** 6 + seed)
    n_train = recipe.n_train if n_train is None else n_train
    if n_train is None:
        train = (data_source.from_generator(
            lambda rng, n: tasks.generate(task, T, n, rng=rng)), None)
        what = "fresh sequences every update"
    else:
        train = tasks.generate(task, T, n_train, rng=seed)
        minibatch_size = min(minibatch_size, n_train)
        what = f"{n_train} training sequences"
    net = tasks.tanh_rnn(task, optimizer=optimizer, rng=seed, **recipe.network)
    counter = work.attach(net)
    threshold = tasks.threshold(task, criterion)
    print(f"{task}, T={T}, {preset} preset: {what}, {n_test} test sequences; solved "
          f"when the test error ({criterion} criterion) is below {threshold:g}")
    errors, best = [], [np.inf, net.W.copy()]

    def evaluate(net, epoch):
        errors.append(tasks.test_error(task, net.forward(test_x)[-1], test_t, criterion))
        if errors[-1] < best[0]:
            best[:] = [errors[-1], net.W.copy()]
        if epoch % 10 == 0 or errors[-1] < threshold:
            print(f"epoch {epoch + 1:4d}  test error {errors[-1]:.4f}  "
                  f"units {counter.units():8.1f}", flush=True)
        return errors[-1] < threshold

    start = time.process_time()
    net.run_epochs(*train, optimizer=optimizer, minibatch_size=minibatch_size,
                   target_err=-np.inf, max_epochs=max_epochs, print_period=None,
                   callback=evaluate)
    seconds = time.process_time() - start
    net.W = best[1]
    error = best[0]
    print(f"test error {error:.4f} after {len(errors)} epochs, {counter.units():.0f} "
          f"units, {seconds:.1f} s of CPU: "
          f"{'solved' if error < threshold else 'not solved'}")
    if plots:
        plt = _pyplot()
        plt.figure()
        plt.semilogy(np.arange(1, len(errors) + 1), errors)
        plt.xlabel("epoch")
        plt.ylabel(f"test error ({criterion} criterion)")
        plt.title(f"{task}, T={T}")
        plt.show()
    return net
