"""Recommended settings, and where they were measured.

Each preset is what a benchmark or a page of the documentation found to
work best on one kind of problem; the demos and the benchmarks use them, and
a script can start from them::

    import hessianfree as hf

    optimizer, schedule = hf.presets.classifier_settings(CG_iter=20)
    net.run_epochs(inputs, targets, optimizer=optimizer, minibatch_size=schedule)

==============================  ==================================================
preset                          measured in
==============================  ==================================================
:func:`classifier_settings`     docs/tuning.rst, ``bench/fmnist.py`` (Fashion-MNIST)
:func:`pathological_settings`   docs/pathological.rst, ``bench/pathological.py``
:data:`PATHOLOGICAL_RULES`      docs/pathological.rst
:func:`pathological_recipe`     docs/pathological.rst, ``bench/pathological.py --suite``
:func:`martens_sutskever_2011`  Martens & Sutskever (2011) and their released code
:data:`AUTOENCODER_HF`          docs/demos.rst, ``bench/autoencoder.py``
:data:`AUTOENCODER_MINIBATCH`   docs/demos.rst, ``bench/autoencoder.py``
:data:`AUTOENCODER_ENCODER`     Martens (2010, §6)
:data:`MNIST_HIDDEN`            docs/tuning.rst (the mnist demo's network)
==============================  ==================================================

:func:`autoencoder_network` builds Martens' deep autoencoder and
:func:`reconstruction_error` measures it the way Martens reports it.
"""

import dataclasses
import math

import numpy as np

from hessianfree.losses import loss_funcs
from hessianfree.layers import nonlinearities as nl
from hessianfree.data import tasks
from hessianfree.base import validation as val
from hessianfree.base.backend import to_numpy
from hessianfree.nets.ffnet import FFNet
from hessianfree.optim.kfac import KFAC
from hessianfree.optim.optimizers import RULE_SETS, HessianFree
from hessianfree.optim.schedule import VarianceSchedule

__all__ = ["AUTOENCODER_ENCODER", "AUTOENCODER_HF", "AUTOENCODER_MINIBATCH",
           "MARTENS_SUTSKEVER_INIT", "MNIST_HIDDEN", "PATHOLOGICAL_NETWORK",
           "PATHOLOGICAL_PRESETS", "PATHOLOGICAL_RULES", "PathologicalRecipe",
           "autoencoder_network", "classifier_settings", "martens_sutskever_2011",
           "pathological_recipe", "pathological_settings", "reconstruction_error"]


# -------------------------------------------------------------- classifier
#: Hidden layer sizes of the mnist demo's network: ``[784, 256, 128, 10]``
#: with ReLU hidden units, the network on which docs/tuning.rst measured
#: :func:`classifier_settings`.
MNIST_HIDDEN = (256, 128)


def classifier_settings(**optimizer_args):
    """The HessianFree and ``run_epochs`` settings that docs/tuning.rst
    recommends for a softmax classifier on tens of thousands of examples
    (measured on Fashion-MNIST with ``bench/fmnist.py``; the mnist demo and
    ``bench/fmnist.py`` use them).

    Parameters
    ----------
    **optimizer_args
        HessianFree arguments that replace the recommended ones.

    Returns
    -------
    optimizer : HessianFree
        ``HessianFree(CG_iter=40, init_damping=0.1, curvature_fraction=0.1,
        objective_fraction=0.25, preconditioner=hf.kfac.KFAC(rank=64),
        **hf.opt.RULE_SETS["alternative"])``: the alternative CG and damping
        rules (geometric iterate storage, relative-progress stop, damping
        decrease 2/3, undamped reduction ratio) reached 88% where the
        default ones did not within the same budget; K-FAC through the 64
        largest eigenpairs of the large factors and the step chosen on a
        quarter of the minibatch cut the time per example by a quarter and
        the time to 85% and 88% by about a tenth (docs/tuning.rst).
    minibatch_size : VarianceSchedule
        ``VarianceSchedule(initial=2000, theta=0.9, cg_iters=5)``: the
        minibatch grows from 2,000 by Byrd et al.'s variance test, the CG
        budget from 5 with its square root.
    """
    args = dict(CG_iter=40, init_damping=0.1, curvature_fraction=0.1,
                objective_fraction=0.25, preconditioner=KFAC(rank=64),
                **RULE_SETS["alternative"])
    args.update(optimizer_args)
    return (HessianFree(**args),
            VarianceSchedule(initial=2000, theta=0.9, cg_iters=5))


