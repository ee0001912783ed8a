"""The integrator demo: a recurrent network that outputs the running sum of
its input."""

import numpy as np

import hessianfree as hf
from hessianfree.base import validation as val
from hessianfree.base.backend import to_numpy
from hessianfree.demos._common import (_as_random_state, _curve_args, _merged, _mse,
                                       _save_and_list, _pyplot, _show)
from hessianfree.demos._registry import register


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
               rng=None, curves=True, resume=False):
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

    :class:`~hessianfree.nets.rnnet.RNNet` is an
    :class:`~hessianfree.nets.ffnet.FFNet`, so everything the feed-forward demos
    show applies here too.

    Parameters
    ----------
    model_args : dict, optional
        Overrides of the :class:`~hessianfree.nets.rnnet.RNNet` arguments
        (``shape``, ``layers``, ``W_init_params``, ``use_GPU``, ...).
    run_args : dict, optional
        Overrides of the :meth:`~hessianfree.nets.ffnet.FFNet.run_epochs`
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
        file_output="integrator")``), save the trained model and say what
        each file written is for.
    resume : bool
        Continue the run from the checkpoint an earlier, interrupted run of
        this demo wrote (``--resume`` on the command line; needs ``curves``,
        and the same ``rng`` seed for the same data).

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
                       **_curve_args("integrator", curves, resume)),
                  run_args, "run_args")
    net = hf.RNNet(**model)
    net.run_epochs(inputs, targets, **run)

    if run["test"] is not None:  # report on the data the run was tested on
        test = to_numpy(run["test"][0]), to_numpy(run["test"][1])
    outputs = to_numpy(net.forward(test[0])[-1])
    trivial = np.broadcast_to(targets.mean(axis=0), test[1].shape)
    print(f"test MSE {_mse(outputs, test[1]):.3g} (trivial predictor, the mean "
          f"target of each step: {_mse(trivial, test[1]):.3g})")
    _save_and_list(net, run.get("file_output"), curves)
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
