"""The adding problem demo: long-range memory in a recurrent network."""

import time

import numpy as np

import hessianfree as hf
from hessianfree.data import tasks
from hessianfree.base import validation as val
from hessianfree.base.backend import to_numpy
from hessianfree.demos._common import _curve_args, _mse, _save_and_list, _pyplot, _show
from hessianfree.demos._registry import register


def adding_data(T, n_sequences, rng):
    """Sequences of the adding problem (Hochreiter & Schmidhuber 1997).

    Input 0 is uniform in (0, 1) at every step; input 1 is 1 on two
    distinct random steps and 0 elsewhere.  The target, on the last step
    only (NaN, "no target", elsewhere), is the sum of the two marked
    values of input 0.  Unlike ``hessianfree.data.tasks.generate("addition",
    ...)`` (:func:`hessianfree.data.tasks.marked_operands`, which builds both),
    the two steps may lie anywhere, every sequence has ``T`` steps and no
    step is flagged with -1.

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
    values = rng.uniform(0, 1, size=(n_sequences, T)).astype(np.float32)
    marked = np.argsort(rng.uniform(size=(n_sequences, T)), axis=1)[:, :2]
    return tasks.marked_operands(values, marked[:, 0], marked[:, 1])


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
def adding(T=50, plots=True, n_sequences=10000, minibatch_size=1000, max_epochs=300,
           target_mse=1e-3, seed=0, network="tanh", curves=True, resume=False):
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
    1,000.  It prints the test mean squared error next to that of the
    trivial predictor (always the mean training sum, about 1/6), and stops
    once it is below ``target_mse`` (a plateau does not stop it).

    The default network is Martens & Sutskever's (2011) plain recurrent
    network (:func:`hessianfree.data.tasks.tanh_rnn`): 100 ``tanh`` units, sparse
    initialization, recurrent spectral radius 1.2, structural damping 1/30,
    trained with :func:`hessianfree.presets.pathological_settings` for
    addition (300 CG iterations on a fifth of each minibatch from initial
    damping 1, the alternative update rules).  With the defaults it reached
    the target test MSE on seeds 0, 1, 2 and 3 after 82, 49, 135 and 53
    epochs (docs/pathological.rst).  ``network=
    "leaky"`` trains the earlier deep leaky network instead
    (:func:`adding_network`: ``rec_layers=[2]`` between feed-forward
    layers, ``Continuous(ReLU, tau=20)`` units whose slow decay makes long
    memory easy, 60 CG iterations from damping 20).  The harder variant of
    Hochreiter & Schmidhuber, with the first marked value always near the
    start, is ``hessianfree.data.tasks.generate("addition", T, n)`` (see
    :func:`~hessianfree.demos.pathological`).

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
        file_output="adding")``), save the trained model and say what each
        file written is for.
    resume : bool
        Continue the run from the checkpoint an earlier, interrupted run of
        this demo wrote (``--resume`` on the command line; needs ``curves``).

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
        optimizer, _ = hf.presets.pathological_settings("addition")
        net = tasks.tanh_rnn("addition", optimizer=optimizer, rng=rng)
    else:
        optimizer = hf.opt.HessianFree(CG_iter=60, init_damping=20)
        net = adding_network(optimizer, rng)
    errors, best = [], [np.inf, net.W.copy()]

    def evaluate(net, epoch):  # the test MSE; run_epochs' own test rule would
        errors.append(_mse(net.forward(test[0])[-1], test[1]))  # stop on a plateau
        if errors[-1] < best[0]:
            best[:] = [errors[-1], net.W.copy()]
        return errors[-1] < target_mse

    start = time.process_time()
    net.run_epochs(*train, optimizer=optimizer, minibatch_size=minibatch_size,
                   max_epochs=max_epochs, target_err=-np.inf, print_period=5,
                   callback=evaluate, **_curve_args("adding", curves, resume))
    seconds = time.process_time() - start
    net.W = best[1]
    print(f"{seconds:.1f} s of CPU time (test evaluations included)")
    outputs = to_numpy(net.forward(test[0])[-1])
    print(f"test MSE {_mse(outputs, test[1]):.4f} after {len(errors)} epochs "
          f"(trivial predictor: {_mse(trivial, test[1]):.4f})")
    _save_and_list(net, "adding", curves)
    if plots:
        fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
        ax0.semilogy(np.arange(1, len(errors) + 1), errors)
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
