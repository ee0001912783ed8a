"""Tests for the pathological problems: each generator's encoding, shapes,
seeding and success criterion, Martens & Sutskever's network, and a short
Hessian-free run that provably lowers the error."""

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.data import tasks

import strict_xp
from test_distributed import needs_mpiexec, run_json

T = 20


@pytest.fixture(params=sorted(tasks.TASKS))
def name(request):
    return request.param


def has_target(t):
    return ~np.isnan(t).all(axis=-1)


def test_shapes_seeding_and_targets(name):
    spec = tasks.get_task(name)
    x, t = tasks.generate(name, T, 50, rng=3)
    n_steps = {"random_permutation": T, "memorization": T + 10,
               "memorization_20bit": T + 20}.get(name, T + T // 10)
    assert x.shape == (50, n_steps, spec.n_in) and t.shape == (50, n_steps, spec.n_out)
    assert x.dtype == t.dtype == np.float32
    assert np.isfinite(x).all()
    x2, t2 = tasks.generate(name, T, 50, rng=3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(t, t2)
    assert not np.array_equal(x, tasks.generate(name, T, 50, rng=4)[0])
    # a step has all its targets or none
    assert (np.isnan(t).all(axis=-1) | np.isfinite(t).all(axis=-1)).all()
    if spec.kind == "classification":
        assert ((t[has_target(t)] == 0) | (t[has_target(t)] == 1)).all()
        np.testing.assert_array_equal(t[has_target(t)].sum(axis=-1), 1)
    if name not in ("addition", "multiplication", "xor"):
        np.testing.assert_array_equal(x.sum(axis=-1), 1)  # one-hot symbols


@pytest.mark.parametrize("name", ["addition", "multiplication", "xor"])
def test_two_operand_tasks(name):
    x, t = tasks.generate(name, T, 200, rng=0)
    rows = np.arange(200)
    end = np.flatnonzero(has_target(t).ravel()) % t.shape[1]
    assert has_target(t).sum(axis=1).tolist() == [1] * 200
    assert end.min() >= T - 1 and end.max() <= T + T // 10 - 1
    assert end.min() < end.max()  # variable lengths
    assert (x[:, 0, 1] == -1).all() and (x[rows, end, 1] == -1).all()
    marks = x[:, :, 1] == 1
    assert marks.sum(axis=1).tolist() == [2] * 200
    first, second = (np.argsort(~marks, axis=1, kind="stable")[:, k] for k in (0, 1))
    assert first.max() < T // 10 <= second.min() and second.max() < T // 2
    a, b = x[rows, first, 0], x[rows, second, 0]
    target = t[rows, end]
    if name == "addition":
        np.testing.assert_allclose(target[:, 0], a + b, rtol=1e-6)
    elif name == "multiplication":
        np.testing.assert_allclose(target[:, 0], a * b, rtol=1e-6)
    else:
        assert set(np.unique(x[:, :, 0])) == {0.0, 1.0}
        np.testing.assert_array_equal(target.argmax(axis=1), (a != b).astype(int))


@pytest.mark.parametrize("name, windows", [
    ("temporal_order", [(2, 4), (10, 12)]),
    ("temporal_order_3bit", [(2, 4), (6, 8), (13, 15)])])
def test_temporal_order(name, windows):
    x, t = tasks.generate(name, T, 300, rng=0)
    symbols = x.argmax(axis=-1)
    rows = np.arange(300)
    end = has_target(t).argmax(axis=1)
    assert (symbols[:, 0] == 6).all() and (symbols[rows, end] == 7).all()
    assert (symbols == 7).sum(axis=1).tolist() == [1] * 300
    label = np.zeros(300, dtype=int)
    relevant = (symbols == 4) | (symbols == 5)
    assert relevant.sum(axis=1).tolist() == [len(windows)] * 300
    for k, (low, high) in enumerate(windows):
        where = np.argsort(~relevant, axis=1, kind="stable")[:, k]
        assert low <= where.min() and where.max() < high
        label += (symbols[rows, where] == 5).astype(int) << k
    np.testing.assert_array_equal(t[rows, end].argmax(axis=1), label)
    assert len(np.unique(label)) == 2 ** len(windows)


def test_random_permutation():
    x, t = tasks.generate("random_permutation", T, 100, rng=0)
    s, target = x.argmax(axis=-1), t.argmax(axis=-1)
    assert set(np.unique(s[:, 0])) == {0, 1} and s[:, 1:].min() >= 2
    np.testing.assert_array_equal(target[:, :-1], s[:, 1:])
    np.testing.assert_array_equal(target[:, -1], s[:, 0])
    scored = tasks.get_task("random_permutation").scored(t)
    assert has_target(scored).sum(axis=1).tolist() == [1] * 100
    assert has_target(scored)[:, -1].all()


def test_memorization():
    x, t = tasks.generate("memorization", T, 100, rng=0)
    s = x.argmax(axis=-1)
    assert s[:, :5].max() <= 1 and (s[:, 5:T + 4] == 3).all()
    assert (s[:, T + 4] == 2).all() and (s[:, T + 5:] == 3).all()
    assert not has_target(t)[:, :T + 5].any() and has_target(t)[:, T + 5:].all()
    np.testing.assert_array_equal(t[:, T + 5:].argmax(axis=-1), s[:, :5])


def test_memorization_20bit():
    x, t = tasks.generate("memorization_20bit", T, 200, rng=0)
    assert x.shape == (200, T + 20, 7) and t.shape == (200, T + 20, 5)
    s = x.argmax(axis=-1)
    assert s[:, :10].max() <= 4 and set(np.unique(s[:, :10])) == set(range(5))
    assert (s[:, 10:T + 9] == 6).all() and (s[:, T + 9] == 5).all()
    assert (s[:, T + 10:] == 6).all()
    assert not has_target(t)[:, :T + 10].any() and has_target(t)[:, T + 10:].all()
    np.testing.assert_array_equal(t[:, T + 10:].argmax(axis=-1), s[:, :10])


def test_paper_criterion_counts_wrong_sequences():
    _, t = tasks.generate("addition", 20, 1000, rng=0)
    exact = np.nan_to_num(t)
    assert tasks.threshold("addition", "paper") == tasks.PAPER_THRESHOLD == 0.001
    assert tasks.test_error("addition", exact + 0.039, t, "paper") == 0
    assert tasks.solved("addition", exact + 0.039, t, criterion="paper")
    off = exact.copy()
    off[:2] += 0.05  # two sequences off by more than 0.04: 0.2% wrong
    assert tasks.test_error("addition", off, t, "paper") == pytest.approx(0.002)
    assert not tasks.solved("addition", off, t, "paper")
    assert tasks.solved("addition", off, t)  # MSE 5e-6 meets the library's
    off[0, -1] = np.nan
    assert tasks.test_error("addition", off, t, "paper") == pytest.approx(0.002)
    # classification: a sequence with one wrong step of five is wrong
    _, t = tasks.generate("memorization", 10, 500, rng=0)
    out = np.nan_to_num(t)
    out[0, -1] = 1 - out[0, -1]
    assert tasks.test_error("memorization", out, t) == pytest.approx(1 / 2500)
    assert tasks.test_error("memorization", out, t, "paper") == pytest.approx(1 / 500)
    with pytest.raises(ValueError, match="criterion"):
        tasks.test_error("memorization", out, t, "strict")
    with pytest.raises(ValueError, match="criterion"):
        tasks.threshold("xor", "none")


def test_test_error_and_trivial_predictors():
    _, t = tasks.generate("addition", 100, 4000, rng=0)
    mean = np.where(np.isnan(t), 0, np.nanmean(t))
    trivial = tasks.test_error("addition", mean, t)
    assert 0.15 < trivial < 0.18  # variance of the sum of two U(0, 1): 1/6
    assert tasks.test_error("addition", np.nan_to_num(t), t) == 0
    assert tasks.solved("addition", np.nan_to_num(t) + 0.05, t)
    assert not tasks.solved("addition", np.nan_to_num(t) + 0.2, t)
    _, t = tasks.generate("random_permutation", T, 50, rng=0)
    right_last = np.nan_to_num(t.copy())
    right_last[:, :-1] = 0  # wrong everywhere but the last, scored, step
    right_last[:, :-1, 0] = 1
    assert tasks.test_error("random_permutation", right_last, t) == 0
    assert tasks.solved("random_permutation", right_last, t)


def test_bad_input():
    with pytest.raises(ValueError, match="task must be one of"):
        tasks.generate("adding", T, 10)
    with pytest.raises(TypeError, match="task"):
        tasks.get_task(3)
    with pytest.raises(ValueError, match="T must be at least 10"):
        tasks.generate("addition", 5, 10)
    with pytest.raises(ValueError, match="n_sequences"):
        tasks.generate("xor", T, 0)
    with pytest.raises(TypeError, match="rng"):
        tasks.generate("xor", T, 10, rng="seed")
    with pytest.raises(ValueError, match="shape"):
        tasks.test_error("xor", np.zeros((2, 3, 2)), np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match="structural_damping"):
        tasks.tanh_rnn("xor", structural_damping=-1)


def test_tanh_rnn_recipe():
    opt = hf.opt.HessianFree(CG_iter=5, plotting=False)
    net = tasks.tanh_rnn("temporal_order", n_hidden=30, spectral_radius=1.2,
                         optimizer=opt, rng=0)
    assert net.shape == [8, 30, 4] and net.rec_layers == [1]
    assert isinstance(net.layers[1], hf.nl.Tanh) and isinstance(net.layers[2], hf.nl.Softmax)
    W_rec, _ = net.get_weights(net.W, (1, 1))
    assert np.isclose(np.abs(np.linalg.eigvals(W_rec)).max(), 1.2, rtol=1e-4)
    assert ((W_rec != 0).sum(axis=0) == 15).all()  # sparse: 15 incoming weights
    damping = [loss for loss in net.loss_type.set
               if isinstance(loss, hf.loss_funcs.StructuralDamping)]
    assert len(damping) == 1 and damping[0].optimizer is opt
    assert np.isclose(damping[0].weight, 1 / 30)
    scaled = tasks.tanh_rnn("temporal_order", n_hidden=30, rng=0, init_scale=0.5,
                            input_scale=0.25)
    for (pre, post), factor in (((0, 1), 0.125), ((1, 2), 0.5), ((1, 1), 1)):
        np.testing.assert_allclose(scaled.get_weights(scaled.W, (pre, post))[0],
                                   factor * net.get_weights(net.W, (pre, post))[0],
                                   rtol=1e-6)
    plain = tasks.tanh_rnn("addition", n_hidden=10, structural_damping=0, rng=0)
    assert isinstance(plain.layers[2], hf.nl.Linear)
    assert not any(isinstance(loss, hf.loss_funcs.StructuralDamping)
                   for loss in plain.loss_type.set)


@pytest.mark.parametrize("name", ["addition", "temporal_order"])
def test_short_training_improves(name):
    """A few HF updates on a short problem lower the test error of the
    criterion well below its initial value."""
    x, t = tasks.generate(name, 10, 300, rng=0)
    test = tasks.generate(name, 10, 300, rng=1)
    opt = hf.opt.HessianFree(CG_iter=30, init_damping=1, plotting=False)
    net = tasks.tanh_rnn(name, n_hidden=20, optimizer=opt, rng=0)
    before = tasks.test_error(name, net.forward(test[0])[-1], test[1])
    net.run_epochs(x, t, opt, max_epochs=8, print_period=None)
    after = tasks.test_error(name, net.forward(test[0])[-1], test[1])
    assert after < 0.7 * before


# ------------------------------------------------ data-parallel and device
@needs_mpiexec
def test_tasks_train_data_parallel_as_on_one_process(tmp_path):
    results, _ = run_json(2, "check_tasks.py", "7,5", tmp_path=tmp_path)
    for task in ("addition", "temporal_order", "memorization"):
        assert results[f"{task}_W"] < 1e-7, task  # CG magnifies rounding
        assert results[f"{task}_errors"] < 1e-7, task
        assert results[f"{task}_epochs"] == [3, 3]
        assert results[f"{task}_same_W_on_all_ranks"]


@pytest.mark.parametrize("name", ["multiplication", "temporal_order_3bit"])
def test_tasks_train_on_the_strict_device_stand_in(monkeypatch, name):
    """The GPU path (``use_GPU=True``, here NumPy behind CuPy's rules) trains
    on the tasks' data as the CPU does."""
    x, t = tasks.generate(name, 10, 40, rng=0)
    spec = tasks.get_task(name)
    test_x, test_t = tasks.generate(name, 10, 20, rng=1)
    test_err, target_err = spec.stopping_rule()
    runs = {}
    for device in (False, True):
        if device:
            strict_xp.install(monkeypatch)
        opt = hf.opt.HessianFree(CG_iter=10, plotting=False)
        net = tasks.tanh_rnn(name, n_hidden=10, optimizer=opt, rng=0, use_GPU=device)
        runs[device] = net.run_epochs(x, t, opt, max_epochs=3,
                                      test=(test_x, spec.scored(test_t)),
                                      test_err=test_err, target_err=target_err,
                                      print_period=None)
        assert tasks.test_error(name, net.forward(test_x)[-1], test_t) >= 0
    np.testing.assert_allclose(runs[True], runs[False], rtol=1e-4)


@pytest.mark.parametrize("task", ["addition", "multiplication", "xor"])
def test_two_marked_steps_differ_at_short_lags(task):
    """At 10 <= T < 20 the first tenth of T is one step: the second operand
    must not land on it too (it did in about a quarter of the sequences)."""
    for T_short in range(10, 20):
        for seed in range(5):
            x, _ = tasks.generate(task, T_short, 200, rng=seed)
            marks = x[:, :, 1] == 1
            assert marks.sum(axis=1).tolist() == [2] * 200, (T_short, seed)
            first, second = (np.argsort(~marks, axis=1, kind="stable")[:, k]
                             for k in (0, 1))
            assert first.min() >= 1 and second.max() < T_short // 2


def test_seeded_data_unchanged_from_T_20():
    """The fix for short lags leaves the draws for T >= 20 as they were."""
    x, t = tasks.generate("addition", 20, 3, rng=0)
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 23, size=3)
    values = rng.random((3, 22))
    first = rng.integers(1, 2, size=3)
    second = rng.integers(2, 10, size=3)
    np.testing.assert_array_equal(x[:, :, 0], values.astype(np.float32))
    rows = np.arange(3)
    assert (x[rows, first, 1] == 1).all() and (x[rows, second, 1] == 1).all()
    assert (x[rows, lengths - 1, 1] == -1).all()


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, bool, np.complex64, "U3",
                                   object])
