"""The training loop behind ``run_epochs``.

* :mod:`~hessianfree.run.fitting`: the entry point from a network;
* :mod:`~hessianfree.run.training`: the epoch loop;
  :mod:`~hessianfree.run.run_checks`: its argument checks;
* :mod:`~hessianfree.run.run_state`, :mod:`~hessianfree.run.checkpoint`:
  the run's record and its crash-safe checkpoint;
* :mod:`~hessianfree.run.progress`, :mod:`~hessianfree.run.plotfile`,
  :mod:`~hessianfree.run.dataplotter`: the progress bar and training curves.

Built on the networks and the optimizers.
"""
