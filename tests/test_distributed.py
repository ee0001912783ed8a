"""Data-parallel training over MPI (hessianfree.parallel.distributed).

The multi-process tests launch the scripts in ``tests/mpi_scripts`` with
``mpiexec -n 2`` and ``-n 3`` (unequal shards) and compare, on rank 0, the
data-parallel results with one process working on the concatenated data.
They skip when mpi4py or ``mpiexec`` is missing (``pip install ".[mpi]"``
brings both).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hessianfree as hf
from hessianfree.parallel import agreement
from hessianfree.parallel import distributed

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "mpi_scripts")
REPO = os.path.dirname(HERE)
#: Seconds a launch may take before the test calls it a hang.
TIMEOUT = 60


def find_mpiexec():
    """The ``mpiexec`` installed beside this Python (the MPI that mpi4py
    uses when it came from the ``mpi`` extra), else the one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.access(beside, os.X_OK) else shutil.which("mpiexec")


def have_mpi4py():
    try:
        import mpi4py  # noqa: F401  (mpi4py.MPI, which starts MPI, loads later)
    except ImportError:
        return False
    return True


MPIEXEC = find_mpiexec()
HAVE_MPI4PY = have_mpi4py()
needs_mpi4py = pytest.mark.skipif(not HAVE_MPI4PY,
                                  reason='needs mpi4py: pip install ".[mpi]"')
needs_mpiexec = pytest.mark.skipif(not (HAVE_MPI4PY and MPIEXEC),
                                   reason='needs mpi4py and mpiexec: pip install ".[mpi]"')


