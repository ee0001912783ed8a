"""Argument checks shared by the networks and optimizers.

Every public entry point validates its arguments here *before* it changes any
state, and raises :class:`ValueError` or :class:`TypeError` naming the
parameter and what was expected.
"""

import math
import numbers

import numpy as np

from hessianfree.base import backend


def describe(value):
    """Short description of a value for error messages."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__}: {text}"


def check_real(value, name, low=-math.inf, high=math.inf, low_open=False):
    """Return ``value`` as a float, or raise unless it is a real number (not a
    bool) that is finite and in ``[low, high]`` (``(low, high]`` with
    ``low_open``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not (math.isfinite(number) and low <= number <= high) or \
            (low_open and number == low):
        bounds = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name} must be a finite number in {bounds}, got {value!r}")
    return number


def check_bool(value, name):
    """Return ``value`` as a bool; it must be a bool (or 0 or 1)."""
    if isinstance(value, (bool, np.bool_)) or (
            isinstance(value, numbers.Integral) and value in (0, 1)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {describe(value)}")


def check_choice(value, name, allowed):
    """Return ``value`` if it is one of the strings ``allowed``; TypeError if
    it is not a str, ValueError if it is another str."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {', '.join(map(repr, allowed))}; "
                        f"got {describe(value)}")
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, "
                         f"got {value!r}")
    return value


def check_sequence(value, name):
    """Return ``value`` as a list; it must be a list, tuple, range or 1-D array."""
    if isinstance(value, (list, tuple, range)) or (
            isinstance(value, np.ndarray) and value.ndim == 1):
        return list(value)
    raise TypeError(f"{name} must be a list, got {describe(value)}")


def check_vector(x, name, n):
    """Raise unless ``x`` is a floating point array (NumPy or CuPy) of shape
    ``(n,)``.  Cheap: looks at attributes only, never converts or copies."""
    shape, dtype = getattr(x, "shape", None), getattr(x, "dtype", None)
    if shape is None or not isinstance(dtype, np.dtype):
        raise TypeError(f"{name} must be an array of shape ({n},), got "
                        f"{describe(x)}")
    if dtype.kind != "f":
        raise TypeError(f"{name} must hold floating point values, got dtype {dtype}")
    if tuple(shape) != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {tuple(shape)}")
    return x


def check_positive_int(value, name):
    """Return ``value`` as an int, or raise if it is not a positive integer."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_nonneg_int(value, name):
    """Return ``value`` as an int, or raise if it is not an integer >= 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 0, got {describe(value)}")
    if value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return int(value)


def check_int(value, name, low=None, high=None):
    """Return ``value`` as an int: TypeError unless it is an integer (not a
    bool), ValueError unless ``low <= value < high`` (None: unbounded)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    if (low is not None and value < low) or (high is not None and value >= high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high})"
        raise ValueError(f"{name} must be an int in {bounds}, got {value!r}")
    return int(value)


def check_nonneg_float(value, name):
    """Return ``value`` as a float, or raise if it is not finite and >= 0."""
    return check_real(value, name, low=0.0)


def check_shape(shape):
    """Validate the ``shape`` argument of a network (a list of layer sizes)."""
    shape = check_sequence(shape, "shape (a list of layer sizes)")
    shape = [check_positive_int(s, f"shape[{i}]") for i, s in enumerate(shape)]
    if len(shape) < 2:
        raise ValueError(f"shape needs at least 2 layers (input and output), "
                         f"got {shape!r}")
    return shape


def plural(n, noun, nouns=None):
    """``"1 unit"``, ``"2 units"``: a count with its noun (``nouns``, the
    plural, defaults to ``noun + "s"``)."""
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"


def _label_hint(x, ndim, n_units, is_target):
    """A hint for targets that look like integer class labels where one-hot
    vectors are expected ("" otherwise)."""
    looks_like_labels = (x.ndim == ndim - 1 or x.shape[-1:] == (1,)) and n_units > 1
    if not (is_target and looks_like_labels and x.size):
        return ""
    values = backend.to_numpy(x)
    if values.dtype.kind == "f" and not np.all(np.isnan(values) | (values == np.round(values))):
        return ""
    return (f"; these look like integer class labels: one-hot encode them, e.g. "
            f"np.eye({n_units})[labels]")


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
                         f"{n_units}, got an array of shape {tuple(x.shape)}"
                         f"{_label_hint(x, ndim, n_units, allow_nan)}")
    if x.shape[-1] != n_units:
        raise ValueError(f"{name} must have {plural(n_units, 'unit')} on its last axis "
                         f"{layout}, got shape {tuple(x.shape)}"
                         f"{_label_hint(x, ndim, n_units, allow_nan)}")
    if x.size == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); "
                         f"need at least one example")
    if xp is np and backend.array_module(x) is not np:
        x = backend.to_numpy(x)  # GPU data for a CPU network
    x = xp.asarray(x, dtype=dtype)
    bad = xp.isinf(x) if allow_nan else ~xp.isfinite(x)
    if bool(bad.any()):
        what = "inf" if allow_nan else "NaN or inf"
        raise ValueError(f"{name} contains {what} values")
    return x


def instance_of(value, base, name):
    """``value`` itself if it is a ``base`` instance, a new instance if it
    is a subclass of ``base`` (created without arguments), else None.

    Raises
    ------
    TypeError
        Naming ``name`` and the class, if the subclass needs arguments.
    """
    if isinstance(value, base):
        return value
    if isinstance(value, type) and issubclass(value, base):
        try:
            return value()
        except TypeError as e:
            raise TypeError(f"{name}: {value.__name__} cannot be created without "
                            f"arguments; pass an instance") from e
    return None


def float_dtype(value):
    """``value`` as a NumPy floating point dtype, or None if it names no
    dtype or another kind (the callers say why they need a float)."""
    try:
        dtype = np.dtype(value)
    except Exception:  # numpy raises several kinds for odd specifications
        return None
    return dtype if dtype.kind == "f" else None
