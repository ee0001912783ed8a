"""Networks: weights, the cached minibatch and the derivative passes.

* :mod:`~hessianfree.nets.layout`: the flat parameter vector;
* :mod:`~hessianfree.nets.batch`: one cached minibatch and all that is
  derived from it (:class:`~hessianfree.nets.batch.Batch`);
  :mod:`~hessianfree.nets.chunking`: its parts, chunk by chunk;
* :mod:`~hessianfree.nets.passes`, :mod:`~hessianfree.nets.stacked`,
  :mod:`~hessianfree.nets.records`: forward, backward and R-forward passes,
  gradients and Gauss-Newton products; :mod:`~hessianfree.nets.hessian`:
  exact Hessian products; :mod:`~hessianfree.nets.curvature`: the curvature
  matrix as a SciPy operator;
* :mod:`~hessianfree.nets.ffnet`, :mod:`~hessianfree.nets.rnnet`,
  :mod:`~hessianfree.nets.closed_loop`: the networks;
* :mod:`~hessianfree.nets.model`, :mod:`~hessianfree.nets.architecture`,
  :mod:`~hessianfree.nets.modelfile`: whole-model files;
* :mod:`~hessianfree.nets.reduction`: means over examples (over processes
  through an interface that :mod:`hessianfree.parallel` implements);
* :mod:`~hessianfree.nets.input_derivatives`,
  :mod:`~hessianfree.nets.derivative_checks`: derivatives with respect to
  the inputs, and finite-difference checks.

Built on the layers and losses; imports no optimizer, training loop or MPI
(``run_epochs`` reaches :mod:`hessianfree.run` through one import inside
the method).
"""