def launch(n, script, *args, cwd, extra=(), timeout=TIMEOUT):
    """Run ``mpiexec -n n python script args`` one thread per process."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(filter(None, [REPO, SCRIPTS,
                                                        os.environ.get("PYTHONPATH")])))
    command = [MPIEXEC, *extra, "-n", str(n), sys.executable,
               os.path.join(SCRIPTS, script), *map(str, args)]
    # a process group of its own, so that a hang is cleaned up completely
    with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            pytest.fail(f"mpiexec -n {n} {script} still ran after {timeout} s "
                        f"(killed):\n{stdout}\n{stderr}")
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


def run_json(n, script, *args, tmp_path, extra=()):
    out = tmp_path / "results.json"
    proc = launch(n, script, *args, out, cwd=tmp_path, extra=extra)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out) as f:
        return json.load(f), proc


# ------------------------------------------------------ pure functions
@pytest.mark.parametrize("minibatch, sizes", [
    (10, [7, 9]), (14, [4, 11, 6]), (5, [1, 100, 3]), (90, [33, 33, 34]),
    (7, [10, 10, 10]), (3, [50, 50, 50, 50])])
def test_minibatch_shares_are_proportional_and_add_up(minibatch, sizes):
    shares = distributed.minibatch_shares(minibatch, sizes)
    exact = np.array(sizes) * minibatch / sum(sizes)
    assert all(share >= 1 for share in shares)
    assert all(share <= n for share, n in zip(shares, sizes))
    if all(e >= 1 for e in exact):
        assert sum(shares) == minibatch
        assert np.all(np.abs(np.array(shares) - exact) < 1)


def test_minibatch_shares_whole_data():
    assert distributed.minibatch_shares(None, [3, 4]) == [None, None]
    assert distributed.minibatch_shares(7, [3, 4]) == [None, None]
    assert distributed.minibatch_shares(70, [3, 4]) == [None, None]


def test_tiny_shard_still_draws_one_example():
    assert distributed.minibatch_shares(5, [1, 100, 3]) == [1, 5, 1]


def test_n_averaged_counts_examples_with_targets_for_classification():
    t = np.ones((5, 3, 2))
    t[0] = np.nan
    t[1, 0] = np.nan
    assert distributed.n_averaged(hf.loss_funcs.SquaredError(), t) == 5
    assert distributed.n_averaged(hf.loss_funcs.ClassificationError(), t) == 3 * 3 + 2


def test_without_comm_the_net_is_root_and_local():
    net = hf.FFNet([2, 3, 1])
    assert net.comm is None
    assert distributed.is_root(net)


# --------------------------------------------- one process, in process
def xor_run(**kwargs):
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    t = np.array([[0], [1], [1], [0]], dtype=np.float32)
    net = hf.FFNet([2, 5, 1], rng=np.random.default_rng(0))
    errors = net.run_epochs(x, t, hf.opt.HessianFree(CG_iter=5, plotting=False),
                            max_epochs=15, test=(x, t), print_period=None, **kwargs)
    return net, errors


@needs_mpi4py
def test_world_of_one_is_exactly_the_single_process_code():
    from mpi4py import MPI
    distributed.reset_stats()
    net, errors = xor_run(comm=MPI.COMM_SELF)
    assert distributed.stats.calls == 0  # no reduction at all
    ref, ref_errors = xor_run()
    assert np.array_equal(net.W, ref.W) and errors == ref_errors
    assert np.array_equal(net.best_W, ref.best_W)


@needs_mpi4py
def test_attached_world_of_one_gives_identical_bits():
    from mpi4py import MPI
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((20, 3)), rng.random((20, 2))
    net, ref = (hf.FFNet([3, 4, 2], rng=np.random.default_rng(2)) for _ in range(2))
    distributed.attach(net, MPI.COMM_SELF)
    for n in (net, ref):
        n.cache_minibatch(x, t)
    v = rng.standard_normal(net.n_params).astype(np.float32)
    assert np.array_equal(net.calc_grad(), ref.calc_grad())
    assert np.array_equal(net.calc_G(v, 0.5), ref.calc_G(v, 0.5))
    assert net.error() == ref.error()
    assert distributed.detach(net).comm is None


def test_comm_must_be_a_communicator():
    """A TypeError, or without mpi4py an ImportError naming the extra,
    before anything changes."""
    net = hf.FFNet([2, 3, 1])
    W = net.W.copy()
    error, match = ((TypeError, "comm must be an mpi4py") if HAVE_MPI4PY
                    else (ImportError, r"hessianfree\[mpi\]"))
    with pytest.raises(error, match=match):
        net.run_epochs(np.zeros((4, 2)), np.zeros((4, 1)), hf.opt.HessianFree(),
                       comm="COMM_WORLD")
    with pytest.raises(error, match=match):
        distributed.attach(net, object())
    assert np.array_equal(net.W, W) and net.comm is None


# ------------------------------------------------------ several processes
TOLERANCE = 1e-12  # float64: the sums differ only in their order


@needs_mpiexec
@pytest.mark.parametrize("kind, sizes", [
    ("ff", [7, 9]), ("ff", [4, 11, 6]), ("rnn", [5, 8]), ("rnn", [3, 8, 5])])
def test_distributed_matches_one_process_on_the_concatenated_data(kind, sizes,
                                                                   tmp_path):
    results, _ = run_json(len(sizes), "check_equivalence.py", kind,
                          ",".join(map(str, sizes)), tmp_path=tmp_path)
    for name in ("grad", "grad_sq", "G", "G_subset", "error", "error_W", "test_error",
                 "test_class", "explicit_G"):
        assert results[name] < TOLERANCE, name
    # training: full shards with test shards, then epoch by epoch minibatches
    assert results["n_epochs"] == 6
    for name in ("train_W", "train_best_W", "train_errors", "train_damping",
                 "minibatch_W", "precond_W") + ("kfac_W",) * (kind == "ff"):
        assert results[name] < 1e-9, name
    assert results["precond_moved"] > 1e-3  # the weights did change
    assert results["identical_W_on_all_ranks"]
    assert results["identical_errors_on_all_ranks"]
    assert results["comm_restored"]
    assert results["minibatch_sizes"] == [results["minibatch_expected"]] * 5


@needs_mpiexec
@pytest.mark.parametrize("n", [2, 3])
def test_plants_on_every_process_simulate_their_share(n, tmp_path):
    results, _ = run_json(n, "check_plant.py", tmp_path=tmp_path)
    assert results["plant_grad"] < TOLERANCE and results["plant_error"] < TOLERANCE
    # closed loop: the data follow the weights, and CG magnifies their last
    # bits, so two epochs agree to ~1e-9 rather than to rounding
    assert results["plant_W"] < 1e-6
    assert results["plant_moved"] > 1e-2
    assert results["identical_W_on_all_ranks"]


@needs_mpiexec
def test_only_rank_0_prints_and_writes_and_resume_continues_exactly(tmp_path):
    results, proc = run_json(2, "check_io.py", tmp_path, tmp_path=tmp_path,
                             extra=["-prepend-rank"])
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert any("epoch 2" in line for line in lines)
    assert all(line.startswith("[0]") for line in lines), proc.stdout
    assert results["files_after_3_epochs"] == ["run_checkpoint.npz", "run_plots.json",
                                               "run_weights.npy"]
    assert results["resumed_vs_whole"] == 0
    assert results["identical_W_on_all_ranks"]


@needs_mpiexec
@pytest.mark.parametrize("n", [2, 3])
def test_an_exception_on_one_rank_ends_every_rank(n, tmp_path):
    proc = launch(n, "raise_on_rank.py", "collective", cwd=tmp_path, timeout=30)
    assert proc.returncode != 0
    assert f"rank 1 of {n} raised; aborting all ranks" in proc.stderr
    assert "injected failure on rank 1" in proc.stderr
    assert "finished without an error" not in proc.stdout
    assert proc.stderr.count("Traceback") == 1  # the failing rank's, once


@needs_mpiexec
def test_processes_that_disagree_all_raise_the_same_error(tmp_path):
    proc = launch(2, "raise_on_rank.py", "mismatch", cwd=tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stderr
    for rank in (0, 1):
        assert f"rank {rank} raised ValueError: every process must pass the same " \
               "kind of test data" in proc.stdout


@needs_mpiexec
def test_bad_arguments_on_one_rank_raise_on_every_rank(tmp_path):
    proc = launch(2, "raise_on_rank.py", "bad_minibatch", cwd=tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "rank 1 raised ValueError: minibatch_size must be a positive int" in proc.stdout
    assert "rank 0 raised ValueError: run_epochs on rank 1: ValueError: minibatch_size" \
        in proc.stdout


#: What every process must say when rank 1's arguments differ from rank 0's.
DISAGREEMENTS = {
    "max_epochs": "max_epochs; got rank 0: 3; rank 1: 5",
    "target_err": "target_err; got rank 0: 1e-06; rank 1: 0.5",
    "max_failures": "max_failures; got rank 0: 10; rank 1: 2",
    "minibatch_size": "minibatch_size; got rank 0: None; rank 1: 4",
    "test_err": "test_err; got rank 0: None; rank 1: ClassificationError()",
    "layers": "network.layers; got rank 0: [",
    "n_params": "n_params; got rank 0: 38; rank 1: 44",
    "CG_iter": "optimizer.CG_iter; got rank 0: 5; rank 1: 9",
    "optimizer_class": "optimizer; got rank 0: HessianFree(",
    "bad_inputs": "run_epochs on rank 1: ValueError: inputs must have 3 units",
    "checkpoint_on_rank_0_only": "checkpoint (resume=True); got rank 0: 'epoch 2, "
                                "weights ",
}


def disagreements(tmp_path, cases):
    """``{case: [message on rank 0, message on rank 1]}`` from disagree.py."""
    results, _ = run_json(2, "disagree.py", tmp_path, *cases, tmp_path=tmp_path)
    assert set(results) == set(cases)
    assert all(len(messages) == 2 for messages in results.values()), results
    return results


@needs_mpiexec
def test_processes_with_different_arguments_all_raise_before_any_collective(tmp_path):
    """Each case would otherwise leave one process waiting in an Allreduce
    for ever (the launch timeout turns such a hang into a failure)."""
    results = disagreements(tmp_path, list(DISAGREEMENTS))
    for case, expected in DISAGREEMENTS.items():
        messages = results[case]
        assert expected in messages[0], (case, messages)
        if case == "bad_inputs":  # the rank that got it raises the original error
            assert messages[1].startswith("inputs must have 3 units"), messages
        else:
            assert messages[1] == messages[0], (case, messages)
    assert "rank 1: SGD(l_rate=1.0)" in results["optimizer_class"][0]
    assert "; rank 1: \"no checkpoint" in results["checkpoint_on_rank_0_only"][0]


@needs_mpiexec
def test_a_setting_refused_on_one_rank_only_raises_on_every_rank(tmp_path):
    """``minibatch_size="auto"``, a callback that is not callable or an
    output directory that rank 0 (the writer) lacks, on one process: every
    process raises, none waits in a collective call, nothing aborts."""
    results = disagreements(tmp_path, ["auto_on_one_rank", "callback_not_callable",
                                       "unwritable_on_rank_0"])
    auto = results["auto_on_one_rank"]
    assert auto[0] == auto[1]
    assert auto[0].startswith("every process must pass the same minibatch_size; got "
                              "rank 0: None; rank 1: VarianceSchedule(initial=1000, ")
    callback = results["callback_not_callable"]
    assert callback[1] == "callback must be callable(net, epoch), got 5"
    assert callback[0] == f"run_epochs on rank 1: TypeError: {callback[1]}"
    unwritable = results["unwritable_on_rank_0"]
    assert unwritable[0].startswith("file_output: directory ") and "does not exist" in \
        unwritable[0]
    assert unwritable[1] == f"run_epochs on rank 0: ValueError: {unwritable[0]}"


@needs_mpiexec
def test_every_optimizer_and_preconditioner_setting_is_agreed(tmp_path):
    """K-FAC's ``period`` (else MPI_Abort, message truncated), its ``decay``
    (else the weights drift apart and training ends blaming the MPI
    library) and the kind of preconditioner, named with every rank's value."""
    results = disagreements(tmp_path, ["kfac_period", "kfac_decay", "kfac_vs_diagonal"])
    for messages in results.values():
        assert messages[0] == messages[1], messages
    assert results["kfac_period"][0] == ("every process must pass the same "
                                         "optimizer.preconditioner.period; got rank 0: 1; "
                                         "rank 1: 3")
    assert results["kfac_decay"][0] == ("every process must pass the same "
                                        "optimizer.preconditioner.decay; got rank 0: 0.95; "
                                        "rank 1: 0.9")
    kinds = results["kfac_vs_diagonal"][0]
    assert kinds.startswith("every process must pass the same optimizer.preconditioner; "
                            "got rank 0: KFAC(")
    assert "period=1" in kinds and "; rank 1: " in kinds and "iagonal" in kinds


