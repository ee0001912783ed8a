"""Activation Jacobians kept as operators instead of matrices.

The derivative passes of a network (backpropagation, the R-forward pass of
the Gauss-Newton product) only ever multiply a layer's per-example Jacobian
by a vector.  For a non-element-wise nonlinearity the Jacobian of a batch is
an ``(..., n, n)`` array, :math:`n^2` numbers per example and time step,
and each product costs :math:`O(n^2)`; when the Jacobian has structure, a
small object that multiplies in :math:`O(n)` does the same job.  A
:class:`~hessianfree.layers.nl_base.Nonlinearity` hands one out from
:meth:`~hessianfree.layers.nonlinearities.Nonlinearity.cached_derivative`, and
:func:`hessianfree.nets.passes.apply_derivative` multiplies by it.
"""

from hessianfree.base.backend import array_module


class JacobianOperator:
    """Per-example Jacobians :math:`J[..., i, j] = \\partial a_i / \\partial x_j`
    of a batch, represented by the arrays they are built from.

    Subclasses hold their arrays in ``arrays`` (each with the batch's
    leading axes first) and implement :meth:`matvec` and :meth:`toarray`.
    Indexing on the leading axes (time steps, examples) and :meth:`map`
    act on every array, so the passes slice an operator as they slice an
    array of Jacobians.
    """

    def __init__(self, *arrays):
        self.arrays = arrays

    @property
    def ndim(self):
        """The number of axes of the equivalent Jacobian array (the leading
        axes and two more)."""
        return self.arrays[0].ndim + 1

    @property
    def shape(self):
        """Shape of the equivalent Jacobian array."""
        return self.arrays[0].shape + self.arrays[0].shape[-1:]

    def map(self, function):
        """The same operator on ``function(array)`` of each of its arrays
        (``function`` must keep the last axis, the units)."""
        return type(self)(*(function(a) for a in self.arrays))

    def __getitem__(self, index):
        return self.map(lambda a: a[index])

    def matvec(self, x, out, transpose=False):
        """Write :math:`J x` (:math:`J^T x` with ``transpose``) of every
        example into ``out`` (which may be ``x``) and return it.

        Parameters
        ----------
        x : (..., n) array
        out : (..., n) array
        transpose : bool
        """
        raise NotImplementedError(f"{type(self).__name__} must implement matvec")

    def toarray(self):
        """The ``(..., n, n)`` array of Jacobians."""
        raise NotImplementedError(f"{type(self).__name__} must implement toarray")


class SoftmaxJacobian(JacobianOperator):
    """The Jacobians of a softmax, :math:`J = \\mathrm{diag}(a) - a a^T`,
    from the activations :math:`a` alone.

    :math:`J` is symmetric and :math:`J x = a \\odot (x - (a \\cdot x))`:
    :math:`O(n)` per example instead of :math:`O(n^2)`, and no
    :math:`n \\times n` array per example and step.

    Parameters
    ----------
    a : (..., n) array
        Softmax activations.
    """

    def matvec(self, x, out, transpose=False):
        (a,) = self.arrays
        xp = array_module(a)
        # a . x of every example, without an (..., n) temporary; before out
        # (which may be x) changes
        dot = xp.einsum("...i,...i->...", a, x)[..., None]
        xp.subtract(x, dot, out=out)
        out *= a
        return out

    def toarray(self):
        (a,) = self.arrays
        eye = array_module(a).eye(a.shape[-1], dtype=a.dtype)
        return a[..., :, None] * (eye - a[..., None, :])


def as_array(d):
    """A layer derivative as an array: ``d`` itself, or the Jacobians a
    :class:`JacobianOperator` stands for (for the public ``forward(...,
    deriv=True)`` and code that needs the matrices)."""
    return d.toarray() if isinstance(d, JacobianOperator) else d
