"""Layers: the nonlinearities of the networks' layers.

* :mod:`~hessianfree.layers.nl_base`: the base classes (``Nonlinearity``,
  ``Plant``) and the contract of their derivatives;
* :mod:`~hessianfree.layers.nonlinearities`: the built-ins (``hf.nl``);
* :mod:`~hessianfree.layers.jacobians`: Jacobians that the passes multiply
  by without forming them (the softmax's);
* :mod:`~hessianfree.layers.plants`: plants for closed-loop training.

Built on :mod:`hessianfree.base`.
"""