@needs_mpiexec
def test_a_callback_that_stops_one_rank_stops_every_rank(tmp_path):
    results, _ = run_json(2, "callback_stop.py", tmp_path=tmp_path)
    ranks = results["ranks"]
    assert [r["n_epochs"] for r in ranks] == [2, 2]  # rank 1 asked after epoch 1
    assert [r["seen"] for r in ranks] == [[0, 1], [0, 1]]
    assert ranks[0]["errors"] == ranks[1]["errors"]
    assert ranks[0]["digest"] == ranks[1]["digest"]


@needs_mpiexec
@pytest.mark.parametrize("sizes", [[60, 60], [30, 50, 41]])
def test_a_minibatch_schedule_matches_one_process(sizes, tmp_path):
    """The variance test sees the statistics of every process's minibatch
    share together, so it grows the minibatch as one process on all the
    data does (here through a step that is not a doubling)."""
    results, _ = run_json(len(sizes), "check_schedule.py", ",".join(map(str, sizes)),
                          tmp_path=tmp_path)
    assert results["sizes"] == results["ref_sizes"] == results["drawn_sizes"]
    assert results["sizes"][0] == 6 and results["sizes"][-1] == sum(sizes) - 10
    assert results["W"] < 1e-9 and results["errors"] < 1e-9
    assert results["moved"] > 1e-2
    assert results["identical_W_on_all_ranks"] and results["same_sizes_on_all_ranks"]
    assert results["auto_W"] < 1e-9 and results["auto_errors"] < 1e-9
    assert results["auto_identical_W_on_all_ranks"]


