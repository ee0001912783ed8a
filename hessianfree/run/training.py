"""The training loop behind :meth:`FFNet.run_epochs` (and RNNet's).

Each epoch: pick a minibatch, cache its activations, ask the optimizer for
an update, apply it if it and the error after it are finite, evaluate the
test (or training) error, keep the best weights, record the plot series,
write the output files and the checkpoint, and decide whether to stop.

Faults are handled where they arise: the optimizer rejects a non-finite
gradient, curvature product or CG step (:class:`NonFiniteWarning`); the loop
undoes an update after which the error is not finite.  Each failed update
raises the damping and warns with the epoch and the quantity;
``max_failures`` failures in a row stop the run with :class:`NonFiniteError`
(the best weights stay in ``net.best_W`` and on disk).  Messages number
epochs from 1, as the progress bar does.  With ``file_output``
set every epoch ends with a checkpoint (:mod:`hessianfree.run.checkpoint`), and
``resume=True`` continues from it.
"""

import contextlib
import contextvars
import math
import os
import time
import warnings

import numpy as np

from hessianfree.run import checkpoint
from hessianfree.run import data_source
from hessianfree.run import plotfile
from hessianfree.run import run_state
from hessianfree.optim import schedule as schedules
from hessianfree.run.checkpoint import CheckpointError, write_atomically  # noqa: F401
from hessianfree.optim.optimizer_base import MAX_FAILURES
from hessianfree.optim.optimizers import NonFiniteWarning, UPDATE_NONFINITE
from hessianfree.run.plotfile import plot_filename
from hessianfree.run.progress import Progress
from hessianfree.nets.reduction import is_root, minibatch_shares
from hessianfree.run.run_checks import (check_run_args, check_targets,  # noqa: F401
                                    check_writable, warn_large_minibatch)

#: Stop when the test error is higher than it was this many epochs earlier.
OVERFIT_WINDOW = 10

#: How the messages tell the user to continue a run from its checkpoint.
_RESUME_HINT = contextvars.ContextVar("resume_hint", default="resume=True")


@contextlib.contextmanager
def resume_hint(text):
    """Within this block, messages that say how to continue a run from its
    checkpoint name ``text`` instead of ``resume=True`` (e.g. a command
    line's ``--resume``; the demos use it)."""
    token = _RESUME_HINT.set(text)
    try:
        yield
    finally:
        _RESUME_HINT.reset(token)


class NonFiniteError(FloatingPointError):
    """Training stopped because ``max_failures`` updates in a row failed
    with NaN or inf values.  ``net.best_W`` (and ``<file_output>_weights.npy``)
    hold the best weights found before."""


def save_plots(plots, file_output):
    """Write the plot series dict to :func:`plot_filename` (JSON; read by
    :func:`hessianfree.run.dataplotter.run`)."""
    plotfile.write(plot_filename(file_output), plots)


def record(plots, name, value):
    plots.setdefault(name, []).append(float(value))


# ------------------------------------------------------------ run state
def announce_start(file_output, resume, saved):
    """Say what the run does with the files already under ``file_output``:
    continue a checkpoint, or start fresh (warning before it overwrites the
    checkpoint or weights of an earlier run)."""
    if file_output is None:
        return
    filename = checkpoint.checkpoint_filename(file_output)
    if saved is not None:
        print(f"resuming from {filename!r} after epoch {saved.run.epoch}", flush=True)
        return
    if resume:
        print(f"no checkpoint at {filename!r}, starting fresh", flush=True)
    earlier = [name for name in (filename, checkpoint.weights_filename(file_output))
               if os.path.exists(name)]
    if earlier:
        hint = "" if resume else f"; pass {_RESUME_HINT.get()} to continue that run instead"
        warnings.warn(f"file_output {os.fspath(file_output)!r}: this fresh run "
                      f"overwrites {' and '.join(map(repr, earlier))} of an earlier "
                      f"run{hint}", UserWarning, stacklevel=5)


