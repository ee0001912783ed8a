"""The autoencoder demo on tiny configurations: the network it builds, the
reconstruction error it reports, that training lowers it, the files it writes
and the fallback to the embedded digits."""

import os
import pickle

import numpy as np
import pytest

import hessianfree as hf
from hessianfree import demos
from hessianfree.data import datasets

ENCODER = (16, 12, 8, 3)


def tiny_data(n_train=64, n_test=32, seed=0):
    """16-pixel "images" in [0, 1] made of 3 random patterns, some pixels
    exactly 0 or 1 like real ones."""
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(0, 1, (3, 16))

    def images(n):
        mix = rng.dirichlet(np.ones(3), size=n)
        x = np.clip(1.4 * mix @ patterns - 0.2, 0, 1)
        return x.astype(np.float32), np.zeros(n, dtype=np.int64)

    (tx, ty), (sx, sy) = images(n_train), images(n_test)
    return datasets.Dataset(tx, ty, sx, sy, name="tiny patterns")


def test_network_is_the_mirrored_logistic_autoencoder():
    net = demos.autoencoder_network(ENCODER, rng=np.random.default_rng(0))
    assert net.shape == [16, 12, 8, 3, 8, 12, 16]
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["Linear", "Logistic", "Logistic", "Linear", "Logistic",
                     "Logistic", "Logistic"]
    assert isinstance(net.loss_type, hf.loss_funcs.BinaryCrossEntropy) or any(
        isinstance(m, hf.loss_funcs.BinaryCrossEntropy)
        for m in getattr(net.loss_type, "set", []))
    for i in range(net.n_layers - 1):  # sparse init: min(15, fan-in) weights per unit
        W, b = net.get_weights(net.W, (i, i + 1))
        assert ((W != 0).sum(axis=0) == min(15, W.shape[0])).all()
        assert not b.any()
    assert demos.autoencoder_network().shape == [784, 1000, 500, 250, 30, 250, 500,
                                                 1000, 784]
    with pytest.raises(ValueError, match="encoder"):
        demos.autoencoder_network([784])


def test_reconstruction_error_is_the_summed_squared_error_per_image():
    data = tiny_data()
    net = demos.autoencoder_network(ENCODER, rng=np.random.default_rng(0))
    x = data.train_images
    expected = np.mean(np.sum((net.forward(x)[-1] - x) ** 2, axis=1))
    assert demos.reconstruction_error(net, x, chunk=10) == pytest.approx(expected,
                                                                         rel=1e-5)
    assert net.error(inputs=x, targets=x, loss_type=demos.ReconstructionError()) \
        == pytest.approx(expected, rel=1e-5)


def test_demo_lowers_the_reconstruction_error_and_writes_its_curves(tmp_path, capsys):
    data = tiny_data()
    before = demos.autoencoder_network(ENCODER, rng=np.random.default_rng(0))
    start = demos.reconstruction_error(before, data.train_images)
    prefix = str(tmp_path / "ae")
    net = demos.autoencoder(ENCODER, data=data, plots=False, file_output=prefix,
                            model_args={"rng": np.random.default_rng(0)},
                            run_args={"max_epochs": 6, "minibatch_size": None,
                                          "print_period": None})
    train = demos.reconstruction_error(net, data.train_images)
    assert train < 0.8 * start
    out = capsys.readouterr().out
    assert "tiny patterns, 64 training and 32 test images" in out
    printed = float(out.split("training reconstruction error: ")[1].split()[0])
    assert printed == pytest.approx(train, abs=1e-3)
    assert "test reconstruction error: " in out
    assert os.path.isfile(hf.training.plot_filename(prefix))
    series = net.plots
    assert len(series["test error (log)"]) == 6
    assert series["test error (log)"][-1] < series["test error (log)"][0]


def test_demo_draws_the_curves_and_run_args_override(tmp_path):
    pytest.importorskip("matplotlib")
    prefix = str(tmp_path / "ae")
    data = tiny_data(16, 8)
    net = demos.autoencoder(ENCODER, data=data, file_output=prefix,
                            model_args={"rng": np.random.default_rng(1)},
                            run_args={"max_epochs": 2, "print_period": None,
                                      "plotting": False,
                                      "test": (data.test_images[:4], data.test_images[:4])})
    assert (tmp_path / "ae_curves.png").stat().st_size > 0
    assert not os.path.exists(hf.training.plot_filename(prefix))
    assert len(net.plots["test error (log)"]) == 2


def test_demo_falls_back_to_the_embedded_digits(monkeypatch, capsys):
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", "/nonexistent/fashion")
    monkeypatch.setattr(datasets, "load_embedded", lambda: tiny_data(16, 8))
    demos.autoencoder(ENCODER, plots=False, file_output=None,
                      model_args={"rng": np.random.default_rng(0)},
                      run_args={"max_epochs": 1, "print_period": None})
    out = capsys.readouterr().out
    assert "Fashion-MNIST is not installed" in out and "tiny patterns" in out


def test_no_curves_writes_no_file(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert os.getcwd() == str(tmp_path) and not os.listdir(tmp_path)
    net = demos.run_demo("autoencoder", plots=True, curves=False, encoder=ENCODER,
                         data=tiny_data(16, 8),
                         model_args={"rng": np.random.default_rng(0)},
                         run_args={"max_epochs": 2, "print_period": None})
    assert len(net.plots["test error (log)"]) == 2
    assert os.listdir(tmp_path) == []  # no curves, weights, checkpoint or figure
    assert "dataplotter" not in capsys.readouterr().out
    demos.autoencoder(ENCODER, data=tiny_data(16, 8), plots=False,
                      model_args={"rng": np.random.default_rng(0)},
                      run_args={"max_epochs": 1, "print_period": None})
    assert os.path.isfile(hf.training.plot_filename("autoencoder"))  # curves=True
    assert "python -m hessianfree.run.dataplotter" in capsys.readouterr().out


def test_demo_refuses_a_pickle_without_the_opt_in(tmp_path):
    with open(tmp_path / "mnist.pkl", "wb") as f:
        pickle.dump(((np.zeros((2, 784)), np.zeros(2)),) * 3, f)
    with pytest.raises(ValueError, match=r"mnist\.pkl.*allow_pickle=True"):
        demos.autoencoder(ENCODER, data=str(tmp_path), file_output=None)
