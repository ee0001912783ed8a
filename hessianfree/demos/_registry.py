"""The registry of demos: :data:`DEMOS`, :func:`register`, :func:`get_demo`
and :func:`run_demo` (public as ``hf.demos.DEMOS`` etc.)."""

import inspect

from hessianfree.base import validation as val

DEMOS = {}
"""Every registered demo, by name (filled by :func:`register`)."""


def register(func):
    """Register ``func`` as the demo ``func.__name__`` (decorator)."""
    DEMOS[func.__name__] = func
    return func


def get_demo(name):
    """Return the demo function called ``name``.

    Raises
    ------
    ValueError
        If there is no such demo (the message lists the available ones).
    """
    try:
        return DEMOS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown demo {name!r}; available demos: "
                         f"{', '.join(DEMOS)}") from None


def run_demo(name, plots=True, curves=True, seed=None, **kwargs):
    """Run the demo ``name``.

    ``plots`` and ``curves`` are passed on to demos that take them.  An int
    ``seed`` goes to the demo's ``rng`` or ``seed`` argument, or else into
    ``model_args={"rng": seed}``; the same seed gives the same run.  Other
    keyword arguments go to the demo function.  Returns what the demo
    returns.
    """
    func = get_demo(name)
    parameters = inspect.signature(func).parameters
    for key, value in (("plots", plots), ("curves", curves)):
        if key in parameters:
            kwargs[key] = value
    if seed is not None:
        seed = val.check_nonneg_int(seed, "seed")
        target = next((p for p in ("rng", "seed", "model_args") if p in parameters), None)
        if target is None:
            raise ValueError(f"the {name} demo takes no seed")
        if target == "model_args":
            kwargs["model_args"] = {**(kwargs.get("model_args") or {}), "rng": seed}
        else:
            kwargs[target] = seed
    return func(**kwargs)
