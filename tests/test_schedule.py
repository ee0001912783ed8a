"""Minibatch schedules (hessianfree.optim.schedule): Byrd et al.'s variance test
against explicit per-example gradients, the schedule's growth rules, and
run_epochs with minibatch_size="auto" (growth, CG budget, resume), the
per-epoch callback and the reuse of the line search's error."""

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.optim import schedule


def per_example_gradients(net, x, t):
    grads = []
    for i in range(len(x)):
        net.cache_minibatch(x[i:i + 1], t[i:i + 1])
        grads.append(net.calc_grad())
    return np.array(grads)


def test_sample_variance_matches_per_example_gradients():
    rng = np.random.default_rng(0)
    net = hf.FFNet([3, 4, 2], layers="Tanh", rng=rng, dtype=np.float64)
    x, t = rng.standard_normal((9, 3)), rng.random((9, 2))
    g = per_example_gradients(net, x, t)
    net.cache_minibatch(x, t)
    grad, sq = net.calc_grad(squared=True)
    expected = g.var(axis=0, ddof=1).sum()
    assert schedule.sample_variance_l1(grad, sq, 9) == pytest.approx(expected, rel=1e-8)
    # what HessianFree reports when a schedule asks
    opt = hf.opt.HessianFree(CG_iter=2, plotting=False)
    opt.gradient_statistics = True
    net.optimizer = opt
    opt.compute_update()
    n, norm2, var = opt.last_gradient_statistics
    assert n == 9 and norm2 == pytest.approx(np.sum(g.mean(axis=0) ** 2), rel=1e-8)
    assert var == pytest.approx(expected, rel=1e-8)


def test_required_sample_size_is_byrds_formula():
    assert schedule.required_sample_size(8.0, 2.0, 0.5) == pytest.approx(16.0)
    assert schedule.required_sample_size(1.0, 0.0, 0.5) == np.inf


def test_schedule_grows_by_the_test_within_its_limits():
    s = schedule.VarianceSchedule(initial=100, theta=0.5, max_size=500, max_growth=2,
                                  cg_iters=10)
    assert s.size == 100 and s.cg_budget(250) == 10
    assert s.observe(100, 1.0, 10.0) == 100  # needs 40 <= 100: passes
    assert s.observe(100, 1.0, 30.0) == 120  # needs 120
    assert s.observe(120, 1.0, 1000.0) == 240  # at most doubles
    assert s.cg_budget(250) == round(10 * np.sqrt(2.4))
    assert s.cg_budget(12) == 12
    assert s.observe(240, 1.0, 1e6, n_examples=300) == 300  # the training set
    assert s.observe(300, 1.0, 1.0) == 300  # never shrinks
    big = schedule.VarianceSchedule(initial=100, max_size=150)
    assert big.observe(100, 1.0, 1e6) == 150
    assert big.cg_budget(250) == 250  # no cg_iters: the optimizer's CG_iter
    with pytest.raises(ValueError, match="theta"):
        schedule.VarianceSchedule(theta=0)
    with pytest.raises(ValueError, match="minibatch_size"):
        schedule.resolve("large")
    assert isinstance(schedule.resolve("auto"), schedule.VarianceSchedule)
    assert schedule.resolve(100) is None


def noisy_regression(n=400, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4))
    return x, np.tanh(x @ rng.standard_normal((4, 2))) + 0.3 * rng.standard_normal((n, 2))


def test_auto_minibatch_grows_and_cg_budget_follows():
    x, t = noisy_regression()
    net = hf.FFNet([4, 6, 2], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()],
                   rng=np.random.default_rng(0))
    opt = hf.opt.HessianFree(CG_iter=30, plotting=False)
    sizes, budgets = [], []
    compute_update = opt.compute_update

    def capped_update(*args, **kwargs):  # the cap holds while the update runs
        budgets.append(opt.cg_budget)
        return compute_update(*args, **kwargs)
    opt.compute_update = capped_update

    def callback(net, epoch):
        sizes.append(net.inputs.shape[0])
        assert opt.last_cg.n_iters <= budgets[-1]
    sched = schedule.VarianceSchedule(initial=20, theta=0.5, cg_iters=5)
    net.run_epochs(x, t, opt, max_epochs=15, minibatch_size=sched, print_period=None,
                   callback=callback)
    assert sizes[0] == 20 and sizes[-1] > 40, sizes
    assert sizes == sorted(sizes)
    assert budgets == [sched.cg_budget(30) if s == sched.size else budgets[i]
                       for i, s in enumerate(sizes)]
    assert budgets[-1] > budgets[0]


