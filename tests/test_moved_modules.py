"""The flat layout's module names still import, as the moved modules."""

import importlib
import subprocess
import sys

import pytest

import hessianfree as hf
from hessianfree import _moved


@pytest.mark.parametrize("name", sorted(_moved.MOVED))
def test_an_earlier_name_is_the_moved_module(name):
    new = importlib.import_module(f"hessianfree.{_moved.MOVED[name]}.{name}")
    assert importlib.import_module(f"hessianfree.{name}") is new
    assert getattr(hf, name) is new
    assert new.__spec__.name == new.__name__ == f"hessianfree.{_moved.MOVED[name]}.{name}"


def test_the_original_packages_imports_work_in_a_fresh_interpreter():
    code = ("import hessianfree.ffnet, hessianfree.rnnet\n"
            "from hessianfree.nonlinearities import Tanh\n"
            "from hessianfree.loss_funcs import SquaredError\n"
            "from hessianfree.optimizers import HessianFree\n"
            "from hessianfree.ffnet import FFNet\n"
            "import hessianfree.dataplotter as dp\n"
            "import hessianfree as hf\n"
            "assert FFNet is hf.FFNet and Tanh is hf.nl.Tanh\n"
            "assert hessianfree.rnnet.RNNet is hf.RNNet\n"
            "assert dp is hf.run.dataplotter and HessianFree is hf.opt.HessianFree\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_names_still_fail():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("hessianfree.no_such_module")
    with pytest.raises(AttributeError):
        hf.no_such_module  # noqa: B018
