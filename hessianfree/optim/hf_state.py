"""The record of what :class:`hessianfree.optim.optimizers.HessianFree` carries
from one update to the next, and its conversion to and from the plain dict
a checkpoint stores."""

import dataclasses
import numbers

from hessianfree.base import validation as val
from hessianfree.base.backend import array_module


@dataclasses.dataclass(frozen=True)
class HFState:
    """State that :class:`~hessianfree.optim.optimizers.HessianFree` carries from
    one update to the next (enough to checkpoint and resume it).

    Attributes
    ----------
    damping : float
        Tikhonov damping :math:`\\lambda` (Martens 2010, §4.1).
    init_delta : (n_params,) array or None
        Warm start for the next CG run (Martens 2010, §4.5): the last CG
        solution times ``cg_decay``; None means start from zero.
    epoch : int
        Number of ``compute_update`` calls so far.
    n_failures : int
        Number of those calls that returned a zero (rejected) update.
    """

    damping: float
    init_delta: object = None
    epoch: int = 0
    n_failures: int = 0


def as_dict(state):
    """The fields of an :class:`HFState` as a dict."""
    return {field.name: getattr(state, field.name) for field in dataclasses.fields(HFState)}


def from_dict(values, W=None):
    """The :class:`HFState` a dict from :func:`as_dict` describes, checked.

    Parameters
    ----------
    values : dict
        May hold more keys (ignored); ``epoch`` and ``n_failures`` default
        to 0 and ``init_delta`` to None.
    W : (n_params,) array, optional
        The network's weights: ``init_delta`` must match their shape, and
        moves to their array module and dtype.

    Raises
    ------
    TypeError, ValueError
        Naming the entry, e.g. ``state['damping']``.
    """
    fields = {field.name: values[field.name] for field in dataclasses.fields(HFState)
              if field.name in values}
    fields["damping"] = val.check_real(fields.get("damping"), "state['damping']", 0.0)
    for name in ("epoch", "n_failures"):
        count = fields.get(name, 0)
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
            raise ValueError(f"state[{name!r}] must be an integer >= 0, got {count!r}")
        fields[name] = int(count)
    fields["init_delta"] = _warm_start(fields.get("init_delta"), W)
    return HFState(**fields)


def _warm_start(init_delta, W):
    """Check a restored warm start; move it to ``W``'s array module and dtype."""
    if init_delta is None:
        return None
    shape = None if W is None else tuple(W.shape)
    if getattr(init_delta, "ndim", None) != 1 or init_delta.dtype.kind != "f" \
            or (shape is not None and tuple(init_delta.shape) != shape):
        raise ValueError(f"state['init_delta'] must be None or a 1-D float array"
                         f"{'' if shape is None else f' of shape {shape}'}, got "
                         f"{getattr(init_delta, 'shape', type(init_delta).__name__)}")
    if not bool(array_module(init_delta).isfinite(init_delta).all()):
        raise ValueError("state['init_delta'] contains NaN or inf")
    if W is None:
        return init_delta
    return array_module(W).asarray(init_delta, dtype=W.dtype)
