"""Property-based tests: random bad input at every public entry point.

Each case below names one parameter of a public constructor, method or
function and a strategy of values for it: random shapes (close to the right
one and arbitrary), dtypes (ints, bools, complex, strings, dates, objects),
NaN and inf, empty arrays, nested and ragged lists, wrong types and
inconsistent configurations.  For every value the call must either

- raise ValueError or TypeError whose message names the parameter, from
  hessianfree's own code (not from deep inside NumPy), leaving the network
  (weights, best weights, cached batch, optimizer, plots, rng) unchanged; or
- succeed with a correct result: the same result as for the value converted
  to its canonical form (e.g. ``np.asarray(value, float)``), and for methods
  that only compute, an unchanged network.

Run with ``-s`` to see how many cases were tried.
"""

import collections
import copy
import dataclasses
import io
import json
import math
import os
import pickle
import tempfile
import traceback
import typing
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import hessianfree as hf
from hessianfree.optim import cg
from hessianfree.run import checkpoint
from hessianfree.optim import damping
from hessianfree.run import plotfile

# huge but finite values overflow float32 (e.g. calc_G(v, damping=1e300)); the
# warnings about that (NumPy's, and NonFiniteWarning from training) are expected
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

PACKAGE_DIR = os.path.dirname(os.path.abspath(hf.__file__))
TRIED = collections.Counter()

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def in_scratch_directory():
    """Run in an empty directory (random ``file_output`` values write files)
    and report the number of cases at the end."""
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        try:
            yield
        finally:
            os.chdir(cwd)
    print(f"\nbad-input property cases tried: {sum(TRIED.values())} "
          f"({len(TRIED)} parameters)")


# ------------------------------------------------------------ strategies
class Opaque:
    """An object of a type no function expects."""

    def __repr__(self):
        return "Opaque()"


def junk_values():
    return st.sampled_from([
        None, True, False, 0, 1, -1, 3, 2 ** 70, -2.5, 0.5, 1e300, math.nan,
        math.inf, -math.inf, "", "abc", "Tanh", b"bytes", 1j, (), "0",
        np.float32("nan"), np.int64(3), np.int64(-3), np.bool_(True), np.float64(2.0),
        np.uint8(7), Opaque(), slice(1), abs, int, hf.nl.Tanh, hf.nl.Tanh(),
        hf.loss_funcs.SquaredError(), hf.opt.SGD(),
    ]) | st.builds(list) | st.builds(dict) | st.just([[1, 2], [3]]).map(copy.deepcopy) \
        | st.just({1: 2, "a": None}).map(copy.deepcopy) | st.builds(lambda: [None]) \
        | st.builds(lambda: [1, "a"]) | st.builds(lambda: np.array(5.0)) \
        | st.builds(lambda: np.zeros(0)) | st.builds(lambda: np.zeros((2, 0, 3)))


NUMERIC_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int32, np.int64,
                  np.uint8, np.bool_, np.complex64]


def _odd_array(shape, kind):
    if kind == "str":
        return np.full(shape, "ab", dtype="U2")
    if kind == "date":
        return np.full(shape, np.datetime64("2020-01-01"))
    array = np.empty(shape, dtype=object)
    array.fill(1.5)
    return array


def perturbed_shapes(shape):
    """The right shape, and shapes one mistake away from it."""
    options = [st.just(tuple(shape))]
    if shape:
        options.append(st.integers(0, len(shape) - 1).flatmap(
            lambda i: st.sampled_from([0, 1, 2, 5]).map(
                lambda n: tuple(shape[:i]) + (n,) + tuple(shape[i + 1:]))))
        options.append(st.just(tuple(shape[:-1])))
        options.append(st.just(tuple(shape[1:])))
    options.append(st.just(tuple(shape) + (1,)))
    options.append(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))
    return st.one_of(options)


def arrays_near(shape):
    """Arrays of the right shape and dtype or close to it, with NaN, inf,
    odd dtypes and list forms mixed in."""
    def numeric(args):
        dtype, shp = args
        dtype = np.dtype(dtype)
        if dtype.kind == "f":  # small finite values, or anything (NaN, inf, huge)
            width = 8 * dtype.itemsize
            return hnp.arrays(dtype, shp, elements=st.floats(-3, 3, width=width)) | \
                hnp.arrays(dtype, shp, elements=st.floats(width=width))
        return hnp.arrays(dtype, shp)

    arrays = st.tuples(st.sampled_from(NUMERIC_DTYPES), perturbed_shapes(shape)).flatmap(
        numeric)
    right = st.tuples(st.sampled_from([np.float32, np.float64]), st.just(tuple(shape))
                      ).flatmap(numeric)
    odd = st.builds(_odd_array, perturbed_shapes(shape),
                    st.sampled_from(["str", "date", "object"]))
    return st.one_of(right, arrays, arrays.map(lambda a: a.tolist()), odd, junk_values())


def numbers_and_junk(*good):
    return st.one_of(st.sampled_from(list(good) or [1]),
                     st.integers(-3, 300), st.floats(allow_nan=True, allow_infinity=True),
                     junk_values())


