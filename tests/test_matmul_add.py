"""backend.matmul_add: ``c += a @ b`` in place for every operand layout and
dtype."""

import numpy as np
import pytest

from hessianfree.base.backend import matmul_add


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a_order", ["C", "F", "strided"])
@pytest.mark.parametrize("b_order", ["C", "F"])
def test_matmul_add_layouts(dtype, a_order, b_order):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 6)).astype(dtype)
    a = a[:, ::2] if a_order == "strided" else np.asarray(a[:, :3], order=a_order)
    b = np.asarray(rng.standard_normal((3, 4)).astype(dtype), order=b_order)
    c = rng.standard_normal((5, 4)).astype(dtype)
    expected = c + a @ b
    assert matmul_add(a, b, c, np.empty_like(c)) is c
    np.testing.assert_allclose(c, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_matmul_add_fallback_for_other_layouts_and_dtypes():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    c = np.asfortranarray(rng.standard_normal((4, 5)))  # not C-contiguous
    expected = c + a @ b
    matmul_add(a, b, c, np.empty((4, 5)))
    np.testing.assert_allclose(c, expected, rtol=1e-12)
    a32 = a.astype(np.float32)  # mixed dtypes
    c = np.zeros((4, 5))
    matmul_add(a32, b, c, np.empty((4, 5)))
    np.testing.assert_allclose(c, a32 @ b, rtol=1e-6)
