"""Losses: the functions the networks minimise, with their derivatives.

* :mod:`~hessianfree.losses.loss_base`: the base class and shared helpers;
* :mod:`~hessianfree.losses.output_losses`: losses on the output layer;
* :mod:`~hessianfree.losses.hidden_losses`: losses on hidden layers
  (sparsity, structural damping);
* :mod:`~hessianfree.losses.loss_funcs`: their sum (``LossSet``) and the
  public names (``hf.loss_funcs``).

Built on :mod:`hessianfree.base` and :mod:`hessianfree.layers`.
"""
