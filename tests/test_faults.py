"""Numerical faults during training: a NaN or inf in the gradient, the
curvature products or the error is caught where it appears, the update is
skipped (the weights stay), the damping goes up, a warning names the epoch
and the quantity, and after ``max_failures`` failures in a row the run stops
with NonFiniteError while the best weights stay intact in memory and on
disk."""

import math
import warnings

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.run import checkpoint
from hessianfree.optim.optimizers import NonFiniteWarning
from hessianfree.run.training import NonFiniteError

RNG = np.random.default_rng(0)
X = RNG.standard_normal((60, 4)).astype(np.float32)
T = np.tanh(X @ RNG.standard_normal((4, 2))).astype(np.float32)


class FaultyLoss(hf.loss_funcs.SquaredError):
    """Squared error whose gradient (``d_loss``) or curvature (``d2_loss``)
    turns NaN/inf on chosen calls (one call of each per epoch)."""

    def __init__(self, bad_grad=(), bad_curvature=()):
        self.bad_grad, self.bad_curvature = set(bad_grad), set(bad_curvature)
        self.calls = {"d_loss": 0, "d2_loss": 0}

    def _poison(self, name, values, bad, value):
        call = self.calls[name]
        self.calls[name] += 1
        if call in bad:
            values[-1] = np.full_like(values[-1], value)
        return values

    def d_loss(self, activities, targets):
        return self._poison("d_loss", super().d_loss(activities, targets),
                            self.bad_grad, np.nan)

    def d2_loss(self, activities, targets):
        return self._poison("d2_loss", super().d2_loss(activities, targets),
                            self.bad_curvature, np.inf)


def make_net(loss):
    return hf.FFNet([4, 8, 2], layers=hf.nl.Tanh(), loss_type=loss,
                    rng=np.random.RandomState(0))


def train(net, epochs, optimizer=None, **kwargs):
    kwargs.setdefault("print_period", None)
    return net.run_epochs(X, T, optimizer or hf.opt.HessianFree(CG_iter=10),
                          max_epochs=epochs, **kwargs)


def nonfinite_messages(caught):
    return [str(w.message) for w in caught if issubclass(w.category, NonFiniteWarning)]


def test_persistent_gradient_fault_stops_run_with_best_weights_intact(tmp_path):
    healthy = make_net(FaultyLoss())
    train(healthy, 4)  # what the run looks like before the fault
    prefix = str(tmp_path / "run")
    net = make_net(FaultyLoss(bad_grad=range(4, 100)))
    optimizer = hf.opt.HessianFree(CG_iter=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(NonFiniteError, match="3 updates in a row") as info:
            train(net, 50, optimizer, file_output=prefix, max_failures=3)
    messages = nonfinite_messages(caught)
    assert len(messages) == 3
    for epoch, message in zip((5, 6, 7), messages):  # epochs count from 1
        assert message.startswith(f"epoch {epoch}:")
        assert "gradient" in message
    assert "1 failed update in a row" in messages[0]
    assert "3 failed updates in a row; the run stops at 3" in messages[2]
    assert "epoch 7:" in str(info.value) and "best_W" in str(info.value)
    # the faulty epochs changed no weights; the damping went up each time
    np.testing.assert_array_equal(net.W, healthy.W)
    np.testing.assert_array_equal(net.best_W, healthy.best_W)
    assert net.best_error == healthy.best_error
    assert optimizer.damping == pytest.approx(healthy.optimizer.damping * 1.5 ** 3)
    assert optimizer.state.n_failures == 3 and optimizer.state.init_delta is not None
    # ... and on disk
    np.testing.assert_array_equal(np.load(prefix + "_weights.npy"), healthy.best_W)
    meta, arrays = checkpoint.load(prefix + "_checkpoint.npz")
    assert meta["epoch"] == 7 and meta["failures"] == 3
    np.testing.assert_array_equal(arrays["best_W"], healthy.best_W)

    # with the cause fixed, the run resumes from the checkpoint and recovers
    fixed = make_net(FaultyLoss())
    errors = train(fixed, 12, file_output=prefix, resume=True, max_failures=3)
    assert len(errors) == 12 and errors[-1] < errors[6]
    assert fixed.optimizer.damping < optimizer.damping


def test_transient_curvature_fault_is_skipped_and_training_goes_on():
    net = make_net(FaultyLoss(bad_curvature={2, 3}))
    optimizer = hf.opt.HessianFree(CG_iter=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        errors = train(net, 12, optimizer, max_failures=3)
    messages = nonfinite_messages(caught)
    assert [m.split(":")[0] for m in messages] == ["epoch 3", "epoch 4"]
    assert all("curvature product" in m for m in messages)
    assert errors[2] == errors[1] and errors[3] == errors[1]  # skipped updates
    assert len(errors) == 12 and errors[-1] < errors[1]
    assert optimizer.state.n_failures >= 2
    assert optimizer.plots["step size"][2:4] == [0.0, 0.0]


def test_overflowing_sgd_step_is_undone():
    net = hf.FFNet([4, 8, 2], layers=hf.nl.Linear(), rng=np.random.RandomState(0))
    W = net.W.copy()
    sgd = hf.opt.SGD(l_rate=1e30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(NonFiniteError, match="2 updates in a row"):
            train(net, 10, sgd, max_failures=2)
    messages = nonfinite_messages(caught)
    assert len(messages) == 2
    assert all("training error after the update is NaN or inf; undid" in m
               for m in messages)
    np.testing.assert_array_equal(net.W, W)
    assert sgd.last_status == hf.opt.UPDATE_NONFINITE


class NaNTestError(hf.loss_funcs.LossFunction):
    def batch_loss(self, activities, targets):
        return math.nan


def test_nonfinite_test_error_undoes_update_and_never_becomes_best():
    net = make_net(FaultyLoss())
    W = net.W.copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(NonFiniteError):
            train(net, 10, test=(X[:10], T[:10]), test_err=NaNTestError(),
                  max_failures=2)
    assert all("test error after the update" in m for m in nonfinite_messages(caught))
    np.testing.assert_array_equal(net.W, W)
    np.testing.assert_array_equal(net.best_W, W)
    assert net.best_error == np.inf


def test_no_limit_with_max_failures_none():
    net = make_net(FaultyLoss(bad_grad=range(100)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonFiniteWarning)
        errors = train(net, 15, max_failures=None)
    assert len(errors) == 15 and len(set(errors)) == 1


class NaNUpdate(hf.opt.Optimizer):
    """A user-written optimizer whose update is broken."""

    def compute_update(self, printing=False):
        return np.full_like(self.net.W, np.nan)


def test_nonfinite_update_from_a_custom_optimizer_is_skipped():
    net = make_net(FaultyLoss())
    W = net.W.copy()
    with pytest.warns(NonFiniteWarning, match="epoch 1: the update returned by the "
                                              "optimizer holds NaN"):
        with pytest.raises(NonFiniteError):
            train(net, 5, NaNUpdate(), max_failures=1)
    np.testing.assert_array_equal(net.W, W)


def test_other_warnings_pass_through_unchanged():
    class Noisy(hf.opt.SGD):
        def compute_update(self, printing=False):
            warnings.warn("custom note", UserWarning)
            return super().compute_update(printing)

    net = make_net(FaultyLoss())
    with pytest.warns(UserWarning, match="^custom note$"):
        train(net, 2, Noisy(l_rate=0.1))


def test_warnings_as_errors_stop_at_the_first_fault():
    net = make_net(FaultyLoss(bad_grad={1}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonFiniteWarning)
        with pytest.raises(NonFiniteWarning, match="epoch 2: .*gradient"):
            train(net, 5)