# ------------------------------------------------------------ pathological
#: Update rules (``hf.opt.RULE_SETS``) per pathological problem where the
#: recommended (alternative) ones did worse in docs/pathological.rst: on
#: temporal order and memorization at ``T=50`` the original package's rules
#: left the plateau on two of three seeds, the alternative ones on none and
#: one.
PATHOLOGICAL_RULES = {"temporal_order": "original", "memorization": "original"}


def pathological_settings(task=None, **optimizer_args):
    """The HessianFree and ``run_epochs`` settings that docs/pathological.rst
    recommends for the plain ``tanh`` networks of
    :func:`hessianfree.data.tasks.tanh_rnn` on the long-term-dependency problems
    (measured with ``bench/pathological.py``; the pathological demo and that
    benchmark use them).

    Parameters
    ----------
    task : str, optional
        One of ``hessianfree.data.tasks.TASKS``: the update rules measured best
        on it (:data:`PATHOLOGICAL_RULES`, the alternative rules otherwise).
    **optimizer_args
        HessianFree arguments that replace the recommended ones.

    Returns
    -------
    optimizer : HessianFree
        ``HessianFree(CG_iter=300, init_damping=1, curvature_fraction=0.2,
        cg_start="warm-if-better", **hf.opt.RULE_SETS[rules])``: Martens &
        Sutskever's (2011) CG budget and initial damping, curvature products
        on a fifth of each minibatch (Martens 2010, §4.3), and the
        alternative CG and damping rules, which left the plateau of the
        addition problem in fewer updates than the original package's rules
        (those for temporal order and memorization).  CG drops a warm start
        whose model value is positive: with structural damping, which grows
        with :math:`\\lambda`, such starts left CG's solution predicting an
        increase update after update on 3-bit temporal order at ``T=100``,
        and the damping grew from 0.04 to 2.5e4 (docs/pathological.rst).
    minibatch_size : int
        1000 sequences per update.
    """
    rules = "alternative"
    if task is not None:
        tasks.get_task(task)  # raises for an unknown task
        rules = PATHOLOGICAL_RULES.get(task, rules)
    args = dict(CG_iter=300, init_damping=1, curvature_fraction=0.2,
                cg_start="warm-if-better", **RULE_SETS[rules])
    args.update(optimizer_args)
    return HessianFree(**args), 1000


#: :func:`hessianfree.data.tasks.tanh_rnn` arguments of Martens & Sutskever's
#: (2011) released code: sparse incoming weights scaled by ``1 / sqrt(15)``,
#: so each unit's summed input starts with unit variance, and the input
#: weights by a further 0.25 (the paper preset's network).
MARTENS_SUTSKEVER_INIT = {"init_scale": 1 / math.sqrt(15), "input_scale": 0.25}

#: :func:`hessianfree.data.tasks.tanh_rnn` arguments of the recommended
#: recipe: the input weights scaled by 0.25, the other sparse weights
#: unscaled.  With no scaling the recipe sat at chance on temporal order at
#: ``T=50`` (seeds 0, 1, 3: 5,400-10,400 units of work) and on the 3-bit
#: temporal order at ``T=100`` (seeds 0-2: about 4,000 units); the input
#: scale alone solved both (seed 1 of the first in 387 units, seed 0 of the
#: second in 5,630), where ``init_scale`` alone left the second at
#: chance, and both scales together took twice the units on addition at
#: ``T=30`` (docs/pathological.rst).
PATHOLOGICAL_NETWORK = {"input_scale": 0.25}


