"""Demonstrations of the main features of the package.

Run one from Python::

    import hessianfree as hf
    hf.demos.xor()

or from the command line::

    python -m hessianfree.demos xor
    python -m hessianfree.demos --list

Each demo trains a network, prints its output and final error, and returns
the trained network.  Demos that draw figures take a ``plots`` argument
(``--no-plots`` on the command line turns them off), so every demo runs
headless.

A new demo is a function decorated with :func:`register`, which makes it
available as ``python -m hessianfree.demos NAME``.

The demos live in one short module per demo or family of demos
(:mod:`~hessianfree.demos.classic`: xor, crossentropy and connections;
:mod:`~hessianfree.demos.integrate`: integrator;
:mod:`~hessianfree.demos.addition`: adding;
:mod:`~hessianfree.demos.long_term`: pathological;
:mod:`~hessianfree.demos.control`: plant;
:mod:`~hessianfree.demos.classify`: mnist;
:mod:`~hessianfree.demos.autoencode`: autoencoder;
:mod:`~hessianfree.demos.profiling`: profile), and the command line in
:mod:`~hessianfree.demos.cli`.  Every name is available from
``hf.demos``, including the recommended settings of
:mod:`hessianfree.presets` (``hf.demos.classifier_settings`` etc.), the
reconstruction loss (:class:`~hessianfree.losses.loss_funcs.ReconstructionError`)
and the point-mass plant (:class:`~hessianfree.layers.nonlinearities.PointMass`),
whose homes are now those modules.
"""

from hessianfree.demos._registry import DEMOS, get_demo, register, run_demo
from hessianfree.demos.classic import connections, crossentropy, xor
from hessianfree.demos.integrate import integrator, integrator_data
from hessianfree.demos.addition import (adding, adding_data, adding_network,
                                        set_spectral_radius)
from hessianfree.demos.long_term import pathological
from hessianfree.demos.control import plant
from hessianfree.demos.classify import mnist
from hessianfree.demos.autoencode import autoencoder
from hessianfree.demos.profiling import profile
from hessianfree.demos.cli import main
from hessianfree.losses.output_losses import ReconstructionError
from hessianfree.layers.plants import PointMass
from hessianfree.presets import (AUTOENCODER_ENCODER, AUTOENCODER_HF,
                                 AUTOENCODER_MINIBATCH, MNIST_HIDDEN,
                                 PATHOLOGICAL_RULES, autoencoder_network,
                                 classifier_settings, pathological_settings,
                                 reconstruction_error)

__all__ = ["DEMOS", "get_demo", "register", "run_demo", "main",
           # the demos, in the order of --list
           "xor", "crossentropy", "connections", "integrator", "adding",
           "pathological", "plant", "mnist", "autoencoder", "profile",
           # their data and networks
           "integrator_data", "adding_data", "adding_network", "set_spectral_radius",
           # names whose homes are hessianfree.presets, .loss_funcs and .nl
           "AUTOENCODER_ENCODER", "AUTOENCODER_HF", "AUTOENCODER_MINIBATCH",
           "MNIST_HIDDEN", "PATHOLOGICAL_RULES", "autoencoder_network",
           "classifier_settings", "pathological_settings", "reconstruction_error",
           "ReconstructionError", "PointMass"]