# ------------------------------------------------------------ one epoch
def _compute_update(optimizer, printing, registry):
    """``optimizer.compute_update`` with its NonFiniteWarnings collected (the
    loop re-issues them with the epoch); other warnings pass through."""
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            delta = optimizer.compute_update(printing=printing)
    finally:
        faults = []
        for w in caught:
            if issubclass(w.category, NonFiniteWarning):
                faults.append(str(w.message))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                                       registry=registry, source=w.source)
    return delta, faults


def _evaluate(net, test, test_err, train_error=None):
    """Training error (``train_error`` when the optimizer already knows
    it) and the test (else training) error."""
    if train_error is None:
        train_error = net.error()
    if test is None:
        return train_error, train_error
    return train_error, net.error(inputs=test[0], targets=test[1], loss_type=test_err)


def _update_and_evaluate(net, optimizer, delta, test, test_err, faults):
    """Apply ``delta`` unless it, or the error after it, is not finite (then
    the weights stay as they were and the optimizer is told).  Appends what
    went wrong to ``faults``; returns ``(train_error, error)``."""
    xp = net.xp
    if not bool(xp.all(xp.isfinite(delta))):
        faults.append("the update returned by the optimizer holds NaN or inf; "
                      "skipped it")
        optimizer.discard_update()
        return _evaluate(net, test, test_err)
    known = getattr(optimizer, "last_error", None)  # the line search's value
    if not bool(xp.any(delta != 0)):
        return _evaluate(net, test, test_err, known)
    previous = net.W.copy()
    net.W += delta
    with np.errstate(over="ignore", invalid="ignore"):
        errors = _evaluate(net, test, test_err, known)
    bad = [name for name, e in zip(("training", "test"), errors) if not math.isfinite(e)]
    if not bad:
        return errors
    faults.append(f"the {bad[0]} error after the update is NaN or inf; undid the "
                  "update")
    net.W = previous
    optimizer.discard_update()
    return _evaluate(net, test, test_err)


def _train_epoch(net, optimizer, data, run, progress, printing, registry):
    """One epoch; returns the messages about failed quantities (empty if the
    update went through)."""
    inputs, targets, minibatch_size, shards, test, test_err = data
    progress.start_epoch(run.epoch, optimizer, printing)
    if run.schedule is not None:
        minibatch_size = run.schedule.prepare(optimizer)
    shares = None if minibatch_size is None else minibatch_shares(minibatch_size, shards)
    if data_source.is_source(inputs):  # fresh examples every epoch
        share = shares[net.reduction.rank]
        batch_in, batch_t = data_source.draw(net, inputs,
                                             minibatch_size if share is None else share)
        check_targets(net, net.loss_type, batch_t, "the data source's targets")
    else:
        batch_in, batch_t = net._epoch_data(inputs, targets, None if shares is None
                                            else shares[net.reduction.rank])
    net.cache_minibatch(batch_in, batch_t)
    optimizer.last_status = None
    try:
        delta, faults = _compute_update(optimizer, printing, registry)
    finally:  # the schedule's settings are the optimizer's for this update only
        if run.schedule is not None:
            run.schedule.give_back()
    if run.schedule is not None:
        _observe(run.schedule, optimizer, shards, shares)
    if optimizer.last_status == UPDATE_NONFINITE and not faults:
        faults.append("the optimizer rejected the update (NaN or inf)")
    train_error, error = _update_and_evaluate(net, optimizer, delta, test,
                                              test_err, faults)
    run.errors.append(error)
    run.epoch += 1
    if error < net.best_error:
        net.best_error, net.best_W = error, net.W.copy()
    record(net.plots, "training error (log)", train_error)
    if test is not None:
        record(net.plots, "test error (log)", error)
    return train_error, error, faults


def _observe(schedule, optimizer, shards, shares):
    """Show ``schedule`` the gradient statistics of the optimizer's update
    (if it reported any), as statistics over the minibatch of every process:
    the optimizer's means are, its count is only its own process's share."""
    statistics = getattr(optimizer, "last_gradient_statistics", None)
    if statistics is None:
        return
    n = sum(shard if share is None else share for shard, share in zip(shards, shares))
    if statistics[0] != n:
        statistics = schedules.with_sample_size(statistics, n)
    schedule.observe(*statistics, n_examples=sum(shards))


