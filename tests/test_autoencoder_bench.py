"""The interleaving of bench/autoencoder.py (no PyTorch needed): every
configuration gets the same training time, the one behind steps next, errors
are measured on schedule, and the time-to-error lookup.  A fake clock
replaces the wall clock, so nothing here is timed."""

import importlib.util
import pathlib

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench" / "autoencoder.py"


@pytest.fixture
def bench(monkeypatch):
    spec = importlib.util.spec_from_file_location("autoencoder_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    clock = {"now": 0.0}

    class FakeTime:
        @staticmethod
        def perf_counter():
            return clock["now"]

    monkeypatch.setattr(module, "time", FakeTime)
    return module, clock


def fake_run(bench, clock, name, cost, order):
    """A configuration whose steps take ``cost`` fake seconds; its error is
    100 / (1 + steps)."""
    def step():
        clock["now"] += cost
        order.append(name)

    run = None

    def errors():
        return 100 / (1 + run.steps), 0.0

    run = bench.Run(name, step, errors)
    return run


def test_race_gives_equal_time_and_interleaves(bench):
    module, clock = bench
    order = []
    slow = fake_run(module, clock, "slow", 3.0, order)
    fast = fake_run(module, clock, "fast", 1.0, order)
    shared = module.race([slow, fast], budget=10.0, n_evals=2)
    assert shared == slow.train_s == fast.train_s == 12.0
    assert (slow.steps, fast.steps) == (4, 12)
    # the one with less training time always steps next
    assert order[:5] == ["slow", "fast", "fast", "fast", "slow"]
    assert [t for t, _, _ in slow.curve] == [0.0, 6.0, 12.0]
    assert [t for t, _, _ in fast.curve] == [0.0, 5.0, 10.0, 12.0]
    assert fast.final_train == pytest.approx(100 / 13)


def test_time_to_reach(bench):
    module, clock = bench
    run = fake_run(module, clock, "r", 1.0, [])
    run.curve = [(0.0, 50.0, 0.0), (4.0, 20.0, 0.0), (8.0, 10.0, 0.0)]
    assert module.time_to_reach(run, 20.0) == 4.0
    assert module.time_to_reach(run, 15.0) == 8.0
    assert module.time_to_reach(run, 5.0) is None
