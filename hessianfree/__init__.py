"""Hessian-free optimization for feed-forward and recurrent neural networks.

Typical use::

    import hessianfree as hf
    net = hf.FFNet([2, 5, 1])
    net.run_epochs(inputs, targets, optimizer=hf.opt.HessianFree(CG_iter=2))
"""

__version__ = "1.1.0.dev0"

from hessianfree import _moved  # noqa: E402
from hessianfree.base import gpu  # noqa: E402
from hessianfree.base.gpu import gpu_enabled  # noqa: E402
from hessianfree.layers import nonlinearities  # noqa: E402
from hessianfree.layers import nonlinearities as nl  # noqa: E402
from hessianfree.losses import loss_funcs  # noqa: E402
from hessianfree.optim import preconditioners  # noqa: E402
from hessianfree.optim import kfac  # noqa: E402
from hessianfree.optim import schedule  # noqa: E402
from hessianfree.optim import optimizers  # noqa: E402
from hessianfree.optim import optimizers as opt  # noqa: E402
from hessianfree.nets.ffnet import FFNet  # noqa: E402
from hessianfree.nets.rnnet import RNNet  # noqa: E402
from hessianfree.data import datasets  # noqa: E402
from hessianfree.parallel import distributed  # noqa: E402
from hessianfree.nets import derivative_checks  # noqa: E402
from hessianfree.optim.minimizer import minimize  # noqa: E402
from hessianfree.nets import architecture  # noqa: E402
from hessianfree.nets.architecture import load  # noqa: E402
from hessianfree import presets  # noqa: E402, F401 (hf.presets)


def __getattr__(name):
    # demos and dataplotter (as the other moved modules) import lazily, so that ``python -m
    # hessianfree.demos`` does not find its module already imported
    if name == "demos":
        import importlib
        return importlib.import_module("hessianfree.demos")
    if name in _moved.MOVED:
        return _moved.module(name)
    raise AttributeError(f"module 'hessianfree' has no attribute {name!r}")


__all__ = ["FFNet", "RNNet", "nl", "nonlinearities", "loss_funcs", "opt", "optimizers",
           "datasets", "distributed", "derivative_checks", "kfac", "preconditioners",
           "schedule", "minimize",
           "demos", "dataplotter", "gpu", "gpu_enabled", "architecture", "load",
           "__version__"]
