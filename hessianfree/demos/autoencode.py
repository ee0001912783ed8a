"""The autoencoder demo: Martens' (2010, §6) deep autoencoder from a random
start, with the settings of :data:`hessianfree.presets.AUTOENCODER_HF`."""

import hessianfree as hf
from hessianfree.data import datasets
from hessianfree.demos._common import _dataset, _merged, _save_and_list, _pyplot
from hessianfree.demos._registry import register
from hessianfree.losses.output_losses import ReconstructionError
from hessianfree.presets import (AUTOENCODER_ENCODER, AUTOENCODER_HF,
                                 AUTOENCODER_MINIBATCH, autoencoder_network,
                                 reconstruction_error)


def _autoencoder_data(data, n_train, n_test, allow_pickle):
    """Fashion-MNIST if installed (else the embedded digits) for ``data=None``;
    the first ``n_train`` / ``n_test`` images."""
    if data is None:
        try:
            data = datasets.load("fashion-mnist")
        except FileNotFoundError:
            print("autoencoder: Fashion-MNIST is not installed (apt-get install "
                  "dataset-fashion-mnist); using the embedded MNIST digits")
            data = datasets.load()
    else:
        data = _dataset(data, allow_pickle)
    return data.subset(n_train, n_test)


def _autoencoder_defaults(n_train):
    """Default run_epochs arguments of :func:`autoencoder`."""
    return {"optimizer": hf.opt.HessianFree(**AUTOENCODER_HF),
            "minibatch_size": min(n_train, AUTOENCODER_MINIBATCH), "max_epochs": 50,
            "test_err": ReconstructionError(), "print_period": 10}


@register
def autoencoder(encoder=AUTOENCODER_ENCODER, n_train=5000, n_test=1000, data=None,
                model_args=None, run_args=None, plots=True, file_output="autoencoder",
                curves=True, allow_pickle=False, resume=False):
    """Train Martens' (2010, §6) deep autoencoder from a random start.

    The network ``[784, 1000, 500, 250, 30, 250, 500, 1000, 784]`` (logistic
    hidden layers, a linear 30-unit code layer, logistic outputs; see
    :func:`autoencoder_network`) learns to reproduce its input image through
    the 30 code units.  It minimizes the binary cross-entropy of the outputs
    and the pixel intensities in [0, 1]
    (:class:`~hessianfree.losses.loss_funcs.BinaryCrossEntropy`, with its
    matching-loss Gauss-Newton curvature), starting from Martens' sparse
    initialization, with no pre-training: the problem with which Martens
    showed that Hessian-free optimization trains deep networks that gradient
    descent could not.

    It reports Martens' measure, the squared reconstruction error summed over
    the pixels of an image and averaged over the images
    (:func:`reconstruction_error`), on the training and test images, and
    writes the training curves (:mod:`hessianfree.run.dataplotter` series in
    ``<file_output>_plots``, and ``<file_output>_curves.png`` when ``plots``)
    unless ``curves`` is False.

    Parameters
    ----------
    encoder : sequence of int
        Encoder sizes, input to code; the decoder mirrors them.
    n_train, n_test : int or None
        Use the first this many training and test images (None: all).
    data : str or os.PathLike or Dataset, optional
        None: Fashion-MNIST when Debian's ``dataset-fashion-mnist`` is
        installed, else the embedded MNIST digits.  Otherwise a name or path
        for :func:`hessianfree.data.datasets.load`, or a
        :class:`~hessianfree.data.datasets.Dataset`.  A pickled MNIST needs
        ``allow_pickle=True``.
    model_args : dict, optional
        Keyword arguments for :func:`autoencoder_network` (FFNet's).
    run_args : dict, optional
        Keyword arguments for :meth:`~hessianfree.nets.ffnet.FFNet.run_epochs`,
        overriding the defaults: ``HessianFree(**AUTOENCODER_HF)``
        (``CG_iter=20, init_damping=0.1, curvature_fraction=0.5,
        preconditioner="kfac"`` and the alternative update rules),
        minibatches of 1,000 images, 50 epochs, the test reconstruction
        error (:class:`ReconstructionError`) as ``test_err``.
    plots : bool
        Also draw the curves into ``<file_output>_curves.png`` (matplotlib).
    file_output : str or None
        Prefix of the files written (plot series, best weights, checkpoint);
        None writes nothing.
    curves : bool
        Record the training curves and write the files above; False
        (``--no-curves``) writes nothing, as ``file_output=None`` does.
    allow_pickle : bool
        Read a pickled MNIST (``mnist.pkl[.gz]``; ``--allow-pickle`` on the
        command line): unpickling a crafted file runs code, so without this
        a pickle is refused with an error that names it.
    resume : bool
        Continue the run from the checkpoint an earlier, interrupted run of
        this demo wrote (``--resume`` on the command line; needs ``curves``).

    Returns
    -------
    net : FFNet
        The trained network (``net.best_W``: the weights with the lowest
        test error).
    """
    data = _autoencoder_data(data, n_train, n_test, allow_pickle)
    if not curves:
        if resume:
            raise ValueError("resume needs the checkpoint the demo writes, which "
                             "curves=False (--no-curves) turns off")
        file_output = None
    net = autoencoder_network(encoder, **(model_args or {}))
    defaults = _autoencoder_defaults(len(data.train_images))
    defaults.update(test=(data.test_images, data.test_images),
                    plotting=file_output is not None, file_output=file_output,
                    resume=resume)
    run = _merged(defaults, run_args, "run_args")
    print(f"autoencoder: {data.name}, {len(data.train_images)} training and "
          f"{len(data.test_images)} test images, network {net.shape}")
    net.run_epochs(data.train_images, data.train_images, **run)
    for name, images in (("training", data.train_images), ("test", data.test_images)):
        print(f"{name} reconstruction error: {reconstruction_error(net, images):.3f} "
              f"(squared error per image, summed over {images.shape[1]} pixels)")
    _save_and_list(net, run["file_output"], curves)
    if plots and run["file_output"] is not None:
        _plot_autoencoder_curves(net.plots, f"{run['file_output']}_curves.png")
    return net


def _plot_autoencoder_curves(series, filename):
    """Training and test error against wall time, into ``filename``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, label in (("training error (log)", "training cross-entropy (minibatch)"),
                        ("test error (log)", "test reconstruction error")):
        ax.plot(series["time (s)"], series[name], label=label)
    ax.set(xlabel="training time (s)", ylabel="error per image", yscale="log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(filename, dpi=100)
    plt.close(fig)
    print(f"training curves written to {filename}")
