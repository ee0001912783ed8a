"""The profile demo: where training spends its time."""

import cProfile
import inspect
import pstats
import sys

import hessianfree as hf
from hessianfree.base import validation as val
from hessianfree.demos._registry import get_demo, register


def _seconds_in(stats, name):
    """Cumulative seconds of the profiled functions called ``name``."""
    return sum(entry[3] for (_, _, func), entry in stats.stats.items()
               if func == name)


@register
def profile(func="integrator", max_epochs=1, use_GPU=False, cprofile=True):
    """Run a profiler on a demo, to show where training spends its time.

    Profiles :func:`~hessianfree.demos.integrator` (a recurrent network,
    here ``[1, 100, 1]`` on 500 sequences of 200 steps with 10 CG iterations
    per epoch) or :func:`~hessianfree.demos.mnist` (a feed-forward one, with
    its defaults) for ``max_epochs`` epochs.  With ``cprofile=True`` it
    prints the 25 functions with the largest cumulative time and the share of
    :meth:`~hessianfree.nets.ffnet.FFNet.calc_G`, the Gauss-Newton product that
    conjugate gradient calls once per iteration: it takes the largest share
    (about half of an integrator epoch; the forward passes of the
    backtracking and line search take most of the rest).

    Parameters
    ----------
    func : {"integrator", "mnist"}
        The demo to profile.
    max_epochs : int
        Number of training epochs.
    use_GPU : bool
        Train on the GPU (needs CuPy and a CUDA device).
    cprofile : bool
        Profile the Python side with :mod:`cProfile`; if False, mark the run
        for the CUDA profiler instead (``use_GPU=True`` only): run the
        script under ``nsys profile --capture-range=cudaProfilerApi``.

    Returns
    -------
    pstats.Stats or None
        The cProfile statistics (None with ``cprofile=False``).
    """
    if func not in ("integrator", "mnist"):
        raise ValueError(f"func must be 'integrator' or 'mnist', got {func!r}")
    max_epochs = val.check_positive_int(max_epochs, "max_epochs")
    if not cprofile and not use_GPU:
        raise ValueError("cprofile=False uses the CUDA profiler, which needs "
                         "use_GPU=True")
    if use_GPU and not hf.gpu_enabled:
        raise RuntimeError(f"use_GPU=True, but {hf.gpu.unavailable_reason}; "
                           f"{hf.gpu.INSTALL_HINT}")
    demo = get_demo(func)  # looked up now: demos may register after this one
    kwargs = dict(model_args={"use_GPU": use_GPU}, run_args={"max_epochs": max_epochs})
    if func == "integrator":  # at the size of the recurrent case of bench/calc_G.py
        # sparse recurrent weights with spectral radius about 0.25 * sqrt(15) ~ 1:
        # larger ones make the linearized dynamics explode over 200 steps
        kwargs["model_args"].update(shape=[1, 100, 1], W_rec_params={"coeff": 0.25})
        kwargs["run_args"].update(optimizer=hf.opt.HessianFree(CG_iter=10),
                                  print_period=1)
        kwargs.update(n_inputs=500, sig_len=200)
    for name in ("plots", "curves"):
        if name in inspect.signature(demo).parameters:
            kwargs[name] = False
    if not cprofile:
        from cupyx.profiler import profile as cuda_profile
        with cuda_profile():
            demo(**kwargs)
        print("CUDA profiler range done: the kernels were recorded if this ran "
              "under nsys profile --capture-range=cudaProfilerApi")
        return None

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        demo(**kwargs)
    finally:
        profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative")
    stats.print_stats(25)
    total = max(stats.total_tt, 1e-12)
    print(f"calc_G: {_seconds_in(stats, 'calc_G'):.3f} s of {total:.3f} s profiled "
          f"({100 * _seconds_in(stats, 'calc_G') / total:.0f}%)")
    return stats
