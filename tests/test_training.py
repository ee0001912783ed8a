"""run_epochs end to end: the reference demos' networks reach the errors the
original package's demos reach, and the loop's bookkeeping (best weights,
stopping rules, plot and weight files) does what the contract says."""

import warnings

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.run import plotfile

XOR_IN = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
XOR_OUT = np.array([[0], [1], [1], [0]], dtype=np.float32)
XOR_ONEHOT = np.array([[1, 0], [0, 1], [0, 1], [1, 0]], dtype=np.float32)


def hf_opt(**kwargs):
    kwargs.setdefault("plotting", False)
    return hf.opt.HessianFree(**kwargs)


@pytest.mark.parametrize("seed", range(3))
def test_xor_with_hf_reaches_1e5_in_40_epochs(seed):
    net = hf.FFNet([2, 5, 1], rng=np.random.RandomState(seed))
    net.run_epochs(XOR_IN, XOR_OUT, optimizer=hf_opt(CG_iter=2), max_epochs=40,
                   print_period=None)
    assert net.error(inputs=XOR_IN, targets=XOR_OUT) < 1e-5


def test_crossentropy_softmax_xor():
    net = hf.FFNet([2, 5, 2], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                   loss_type=hf.loss_funcs.CrossEntropy(), rng=np.random.RandomState(0))
    net.run_epochs(XOR_IN, XOR_ONEHOT, optimizer=hf_opt(CG_iter=2), max_epochs=40,
                   print_period=None)
    assert net.error(inputs=XOR_IN, targets=XOR_ONEHOT) < 1e-2
    assert net.error(inputs=XOR_IN, targets=XOR_ONEHOT,
                     loss_type=hf.loss_funcs.ClassificationError()) == 0


def test_skip_connections_xor():
    net = hf.FFNet([2, 5, 5, 1], layers=hf.nl.Tanh(),
                   conns={0: [1, 2], 1: [2, 3], 2: [3]}, rng=np.random.RandomState(0))
    net.run_epochs(XOR_IN, XOR_OUT, optimizer=hf_opt(CG_iter=2), max_epochs=40,
                   print_period=None)
    assert net.error(inputs=XOR_IN, targets=XOR_OUT) < 1e-4


def test_softlif_net_learns_xor():
    net = hf.FFNet([2, 10, 1], layers=[hf.nl.Linear(), hf.nl.SoftLIF(), hf.nl.Linear()],
                   rng=np.random.RandomState(0),
                   W_init_params={"coeff": 10.0, "init_type": "gaussian"})
    net.run_epochs(XOR_IN, XOR_OUT, optimizer=hf_opt(CG_iter=10), max_epochs=60,
                   print_period=None)
    assert net.error(inputs=XOR_IN, targets=XOR_OUT) < 1e-3


@pytest.mark.parametrize("sparse", [hf.loss_funcs.SparseL1, hf.loss_funcs.SparseL2])
def test_sparsity_constraint_lowers_hidden_activity(sparse):
    rng = np.random.default_rng(0)
    x = rng.random((200, 4)).astype(np.float32)
    t = (x[:, :2] * x[:, 2:]).astype(np.float32)

    def train(loss_type):
        net = hf.FFNet([4, 20, 2], layers=[hf.nl.Linear(), hf.nl.Logistic(),
                                          hf.nl.Linear()],
                       loss_type=loss_type, rng=np.random.RandomState(1))
        net.run_epochs(x, t, optimizer=hf_opt(CG_iter=20), max_epochs=30,
                       print_period=None)
        return net

    plain = train(hf.loss_funcs.SquaredError())
    sparse_net = train([hf.loss_funcs.SquaredError(), sparse(0.1)])
    mse = hf.loss_funcs.SquaredError()
    assert sparse_net.error(inputs=x, targets=t, loss_type=mse) < 0.01
    assert (np.mean(sparse_net.forward(x)[1])
            < 0.5 * np.mean(plain.forward(x)[1]))


def test_sgd_learns_xor():
    net = hf.FFNet([2, 5, 1], rng=np.random.RandomState(0),
                   W_init_params={"init_type": "gaussian"})
    net.run_epochs(XOR_IN, XOR_OUT, optimizer=hf.opt.SGD(l_rate=1), max_epochs=5000,
                   print_period=None)
    out = net.forward(XOR_IN)[-1]
    assert np.all(np.abs(out - XOR_OUT) < 0.2)


