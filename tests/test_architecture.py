"""Tests for hessianfree.architecture: describe, build, net.save and hf.load;
also net.loss and net.predict."""

import json
import zipfile

import numpy as np
import pytest

import hessianfree as hf
from hessianfree import architecture


def ff_skip_softmax():
    return hf.FFNet([3, 5, 4, 3], layers=["Linear", hf.nl.ReLU(max=6.0), "Tanh", "Softmax"],
                    conns={0: [1, 2], 1: [2, 3], 2: [3]},
                    loss_type=hf.loss_funcs.CrossEntropy(), dtype=np.float64, rng=1)


def rnn_mixed():
    return hf.RNNet([2, 4, 3, 1],
                    layers=[hf.nl.Linear(), hf.nl.Continuous("Logistic", tau=[1, 2, 3, 4],
                                                             dt=0.5),
                            hf.nl.SoftLIF(sigma=0.5), "Logistic"],
                    loss_type=[hf.loss_funcs.SquaredError(),
                               hf.loss_funcs.StructuralDamping(0.1, layers=[1]),
                               hf.loss_funcs.SparseL2(0.01, target=0.2)],
                    rec_layers=[1], truncation=(3, 2), rng=2)


NETS = {"ff_sigmoid": lambda: hf.FFNet([2, 5, 1], rng=0),
        "ff_skip_softmax": ff_skip_softmax, "rnn_mixed": rnn_mixed}


@pytest.mark.parametrize("make", NETS.values(), ids=NETS.keys())
def test_save_load_gives_an_identical_network(make, tmp_path):
    net = make()
    net.save(tmp_path / "model")
    loaded = hf.load(tmp_path / "model")  # .npz appended, as by NumPy
    assert type(loaded) is type(net)
    assert architecture.describe(loaded) == architecture.describe(net)
    assert loaded.W.dtype == net.W.dtype
    np.testing.assert_array_equal(loaded.W, net.W)
    x = np.random.default_rng(0).standard_normal((4, 6, net.shape[0])[-net._data_ndim:])
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    for attr in ("shape", "conns", "rec_layers", "truncation"):
        assert getattr(loaded, attr, None) == getattr(net, attr, None)


def test_file_holds_json_and_weights_only(tmp_path):
    net = ff_skip_softmax()
    net.save(tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as z:
        assert sorted(z.namelist()) == ["W.npy", "architecture.npy"]
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:
        description = json.loads(str(data["architecture"]))
    assert description["loss"] == {"type": "CrossEntropy",
                                   "params": {"curvature": net.loss.curvature}}
    assert description["layers"][1] == {"type": "ReLU", "params": {"max": 6.0}}
    assert description["conns"] == {"0": [1, 2], "1": [2, 3], "2": [3]}


def test_description_is_json_and_builds_fresh_weights():
    net = rnn_mixed()
    description = json.loads(json.dumps(architecture.describe(net)))
    assert description["class"] == "RNNet" and description["truncation"] == [3, 2]
    assert description["layers"][1]["params"]["tau"] == [1.0, 2.0, 3.0, 4.0]
    built = architecture.build(description, rng=5)
    assert architecture.describe(built) == description
    assert built.W.shape == net.W.shape


class Roll(hf.nl.Nonlinearity):
    def activation(self, x):
        return np.roll(x, 1, axis=-1)


class MyTanh(hf.nl.Tanh):
    pass


class MyLoss(hf.loss_funcs.SquaredError):
    pass


@pytest.mark.parametrize("kwargs, name", [
    (dict(layers=Roll()), "Roll"), (dict(layers=MyTanh()), "MyTanh"),
    (dict(loss_type=MyLoss()), "MyLoss")])
def test_custom_classes_are_named(kwargs, name, tmp_path):
    net = hf.FFNet([2, 3, 1], **kwargs)
    with pytest.raises(TypeError, match=name):
        net.save(tmp_path / "m")
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("change, error", [
    (lambda d: d.update(format="x"), ValueError),
    (lambda d: d.update(**{"class": "Net"}), ValueError),
    (lambda d: d["layers"].__setitem__(1, {"type": "Foo", "params": {}}), ValueError),
    (lambda d: d.pop("conns"), ValueError)])
def test_build_rejects_bad_descriptions(change, error):
    description = architecture.describe(hf.FFNet([2, 3, 1]))
    change(description)
    with pytest.raises(error, match="description|layers"):
        architecture.build(description)


def test_build_needs_a_dict():
    with pytest.raises(TypeError, match="description"):
        architecture.build("FFNet")


def test_load_rejects_other_files(tmp_path):
    np.savez(tmp_path / "other.npz", W=np.zeros(3))
    with pytest.raises(ValueError, match="net.save"):
        hf.load(tmp_path / "other.npz")


def test_loss_is_the_loss_set():
    net = hf.FFNet([2, 8, 1], loss_type=[hf.loss_funcs.SquaredError(),
                                         hf.loss_funcs.SparseL2(0.01)])
    assert isinstance(net.loss, hf.loss_funcs.LossSet)
    x = np.ones((3, 2))
    t = np.zeros((3, 1))
    assert net.loss.batch_loss(net.forward(x), t) == pytest.approx(net.error(inputs=x,
                                                                             targets=t))
    assert hf.FFNet([2, 1]).loss.__class__ is hf.loss_funcs.SquaredError


def test_predict_returns_the_output_layer():
    net = ff_skip_softmax()
    x = np.random.default_rng(1).standard_normal((5, 3))
    np.testing.assert_array_equal(net.predict(x), net.forward(x)[-1])
    single = net.predict(x[2])
    assert single.shape == (3,)
    np.testing.assert_allclose(single, net.forward(x)[-1][2])
    assert net.predict(list(x[2])).shape == (3,)
    rnn = rnn_mixed()
    seq = np.random.default_rng(2).standard_normal((2, 5, 2))
    assert rnn.predict(seq[0]).shape == (5, 1)
    np.testing.assert_allclose(rnn.predict(seq[0]), rnn.predict(seq)[0], rtol=1e-6)
