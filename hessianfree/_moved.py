"""Where each module of the flat layout of earlier versions lives now.

The package is laid out in subpackages by layer (``base``, ``layers``,
``losses``, ``nets``, ``optim``, ``run``, ``parallel``, ``data``).  The
modules' earlier names (``hessianfree.ffnet``, ``hessianfree.kfac``, ...,
among them the original ``hessianfree`` package's ``ffnet``, ``rnnet``,
``nonlinearities``, ``loss_funcs``, ``optimizers`` and ``dataplotter``) keep
working: :class:`MovedModules`, installed by the package, resolves an import
of an earlier name to the same module object under its new name, and
``hessianfree.<name>`` attribute access imports it on first use.
"""

import importlib
import importlib.abc
import importlib.util
import sys

#: Earlier module name -> the subpackage that holds it now.
MOVED = {
    'backend': 'base',
    'gpu': 'base',
    'validation': 'base',
    'nl_base': 'layers',
    'nonlinearities': 'layers',
    'plants': 'layers',
    'loss_base': 'losses',
    'output_losses': 'losses',
    'hidden_losses': 'losses',
    'loss_funcs': 'losses',
    'layout': 'nets',
    'batch': 'nets',
    'records': 'nets',
    'passes': 'nets',
    'stacked': 'nets',
    'chunking': 'nets',
    'hessian': 'nets',
    'curvature': 'nets',
    'reduction': 'nets',
    'closed_loop': 'nets',
    'model': 'nets',
    'architecture': 'nets',
    'modelfile': 'nets',
    'input_derivatives': 'nets',
    'derivative_checks': 'nets',
    'ffnet': 'nets',
    'rnnet': 'nets',
    'cg': 'optim',
    'damping': 'optim',
    'linesearch': 'optim',
    'step': 'optim',
    'preconditioners': 'optim',
    'kfac_factors': 'optim',
    'kfac': 'optim',
    'update_rules': 'optim',
    'hf_state': 'optim',
    'optimizer_base': 'optim',
    'optimizers': 'optim',
    'sgd': 'optim',
    'schedule': 'optim',
    'minimizer': 'optim',
    'fitting': 'run',
    'training': 'run',
    'run_checks': 'run',
    'run_state': 'run',
    'checkpoint': 'run',
    'progress': 'run',
    'plotfile': 'run',
    'dataplotter': 'run',
    'distributed': 'parallel',
    'agreement': 'parallel',
    'datasets': 'data',
    'tasks': 'data',
}

PREFIX = "hessianfree."


def module(name):
    """The module an earlier name ``hessianfree.<name>`` refers to."""
    return importlib.import_module(f"{PREFIX}{MOVED[name]}.{name}")


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``hessianfree.<earlier name>`` as the moved module itself."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(PREFIX) and fullname[len(PREFIX):] in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        found = module(spec.name[len(PREFIX):])
        self._specs = getattr(self, "_specs", {})
        self._specs[spec.name] = found.__spec__
        return found

    def exec_module(self, module):
        # already executed under its new name; the import machinery set the
        # old name's spec on it, so give the module its own spec back
        module.__spec__ = self._specs.pop(module.__spec__.name)


if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
    sys.meta_path.insert(0, MovedModules())  # before the path finders