def test_debug_mode_checks_derivatives_while_training():
    net = hf.FFNet([2, 4, 1], debug=True, rng=np.random.RandomState(0))
    assert net.W.dtype == np.float64
    net.run_epochs(XOR_IN, XOR_OUT, optimizer=hf_opt(CG_iter=3), max_epochs=3,
                   print_period=None)


def test_minibatches_best_weights_and_test_error():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 3)).astype(np.float32)
    t = np.tanh(x @ rng.standard_normal((3, 2))).astype(np.float32)
    net = hf.FFNet([3, 8, 2], layers=hf.nl.Tanh(), rng=np.random.RandomState(0))
    errors = net.run_epochs(x[:200], t[:200], optimizer=hf_opt(CG_iter=10),
                            max_epochs=8, minibatch_size=50,
                            test=(x[200:], t[200:]), print_period=None)
    assert len(errors) == 8
    assert net.best_error == pytest.approx(min(errors))
    assert net.error(W=net.best_W, inputs=x[200:], targets=t[200:]) == \
        pytest.approx(min(errors), rel=1e-5)
    assert errors[-1] < errors[0]


def test_stops_at_target_error():
    net = hf.FFNet([2, 5, 1], rng=np.random.RandomState(0))
    errors = net.run_epochs(XOR_IN, XOR_OUT, optimizer=hf_opt(CG_iter=2),
                            max_epochs=200, target_err=1e-2, print_period=None)
    assert errors[-1] < 1e-2 and all(e >= 1e-2 for e in errors[:-1])
    assert len(errors) < 200


def test_stops_when_test_error_rises():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 5)).astype(np.float32)
    t = rng.standard_normal((20, 1)).astype(np.float32)  # pure noise: overfits
    net = hf.FFNet([5, 40, 1], layers=hf.nl.Tanh(), rng=np.random.RandomState(0))
    errors = net.run_epochs(x[:10], t[:10], optimizer=hf_opt(CG_iter=50),
                            max_epochs=200, test=(x[10:], t[10:]), print_period=None)
    assert len(errors) < 200
    assert errors[-1] > errors[-11]


def test_plot_and_weight_files(tmp_path):
    prefix = str(tmp_path / "run")
    net = hf.FFNet([2, 5, 1], rng=np.random.RandomState(0))
    net.run_epochs(XOR_IN, XOR_OUT, optimizer=hf.opt.HessianFree(CG_iter=2),
                   max_epochs=5, plotting=True, file_output=prefix, print_period=None)
    plots = plotfile.read(prefix + "_plots.json")
    assert len(plots["training error (log)"]) == 5
    assert any("damping" in name for name in plots)
    np.testing.assert_array_equal(np.load(prefix + "_weights.npy"), net.best_W)


def test_progress_printing(capsys):
    net = hf.FFNet([2, 5, 1], rng=np.random.RandomState(0))
    net.run_epochs(XOR_IN, XOR_OUT, optimizer=hf_opt(CG_iter=2), max_epochs=4,
                   print_period=2)
    out = capsys.readouterr().out
    assert "epoch 1/4:" in out and "epoch 3/4:" in out and "epoch 2/4:" not in out


def test_optimizer_series_and_warm_start_follow_the_run():
    opt = hf.opt.HessianFree(CG_iter=3)
    net = hf.FFNet([2, 5, 1], rng=np.random.RandomState(0))
    for _ in range(2):
        net.run_epochs(XOR_IN, XOR_OUT, optimizer=opt, max_epochs=4, target_err=0,
                       print_period=None)
        assert len(net.plots["damping (log)"]) == len(net.plots["training error (log)"]) == 4
    assert opt.state.init_delta is not None
    other = hf.FFNet([2, 5, 1], rng=np.random.RandomState(1))
    other.optimizer = opt  # a warm start from another network would be meaningless
    assert opt.state.init_delta is None


