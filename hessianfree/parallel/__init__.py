"""Data-parallel training over MPI processes.

* :mod:`~hessianfree.parallel.distributed`: the MPI reduction of the means
  over examples and the data-parallel ``run_epochs``;
* :mod:`~hessianfree.parallel.agreement`: what the processes check and
  agree on before training.

Built on the training loop.
"""