# ------------------------------------------------ agreement, no processes
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3),
                    st.sampled_from([1e-06, 0.5, "HessianFree", "SGD"]))
SETTINGS = st.fixed_dictionaries(
    {"class": st.sampled_from(["KFAC", "Diagonal"])},
    optional={"period": st.integers(1, 2), "decay": st.sampled_from([0.9, 0.95])})
DESCRIPTIONS = st.fixed_dictionaries({
    "max_epochs": st.integers(1, 3),
    "minibatch_size": st.one_of(st.none(), st.integers(1, 3)),
    "network": st.fixed_dictionaries({"shape": st.sampled_from([[2, 3], [2, 4]]),
                                      "layers": st.sampled_from([["Tanh"], ["ReLU"]])}),
    "optimizer": st.fixed_dictionaries(
        {"class": st.sampled_from(["HessianFree", "SGD"])},
        optional={"CG_iter": SCALARS, "preconditioner": st.one_of(SCALARS, SETTINGS),
                  "state": st.dictionaries(st.sampled_from(["damping", "epoch"]), SCALARS)})})


def _at(description, path):
    """The value at ``path`` (``name.key.subkey``), ABSENT where missing."""
    name, *keys = path.split(".")
    value = description[name]
    for key in keys:
        value = value.get(key, agreement.ABSENT)
    return value


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(runs=st.lists(DESCRIPTIONS, min_size=1, max_size=5))
def test_check_agreement_names_the_innermost_difference_with_every_rank(runs):
    def same(a, b):  # as data: False is not 0, dict order does not matter
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)

    if all(same(run, runs[0]) for run in runs):
        agreement.check_agreement(runs)
        return
    first = next(k for k in runs[0] if any(not same(r[k], runs[0][k]) for r in runs))
    with pytest.raises(ValueError, match=f"every process must pass the same {first}[.;]") \
            as info:
        agreement.check_agreement(runs)
    message = str(info.value)
    path, shown = message[len("every process must pass the same "):].split("; got ", 1)
    column = [_at(run, path) for run in runs]
    assert not all(same(value, column[0]) for value in column)
    # innermost: not two descriptions of the same class that could be opened
    assert not (all(isinstance(v, dict) for v in column)
                and len({json.dumps(v.get("class")) for v in column}) == 1)
    assert shown == agreement.by_rank(column)
    named = []  # every rank is named once, in its value's group
    for label in re.findall(r"(?:^|; )ranks? ([0-9, -]+):", shown):
        for part in label.split(", "):
            first_rank, _, last_rank = part.partition("-")
            named += range(int(first_rank), int(last_rank or first_rank) + 1)
    assert sorted(named) == list(range(len(runs)))