def test_non_floating_dtypes_are_refused(dtype):
    with pytest.raises(TypeError, match="dtype"):
        tasks.generate("addition", 20, 4, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, "float32"])
def test_floating_dtypes_keep_nan_targets(dtype):
    x, t = tasks.generate("addition", 20, 4, dtype=dtype)
    assert x.dtype == np.dtype(dtype) and t.dtype == np.dtype(dtype)
    assert np.isnan(t).any()


@pytest.mark.parametrize("task", ["xor", "temporal_order", "random_permutation",
                                  "memorization"])
def test_nan_outputs_count_as_wrong(task):
    _, t = tasks.generate(task, 20, 50, rng=0)
    outputs = np.full(t.shape, np.nan)
    assert tasks.test_error(task, outputs, t) == 1.0
    assert not tasks.solved(task, outputs, t)
    right = np.nan_to_num(t)
    one_nan = right.copy()
    one_nan[0, :, 0] = np.nan  # one sequence's first output unit
    scored = has_target(tasks.get_task(task).scored(t))
    expected = scored[0].sum() / scored.sum()
    assert tasks.test_error(task, one_nan, t) == pytest.approx(expected)


@pytest.mark.parametrize("task", ["addition", "multiplication"])
def test_nan_outputs_give_a_nan_regression_error(task):
    _, t = tasks.generate(task, 20, 50, rng=0)
    outputs = np.full(t.shape, np.nan)
    assert np.isnan(tasks.test_error(task, outputs, t))
    assert not tasks.solved(task, outputs, t)
