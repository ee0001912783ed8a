"""The bottom layer: arrays and arguments.

* :mod:`~hessianfree.base.backend`: the array module (NumPy, or CuPy on a GPU)
  the rest is written against, and the few host/device copies;
* :mod:`~hessianfree.base.gpu`: whether CuPy and a CUDA device are usable;
* :mod:`~hessianfree.base.validation`: the argument checks every public
  function shares.

Nothing here imports another part of the package.
"""
