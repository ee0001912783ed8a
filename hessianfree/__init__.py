"""Hessian-free optimization for feed-forward and recurrent neural networks.

Typical use::

    import hessianfree as hf
    net = hf.FFNet([2, 5, 1])
    net.run_epochs(inputs, targets, optimizer=hf.opt.HessianFree(CG_iter=2))
"""

__version__ = "1.1.0.dev0"

from hessianfree import gpu  # noqa: E402
from hessianfree.gpu import gpu_enabled  # noqa: E402
from hessianfree import nonlinearities  # noqa: E402
from hessianfree import nonlinearities as nl  # noqa: E402
from hessianfree import loss_funcs  # noqa: E402
from hessianfree import preconditioners  # noqa: E402
from hessianfree import kfac  # noqa: E402
from hessianfree import schedule  # noqa: E402
from hessianfree import optimizers  # noqa: E402
from hessianfree import optimizers as opt  # noqa: E402
from hessianfree.ffnet import FFNet  # noqa: E402
from hessianfree.rnnet import RNNet  # noqa: E402
from hessianfree import datasets  # noqa: E402
from hessianfree import distributed  # noqa: E402
from hessianfree import derivative_checks  # noqa: E402
from hessianfree.minimizer import minimize  # noqa: E402
from hessianfree import architecture  # noqa: E402
from hessianfree.architecture import load  # noqa: E402
from hessianfree import presets  # noqa: E402, F401 (hf.presets)


def __getattr__(name):
    # demos and dataplotter import lazily, so that ``python -m
    # hessianfree.demos`` does not find its module already imported
    if name in ("demos", "dataplotter"):
        import importlib
        return importlib.import_module(f"hessianfree.{name}")
    raise AttributeError(f"module 'hessianfree' has no attribute {name!r}")


__all__ = ["FFNet", "RNNet", "nl", "nonlinearities", "loss_funcs", "opt", "optimizers",
           "datasets", "distributed", "derivative_checks", "kfac", "preconditioners",
           "schedule", "minimize",
           "demos", "dataplotter", "gpu", "gpu_enabled", "architecture", "load",
           "__version__"]
