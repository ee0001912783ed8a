"""Tests for hessianfree.nets.architecture: describe, build, net.save and hf.load;
also net.loss and net.predict."""

import json
import os
import zipfile

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.nets import architecture


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


def test_predict_names_the_shape_it_was_given():
    net = ff_skip_softmax()  # 3 inputs
    with pytest.raises(ValueError, match=r"inputs must have 3 input units.*\(3,\) for one "
                                         r"example or \(batch, 3\), got shape \(2,\)$"):
        net.predict([1.0, 2.0])
    with pytest.raises(ValueError, match=r"got shape \(4, 2\)"):
        net.predict(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\(time, 2\) for one example.*got shape \(5, 3\)"):
        rnn_mixed().predict(np.zeros((5, 3)))


def test_binary_cross_entropy_round_trips(tmp_path):
    net = hf.FFNet([4, 3, 4], layers=["Linear", "Tanh", "Logistic"],
                   loss_type=hf.loss_funcs.BinaryCrossEntropy(curvature="hessian"), rng=3)
    net.save(tmp_path / "m")
    loaded = hf.load(tmp_path / "m")
    assert isinstance(loaded.loss, hf.loss_funcs.BinaryCrossEntropy)
    assert loaded.loss.curvature == "hessian"
    np.testing.assert_array_equal(loaded.W, net.W)


def test_nan_weights_are_refused_at_save(tmp_path):
    net = hf.FFNet([2, 3, 1], rng=0)
    net.save(tmp_path / "m.npz")
    before = (tmp_path / "m.npz").read_bytes()
    net.W[4] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*W\[4\]"):
        net.save(tmp_path / "m.npz")
    assert (tmp_path / "m.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    """A write that fails half-way (a full disk) leaves the old model
    loadable and no temporary file; the error names the file."""
    old = hf.FFNet([2, 3, 1], rng=0)
    old.save(tmp_path / "m")
    new = hf.FFNet([2, 3, 1], rng=1)
    real_savez = np.savez

    def savez_then_disk_full(file, **arrays):
        if isinstance(file, (str, os.PathLike)):  # as np.savez: open the file itself
            file = open(f"{os.fspath(file).removesuffix('.npz')}.npz", "wb")  # noqa: SIM115
        file.write(b"PK\x03\x04 half an archive")
        file.flush()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", savez_then_disk_full)
    with pytest.raises(OSError, match=r"m\.npz.*No space left") as info:
        new.save(tmp_path / "m")
    assert info.value.errno == 28
    monkeypatch.setattr(np, "savez", real_savez)
    np.testing.assert_array_equal(hf.load(tmp_path / "m").W, old.W)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


def test_save_appends_npz_like_numpy(tmp_path):
    net = hf.FFNet([2, 3, 1], rng=0)
    net.save(tmp_path / "m")
    net.save(str(tmp_path / "n.npz"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "n.npz"]


LOSS_ARGUMENTS = {"SparseL1": (0.1,), "SparseL2": (0.1,), "StructuralDamping": (0.1,),
                  "LossSet": ([hf.loss_funcs.SquaredError()],)}


@pytest.mark.parametrize("name", sorted(
    name for name in hf.loss_funcs.__all__
    if isinstance(getattr(hf.loss_funcs, name), type) and name != "LossFunction"))
def test_every_exported_loss_round_trips(name):
    loss = getattr(hf.loss_funcs, name)(*LOSS_ARGUMENTS.get(name, ()))
    description = json.loads(json.dumps(architecture._describe_object(
        loss, architecture._LOSSES, "loss")))
    rebuilt = architecture._rebuild(description, architecture._LOSSES, "loss")
    assert type(rebuilt) is type(loss) and repr(rebuilt) == repr(loss)


def test_save_to_an_open_file(tmp_path):
    net = hf.FFNet([2, 3, 1], rng=0)
    with open(tmp_path / "m.npz", "wb") as f:
        net.save(f)
    np.testing.assert_array_equal(hf.load(tmp_path / "m.npz").W, net.W)


def test_repr_is_the_architecture_in_one_line():
    assert repr(hf.FFNet([2, 5, 1])) == ("FFNet(shape=[2, 5, 1], layers=[Linear, Logistic, "
                                         "Logistic], loss=SquaredError(), n_params=21)")
    assert repr(ff_skip_softmax()) == (
        "FFNet(shape=[3, 5, 4, 3], layers=[Linear, ReLU, Tanh, Softmax], "
        "conns={0: [1, 2], 1: [2, 3], 2: [3]}, loss=CrossEntropy(), n_params=93)")
    assert repr(rnn_mixed()).startswith("RNNet(shape=[2, 4, 3, 1], layers=[Linear, "
                                        "Continuous, SoftLIF, Logistic], rec_layers=[1], ")


def test_summary_lists_layers_units_nonlinearities_parameters_and_loss(capsys):
    net = ff_skip_softmax()
    assert net.summary() is None
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"FFNet: 4 layers, {net.n_params} parameters (float64, CPU)"
    assert lines[1].split() == ["layer", "units", "nonlinearity", "inputs", "from",
                                "parameters"]
    rows = [line.split("  ") for line in lines[3:7]]
    rows = [[c.strip() for c in row if c.strip()] for row in rows]
    assert rows == [["0", "3", "Linear()", "(input)", "0"],
                    ["1", "5", "ReLU(max=6.0)", "0", "20"],
                    ["2", "4", "Tanh()", "0, 1", "40"],
                    ["3", "3", "Softmax()", "1, 2", "33"]]
    assert sum(int(row[-1]) for row in rows) == net.n_params
    assert lines[7] == "loss: CrossEntropy()"
    rnn_mixed().summary()
    out = capsys.readouterr().out
    assert "0, itself (recurrent)" in out and "RNNet: 4 layers" in out