def _report_faults(faults, epoch, run, max_failures):
    run.failures = run.failures + 1 if faults else 0
    limit = "no limit" if max_failures is None else f"the run stops at {max_failures}"
    for fault in faults:
        warnings.warn(f"epoch {epoch + 1}: {fault} ({run.failures} failed update"
                      f"{'s' if run.failures > 1 else ''} in a row; {limit})",
                      NonFiniteWarning, stacklevel=5)


def _write_outputs(net, optimizer, run, plotting, file_output):
    """Plot file, best weights and checkpoint; a failure becomes a
    :class:`CheckpointError` that says what is still intact."""
    filename = plot_filename(file_output)
    try:
        if plotting:
            save_plots(net.plots, file_output)
        if file_output is not None:
            filename = checkpoint.weights_filename(file_output)
            write_atomically(filename, lambda f: np.save(f, net._host(net.best_W)))
            filename = checkpoint.checkpoint_filename(file_output)
            checkpoint.save(filename, *run_state.checkpoint_contents(net, optimizer, run))
    except OSError as e:
        message = (f"epoch {run.epoch}: could not write {filename!r} "
                   f"({e.strerror or e}); {_what_is_intact(run, file_output)}. Free "
                   f"space or fix the directory, then continue with "
                   f"{_RESUME_HINT.get()}")
        raise (CheckpointError(message) if e.errno is None else
               CheckpointError(e.errno, message)) from e
    if file_output is not None:
        run.saved_epoch = run.epoch


def _what_is_intact(run, file_output):
    """What a failed write left on disk (checked, not assumed)."""
    if run.saved_epoch is None or file_output is None:
        return "no checkpoint had been written yet"
    filename = checkpoint.checkpoint_filename(file_output)
    directory = os.path.dirname(os.path.abspath(filename))
    if not os.path.isdir(directory):
        return (f"the directory {directory!r} no longer exists, so no checkpoint "
                f"of this run is left")
    if not os.path.isfile(filename):
        return f"the checkpoint {filename!r} no longer exists"
    return f"the checkpoint after epoch {run.saved_epoch} is intact"


def _stop_reason(errors, target_err, has_test):
    if not errors:
        return None
    if errors[-1] < target_err:
        return f"target error {target_err:g} reached after {len(errors)} epochs"
    if (has_test and len(errors) > OVERFIT_WINDOW
            and errors[-1] > errors[-OVERFIT_WINDOW - 1]):
        return (f"test error rose over {OVERFIT_WINDOW} epochs; stopping after "
                f"{len(errors)} epochs")
    return None


def _check_failures(net, run, faults, max_failures, file_output):
    if max_failures is None or run.failures < max_failures:
        return
    where = "net.best_W" + ("" if file_output is None else
                            f" and {checkpoint.weights_filename(file_output)!r}")
    raise NonFiniteError(
        f"epoch {run.epoch}: {run.failures} updates in a row failed with NaN or "
        f"inf values (last: {faults[-1]}); stopping.  The best weights (error "
        f"{net.best_error:.6g}) are in {where}; W holds the last finite weights.")


def _merge_optimizer_plots(plots, optimizer):
    for name, series in getattr(optimizer, "plots", {}).items():
        if series:
            plots[name] = list(series)


def _damping_and_cg(optimizer):
    damping = getattr(optimizer, "damping", None)
    last_cg = getattr(optimizer, "last_cg", None)
    return damping, None if last_cg is None else last_cg.n_iters


