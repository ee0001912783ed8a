"""Fixtures shared by the test files."""

import numpy as np
import pytest

from hessianfree import backend


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """The array module under test: NumPy, and CuPy where a device answers."""
    if request.param == "numpy":
        return np
    if not backend.gpu_enabled:
        pytest.skip("CuPy with a CUDA device is not available")
    return backend.get_array_module(use_GPU=True)
