"""The training loop behind :meth:`FFNet.run_epochs` (and RNNet's).

Each epoch: pick a minibatch, cache its activations, ask the optimizer for
an update, apply it if it is finite, evaluate the test (or training) error,
keep the best weights, record the plot series, and decide whether to stop.
"""

import numbers
import os
import pickle
import tempfile
import time
import warnings

import numpy as np

from hessianfree import loss_funcs
from hessianfree import validation as val
from hessianfree.nonlinearities import Plant
from hessianfree.optimizers import Optimizer

#: Stop when the test error is higher than it was this many epochs earlier.
OVERFIT_WINDOW = 10


def plot_filename(file_output):
    """Name of the pickled plot series for a ``file_output`` prefix."""
    return f"{file_output or 'HF'}_plots.pkl"


def write_atomically(filename, write):
    """Call ``write(fileobj)`` on a temporary file, then rename it over
    ``filename``, so that readers never see a half-written file."""
    directory = os.path.dirname(os.path.abspath(filename))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp_",
                               suffix=os.path.basename(filename))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filename)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_plots(plots, file_output):
    """Pickle the plot series dict (read by :func:`hessianfree.dataplotter.run`)."""
    write_atomically(plot_filename(file_output),
                     lambda f: pickle.dump(plots, f, protocol=pickle.HIGHEST_PROTOCOL))


def check_run_args(net, inputs, targets, optimizer, max_epochs, minibatch_size,
                   test, test_err, target_err, file_output, print_period):
    """Validate :meth:`FFNet.run_epochs` arguments before anything changes.

    Returns the data converted to the network's array module:
    ``(inputs, targets, test)``.
    """
    if not isinstance(optimizer, Optimizer):
        raise TypeError("optimizer must be a hessianfree.optimizers.Optimizer "
                        f"(e.g. hf.opt.HessianFree()), got {type(optimizer).__name__}")
    val.check_positive_int(max_epochs, "max_epochs")
    if minibatch_size is not None:
        val.check_positive_int(minibatch_size, "minibatch_size")
    if print_period is not None:
        val.check_positive_int(print_period, "print_period")
    if test_err is not None and not isinstance(test_err, loss_funcs.LossFunction):
        raise TypeError("test_err must be a LossFunction (e.g. "
                        f"ClassificationError()), got {type(test_err).__name__}")
    if not isinstance(target_err, numbers.Real) or isinstance(target_err, bool):
        raise TypeError(f"target_err must be a number, got {target_err!r}")
    if file_output is not None and not isinstance(file_output, (str, os.PathLike)):
        raise TypeError(f"file_output must be a file name prefix, got {file_output!r}")
    if isinstance(inputs, Plant):
        if targets is not None:
            raise ValueError("targets must be None when inputs is a Plant "
                             "(the plant generates the targets)")
        if net._data_ndim != 3:
            raise TypeError("a Plant generates inputs over time: use it with "
                            "hessianfree.RNNet")
        net._check_plant(inputs)
    else:
        inputs = val.as_batch(inputs, "inputs", net.shape[0], net._data_ndim,
                              net.dtype, net.xp)
        targets = net._as_targets(targets, inputs)
    if test is not None:
        if not isinstance(test, (tuple, list)) or len(test) != 2:
            raise TypeError("test must be a tuple (test_inputs, test_targets)")
        test_in = val.as_batch(test[0], "test[0] (test inputs)", net.shape[0],
                               net._data_ndim, net.dtype, net.xp)
        test = (test_in, net._as_targets(test[1], test_in))
    return inputs, targets, test


def select_minibatch(rng, n_examples, minibatch_size):
    """Indices of this epoch's minibatch (all examples when ``None``)."""
    if minibatch_size is None or minibatch_size >= n_examples:
        return None
    return np.sort(rng.permutation(n_examples)[:minibatch_size])


def apply_update(net, delta, epoch):
    """Add ``delta`` to the weights unless it holds a non-finite value."""
    xp = net.xp
    if not bool(xp.all(xp.isfinite(delta))):
        warnings.warn(f"epoch {epoch}: the update holds NaN or inf; skipped it",
                      RuntimeWarning, stacklevel=3)
        return False
    net.W += delta
    return True


def record(plots, name, value):
    plots.setdefault(name, []).append(float(value))


def run_epochs(net, inputs, targets, optimizer, max_epochs=100, minibatch_size=None,
               test=None, test_err=None, target_err=1e-6, plotting=False,
               file_output=None, print_period=10):
    """Train ``net``; see :meth:`hessianfree.FFNet.run_epochs`."""
    inputs, targets, test = check_run_args(
        net, inputs, targets, optimizer, max_epochs, minibatch_size, test,
        test_err, target_err, file_output, print_period)
    net.optimizer = optimizer
    net.best_W, net.best_error = net.W.copy(), np.inf
    net.plots = plots = {}
    errors = []
    start = time.perf_counter()
    for epoch in range(max_epochs):
        printing = print_period is not None and epoch % print_period == 0
        batch_in, batch_t = net._epoch_data(inputs, targets, minibatch_size)
        net.cache_minibatch(batch_in, batch_t)
        delta = optimizer.compute_update(printing=printing)
        apply_update(net, delta, epoch)

        train_error = net.error()
        if test is None:
            error = train_error
        else:
            error = net.error(inputs=test[0], targets=test[1], loss_type=test_err)
        errors.append(error)
        if error < net.best_error:
            net.best_error, net.best_W = error, net.W.copy()

        record(plots, "training error (log)", train_error)
        if test is not None:
            record(plots, "test error (log)", error)
        record(plots, "time (s)", time.perf_counter() - start)
        for name, series in getattr(optimizer, "plots", {}).items():
            if series:
                plots[name] = list(series)
        if printing:
            print(f"epoch {epoch}: {'test' if test is not None else 'training'} "
                  f"error {error:.6g} ({time.perf_counter() - start:.1f} s)")
        if plotting:
            save_plots(plots, file_output)
        if file_output is not None:
            write_atomically(f"{file_output}_weights.npy",
                             lambda f: np.save(f, net._host(net.best_W)))

        if error < target_err:
            if print_period is not None:
                print(f"target error {target_err:g} reached after {epoch + 1} epochs")
            break
        if (test is not None and len(errors) > OVERFIT_WINDOW
                and error > errors[-OVERFIT_WINDOW - 1]):
            if print_period is not None:
                print(f"test error rose over {OVERFIT_WINDOW} epochs; stopping "
                      f"after {epoch + 1} epochs")
            break
    return errors