# ------------------------------------------------------------- the loop
def run_epochs(net, inputs, targets, optimizer, max_epochs=100, minibatch_size=None,
               test=None, test_err=None, target_err=1e-6, plotting=False,
               file_output=None, print_period=10, resume=False,
               max_failures=MAX_FAILURES, callback=None):
    """Train ``net`` (what :meth:`hessianfree.FFNet.run_epochs` calls; with
    ``comm`` it calls :func:`hessianfree.parallel.distributed.run_epochs`, which calls
    this on every process).

    Parameters
    ----------
    net : FFNet or RNNet
        The network to train.
    inputs : array, Plant or callable
        Training inputs, ``(batch, n_in)`` (``(batch, time, n_in)`` for
        RNNet), or a :class:`~hessianfree.layers.nonlinearities.Plant` that
        generates inputs and targets (then ``targets=None``), or a data
        source ``source(rng, n) -> (inputs, targets)`` that draws
        ``minibatch_size`` fresh examples every epoch from the network's
        rng (then ``targets=None`` and an int ``minibatch_size``; with
        ``resume`` only a reproducible source, see
        :mod:`hessianfree.run.data_source`).
    targets : array or None
        Training targets; NaN entries mean "no target".
    optimizer : Optimizer
        E.g. ``hf.opt.HessianFree(CG_iter=50)`` or ``hf.opt.SGD()``.
    max_epochs : int
        Maximum number of epochs (weight updates).
    minibatch_size : int, "auto" or VarianceSchedule, optional
        Examples drawn at random each epoch (default: all).  ``"auto"`` or
        a :class:`hessianfree.optim.schedule.VarianceSchedule`: start small and
        grow the minibatch by the gradient's sample variance (Byrd et al.
        2012), with HessianFree's CG budget following (see
        ``docs/tuning.rst``).  Under ``comm`` the sizes are totals over
        every process, split as :func:`hessianfree.nets.reduction.minibatch_shares`
        splits them.
    test : tuple (test_inputs, test_targets), optional
        Held-out data.  Training stops when the test error is higher than
        it was 10 epochs earlier.
    test_err : LossFunction, optional
        Error used on the test data (default: the network's loss).
    target_err : float
        Stop once the (test, else training) error is below this.
    plotting : bool
        Write the plot series to ``<file_output or "HF">_plots.json``
        every epoch (see :func:`hessianfree.run.dataplotter.run`).
    file_output : str, optional
        File name prefix; every epoch the best weights are saved to
        ``<file_output>_weights.npy`` and everything needed to continue
        the run to ``<file_output>_checkpoint.npz``, each written
        atomically (see :mod:`hessianfree.run.checkpoint`).
    print_period : int or None
        Show progress: on a terminal a live progress bar (epochs and CG
        iterations, errors, damping) that keeps a line every this many
        epochs; otherwise a plain line every this many epochs.  None:
        silent.
    resume : bool
        Continue from ``<file_output>_checkpoint.npz`` if it exists
        (weights, optimizer state, rng state, errors and plots), so that
        an interrupted run ends exactly where an uninterrupted one would;
        ``max_epochs`` counts all epochs, including those done before.
        Without a checkpoint the run starts from scratch and prints that
        it does.  The checkpoint is checked completely (fields, array
        shapes, architecture, rng and optimizer state) before anything is
        restored.
    max_failures : int or None
        Stop with :class:`~hessianfree.run.training.NonFiniteError` after this
        many updates in a row failed with NaN or inf values (each one is
        skipped with a :class:`~hessianfree.optim.optimizers.NonFiniteWarning`
        and raises the damping); None: never stop for that.
    callback : callable, optional
        ``callback(net, epoch)``, called after each epoch (after the
        checkpoint is written); returning True stops training.  E.g. to
        measure a test accuracy without counting its time.  Under ``comm``
        every process calls its own, and the processes stop together: after
        an epoch in which any process's callback returned True.

    Returns
    -------
    list of float
        The (test, else training) error after each epoch (including the
        epochs before a resume).  The weights with the lowest of these are
        kept in ``best_W`` (error ``best_error``); ``W`` holds the last
        weights.  Ctrl-C (KeyboardInterrupt) ends the run like a stopping
        rule: the network keeps the weights of the last completed epoch,
        and one line says so, which checkpoint is intact and that
        ``resume=True`` continues from it (under ``comm`` it propagates).

    Raises
    ------
    hessianfree.run.training.NonFiniteError
        After ``max_failures`` failed updates in a row.
    hessianfree.run.checkpoint.CheckpointError
        If the output files cannot be written (disk full, ...; the message
        says what is left on disk), or another process is writing under
        ``file_output``.
    ValueError
        Besides bad arguments: a checkpoint that does not fit (``resume``),
        targets outside the loss's domain, or targets that are all NaN.
    """
    root = is_root(net)  # only rank 0 writes files
    inputs, targets, test = check_run_args(
        net, inputs, targets, optimizer, max_epochs, minibatch_size, test,
        test_err, target_err, file_output, print_period, resume, max_failures,
        plotting=plotting, callback=callback, write_files=root)
    plotting = bool(plotting)
    with (checkpoint.exclusive_output(file_output) if root and file_output is not None
          else contextlib.nullcontext()):
        saved = run_state.read_checkpoint(net, optimizer, file_output) if resume else None
        if root:
            announce_start(file_output, resume, saved)
            _remove_stale_temporaries(file_output)
        run = run_state.start(net, optimizer, saved)
        run.schedule = schedules.resolve(minibatch_size)
        if run.schedule is not None and run.minibatch_size is not None:
            run.schedule.size = run.minibatch_size
        shards = (None if minibatch_size is None  # every process's number of examples
                  else net.reduction.shard_sizes(  # a data source: equal shares
                      minibatch_size if data_source.is_source(inputs)
                      else int(inputs.shape[0])))
        if root and shards is not None and not data_source.is_source(inputs):
            warn_large_minibatch(minibatch_size, sum(shards))
        data = (inputs, targets, minibatch_size, shards, test, test_err)
        settings = (max_epochs, target_err, plotting, file_output, print_period,
                    max_failures, callback)
        return _loop(net, optimizer, run, data, settings)


