"""Optimizers and their parts, each a module of pure functions or one small
record.

* :mod:`~hessianfree.optim.cg`: conjugate gradient;
  :mod:`~hessianfree.optim.damping`: reduction ratio and Levenberg-Marquardt
  damping; :mod:`~hessianfree.optim.linesearch`: CG backtracking and the
  Armijo line search; :mod:`~hessianfree.optim.step`: the step choice that
  combines them; :mod:`~hessianfree.optim.update_rules`: named rule sets;
* :mod:`~hessianfree.optim.preconditioners`, :mod:`~hessianfree.optim.kfac`,
  :mod:`~hessianfree.optim.kfac_factors`: CG preconditioners;
* :mod:`~hessianfree.optim.optimizer_base`, :mod:`~hessianfree.optim.optimizers`
  (``HessianFree``, ``hf.opt``), :mod:`~hessianfree.optim.hf_state`,
  :mod:`~hessianfree.optim.sgd`: the optimizers and their state;
* :mod:`~hessianfree.optim.schedule`: minibatch schedules;
  :mod:`~hessianfree.optim.minimizer`: ``hf.minimize`` on any objective.

Built on the networks' interface (they are passed in, never imported).
"""
