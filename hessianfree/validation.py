"""Argument checks shared by the networks and optimizers.

Every public entry point validates its arguments here *before* it changes any
state, and raises :class:`ValueError` or :class:`TypeError` naming the
parameter and what was expected.
"""

import numbers

import numpy as np


def check_positive_int(value, name):
    """Return ``value`` as an int, or raise if it is not a positive integer."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_nonneg_float(value, name):
    """Return ``value`` as a float, or raise if it is not finite and >= 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a non-negative number, got {value!r}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return float(value)


def check_shape(shape):
    """Validate the ``shape`` argument of a network (a list of layer sizes)."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__"):
        raise TypeError(f"shape must be a list of layer sizes, got {shape!r}")
    shape = [check_positive_int(s, f"shape[{i}]") for i, s in enumerate(shape)]
    if len(shape) < 2:
        raise ValueError(f"shape needs at least 2 layers (input and output), "
                         f"got {shape!r}")
    return shape


def as_batch(x, name, n_units, ndim, dtype, xp, allow_nan=False):
    """Convert ``x`` to an ``xp`` array of ``dtype`` with the expected layout.

    Parameters
    ----------
    x : array_like
        The data; ``(batch, n_units)`` when ``ndim == 2``, ``(batch, time,
        n_units)`` when ``ndim == 3``.
    name : str
        Parameter name used in error messages.
    n_units : int
        Expected size of the last axis.
    ndim : int
        Expected number of axes.
    dtype, xp
        Target dtype and array module.
    allow_nan : bool
        Targets may hold NaN ("no target here"); infinities are never allowed.
    """
    if x is None:
        raise TypeError(f"{name} must be an array, got None")
    if not hasattr(x, "shape"):
        try:
            x = np.asarray(x)
        except Exception as e:
            raise TypeError(f"{name} must be array_like, got {type(x).__name__}"
                            ) from e
    layout = "(batch, n_units)" if ndim == 2 else "(batch, time, n_units)"
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must have shape {layout} with n_units="
                         f"{n_units}, got an array of shape {tuple(x.shape)}")
    if x.shape[-1] != n_units:
        raise ValueError(f"{name} must have {n_units} units on its last axis "
                         f"{layout}, got shape {tuple(x.shape)}")
    if x.size == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); "
                         f"need at least one example")
    x = xp.asarray(x, dtype=dtype)
    bad = xp.isinf(x) if allow_nan else ~xp.isfinite(x)
    if bool(bad.any()):
        what = "inf" if allow_nan else "NaN or inf"
        raise ValueError(f"{name} contains {what} values")
    return x