def _remove_stale_temporaries(file_output):
    if file_output is not None:
        for name in (checkpoint.checkpoint_filename(file_output),
                     checkpoint.weights_filename(file_output), plot_filename(file_output)):
            checkpoint.remove_stale_temporaries(name)


def _loop(net, optimizer, run, data, settings):
    """Train epoch after epoch until a stopping rule holds; return the errors."""
    (max_epochs, target_err, plotting, file_output, print_period, max_failures,
     callback) = settings
    has_test = data[4] is not None
    progress = Progress(max_epochs, print_period)
    start, registry = time.perf_counter() - run.elapsed, {}
    reason = _stop_reason(run.errors, target_err, has_test)
    epoch, kept, interrupted = run.epoch, None, False
    try:
        while reason is None and run.epoch < max_epochs:
            epoch, kept = run.epoch, net.W.copy()  # what Ctrl-C during the epoch restores
            printing = print_period is not None and epoch % print_period == 0
            train_error, error, faults = _train_epoch(net, optimizer, data, run,
                                                      progress, printing, registry)
            _report_faults(faults, epoch, run, max_failures)
            run.elapsed = time.perf_counter() - start
            record(net.plots, "time (s)", run.elapsed)
            _merge_optimizer_plots(net.plots, optimizer)
            progress.end_epoch(epoch, run.elapsed, train_error,
                               error if has_test else None, *_damping_and_cg(optimizer))
            if is_root(net):
                _write_outputs(net, optimizer, run, plotting, file_output)
            _check_failures(net, run, faults, max_failures, file_output)
            reason = _stop_reason(run.errors, target_err, has_test)
            if callback is not None and net.reduction.any(callback(net, epoch)) \
                    and reason is None:  # any process's callback stops all
                reason = f"callback stopped training after {run.epoch} epochs"
    except KeyboardInterrupt:
        if net.reduction.comm is not None:
            raise  # the other processes wait in a collective call
        reason, interrupted = _interrupted(net, run, epoch, kept, file_output), True
    finally:
        progress.close(optimizer)
    if reason is not None:
        progress.message(reason, always=interrupted)
    return run.errors


def _interrupted(net, run, epoch, kept, file_output):
    """Ctrl-C: put back the weights of the last completed epoch (if the
    interrupted one changed them) and say what is left to resume from."""
    if run.epoch == epoch and kept is not None:  # the epoch did not complete
        net.W = kept
    if file_output is None:
        left = "no checkpoint (file_output=... writes one every epoch)"
    else:
        left = _what_is_intact(run, file_output)
        if left.endswith("intact"):
            left += (f" ({checkpoint.checkpoint_filename(file_output)!r}); resume with "
                     f"{_RESUME_HINT.get()}")
    done = (f"interrupted after epoch {run.epoch}, whose weights the network keeps"
            if run.epoch else "interrupted in the first epoch (the weights are unchanged)")
    return f"{done}; {left}"