def int_lists(max_len=5):
    return st.lists(st.one_of(st.integers(-2, 6), junk_values()), max_size=max_len)


# ------------------------------------------------------------ the checks
def network_state(net):
    """Everything about a network that a failed call must not change."""
    if net is None:
        return None
    rng_state = checkpoint.rng_state(net.rng)[1]
    return {"W": net.W.copy(), "best_W": None if net.best_W is None else net.best_W.copy(),
            "best_error": net.best_error, "optimizer": net.optimizer,
            "plots": copy.deepcopy(net.plots), "rng": repr(rng_state),
            "inputs": net.inputs, "targets": net.targets,
            "activations": net.activations, "batch": net.batch,
            "curvature": None if net.batch is None else net.batch.curvature,
            "version": net.weights_version, "shape": list(net.shape),
            "layers": list(net.layers), "n_params": net.n_params}


def assert_same_state(before, after):
    if before is None:
        return
    assert before.keys() == after.keys()
    for key in before:
        a, b = before[key], after[key]
        if isinstance(a, np.ndarray):
            assert b is not None and a.shape == b.shape and a.dtype == b.dtype and \
                np.array_equal(a, b, equal_nan=True), f"the network's {key} changed"
        elif key in ("best_error",):
            assert a == b or (math.isnan(a) and math.isnan(b)), key
        elif key in ("plots", "rng", "shape", "n_params"):
            assert a == b, f"the network's {key} changed"
        else:
            assert a is b or (isinstance(a, list) and all(x is y for x, y in zip(a, b))), \
                f"the network's {key} changed"


def assert_clear_error(error, names):
    assert isinstance(error, (ValueError, TypeError)), \
        f"{type(error).__name__}: {error}"
    message = str(error)
    assert any(name in message for name in names), \
        f"the message does not name {names[0]!r}: {message}"
    frame = traceback.extract_tb(error.__traceback__)[-1]
    assert os.path.abspath(frame.filename).startswith(PACKAGE_DIR), \
        f"raised from {frame.filename}:{frame.lineno}, not hessianfree: {message}"


def same_result(a, b):
    """Results of the call with a value and with its canonical form agree."""
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b)
        for x, y in zip(a, b):
            same_result(x, y)
    elif isinstance(a, np.ndarray):  # float32 sums: tolerance relative to the scale
        scale = float(np.max(np.abs(b), initial=1.0)) if np.all(np.isfinite(b)) else 1.0
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * scale)
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-9, nan_ok=True)
    elif a is None or isinstance(a, (int, str, bool)):
        assert a == b
    else:
        assert type(a) is type(b)


@dataclasses.dataclass
class Case:
    """Call ``call(context, value)``; ``context = setup()`` holds ``"net"``
    (checked for changes) and anything else the call needs."""

    name: str
    param: str
    values: object
    call: typing.Callable
    setup: typing.Callable = lambda: {}
    pure: bool = True                  # must not change the network on success
    canonical: typing.Callable = None  # value -> canonical value (to compare)
    check: typing.Callable = None      # (context, value, result) -> assert
    aliases: tuple = ()
    also: tuple = ()                   # other accepted exception types

    def __str__(self):
        return f"{self.name}({self.param})"


def run_case(case, value):
    TRIED[str(case)] += 1
    context = case.setup()
    net = context.get("net")
    before = network_state(net)
    try:
        result = case.call(context, value)
    except case.also:
        assert_same_state(before, network_state(net))
        return
    except Exception as error:  # noqa: BLE001 -- the property under test
        assert_clear_error(error, (case.param,) + case.aliases)
        assert_same_state(before, network_state(net))
        return
    if case.pure:
        assert_same_state(before, network_state(net))
    if case.check is not None:
        assert case.check(context, value, result) is not False, "wrong result"
    if case.canonical is not None and case.canonical(value) is not None:
        same_result(result, case.call(case.setup(), case.canonical(value)))


# ----------------------------------------------------------- the set-ups
RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 3))
T = RNG.random((6, 2))
SEQ_X = RNG.standard_normal((4, 3, 2))
SEQ_T = RNG.random((4, 3, 2))


def ff_net(cached=True, **kwargs):
    net = hf.FFNet([3, 4, 2], rng=np.random.RandomState(0), **kwargs)
    if cached:
        net.cache_minibatch(X, T)
    return {"net": net}


def rnn(cached=True):
    net = hf.RNNet([2, 3, 2], layers=hf.nl.Tanh(), rng=np.random.RandomState(0))
    if cached:
        net.cache_minibatch(SEQ_X, SEQ_T)
    return {"net": net}


def with_hf():
    context = ff_net()
    context["opt"] = hf.opt.HessianFree(CG_iter=3)
    context["net"].optimizer = context["opt"]
    return context


def as_float(value):
    """The canonical form of array_like data (None: nothing to compare)."""
    return None if value is None else np.asarray(value, dtype=np.float64)


