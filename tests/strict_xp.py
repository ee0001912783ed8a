"""A NumPy-backed stand-in for CuPy that is as strict as a device array library.

The GPU path of the library is the CPU code run on CuPy arrays.  Machines
without a CUDA device cannot run CuPy, so this module lets the test suite run
that path anyway: :class:`DeviceArray` wraps a NumPy array and refuses what
CuPy refuses, and counts what costs a device synchronisation on a GPU.

- Implicit conversion to NumPy (``np.asarray(x)``, ``np.array(x)``, passing
  it to SciPy) raises :class:`TypeError`, with CuPy's message.
- NumPy arrays are refused as operands of ufuncs and array functions, and as
  values assigned into a device array (CuPy raises TypeError for host-array
  operands; assignment would be a hidden host-to-device copy).
- A NumPy function works on device arrays (``__array_function__``,
  ``__array_ufunc__``) only if CuPy has a function of that name: the names
  below were checked against CuPy 14's namespace.
- Every device-to-host transfer (``float()``, ``int()``, ``bool()``,
  ``.item()``, ``.get()``, ``.tolist()``) is counted in :data:`TRANSFERS`,
  keyed by the code location that asked for it.

Numerically it *is* NumPy, so results equal the CPU path exactly wherever
the library runs the same operations on both.  Use :func:`install` (with
pytest's ``monkeypatch``) to make ``use_GPU=True`` pick this module.
"""

import collections
import os
import sys
import types

import numpy as np

#: ufuncs CuPy provides under the same name (checked against CuPy 14.2).
UFUNCS = frozenset("""
    absolute add arccos arcsin arctan arctan2 bitwise_and bitwise_not bitwise_or
    bitwise_xor cbrt ceil clip conjugate copysign cos cosh deg2rad degrees divide
    divmod equal exp exp2 expm1 fabs float_power floor floor_divide fmax fmin
    fmod greater greater_equal heaviside hypot invert isfinite isinf isnan
    left_shift less less_equal log log10 log1p log2 logaddexp logaddexp2
    logical_and logical_not logical_or logical_xor maximum minimum multiply
    negative nextafter not_equal positive power rad2deg radians reciprocal
    remainder right_shift rint sign signbit sin sinh sqrt square subtract tan
    tanh true_divide trunc matmul
""".split())

#: NumPy functions CuPy provides under the same name (checked against CuPy
#: 14.2); enough for array code written with NumPy functions.
FUNCTIONS = frozenset("""
    all allclose amax amin any arange argmax argmin around array_equal
    ascontiguousarray asfortranarray atleast_1d atleast_2d atleast_3d
    broadcast_arrays broadcast_to clip column_stack concatenate copy copyto
    count_nonzero cross cumprod cumsum diag diagonal diff dot dstack einsum
    empty empty_like expand_dims eye flip full full_like hstack identity inner
    isclose linspace matmul max maximum mean min moveaxis nan_to_num nanmax
    nanmin nansum ones ones_like outer prod ravel repeat reshape roll rollaxis
    round searchsorted sort split squeeze stack std sum swapaxes take
    tensordot tile trace transpose tril triu var vdot vstack where zeros
    zeros_like
""".split())

#: ``ndarray`` methods and attributes that CuPy arrays have too.
METHODS = frozenset("""
    all any argmax argmin astype clip copy cumsum diagonal dot fill flatten max
    mean min nonzero prod ravel repeat reshape squeeze std sum swapaxes take
    trace transpose var
""".split())
ATTRIBUTES = frozenset("dtype ndim shape size itemsize nbytes strides".split())

#: Device-to-host transfers, keyed by ``(file name, line, function)`` of the
#: library (or test) code that asked for them.
TRANSFERS = collections.Counter()

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use "
             "`.get()` to construct a NumPy array explicitly.")


def reset():
    """Forget the counted transfers."""
    TRANSFERS.clear()


def n_transfers(where=None):
    """Number of counted transfers (only those from files named ``where``)."""
    return sum(n for (name, _, _), n in TRANSFERS.items()
               if where is None or name == where)


def _count_transfer():
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    if frame is None:
        TRANSFERS[("?", 0, "?")] += 1
        return
    TRANSFERS[(os.path.basename(frame.f_code.co_filename), frame.f_lineno,
               frame.f_code.co_name)] += 1


def _unwrap(value, what):
    """NumPy view of a device value; host arrays are refused."""
    if isinstance(value, DeviceArray):
        return value._a
    if isinstance(value, np.ndarray):
        raise TypeError(f"Unsupported type {type(value)} in {what}: a host "
                        f"(NumPy) array mixed with device arrays")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, what) for v in value)
    return value


def _wrap(value):
    if isinstance(value, (np.ndarray, np.generic)):
        return DeviceArray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _call(func, args, kwargs, what):
    """Call a NumPy ``func`` on unwrapped arguments; wrap the result (the
    ``out`` argument itself when one was given, as CuPy does)."""
    out = kwargs.get("out")
    args = _unwrap(args, what)
    kwargs = {k: _unwrap(v, what) for k, v in kwargs.items()}
    result = func(*args, **kwargs)
    if isinstance(out, tuple) and len(out) == 1:
        out = out[0]
    if isinstance(out, DeviceArray):
        return out
    return _wrap(result)


