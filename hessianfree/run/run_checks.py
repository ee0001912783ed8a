"""Checks of the arguments of :meth:`FFNet.run_epochs <hessianfree.FFNet.run_epochs>`,
made before training changes anything: types and values of the settings, the
data against the network and the loss's domain, and whether the output
files can be written.  :mod:`hessianfree.run.training` and
:mod:`hessianfree.parallel.agreement` (for ``comm=``) call them.
"""

import numbers
import os
import warnings

import numpy as np

from hessianfree.run import checkpoint
from hessianfree.run import data_source
from hessianfree.losses import loss_funcs
from hessianfree.optim import schedule as schedules
from hessianfree.base import validation as val
from hessianfree.run.checkpoint import CheckpointError
from hessianfree.layers.nonlinearities import Plant
from hessianfree.optim.optimizers import Optimizer
from hessianfree.run.plotfile import plot_filename


def _check_options(file_output, print_period, resume, max_failures):
    if print_period is not None:
        val.check_positive_int(print_period, "print_period")
    if max_failures is not None:
        val.check_positive_int(max_failures, "max_failures")
    if not isinstance(resume, (bool, np.bool_)):
        raise TypeError(f"resume must be True or False, got {resume!r}")
    if file_output is None:
        if resume:
            raise ValueError("resume=True needs file_output (the prefix the "
                             "checkpoint was written under)")
        return
    if not isinstance(file_output, (str, os.PathLike)):
        raise TypeError(f"file_output must be a file name prefix, got {file_output!r}")
    if "\0" in os.fspath(file_output):
        raise ValueError(f"file_output must not contain a null byte, got {file_output!r}")


def check_writable(file_output, plotting):
    """Raise before training if the output files cannot be created (missing
    directory, no permission, name too long, disk full)."""
    names = [checkpoint.checkpoint_filename(file_output),
             checkpoint.weights_filename(file_output)] if file_output is not None else []
    if plotting:
        names.append(plot_filename(file_output))
    what = "file_output" if file_output is not None else "plotting=True"
    for name in names:
        directory = os.path.dirname(os.path.abspath(name))
        if not os.path.isdir(directory):
            raise ValueError(f"{what}: directory {directory!r} (for {name!r}) does "
                             f"not exist")
        try:
            checkpoint.write_atomically(name + ".writable", lambda f: f.write(b"0"))
            os.remove(name + ".writable")
        except OSError as e:
            raise CheckpointError(f"{what}: cannot write {name!r} "
                                  f"({e.strerror or e})") from e


def check_run_args(net, inputs, targets, optimizer, max_epochs, minibatch_size,
                   test, test_err, target_err, file_output, print_period,
                   resume, max_failures, *, plotting=False, callback=None,
                   write_files=False):
    """Validate :meth:`FFNet.run_epochs` arguments before anything changes:
    every check that :func:`hessianfree.run.training.run_epochs` makes (and,
    for a data-parallel run, :func:`hessianfree.parallel.agreement.describe_run`
    makes on every process before the processes compare their arguments).

    Parameters
    ----------
    write_files : bool
        Also check that the output files of ``file_output`` and
        ``plotting`` can be written (:func:`check_writable`; only the
        process that writes them checks).

    Returns
    -------
    tuple
        The data converted to the network's array module:
        ``(inputs, targets, test)``.
    """
    val.check_bool(plotting, "plotting")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable(net, epoch), got {callback!r}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError("optimizer must be a hessianfree.optim.optimizers.Optimizer "
                        f"(e.g. hf.opt.HessianFree()), got {type(optimizer).__name__}")
    check_network = getattr(optimizer, "check_network", None)
    if check_network is not None:  # e.g. a preconditioner for feed-forward networks only
        check_network(net)
    val.check_positive_int(max_epochs, "max_epochs")
    if isinstance(minibatch_size, str):
        schedules.resolve(minibatch_size)  # ValueError unless "auto"
    elif minibatch_size is not None and not isinstance(minibatch_size,
                                                       schedules.VarianceSchedule):
        val.check_positive_int(minibatch_size, "minibatch_size")
    if test_err is not None and not isinstance(test_err, loss_funcs.LossFunction):
        raise TypeError("test_err must be a LossFunction (e.g. "
                        f"ClassificationError()), got {type(test_err).__name__}")
    if not isinstance(target_err, numbers.Real) or isinstance(target_err, bool):
        raise TypeError(f"target_err must be a number, got {target_err!r}")
    _check_options(file_output, print_period, resume, max_failures)
    if data_source.is_source(inputs):
        data_source.check_source(inputs, targets, minibatch_size, resume)
    elif isinstance(inputs, Plant):
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
        check_targets(net, net.loss_type, targets, "targets")
    if test is not None:
        if not isinstance(test, (tuple, list)) or len(test) != 2:
            raise TypeError("test must be a tuple (test_inputs, test_targets)")
        test_in = val.as_batch(test[0], "test[0] (test inputs)", net.shape[0],
                               net._data_ndim, net.dtype, net.xp)
        test = (test_in, net._as_targets(test[1], test_in))
        check_targets(net, net.loss_type if test_err is None else test_err, test[1],
                      "test[1] (test targets)")
    if write_files:
        check_writable(file_output, plotting)
    return inputs, targets, test


def warn_large_minibatch(minibatch_size, n_examples, stacklevel=5):
    """Warn when a fixed ``minibatch_size`` exceeds the ``n_examples``
    training examples (over every process): each epoch then uses all of
    them, as with ``minibatch_size=None``."""
    if isinstance(minibatch_size, numbers.Integral) and minibatch_size > n_examples:
        warnings.warn(f"minibatch_size={minibatch_size} is larger than the training "
                      f"set ({n_examples} examples); every epoch uses all "
                      f"{n_examples} (as minibatch_size=None does)", UserWarning,
                      stacklevel=stacklevel)


def check_targets(net, loss, targets, name):
    """Refuse targets that are all NaN (no target anywhere: the error would
    be 0 and ``target_err`` met at once) or outside ``loss``'s domain."""
    if bool(net.xp.isnan(targets).all()):
        raise ValueError(f"{name} are all NaN: no example has a target, so the "
                         f"error would be 0.0 and training would stop at once")
    loss.check_targets(targets, name)
