"""The array backend: NumPy on the CPU, CuPy on the GPU.

The networks and optimizers are written once against an *array module*
``xp`` (``numpy`` or ``cupy``), so the CPU and GPU run the same algorithm
code.  Only scalars cross between host and device inside the optimizer.
"""

import numpy as np

from hessianfree.base import gpu


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


def copy_to_host(x, out):
    """Copy the flat array ``x`` (NumPy or CuPy) into the host array
    ``out`` without allocating."""
    if isinstance(x, np.ndarray):
        np.copyto(out, x.reshape(-1))
    else:
        x.reshape(-1).get(out=out)  # cupy.ndarray
    return out


def copy_from_host(host, x):
    """Copy the host array ``host`` into ``x`` (NumPy or CuPy, same size)
    in place, without allocating."""
    if isinstance(x, np.ndarray):
        np.copyto(x.reshape(-1), host)
    else:
        x.reshape(-1).set(host)  # cupy.ndarray: one host-to-device copy
    return x


gpu_enabled = gpu.gpu_enabled


def array_module(x):
    """Return the array module (``numpy`` or ``cupy``) that ``x`` belongs to."""
    if isinstance(x, np.ndarray) or gpu.cupy is None:
        return np
    return gpu.cupy.get_array_module(x)


def matmul_add(a, b, c, tmp):
    """``c += a @ b`` in place, for 2-D arrays, with ``tmp`` (same shape as
    ``c``) holding the product.

    A BLAS ``gemm`` with :math:`\\beta = 1` straight into ``c`` (SciPy's
    BLAS) saves writing the product and reading it back, and is about 4%
    faster with one BLAS thread; but SciPy's BLAS runs its own thread pool
    beside NumPy's, and with two threads on two cores the per-step products
    of a recurrent network then ran twice as slowly (``bench/calc_G.py``,
    RNN case: ratio 3.2 against 1.7).  So the product goes through the
    array module's ``matmul``.
    """
    c += array_module(c).matmul(a, b, out=tmp)
    return c
