"""Counting the work of training in examples, the cost unit of Martens &
Sutskever (2011).

They count training cost in *minibatches*: 1,000 sequences through either a
gradient or a curvature-vector product.  A :class:`WorkCounter` attached to
a network (:func:`attach`) counts the examples of every gradient pass
(:meth:`~hessianfree.nets.passes.FeedForwardPasses.calc_grad`), every
curvature product (``calc_G``, ``calc_Hv``) and every evaluation of the
error on the cached minibatch that needs a forward pass (the backtracking
of CG iterates, the line search, the training error).  A chunked minibatch
counts its examples once per pass, as an unchunked one does; under MPI each
process counts its own examples.  Nothing is counted on a network without
a counter, and counting costs one attribute lookup per pass.

.. code-block:: python

    from hessianfree.nets import work

    counter = work.attach(net)
    net.run_epochs(...)
    print(counter.units(), counter.errors)   # minibatches of 1,000, error passes
"""

import dataclasses

#: Examples in one of Martens & Sutskever's (2011) minibatches.
UNIT = 1000

_KINDS = ("gradient", "curvature", "error")


@dataclasses.dataclass
class WorkCounter:
    """Examples through each kind of pass since the counter was made.

    Attributes
    ----------
    gradient : int
        Examples through gradient passes (forward and backward).
    curvature : int
        Examples through curvature-vector products.
    error : int
        Examples through forward passes that evaluate the error on the
        cached minibatch.
    """

    gradient: int = 0
    curvature: int = 0
    error: int = 0

    def units(self, unit=UNIT):
        """Gradient and curvature examples in minibatches of ``unit``
        (Martens & Sutskever's cost; the error evaluations are not in it)."""
        return (self.gradient + self.curvature) / unit

    def as_dict(self):
        """The counts by kind, e.g. for a JSON record."""
        return dataclasses.asdict(self)

    def add(self, counts):
        """Add the counts of a dict from :meth:`as_dict` (e.g. a saved
        run's)."""
        for kind in _KINDS:
            setattr(self, kind, getattr(self, kind) + int(counts.get(kind, 0)))


def attach(net, counter=None):
    """Count the work of ``net`` from now on in ``counter`` (default: a new
    :class:`WorkCounter`), which is returned; ``net.work`` holds it."""
    if counter is None:
        counter = WorkCounter()
    elif not isinstance(counter, WorkCounter):
        raise TypeError(f"counter must be a WorkCounter or None, got "
                        f"{type(counter).__name__}")
    net.work = counter
    return counter


def detach(net):
    """Stop counting ``net``'s work; returns its counter (or None)."""
    return net.__dict__.pop("work", None)


def count(net, kind, n_examples):
    """Add ``n_examples`` of ``kind`` (``"gradient"``, ``"curvature"`` or
    ``"error"``) to ``net``'s counter, if it has one (what the passes
    call)."""
    counter = getattr(net, "work", None)
    if counter is not None:
        setattr(counter, kind, getattr(counter, kind) + int(n_examples))
