"""Data: the data sets of the demos and benchmarks, and the
long-term-dependency tasks of Martens & Sutskever (2011).

* :mod:`~hessianfree.data.datasets`: MNIST and Fashion-MNIST loaders;
* :mod:`~hessianfree.data.tasks`: the pathological problems' generators and
  success criteria.
"""
