"""GPU support through CuPy.

``gpu_enabled`` is True only when CuPy imports *and* a CUDA device answers.
Everything numerical is written once against an array module (see
:mod:`hessianfree.base.backend`); this module only detects the device and holds
GPU-only helpers.
"""

INSTALL_HINT = ('install the GPU extra: pip install "hessianfree[gpu]" '
                "(needs an NVIDIA GPU and driver)")


def _detect():
    try:
        import cupy
    except Exception as e:  # ImportError, or a CUDA library failing to load
        return None, f"CuPy is not importable ({type(e).__name__}: {e})"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None, "CuPy found no CUDA device"
        cupy.zeros(1).sum().item()  # a device that answers
    except Exception as e:
        return None, f"CuPy could not use a CUDA device ({type(e).__name__}: {e})"
    return cupy, None


cupy, unavailable_reason = _detect()
gpu_enabled = cupy is not None