N_PARAMS = ff_net(cached=False)["net"].n_params


def train_call(param, net_setup=ff_net, data=(X, T), **fixed):
    base = dict(inputs=data[0], targets=data[1], optimizer=None, max_epochs=1,
                target_err=1e9, print_period=None)

    def call(context, value):
        args = {**base, **fixed, param: value}
        if args["optimizer"] is None and param != "optimizer":
            args["optimizer"] = hf.opt.HessianFree(CG_iter=2)
        return context["net"].run_epochs(**args)

    def check(context, value, result):
        assert isinstance(result, list) and all(isinstance(e, float) for e in result)

    return dict(call=call, setup=lambda: net_setup(cached=False), pure=False,
                check=check)


def dataplotter():
    pytest.importorskip("matplotlib")
    from hessianfree.run import dataplotter
    return dataplotter


def plot_call(context, value):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure()
    FigureCanvasAgg(figure)
    return dataplotter().plot(value, figure)


def constructor_check(attribute, convert):
    def check(context, value, result):
        assert getattr(result, attribute) == convert(value)
    return check


# ------------------------------------------------- files and checkpoints
def json_values():
    """Anything a JSON document can hold."""
    leaves = st.none() | st.booleans() | st.integers(-3, 2 ** 70) | \
        st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=4)
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(max_size=4), inner, max_size=3), max_leaves=6)


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npy_header(shape, descr):
    from numpy.lib import format as npy
    buffer = io.BytesIO()
    npy.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False,
                                        "shape": shape})
    return buffer.getvalue()


def weight_files():
    """Contents of a ``load_weights`` file: right or wrong arrays, lying
    headers (huge shapes, odd dtypes), truncated files, archives, junk."""
    numeric = arrays_near((N_PARAMS,)).filter(
        lambda a: isinstance(a, np.ndarray) and a.dtype != object)
    lying = st.builds(npy_header, st.one_of(
        hnp.array_shapes(min_dims=0, max_dims=3, max_side=10),
        st.sampled_from([(2 ** 40,), (N_PARAMS,), (2 ** 62, 2 ** 62)])),
        st.sampled_from(["<f8", "<f4", ">f2", "<i8", "|b1", "<U3", "|O", "<c16", "<V8"]))
    good = npy_bytes(np.ones(N_PARAMS))
    archive = io.BytesIO()
    np.savez(archive, W=np.ones(N_PARAMS))
    return st.one_of(numeric.map(npy_bytes), lying, st.binary(max_size=200),
                     st.integers(0, len(good)).map(lambda n: good[:n]),
                     st.just(archive.getvalue()), st.just(b"0.5\n" * N_PARAMS))


def load_weights_file(context, content):
    with open("weights_case.npy", "wb") as f:
        f.write(content)
    return hf.FFNet([3, 4, 2], load_weights="weights_case.npy")


def weights_match_file(context, content, net):
    W = np.load(io.BytesIO(content), allow_pickle=False)
    return np.array_equal(net.W, W.astype(np.float32))


def softmax_net(cached=False):
    return {"net": hf.FFNet([3, 4, 2], layers=[hf.nl.Linear(), hf.nl.Tanh(),
                                               hf.nl.Softmax()],
                            loss_type=hf.loss_funcs.CrossEntropy(),
                            rng=np.random.RandomState(0))}


def targets_in_domain(context, value, result):
    t = np.asarray(value, dtype=context["net"].dtype)  # as the network sees them
    known = t[~np.isnan(t)]
    return known.size > 0 and bool(np.all((known >= 0) & (known <= 1)))


BASE_CHECKPOINT = {}


def base_checkpoint():
    """The JSON document and arrays of a checkpoint of ``ff_net`` after 2
    epochs (written once, in the scratch directory)."""
    if not BASE_CHECKPOINT:
        ff_net(cached=False)["net"].run_epochs(
            X, T, hf.opt.HessianFree(CG_iter=2), max_epochs=2, file_output="base",
            print_period=None)
        with np.load("base_checkpoint.npz", allow_pickle=False) as data:
            BASE_CHECKPOINT.update({name: data[name] for name in data.files})
    arrays = dict(BASE_CHECKPOINT)
    return json.loads(str(arrays.pop("meta")[()])), arrays


CHECKPOINT_FIELDS = {
    "best_error": (), "plots": (), "errors": ("epoch",), "epoch": ("errors",),
    "failures": (), "elapsed": (), "rng.state": ("rng",), "rng.kind": ("rng",),
    "optimizer_state": (), "optimizer_state.damping": ("optimizer_state",),
    "optimizer_state.epoch": ("optimizer_state",),
    "optimizer_state.plots": ("optimizer_state",), "n_params": (), "network": (),
    "dtype": (), "optimizer": (),
}