def test_auto_minibatch_resumes_exactly(tmp_path):
    x, t = noisy_regression()

    def run(epochs, resume=False, prefix=None):
        net = hf.FFNet([4, 6, 2], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()],
                       rng=np.random.default_rng(0))
        opt = hf.opt.HessianFree(CG_iter=10, plotting=False)
        if resume:
            net.run_epochs(x, t, opt, max_epochs=3, print_period=None,
                           minibatch_size=schedule.VarianceSchedule(initial=20),
                           file_output=prefix)
        sched = schedule.VarianceSchedule(initial=20)
        net.run_epochs(x, t, opt, max_epochs=epochs, minibatch_size=sched,
                       print_period=None, file_output=prefix, resume=resume)
        return net, sched
    whole, sched = run(6)
    resumed, resumed_sched = run(6, resume=True, prefix=str(tmp_path / "run"))
    assert sched.size > 20 and resumed_sched.size == sched.size
    np.testing.assert_array_equal(resumed.W, whole.W)


def test_callback_stops_and_training_error_is_the_line_searchs():
    x, t = noisy_regression()
    net = hf.FFNet([4, 6, 2], layers="Tanh", rng=np.random.default_rng(0),
                   dtype=np.float64)
    seen = []

    def callback(net, epoch):
        seen.append((epoch, net.error()))  # recomputed at the cached minibatch
        return epoch == 3
    net.run_epochs(x, t, hf.opt.HessianFree(CG_iter=10), max_epochs=10,
                   print_period=None, callback=callback)
    assert [e for e, _ in seen] == [0, 1, 2, 3]
    np.testing.assert_allclose(net.plots["training error (log)"],
                               [err for _, err in seen], rtol=1e-12)
    with pytest.raises(TypeError, match="callback"):
        net.run_epochs(x, t, hf.opt.HessianFree(), callback=3)


def test_initial_above_max_size_is_refused():
    with pytest.raises(ValueError, match=r"initial \(100\).*max_size \(10\)"):
        schedule.VarianceSchedule(initial=100, max_size=10)
    assert schedule.VarianceSchedule(initial=10, max_size=10).size == 10


def test_a_reused_schedule_starts_each_run_from_initial():
    x, t = noisy_regression()
    net = hf.FFNet([4, 6, 2], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()],
                   rng=np.random.default_rng(0))
    sched = schedule.VarianceSchedule(initial=20, theta=0.5)
    runs = []
    for _ in range(2):
        sizes = []
        net.run_epochs(x, t, hf.opt.HessianFree(CG_iter=10, plotting=False),
                       max_epochs=8, minibatch_size=sched, print_period=None,
                       callback=lambda net, epoch: sizes.append(net.inputs.shape[0]))
        runs.append(sizes)
    assert runs[0][-1] > 20, runs  # it grew in the first run
    assert runs[1][0] == 20, runs


def test_the_cg_cap_of_a_schedule_ends_with_its_run():
    """A schedule caps CG through the optimizer; a later run of the same
    optimizer without a schedule runs CG up to its own CG_iter again."""
    x, t = noisy_regression()
    net = hf.FFNet([4, 6, 2], layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Linear()],
                   rng=np.random.default_rng(0))
    opt = hf.opt.HessianFree(CG_iter=8, plotting=False)
    capped = schedule.VarianceSchedule(initial=20, max_size=20, cg_iters=1)
    net.run_epochs(x, t, opt, max_epochs=3, minibatch_size=capped, print_period=None)
    assert opt.last_cg.n_iters == 1
    assert opt.cg_budget is None and not opt.gradient_statistics
    assert "cg_budget" not in vars(opt) and "gradient_statistics" not in vars(opt)
    net.run_epochs(x, t, opt, max_epochs=1, print_period=None)
    assert opt.last_cg.n_iters > 1


def test_an_update_that_raises_gives_the_schedules_settings_back():
    class Failing(hf.opt.HessianFree):
        def compute_update(self, printing=False):
            assert self.cg_budget is not None  # lent by the schedule
            raise RuntimeError("boom")
    net = hf.FFNet([2, 3, 1], rng=np.random.default_rng(0))
    opt = Failing(CG_iter=8)
    x = np.random.default_rng(1).standard_normal((200, 2))
    with pytest.raises(RuntimeError, match="boom"):
        net.run_epochs(x, x[:, :1] > 0, opt, max_epochs=2, minibatch_size="auto",
                       print_period=None)
    assert opt.cg_budget is None and opt.gradient_statistics is False