@pytest.mark.parametrize("values, text", [
    ([1, 2, 2], "rank 0: 1; ranks 1-2: 2"),
    ([1, 2, 1, 1, 3], "ranks 0, 2-3: 1; rank 1: 2; rank 4: 3"),
    (["diagonal", None, agreement.ABSENT], "rank 0: 'diagonal'; rank 1: None; "
                                           "rank 2: (absent)")])
def test_by_rank_groups_the_ranks_that_share_a_value(values, text):
    assert agreement.by_rank(values) == text


class _Settings:
    """An object with a settings() method (what describe_settings prefers)."""

    def __init__(self, period):
        self.period, self._hidden = period, [1, 2]

    def settings(self):
        return {"period": self.period, "kind": "custom"}


class _Holder:
    def __init__(self, inner):
        self.inner, self.rate, self.array = inner, np.float32(0.5), np.zeros(3)
        self.state, self.plots, self._private = {"n": 1}, {}, 3
        self.flags, self.function = (True, np.int64(2)), len


def test_describe_settings_reads_settings_or_simple_public_attributes():
    described = agreement.describe_settings(_Holder(_Settings(4)))
    assert described == {"class": "_Holder", "inner": {"class": "_Settings", "period": 4,
                                                       "kind": "custom"},
                         "rate": 0.5, "flags": [True, 2]}
    assert agreement.show(described) == ("_Holder(inner=_Settings(period=4, kind='custom'), "
                                         "rate=0.5, flags=[True, 2])")
    deep = agreement.describe_settings(_Holder(_Holder(_Holder(_Holder(_Holder(None))))))
    assert "inner" not in deep["inner"]["inner"]["inner"]  # DEPTH levels only