def resume_with_field(context, value):
    """Resume from a checkpoint whose field ("a.b") holds a junk value; a
    refusal must name the file and that field."""
    field, junk = value
    document, arrays = base_checkpoint()
    *parents, last = field.split(".")
    target = document
    for key in parents:
        target = target[key]
    target[last] = junk
    with open("case_checkpoint.npz", "wb") as f:
        np.savez(f, meta=np.array(json.dumps(document)), **arrays)
    try:
        return context["net"].run_epochs(X, T, hf.opt.HessianFree(CG_iter=2),
                                         max_epochs=3, file_output="case", resume=True,
                                         print_period=None)
    except ValueError as error:
        names = (field, *CHECKPOINT_FIELDS[field])
        assert "case_checkpoint.npz" in str(error) and \
            any(name in str(error) for name in names), f"{field}: {error}"
        raise


def plot_file_contents():
    series = st.dictionaries(st.text(max_size=6), st.lists(
        st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.none()),
        max_size=4), max_size=3)
    documents = st.fixed_dictionaries(
        {"format": st.sampled_from([plotfile.FORMAT_NAME, "x"]),
         "version": st.sampled_from([plotfile.FORMAT_VERSION, 2, "1"]),
         "series": st.one_of(series, json_values())})
    pickled = st.one_of(series, json_values(), st.builds(lambda: {"a": [Opaque()]}),
                        st.builds(lambda: collections.defaultdict(list, a=[1.0])))
    return st.one_of(documents.map(lambda d: json.dumps(d).encode()),
                     json_values().map(lambda v: json.dumps(v).encode()),
                     pickled.map(pickle.dumps), st.binary(max_size=100))


def load_plot_file(allow_pickle):
    def call(context, content):
        with open("plots_case.json", "wb") as f:
            f.write(content)
        return dataplotter().load("plots_case.json", allow_pickle=allow_pickle)
    return call


def is_plot_dict(context, value, result):
    return isinstance(result, dict) and all(
        isinstance(k, str) and all(isinstance(v, float) for v in series)
        for k, series in result.items())


MODEL_FIELDS = ("format", "class", "shape", "layers", "conns", "loss", "dtype", "debug",
                "rec_layers", "truncation")


def model_description():
    """The description net.save writes for a small RNNet."""
    return json.loads(json.dumps(hf.architecture.describe(
        hf.RNNet([3, 4, 2], rng=np.random.RandomState(0)))))


def load_model_with_field(context, value):
    """hf.load of a model file whose description field holds a junk value
    (or is left out); a refusal must name the file and the field."""
    field, junk = value
    description = model_description()
    if junk == "(missing)":
        description.pop(field)
    else:
        description[field] = junk
    n_params = hf.RNNet([3, 4, 2]).n_params
    np.savez("case_model.npz", architecture=np.array(json.dumps(description)),
             W=np.ones(n_params, np.float32))
    try:
        return hf.load("case_model.npz")
    except ValueError as error:  # a changed structure may show as weights that no longer fit
        names = (field, "'W'") if field in ("shape", "conns", "rec_layers") else (field,)
        assert "case_model.npz" in str(error) and any(n in str(error) for n in names), \
            f"{field}: {error}"
        raise


def model_file_bytes():
    """Contents of a model file: junk, truncated archives, a bare weight
    vector, archives with lying or odd headers for the weights."""
    good = io.BytesIO()
    hf.RNNet([3, 4, 2], rng=np.random.RandomState(0)).save(good)
    good = good.getvalue()
    text = json.dumps(model_description())

    def with_weights_header(header):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.writestr("architecture.npy", npy_bytes(np.array(text)))
            zf.writestr("W.npy", header + b"\0" * 64)
        return buffer.getvalue()
    lying = st.builds(npy_header, st.one_of(
        hnp.array_shapes(min_dims=0, max_dims=2, max_side=60),
        st.sampled_from([(2 ** 40,), (10 ** 12,), (2 ** 62, 2 ** 62)])),
        st.sampled_from(["<f8", "<f4", "<i8", "|O", "<U3", "<c16"]))
    return st.one_of(st.binary(max_size=200),
                     st.integers(0, len(good) - 1).map(lambda n: good[:n]),
                     st.just(npy_bytes(np.ones(38))), lying.map(with_weights_header))


def load_model_file(context, content):
    with open("case_model.npz", "wb") as f:
        f.write(content)
    return hf.load("case_model.npz")


