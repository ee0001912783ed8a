"""Fixtures shared by the test files."""

import numpy as np
import pytest

from hessianfree.base import backend


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """The array module under test: NumPy, and CuPy where a device answers."""
    if request.param == "numpy":
        return np
    if not backend.gpu_enabled:
        pytest.skip("CuPy with a CUDA device is not available")
    return backend.get_array_module(use_GPU=True)


@pytest.fixture(autouse=True)
def _in_scratch_directory(tmp_path, monkeypatch):
    """Every test runs in its own empty directory, so files that the code
    under test writes next to the current directory (the demos' training
    curves, ``file_output`` prefixes) never land in the checkout."""
    monkeypatch.chdir(tmp_path)