def test_minibatch_larger_than_the_data_warns_and_uses_all():
    inputs, targets = XOR_IN, XOR_OUT
    net = hf.FFNet([2, 5, 1], rng=0)
    with pytest.warns(UserWarning, match=r"minibatch_size=50 is larger than the training "
                                         r"set \(4 examples\); every epoch uses all 4") as w:
        net.run_epochs(inputs, targets, optimizer=hf_opt(), max_epochs=3,
                       minibatch_size=50, print_period=None)
    assert w[0].filename == __file__  # points at the caller's line
    same = hf.FFNet([2, 5, 1], rng=0)
    same.run_epochs(inputs, targets, optimizer=hf_opt(), max_epochs=3, print_period=None)
    np.testing.assert_array_equal(net.W, same.W)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fitting size says nothing
        hf.FFNet([2, 5, 1], rng=0).run_epochs(inputs, targets, optimizer=hf_opt(),
                                              max_epochs=1, minibatch_size=4,
                                              print_period=None)


class InterruptingError(hf.loss_funcs.SquaredError):
    """A test error whose ``at``-th evaluation is cut short by Ctrl-C (after
    the loop added the update to the weights)."""

    def __init__(self, at):
        super().__init__()
        self.at, self.calls = at, 0

    def batch_loss(self, activities, targets):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return super().batch_loss(activities, targets)


def test_ctrl_c_mid_epoch_keeps_the_last_completed_epoch(tmp_path, capsys):
    reference = hf.FFNet([2, 5, 1], rng=0)
    expected = reference.run_epochs(XOR_IN, XOR_OUT, optimizer=hf_opt(CG_iter=2),
                                    max_epochs=3, print_period=None,
                                    test=(XOR_IN, XOR_OUT))
    net = hf.FFNet([2, 5, 1], rng=0)
    prefix = str(tmp_path / "run")
    errors = net.run_epochs(XOR_IN, XOR_OUT, optimizer=hf_opt(CG_iter=2), max_epochs=10,
                            print_period=None, test=(XOR_IN, XOR_OUT),
                            test_err=InterruptingError(at=4), file_output=prefix)
    assert errors == expected  # three epochs completed; the fourth is undone
    np.testing.assert_array_equal(net.W, reference.W)
    out = capsys.readouterr().out
    assert out == (f"interrupted after epoch 3, whose weights the network keeps; the "
                   f"checkpoint after epoch 3 is intact ({prefix + '_checkpoint.npz'!r}); "
                   f"resume with resume=True\n")
    resumed = hf.FFNet([2, 5, 1], rng=0)
    resumed.run_epochs(XOR_IN, XOR_OUT, optimizer=hf_opt(CG_iter=2), max_epochs=3,
                       print_period=None, test=(XOR_IN, XOR_OUT), file_output=prefix,
                       resume=True)
    np.testing.assert_array_equal(resumed.W, reference.W)


def test_ctrl_c_between_epochs_and_without_file_output(tmp_path, capsys):
    def stop_at_2(net, epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    net = hf.FFNet([2, 5, 1], rng=0)
    errors = net.run_epochs(XOR_IN, XOR_OUT, optimizer=hf_opt(CG_iter=2), max_epochs=10,
                            print_period=None, callback=stop_at_2)
    assert len(errors) == 2
    assert capsys.readouterr().out == (
        "interrupted after epoch 2, whose weights the network keeps; no checkpoint "
        "(file_output=... writes one every epoch)\n")
    with hf.training.resume_hint("--resume"):  # what a command line says instead
        hf.FFNet([2, 5, 1], rng=0).run_epochs(
            XOR_IN, XOR_OUT, optimizer=hf_opt(CG_iter=2), max_epochs=10,
            print_period=None, test=(XOR_IN, XOR_OUT), test_err=InterruptingError(at=1),
            file_output=str(tmp_path / "run"))
    assert capsys.readouterr().out == ("interrupted in the first epoch (the weights are "
                                       "unchanged); no checkpoint had been written yet\n")
    prefix = str(tmp_path / "run")
    with hf.training.resume_hint("--resume"):  # what a command line says instead
        hf.FFNet([2, 5, 1], rng=0).run_epochs(
            XOR_IN, XOR_OUT, optimizer=hf_opt(CG_iter=2), max_epochs=10,
            print_period=None, callback=stop_at_2, file_output=prefix)
    assert capsys.readouterr().out.endswith(
        f"after epoch 2 is intact ({prefix + '_checkpoint.npz'!r}); resume with --resume\n")