# ----------------------------------------------------------------- cases
SHAPES = st.one_of(int_lists(), junk_values(), st.lists(st.integers(1, 4), max_size=4))
CASES = [
    # networks
    Case("FFNet", "shape", SHAPES, lambda c, v: hf.FFNet(v), pure=False,
         check=lambda c, v, r: r.shape == [int(s) for s in v]),
    Case("FFNet", "layers", st.one_of(junk_values(), st.lists(junk_values(), max_size=4),
                                      st.sampled_from(["tanh", "ReLU", "Softmax", "x"])),
         lambda c, v: hf.FFNet([3, 4, 2], layers=v), pure=False, aliases=("layer",)),
    Case("FFNet", "conns", st.one_of(junk_values(), st.dictionaries(
        st.one_of(st.integers(-1, 3), st.sampled_from([None, "a", 1.5, (1,), True,
                                                       np.int64(1)])),
        st.one_of(int_lists(3), junk_values()), max_size=3)),
         lambda c, v: hf.FFNet([3, 4, 2], conns=v), pure=False),
    Case("FFNet", "loss_type", st.one_of(junk_values(), st.lists(junk_values(), max_size=3)),
         lambda c, v: hf.FFNet([3, 4, 2], loss_type=v), pure=False, aliases=("LossSet",)),
    Case("FFNet", "W_init_params", st.one_of(junk_values(), st.dictionaries(
        st.sampled_from(["coeff", "biases", "init_type", "other"]),
        st.one_of(junk_values(), st.lists(junk_values(), max_size=3)), max_size=3)),
         lambda c, v: hf.FFNet([3, 4, 2], W_init_params=v), pure=False,
         aliases=("coeff", "biases", "init_type", "init_weights")),
    Case("FFNet", "load_weights", arrays_near((N_PARAMS,)),
         lambda c, v: hf.FFNet([3, 4, 2], load_weights=v), pure=False,
         check=lambda c, v, r: v is None or np.array_equal(r.W, np.asarray(v, np.float32))),
    Case("FFNet", "rng", junk_values(), lambda c, v: hf.FFNet([3, 4, 2], rng=v),
         pure=False),
    Case("FFNet", "dtype", st.one_of(junk_values(), st.sampled_from(
        [np.int32, "float64", "f4", np.complex64, "U3", object, np.float16])),
         lambda c, v: hf.FFNet([3, 4, 2], dtype=v), pure=False),
    Case("RNNet", "rec_layers", st.one_of(junk_values(), int_lists()),
         lambda c, v: hf.RNNet([2, 3, 2], rec_layers=v), pure=False),
    Case("RNNet", "truncation", st.one_of(junk_values(), st.tuples(
        st.integers(-1, 3), st.integers(-1, 3)), int_lists(3)),
         lambda c, v: hf.RNNet([2, 3, 2], truncation=v), pure=False),
    Case("RNNet", "W_rec_params", st.one_of(junk_values(), st.dictionaries(
        st.sampled_from(["coeff", "init_type", "x"]), junk_values(), max_size=2)),
         lambda c, v: hf.RNNet([2, 3, 2], W_rec_params=v), pure=False,
         aliases=("coeff", "init_type", "init_weights")),
    # network methods
    Case("FFNet.forward", "inputs", arrays_near((5, 3)),
         lambda c, v: c["net"].forward(v), ff_net, canonical=as_float),
    Case("FFNet.forward", "params", arrays_near((N_PARAMS,)),
         lambda c, v: c["net"].forward(X, params=v), ff_net),
    Case("FFNet.forward", "deriv", junk_values(),
         lambda c, v: c["net"].forward(X, deriv=v), ff_net),
    Case("FFNet.error", "W", arrays_near((N_PARAMS,)),
         lambda c, v: c["net"].error(W=v), ff_net, aliases=("params",)),
    Case("FFNet.error", "inputs", arrays_near((6, 3)),
         lambda c, v: c["net"].error(inputs=v, targets=T), ff_net, canonical=as_float),
    Case("FFNet.error", "targets", arrays_near((6, 2)),
         lambda c, v: c["net"].error(inputs=X, targets=v), ff_net),
    Case("FFNet.error", "loss_type", junk_values(),
         lambda c, v: c["net"].error(inputs=X, targets=T, loss_type=v), ff_net),
    Case("FFNet.cache_minibatch", "inputs", arrays_near((6, 3)),
         lambda c, v: c["net"].cache_minibatch(v, T), ff_net, pure=False),
    Case("FFNet.cache_minibatch", "targets", arrays_near((6, 2)),
         lambda c, v: c["net"].cache_minibatch(X, v), ff_net, pure=False),
    Case("FFNet.cache_minibatch", "minibatch", st.one_of(
        junk_values(), arrays_near((3,)), st.lists(st.integers(-8, 8), max_size=4)),
         lambda c, v: c["net"].cache_minibatch(X, T, minibatch=v), ff_net, pure=False),
    Case("FFNet.cache_curvature_batch", "indices", st.one_of(
        junk_values(), arrays_near((3,)), st.lists(st.integers(-8, 8), max_size=4)),
         lambda c, v: c["net"].cache_curvature_batch(v), ff_net, pure=False),
    Case("FFNet.calc_grad", "squared", junk_values(),
         lambda c, v: c["net"].calc_grad(squared=v), ff_net),
    Case("FFNet.calc_G", "v", arrays_near((N_PARAMS,)),
         lambda c, v: c["net"].calc_G(v), ff_net, canonical=as_float),
    Case("FFNet.calc_G", "damping", numbers_and_junk(0, 1),
         lambda c, v: c["net"].calc_G(np.ones(N_PARAMS, np.float32), damping=v), ff_net),
    Case("FFNet.calc_G", "out", arrays_near((N_PARAMS,)),
         lambda c, v: c["net"].calc_G(np.ones(N_PARAMS, np.float32), out=v), ff_net),
    Case("FFNet.check_grad", "grad", arrays_near((N_PARAMS,)),
         lambda c, v: c["net"].check_grad(v), ff_net, also=(hf.derivative_checks.
                                                             DerivativeCheckError,)),
    Case("FFNet.check_G", "G_v", arrays_near((N_PARAMS,)),
         lambda c, v: c["net"].check_G(v, np.ones(N_PARAMS)), ff_net,
         also=(hf.derivative_checks.DerivativeCheckError,)),
    Case("FFNet.check_G", "v", arrays_near((N_PARAMS,)),
         lambda c, v: c["net"].check_G(np.ones(N_PARAMS), v), ff_net,
         also=(hf.derivative_checks.DerivativeCheckError,)),
    Case("FFNet.init_weights", "shapes", st.one_of(junk_values(), st.lists(
        st.one_of(st.tuples(st.integers(-1, 3), st.integers(-1, 3)), junk_values()),
        max_size=3)), lambda c, v: c["net"].init_weights(v), ff_net, pure=False),
    Case("FFNet.init_weights", "coeff", st.one_of(numbers_and_junk(1.0),
                                                  st.lists(junk_values(), max_size=3)),
         lambda c, v: c["net"].init_weights([(2, 3), (3, 1)], coeff=v), ff_net,
         pure=False),
    Case("FFNet.init_weights", "init_type", st.one_of(junk_values(), st.sampled_from(
        ["sparse", "uniform", "gaussian", "orthogonal"])),
         lambda c, v: c["net"].init_weights([(2, 3)], init_type=v), ff_net, pure=False),
    Case("FFNet.get_weights", "params", arrays_near((N_PARAMS,)),
         lambda c, v: c["net"].get_weights(v, (0, 1)), ff_net),
    Case("FFNet.get_weights", "conn", st.one_of(junk_values(), st.tuples(
        st.integers(-1, 3), st.integers(-1, 3))),
         lambda c, v: c["net"].get_weights(c["net"].W, v), ff_net),
    Case("FFNet.optimizer", "optimizer", junk_values(),
         lambda c, v: setattr(c["net"], "optimizer", v), ff_net, pure=False),
    Case("RNNet.forward", "inputs", arrays_near((4, 3, 2)),
         lambda c, v: c["net"].forward(v), rnn, canonical=as_float),
    Case("RNNet.forward", "init_activations", st.one_of(
        junk_values(), st.lists(st.one_of(st.none(), arrays_near((4, 3))), max_size=4)),
         lambda c, v: c["net"].forward(SEQ_X, init_activations=v), rnn),
    Case("RNNet.forward", "init_state", st.one_of(
        junk_values(), st.lists(junk_values(), min_size=3, max_size=3)),
         lambda c, v: c["net"].forward(SEQ_X, init_state=v), rnn),
    Case("RNNet.forward", "deriv", junk_values(),
         lambda c, v: c["net"].forward(SEQ_X, deriv=v), rnn),
    Case("RNNet.calc_G", "v", arrays_near((rnn(False)["net"].n_params,)),
         lambda c, v: c["net"].calc_G(v), rnn, canonical=as_float),
    # training
    Case("FFNet.run_epochs", "inputs", arrays_near((6, 3)), **train_call("inputs")),
    Case("FFNet.run_epochs", "targets", arrays_near((6, 2)), **train_call("targets")),
    Case("FFNet.run_epochs", "optimizer", junk_values(), **train_call("optimizer")),
    Case("FFNet.run_epochs", "max_epochs", numbers_and_junk(1, 2),
         **train_call("max_epochs")),
    Case("FFNet.run_epochs", "minibatch_size", numbers_and_junk(None, 3),
         **train_call("minibatch_size")),
    Case("FFNet.run_epochs", "test", st.one_of(
        junk_values(), st.tuples(arrays_near((2, 3)), arrays_near((2, 2))),
        st.lists(junk_values(), max_size=3)), aliases=("test[0]", "targets"),
         **train_call("test")),
    Case("FFNet.run_epochs", "test_err", junk_values(), **train_call("test_err")),
    Case("FFNet.run_epochs", "target_err", numbers_and_junk(1e9),
         **train_call("target_err")),
    Case("FFNet.run_epochs", "file_output", st.one_of(
        junk_values(), st.text(max_size=12), st.just("no_such_dir/run"),
        st.just("x" * 300), st.just("run/")), also=(checkpoint.CheckpointError,),
         **train_call("file_output")),
    Case("FFNet.run_epochs", "plotting", junk_values(), **train_call("plotting")),
    Case("FFNet.run_epochs", "print_period", numbers_and_junk(None, 1),
         **train_call("print_period")),
    Case("FFNet.run_epochs", "resume", junk_values(),
         aliases=("file_output",), **train_call("resume", file_output="resumed")),
    Case("FFNet.run_epochs", "max_failures", numbers_and_junk(None, 2),
         **train_call("max_failures")),
    Case("FFNet.run_epochs", "comm", junk_values().filter(lambda v: v is not None),
         **train_call("comm")),
    Case("RNNet.run_epochs", "inputs", arrays_near((4, 3, 2)),
         **train_call("inputs", net_setup=rnn, data=(SEQ_X, SEQ_T))),
    Case("RNNet.run_epochs", "targets", arrays_near((4, 3, 2)),
         **train_call("targets", net_setup=rnn, data=(SEQ_X, SEQ_T))),
    # optimizers
    *[Case("HessianFree", name, numbers_and_junk(*good),
           lambda c, v, name=name: hf.opt.HessianFree(**{name: v}), pure=False)
      for name, good in [("CG_iter", (1, 50)), ("init_damping", (0, 1.5)),
                         ("cg_decay", (0.5,)), ("min_damping", (0, 1e-6)),
                         ("max_damping", (1e8,)), ("cg_rel_tol", (5e-4,)),
                         ("curvature_fraction", (None, 0.5)),
                         ("objective_fraction", (None, 0.5)),
                         ("precond_exponent", (0.75,))]],
    Case("HessianFree.damping", "damping", numbers_and_junk(0.5),
         lambda c, v: setattr(c["opt"], "damping", v), with_hf, pure=False,
         check=lambda c, v, r: c["opt"].damping == float(v)),
    Case("HessianFree.conjugate_gradient", "grad", arrays_near((N_PARAMS,)),
         lambda c, v: c["opt"].conjugate_gradient(None, v, iters=3), with_hf,
         aliases=("b",)),
    Case("HessianFree.conjugate_gradient", "init_delta", arrays_near((N_PARAMS,)),
         lambda c, v: c["opt"].conjugate_gradient(v, np.ones(N_PARAMS, np.float32),
                                                  iters=3), with_hf, aliases=("x0",)),
    Case("HessianFree.conjugate_gradient", "iters", numbers_and_junk(3),
         lambda c, v: c["opt"].conjugate_gradient(None, np.ones(N_PARAMS, np.float32),
                                                  iters=v), with_hf,
         aliases=("max_iters",)),
    Case("HessianFree.load_state_dict", "state", st.one_of(junk_values(), st.dictionaries(
        st.sampled_from(["damping", "init_delta", "epoch", "n_failures", "plots"]),
        st.one_of(junk_values(), arrays_near((N_PARAMS,))), max_size=4)),
         lambda c, v: c["opt"].load_state_dict(v), with_hf, pure=False),
    # preconditioners
    Case("Diagonal", "exponent", numbers_and_junk(0.5),
         lambda c, v: hf.preconditioners.Diagonal(v), pure=False,
         check=constructor_check("exponent", float)),
    *[Case("KFAC", name, numbers_and_junk(*good),
           lambda c, v, name=name: hf.kfac.KFAC(**{name: v}), pure=False)
      for name, good in [("period", (1, 4)), ("decay", (0.0, 0.95)),
                         ("rebuild_ratio", (4.0,)), ("rank", (None, 8))]],
    Case("KFAC", "sampled", junk_values(), lambda c, v: hf.kfac.KFAC(sampled=v),
         pure=False, check=constructor_check("sampled", bool)),
    Case("KFAC.load_state_dict", "state", st.one_of(junk_values(), st.dictionaries(
        st.sampled_from(["factors", "pairs", "n_refreshes", "updates", "damping"]),
        st.one_of(junk_values(), st.lists(arrays_near((3, 3)), max_size=2)), max_size=4)),
         lambda c, v: hf.kfac.KFAC().load_state_dict(v), pure=False),
    Case("HessianFree", "preconditioner", junk_values(),
         lambda c, v: hf.opt.HessianFree(preconditioner=v), pure=False),
    Case("HessianFree", "chunk_size", numbers_and_junk(None, 3),
         lambda c, v: hf.opt.HessianFree(chunk_size=v), pure=False),
    Case("FFNet.chunk_size", "net.chunk_size", numbers_and_junk(None, 2),
         lambda c, v: (setattr(c["net"], "chunk_size", v),
                       c["net"].cache_minibatch(X, T)), lambda: ff_net(cached=False),
         pure=False, aliases=("chunk_size",)),
    Case("SGD", "l_rate", numbers_and_junk(0.1),
         lambda c, v: hf.opt.SGD(l_rate=v), pure=False,
         check=constructor_check("l_rate", float)),
    Case("SGD", "plotting", junk_values(), lambda c, v: hf.opt.SGD(plotting=v),
         pure=False, check=constructor_check("plotting", bool)),
    # nonlinearities and losses
    *[Case(cls.__name__, name, numbers_and_junk(1.0),
           lambda c, v, cls=cls, name=name: cls(**{name: v}), pure=False,
           check=constructor_check(name, float))
      for cls, name in [(hf.nl.ReLU, "max"), (hf.nl.SoftLIF, "sigma"),
                        (hf.nl.SoftLIF, "tau_rc"), (hf.nl.SoftLIF, "tau_ref"),
                        (hf.nl.SoftLIF, "amp")]],
    Case("Continuous", "base", junk_values(), lambda c, v: hf.nl.Continuous(v),
         pure=False),
    Case("Continuous", "tau", numbers_and_junk(1.0),
         lambda c, v: hf.nl.Continuous(hf.nl.Tanh(), tau=v), pure=False),
    *[Case(cls.__name__, "weight", numbers_and_junk(0.1),
           lambda c, v, cls=cls: cls(v), pure=False,
           check=constructor_check("weight", float))
      for cls in (hf.loss_funcs.SparseL1, hf.loss_funcs.SparseL2,
                  hf.loss_funcs.StructuralDamping)],
    Case("SparseL1", "layers", st.one_of(junk_values(), int_lists(3)),
         lambda c, v: hf.FFNet([3, 4, 2], loss_type=[hf.loss_funcs.SquaredError(),
                                                      hf.loss_funcs.SparseL1(0.1, v)]),
         pure=False),
    Case("LossSet", "set", st.one_of(junk_values(), st.lists(junk_values(), max_size=3)),
         lambda c, v: hf.loss_funcs.LossSet(v), pure=False),
    # pure functions
    Case("conjugate_gradient", "b", arrays_near((5,)),
         lambda c, v: cg.conjugate_gradient(lambda x, out: np.multiply(x, 2, out=out),
                                            v, None, max_iters=4)),
    Case("conjugate_gradient", "x0", arrays_near((5,)),
         lambda c, v: cg.conjugate_gradient(lambda x, out: np.multiply(x, 2, out=out),
                                            np.ones(5), v, max_iters=4)),
    Case("conjugate_gradient", "max_iters", numbers_and_junk(4),
         lambda c, v: cg.conjugate_gradient(lambda x, out: np.multiply(x, 2, out=out),
                                            np.ones(5), None, max_iters=v)),
    Case("conjugate_gradient", "precond", arrays_near((5,)),
         lambda c, v: cg.conjugate_gradient(lambda x, out: np.multiply(x, 2, out=out),
                                            np.ones(5), None, max_iters=4, precond=v)),
    Case("conjugate_gradient", "matvec", junk_values(),
         lambda c, v: cg.conjugate_gradient(v, np.ones(5), None, max_iters=4)),
    Case("dataplotter.plot", "plots", st.one_of(junk_values(), st.dictionaries(
        st.sampled_from(["error", "damping (log)"]),
        st.one_of(junk_values(), st.lists(st.floats(allow_nan=True), max_size=4),
                  arrays_near((3,))), max_size=2)), plot_call,
         check=lambda c, v, r: r is not None),
    Case("dataplotter.load", "filename", junk_values(),
         lambda c, v: dataplotter().load(v), also=(FileNotFoundError,)),
    # files: weights, checkpoints, plot files
    Case("FFNet(load_weights=file)", "load_weights", weight_files(), load_weights_file,
         pure=False, check=weights_match_file),
    Case("hf.load(tampered field)", "field", st.tuples(
        st.sampled_from(MODEL_FIELDS), json_values() | st.just("(missing)")),
         load_model_with_field, pure=False, aliases=("case_model.npz",)),
    Case("hf.load(file)", "content", model_file_bytes(), load_model_file, pure=False,
         aliases=("case_model.npz",)),
    Case("run_epochs(resume=True)", "field", st.tuples(
        st.sampled_from(sorted(CHECKPOINT_FIELDS)), json_values()), resume_with_field,
         setup=lambda: ff_net(cached=False), pure=False, aliases=("case_checkpoint",)),
    *[Case(f"dataplotter.load(allow_pickle={allow})", "content", plot_file_contents(),
           load_plot_file(allow), aliases=("plots_case.json",), check=is_plot_dict)
      for allow in (False, True)],
    Case("CrossEntropy run_epochs", "targets", arrays_near((6, 2)),
         **{**train_call("targets", net_setup=softmax_net), "check": targets_in_domain}),
    Case("update_damping", "damping", numbers_and_junk(1.0),
         lambda c, v: damping.update_damping(v, 0.5)),
    Case("update_damping", "rho", numbers_and_junk(0.5),
         lambda c, v: damping.update_damping(1.0, v)),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input_is_refused_clearly_or_handled_correctly(case):
    @SETTINGS
    @given(value=case.values)
    def property_holds(value):
        run_case(case, value)

    property_holds()


def test_a_good_value_of_every_case_is_accepted():
    """Guard against cases that only ever raise because of a broken set-up."""
    good = {("FFNet.forward", "inputs"): X[:5], ("FFNet.calc_G", "v"): np.ones(N_PARAMS),
            ("FFNet.run_epochs", "max_epochs"): 2, ("HessianFree", "CG_iter"): 5,
            ("conjugate_gradient", "b"): np.ones(5)}
    cases = {(c.name, c.param): c for c in CASES}
    for key, value in good.items():
        run_case(cases[key], value)
        case = cases[key]
        case.call(case.setup(), value)  # no exception