def test_every_setting_of_the_optimizer_and_its_preconditioner_is_described():
    opt = hf.opt.HessianFree(CG_iter=7, preconditioner=hf.kfac.KFAC(period=3, decay=0.9))
    described = agreement.optimizer_settings(opt)
    assert described["class"] == "HessianFree" and described["CG_iter"] == 7
    assert described["preconditioner"]["period"] == 3
    assert described["preconditioner"]["decay"] == 0.9
    assert described["state"]["damping"] == opt.damping
    public = {name for name, value in vars(opt).items()
              if not name.startswith("_") and name not in agreement.NOT_SETTINGS
              and (value is None or isinstance(value, (bool, int, float, str)))}
    assert public <= set(described)  # every simple public attribute takes part
    assert "net" not in described and "plots" not in described


def test_describe_run_checks_arguments_like_run_epochs():
    net = hf.FFNet([2, 3, 1])
    x, t = np.zeros((4, 2)), np.zeros((4, 1))
    for kwargs, match in [(dict(max_epochs=0), "max_epochs"),
                          (dict(inputs=np.zeros((4, 3))), "inputs"),
                          (dict(target_err="x"), "target_err"),
                          (dict(resume=True), "file_output"),
                          (dict(plotting="yes"), "plotting"),
                          (dict(callback=5), "callback"),
                          (dict(wrong_name=1), "wrong_name")]:
        run = {"inputs": x, "targets": t, "optimizer": hf.opt.HessianFree(), **kwargs}
        with pytest.raises((TypeError, ValueError), match=match):
            agreement.describe_run(net, run)
    run = agreement.describe_run(net, {"inputs": x, "targets": t,
                                       "optimizer": hf.opt.HessianFree(CG_iter=7)})
    assert run["optimizer"]["CG_iter"] == 7 and run["n_params"] == net.n_params
    assert run["network"]["shape"] == [2, 3, 1]
    assert run["checkpoint (resume=True)"] == "not resuming"
    # "auto" is the default schedule, described by its settings
    auto, schedule = (agreement.describe_run(net, {"inputs": x, "targets": t,
                                                   "optimizer": hf.opt.SGD(),
                                                   "minibatch_size": size})
                      for size in ("auto", hf.schedule.VarianceSchedule()))
    assert auto == schedule and auto["minibatch_size"]["initial"] == 1000
    grown = hf.schedule.VarianceSchedule()
    grown.size = 4000  # where an earlier run left it: describing it changes nothing
    assert agreement.describe_run(net, {"inputs": x, "targets": t, "optimizer": hf.opt.SGD(),
                                        "minibatch_size": grown}) == auto
    assert grown.size == 4000
    # only the process that writes the files checks that it can
    missing = dict(inputs=x, targets=t, optimizer=hf.opt.SGD(),
                   file_output="/nonexistent-directory/run")
    agreement.describe_run(net, missing, root=False)
    with pytest.raises(ValueError, match="does not exist"):
        agreement.describe_run(net, missing, root=True)


class _TwinComm:
    """Two processes holding the same data: Allreduce doubles the buffer."""

    def Get_size(self):
        return 2

    def Allreduce(self, _, buf, op=None):
        buf *= 2


@pytest.mark.parametrize("device", [False, True])
def test_allreduce_mean_reuses_its_host_buffer(device, monkeypatch):
    """Every CG product's reduction goes through one host buffer kept by the
    reduction (device arrays copied into it and back in place)."""
    pytest.importorskip("mpi4py")
    xp = np
    if device:
        import strict_xp
        xp = strict_xp.install(monkeypatch)
    a = xp.asarray(np.arange(6.0))
    b = xp.asarray(np.ones(3))
    buffers = {}
    for _ in range(3):
        distributed.allreduce_mean(_TwinComm(), [a, b], 5, buffers)
    assert len(buffers) == 1 and next(iter(buffers.values())).shape == (10,)
    np.testing.assert_allclose(hf.backend.to_numpy(a), np.arange(6.0))
    np.testing.assert_allclose(hf.backend.to_numpy(b), np.ones(3))
