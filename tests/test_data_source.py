"""run_epochs with a data source: fresh training examples every epoch
(hessianfree.run.data_source)."""

import numpy as np
import pytest

import hessianfree as hf
from hessianfree.data import tasks
from hessianfree.run import data_source


def _addition(rng, n):
    return tasks.generate("addition", 10, n, rng=rng)


def _setup(seed=0):
    opt = hf.opt.HessianFree(CG_iter=3, plotting=False)
    net = tasks.tanh_rnn("addition", n_hidden=6, optimizer=opt, rng=seed)
    return net, opt


def test_draws_fresh_examples_every_epoch():
    seen = []

    def source(rng, n):
        x, t = _addition(rng, n)
        seen.append(x.copy())
        return x, t
    net, opt = _setup()
    errors = net.run_epochs(source, None, opt, max_epochs=3, minibatch_size=20,
                            print_period=None)
    assert len(errors) == 3 and len(seen) == 3
    assert all(x.shape[0] == 20 for x in seen)
    assert not np.array_equal(seen[0], seen[1])


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    source = data_source.from_generator(_addition)
    net, opt = _setup()
    whole = net.run_epochs(source, None, opt, max_epochs=4, minibatch_size=20,
                           print_period=None)
    out = str(tmp_path / "run")
    net, opt = _setup()
    net.run_epochs(source, None, opt, max_epochs=2, minibatch_size=20,
                   print_period=None, file_output=out)
    net, opt = _setup()
    resumed = net.run_epochs(source, None, opt, max_epochs=4, minibatch_size=20,
                             print_period=None, file_output=out, resume=True)
    np.testing.assert_allclose(resumed, whole, rtol=1e-5)


def test_checks_before_training():
    net, opt = _setup()
    W = net.W.copy()
    with pytest.raises(ValueError, match="targets must be None"):
        net.run_epochs(_addition, np.zeros(3), opt, minibatch_size=5)
    with pytest.raises(TypeError, match="minibatch_size must be an int"):
        net.run_epochs(_addition, None, opt)
    with pytest.raises(ValueError, match="reproducible source"):
        net.run_epochs(_addition, None, opt, minibatch_size=5, resume=True,
                       file_output="unused")
    np.testing.assert_array_equal(net.W, W)


def test_bad_source_output_names_the_source():
    net, opt = _setup()
    with pytest.raises(TypeError, match="must return \\(inputs, targets\\)"):
        net.run_epochs(lambda rng, n: None, None, opt, minibatch_size=5,
                       print_period=None)
    with pytest.raises(ValueError, match="5 were asked for"):
        net.run_epochs(lambda rng, n: _addition(rng, n + 1), None, opt,
                       minibatch_size=5, print_period=None)