@dataclasses.dataclass
class PathologicalRecipe:
    """Everything a run on a pathological problem needs besides its seed.

    Attributes
    ----------
    optimizer : HessianFree
    minibatch_size : int
        Sequences per update (the gradient's; the curvature products use
        ``optimizer.curvature_fraction`` of them).
    n_train : int or None
        A fixed training set of this many sequences, or None: fresh
        sequences for every update (a data source,
        :mod:`hessianfree.run.data_source`).
    network : dict
        :func:`hessianfree.data.tasks.tanh_rnn` arguments.
    """

    optimizer: HessianFree
    minibatch_size: int
    n_train: object
    network: dict


def martens_sutskever_2011(task, **optimizer_args):
    """The recipe of Martens & Sutskever (2011) as their released code runs
    it, the reference of docs/pathological.rst.

    Fresh sequences for every update; the gradient on 10,000 of them (their
    10 batches of 1,000), the curvature products on 1,000 of those
    (``curvature_fraction=0.1``); 300 CG iterations (relative-progress stop
    with tolerance 0, so CG runs them all unless it stops making
    progress), started from 0.95 times the previous solution; initial
    damping ``0.01 * n_outputs`` and structural damping 0.03 times it;
    sparse initialization with 15 incoming weights scaled by
    ``1 / sqrt(15)``, the input weights by a further 0.25, the recurrent
    matrix at spectral radius 1.2.  Where this differs from their code:
    the backtracking and line search evaluate the objective on the
    gradient's minibatch (theirs on other batches), and there is no L2
    penalty (theirs 2e-5).

    Parameters
    ----------
    task : str
        One of ``hessianfree.data.tasks.TASKS``.
    **optimizer_args
        HessianFree arguments that replace these.

    Returns
    -------
    PathologicalRecipe
    """
    spec = tasks.get_task(task)
    args = dict(CG_iter=300, init_damping=0.01 * spec.n_out, cg_decay=0.95,
                curvature_fraction=0.1, **RULE_SETS["alternative"])
    args["cg_rel_tol"] = 0.0
    args.update(optimizer_args)
    return PathologicalRecipe(HessianFree(**args), 10000, None,
                              dict(structural_damping=0.03, **MARTENS_SUTSKEVER_INIT))


def _recommended(task, **optimizer_args):
    optimizer, minibatch = pathological_settings(task, **optimizer_args)
    return PathologicalRecipe(optimizer, minibatch, None, dict(PATHOLOGICAL_NETWORK))


#: The recipes of :func:`pathological_recipe` by name.
PATHOLOGICAL_PRESETS = {"recommended": _recommended, "paper": martens_sutskever_2011}


def pathological_recipe(task, preset="recommended", **optimizer_args):
    """A whole recipe for a pathological problem (what the demo and
    ``bench/pathological.py --suite`` run).

    Parameters
    ----------
    task : str
        One of ``hessianfree.data.tasks.TASKS``.
    preset : {"recommended", "paper"}
        ``"recommended"``: :func:`pathological_settings` on fresh sequences
        every update, :func:`~hessianfree.data.tasks.tanh_rnn` with
        :data:`PATHOLOGICAL_NETWORK`'s initialization.  A fixed set of
        10,000 training sequences, this recipe's earlier choice, let the
        network fit that set instead of the problem: on xor at ``T=50``
        (seed 0) the training error fell to 0.39 while the test error
        stayed at chance after 4,600 units, where fresh sequences solved
        it in 841; fresh sequences also took fewer units on addition at
        ``T=30`` and on 20-bit memorization (docs/pathological.rst).
        ``"paper"``: :func:`martens_sutskever_2011`.
    **optimizer_args
        HessianFree arguments that replace the preset's.

    Returns
    -------
    PathologicalRecipe
    """
    tasks.get_task(task)
    val.check_choice(preset, "preset", tuple(PATHOLOGICAL_PRESETS))
    return PATHOLOGICAL_PRESETS[preset](task, **optimizer_args)