def _index(key):
    """Indices: device arrays, or host integer/boolean arrays (which CuPy
    copies to the device), slices, ints, None, Ellipsis."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, DeviceArray):
        return key._a
    return key


class DeviceArray(np.lib.mixins.NDArrayOperatorsMixin):
    """An array "on the device": a NumPy array behind CuPy's rules."""

    __slots__ = ("_a",)
    __hash__ = None

    def __init__(self, array):
        self._a = array

    # --- what a device array refuses or counts
    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)

    def get(self, out=None):
        _count_transfer()
        if out is None:
            return self._a.copy()
        if not isinstance(out, np.ndarray) or out.shape != self._a.shape:
            raise ValueError("get(out=...) needs a host array of the same shape")
        np.copyto(out, self._a)
        return out

    def set(self, host):
        """A host-to-device copy in place (CuPy's ``ndarray.set``)."""
        if not isinstance(host, np.ndarray) or host.shape != self._a.shape:
            raise ValueError("set() needs a host array of the same shape")
        np.copyto(self._a, host)

    def item(self):
        _count_transfer()
        return self._a.item()

    def tolist(self):
        _count_transfer()
        return self._a.tolist()

    def __float__(self):
        _count_transfer()
        return float(self._a)

    def __int__(self):
        _count_transfer()
        return int(self._a)

    def __bool__(self):
        _count_transfer()
        return bool(self._a)

    def __repr__(self):
        return f"DeviceArray({self._a!r})"

    @property
    def __cuda_array_interface__(self):
        return {"shape": self._a.shape, "typestr": self._a.dtype.str,
                "data": (self._a.__array_interface__["data"][0], False),
                "strides": None if self._a.flags.c_contiguous else self._a.strides,
                "version": 3}

    # --- structure
    def __getattr__(self, name):
        if name in ATTRIBUTES:
            return getattr(self._a, name)
        if name in METHODS:
            method = getattr(self._a, name)
            return lambda *args, **kwargs: _call(method, args, kwargs, f".{name}()")
        raise AttributeError(f"DeviceArray has no attribute {name!r} (not "
                             f"checked against cupy.ndarray)")

    @property
    def T(self):
        return DeviceArray(self._a.T)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (DeviceArray(np.asarray(row)) for row in self._a)

    def __getitem__(self, key):
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key, value):
        self._a[_index(key)] = _unwrap(value, "item assignment")

    # --- NumPy protocols, restricted to what CuPy implements
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or ufunc.__name__ not in UFUNCS:
            return NotImplemented
        return _call(ufunc, inputs, kwargs, f"numpy.{ufunc.__name__}")

    def __array_function__(self, func, types, args, kwargs):
        if func.__name__ not in FUNCTIONS:
            return NotImplemented
        return _call(func, args, kwargs, f"numpy.{func.__name__}")


def asarray(a, dtype=None, order=None):
    """Device array from host data (a copy) or a device array (no copy if
    the dtype matches)."""
    if isinstance(a, DeviceArray):
        if dtype is None or np.dtype(dtype) == a.dtype:
            return a
        return DeviceArray(a._a.astype(dtype))
    return DeviceArray(np.array(a, dtype=dtype, order=order or "K"))


def array(a, dtype=None, copy=True, order="K"):
    """Device array (always a copy unless ``copy=False`` allows otherwise)."""
    if isinstance(a, DeviceArray):
        return DeviceArray(np.array(a._a, dtype=dtype, copy=copy, order=order))
    return DeviceArray(np.array(a, dtype=dtype, order=order))


def get_array_module(*args):
    """This module if any argument is a device array, else NumPy."""
    if any(isinstance(a, DeviceArray) for a in args):
        return module
    return np


def _module_function(name):
    func = getattr(np, name)

    def device_function(*args, **kwargs):
        return _call(func, args, kwargs, f"xp.{name}")
    device_function.__name__ = name
    return device_function


def _make_module():
    mod = types.ModuleType("strict_xp_device", __doc__)
    for name in UFUNCS | FUNCTIONS:
        setattr(mod, name, _module_function(name))
    for name in ("empty", "zeros", "ones", "full", "eye", "identity", "arange",
                 "linspace"):
        setattr(mod, name, _module_function(name))  # creation: no inputs to unwrap
    mod.asarray, mod.array, mod.get_array_module = asarray, array, get_array_module
    mod.ndarray = DeviceArray
    mod.linalg = types.SimpleNamespace(norm=_module_function_of(np.linalg.norm, "norm"),
                                       inv=_module_function_of(np.linalg.inv, "inv"),
                                       eigh=_module_function_of(np.linalg.eigh, "eigh"))
    mod.asnumpy = lambda a: a.get() if isinstance(a, DeviceArray) else np.asarray(a)
    return mod


def _module_function_of(func, name):
    def device_function(*args, **kwargs):
        return _call(func, args, kwargs, f"xp.linalg.{name}")
    device_function.__name__ = name
    return device_function


#: The stand-in for the ``cupy`` module.
module = _make_module()


def install(monkeypatch):
    """Make ``use_GPU=True`` use :data:`module` for the rest of the test."""
    from hessianfree.base import gpu
    monkeypatch.setattr(gpu, "cupy", module)
    monkeypatch.setattr(gpu, "gpu_enabled", True)
    reset()
    return module
