"""The array backend: NumPy on the CPU, CuPy on the GPU.

The networks and optimizers are written once against an *array module*
``xp`` (``numpy`` or ``cupy``), so the CPU and GPU run the same algorithm
code.  Only scalars cross between host and device inside the optimizer.
"""

import numpy as np

from hessianfree import gpu


def get_array_module(use_GPU=False):
    """Return ``numpy``, or ``cupy`` when ``use_GPU`` is True.

    Raises
    ------
    RuntimeError
        If ``use_GPU`` is True but CuPy or a CUDA device is unavailable.
    """
    if not use_GPU:
        return np
    if not gpu.gpu_enabled:
        raise RuntimeError(f"use_GPU=True, but {gpu.unavailable_reason}; "
                           f"{gpu.INSTALL_HINT}")
    return gpu.cupy


def to_numpy(x):
    """Return ``x`` as a NumPy array (copying from the device if needed)."""
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return np.asarray(x)
    return x.get()  # cupy.ndarray


gpu_enabled = gpu.gpu_enabled


def array_module(x):
    """Return the array module (``numpy`` or ``cupy``) that ``x`` belongs to."""
    if isinstance(x, np.ndarray) or gpu.cupy is None:
        return np
    return gpu.cupy.get_array_module(x)


def _fortran_operand(x):
    """``x.T`` for BLAS (column-major): a Fortran-ordered view and whether
    BLAS must transpose it."""
    if x.flags.c_contiguous:
        return x.T, False
    if x.flags.f_contiguous:
        return x, True
    return np.ascontiguousarray(x).T, False


def matmul_add(a, b, c, tmp):
    """``c += a @ b`` in place, for 2-D arrays.

    With NumPy float32/float64 arrays and a C-contiguous ``c`` this is one
    BLAS ``gemm`` call with :math:`\\beta = 1` (SciPy's BLAS, on the
    transposes: :math:`c^T \\leftarrow b^T a^T + c^T`), which saves writing
    the product and reading it back; otherwise (CuPy, other layouts) the
    product goes into ``tmp`` (same shape as ``c``) and is then added.
    """
    if (type(c) is np.ndarray and c.flags.c_contiguous and c.dtype in _GEMM
            and a.dtype == b.dtype == c.dtype):
        bt, trans_b = _fortran_operand(b)
        at, trans_a = _fortran_operand(a)
        result = _GEMM[c.dtype](1.0, bt, at, beta=1.0, c=c.T, overwrite_c=True,
                                trans_a=trans_b, trans_b=trans_a)
        if not np.shares_memory(result, c):  # BLAS got a copy of c
            c[...] = result.T
        return c
    c += array_module(c).matmul(a, b, out=tmp)
    return c


def _gemm_functions():
    from scipy.linalg import blas
    return {np.dtype(np.float32): blas.sgemm, np.dtype(np.float64): blas.dgemm}


_GEMM = _gemm_functions()