# ------------------------------------------------------------- autoencoder
#: Encoder layer sizes of Martens' (2010, §6) MNIST autoencoder; the decoder
#: mirrors them back to the input size.
AUTOENCODER_ENCODER = (784, 1000, 500, 250, 30)

#: HessianFree arguments of the autoencoder demo (and of
#: ``bench/autoencoder.py``): damping 0.1 and 20 CG iterations on half of each
#: minibatch left the initial plateau (the output that ignores its input) in a
#: few updates where damping 1 stalled on it; the K-FAC preconditioner and the
#: alternative CG and damping rules (``hf.opt.RULE_SETS["alternative"]``) took
#: the reconstruction error after 60 s from 35 to 15 (docs/demos.rst).
AUTOENCODER_HF = {"CG_iter": 20, "init_damping": 0.1, "curvature_fraction": 0.5,
                  "preconditioner": "kfac", **RULE_SETS["alternative"]}

#: Images per minibatch of the autoencoder demo and of ``bench/autoencoder.py``
#: (docs/demos.rst: minibatches of 2,000 and of 500 images did worse).
AUTOENCODER_MINIBATCH = 1000


def autoencoder_network(encoder=AUTOENCODER_ENCODER, **model_args):
    """A deep autoencoder as in Martens (2010, §6).

    Logistic hidden layers, a linear code layer (the last entry of
    ``encoder``) and a logistic output layer, trained with
    :class:`~hessianfree.losses.loss_funcs.BinaryCrossEntropy` on pixel intensities;
    Martens' sparse initialization (``init_type="sparse"``: 15 nonzero N(0, 1)
    incoming weights per unit, zero biases).

    Parameters
    ----------
    encoder : sequence of int
        Sizes from the input to the code layer, e.g. ``(784, 1000, 500, 250,
        30)``; the network is ``encoder + reversed(encoder[:-1])``.
    **model_args
        Further :class:`~hessianfree.nets.ffnet.FFNet` keyword arguments (they
        override the ones above).

    Returns
    -------
    FFNet
    """
    encoder = [val.check_positive_int(n, "encoder") for n in encoder]
    if len(encoder) < 2:
        raise ValueError(f"encoder needs at least an input and a code size, got "
                         f"{encoder}")
    n_hidden = len(encoder) - 2
    layers = ([nl.Linear()] + [nl.Logistic()] * n_hidden + [nl.Linear()]
              + [nl.Logistic()] * (n_hidden + 1))
    model = {"shape": encoder + encoder[-2::-1], "layers": layers,
             "loss_type": loss_funcs.BinaryCrossEntropy(),
             "W_init_params": {"init_type": "sparse", "coeff": 1.0}}
    model.update(model_args)
    return FFNet(**model)


def reconstruction_error(net, images, chunk=2000):
    """Martens' (2010) reconstruction error: the squared error summed over
    pixels, averaged over the images,
    :math:`\\frac{1}{N} \\sum_n \\lVert y(x_n) - x_n \\rVert^2`.

    The same measure as
    :class:`~hessianfree.losses.loss_funcs.ReconstructionError` (the ``test_err``
    of the autoencoder demo), accumulated in float64 over a whole data set.

    Parameters
    ----------
    net : FFNet
        An autoencoder (output size = input size).
    images : (n, n_pixels) array
    chunk : int
        Images per forward pass (bounds the memory used).

    Returns
    -------
    float
    """
    images = np.asarray(images, dtype=net.dtype)
    total = 0.0
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk]
        y = to_numpy(net.forward(x)[-1])
        total += float(np.sum((y - x) ** 2, dtype=np.float64))
    return total / max(len(images), 1)
