"""Fresh training data every epoch: ``run_epochs`` with a *data source*.

Instead of a fixed training set, :func:`hessianfree.run.training.run_epochs`
accepts as ``inputs`` a callable ``source(rng, n)`` that returns ``n`` new
training examples ``(inputs, targets)``, with ``targets=None`` and an int
``minibatch_size``: every epoch it draws ``minibatch_size`` examples and
trains on them.  Under ``comm`` each process draws its share from its own
network's rng, so give the processes' networks different seeds (the same
seed draws the same examples on every process); this path has no test of
its own yet.  This is how
Martens & Sutskever (2011) trained on their synthetic problems, never
showing the same sequence twice.  For example, with
:func:`hessianfree.data.tasks.generate`::

    def source(rng, n):
        return tasks.generate("addition", 50, n, rng=rng)

    net.run_epochs(source, None, optimizer, minibatch_size=1000, ...)

``rng`` is the network's own random generator (``net.rng``), which
checkpoints save and ``resume`` restores: a source that draws only from
``rng`` (and is otherwise a pure function of it) gives a resumed run the
same data as an uninterrupted one.  A source with a random state of its
own would not, so a data source is refused together with ``resume`` unless
it declares ``source.reproducible = True`` (the promise that it draws only
from ``rng``); :func:`from_generator` makes such a source from a function
of ``(rng, n)``.
"""

from hessianfree.base import validation as val
from hessianfree.layers.nl_base import Plant


def is_source(inputs):
    """Whether ``run_epochs``' ``inputs`` is a data source (a callable that
    is not a Plant or an array)."""
    return callable(inputs) and not isinstance(inputs, Plant) \
        and not hasattr(inputs, "shape")


def from_generator(function):
    """``function(rng, n) -> (inputs, targets)`` marked as a reproducible data
    source (it must draw only from ``rng``), which ``run_epochs(...,
    resume=True)`` accepts."""
    if not callable(function):
        raise TypeError(f"function must be callable(rng, n), got "
                        f"{type(function).__name__}")

    def source(rng, n):
        return function(rng, n)
    source.reproducible = True
    source.__doc__ = getattr(function, "__doc__", None)
    return source


def check_source(source, targets, minibatch_size, resume):
    """``run_epochs``' checks of a data source, before anything changes."""
    if targets is not None:
        raise ValueError("targets must be None when inputs is a data source "
                         "(a callable(rng, n) that draws the inputs and targets)")
    if minibatch_size is None or isinstance(minibatch_size, (str, bool)) \
            or not isinstance(minibatch_size, int):
        raise TypeError(f"minibatch_size must be an int (the examples drawn per "
                        f"epoch) when inputs is a data source, got {minibatch_size!r}")
    val.check_positive_int(minibatch_size, "minibatch_size")
    if resume and getattr(source, "reproducible", False) is not True:
        raise ValueError(
            "resume with a data source needs a reproducible source: one that draws "
            "only from the rng it is given (the network's, which the checkpoint "
            "restores); mark it with hessianfree.run.data_source.from_generator "
            "or set source.reproducible = True")


def draw(net, source, n):
    """``n`` examples from ``source(net.rng, n)``, checked and converted to
    the network's arrays like training data (the caller checks the targets
    against the loss)."""
    drawn = source(net.rng, n)
    if not isinstance(drawn, (tuple, list)) or len(drawn) != 2:
        raise TypeError(f"the data source must return (inputs, targets), got "
                        f"{type(drawn).__name__}")
    inputs = val.as_batch(drawn[0], "the data source's inputs", net.shape[0],
                          net._data_ndim, net.dtype, net.xp)
    if inputs.shape[0] != n:
        raise ValueError(f"the data source returned {inputs.shape[0]} examples, "
                         f"{n} were asked for")
    return inputs, net._as_targets(drawn[1], inputs)
