"""The feed-forward demos of the original package: xor, crossentropy and
connections (non-standard connectivity)."""

import numpy as np

import hessianfree as hf
from hessianfree.demos._common import _curve_args, _save_and_list, _report
from hessianfree.demos._registry import register


def _xor_data(one_hot=False):
    """The four xor patterns, as float32 ``(4, 2)`` inputs and targets.

    Targets are ``(4, 1)``, or ``(4, 2)`` one-hot (column 1 = "true") when
    ``one_hot`` is True.
    """
    inputs = np.asarray([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    targets = np.asarray([[0], [1], [1], [0]], dtype=np.float32)
    if one_hot:
        targets = np.concatenate([1 - targets, targets], axis=1)
    return inputs, targets


@register
def xor(use_hf=True, rng=None, curves=True, resume=False):
    """Run a basic xor training test.

    The xor function is the most basic test of a multi-layer network (Minsky
    and Papert, 1969): output 1 when exactly one input is 1.  A three-layer
    network ``[2, 5, 1]`` with logistic units learns it; the output is printed
    next to the targets at the end.

    This demo shows the two key steps: the :class:`~hessianfree.nets.ffnet.FFNet`
    constructor sets up the network, and
    :meth:`~hessianfree.nets.ffnet.FFNet.run_epochs` optimizes it.  ``forward(inputs)``
    returns every layer's activations, so ``forward(inputs)[-1]`` is the
    output.

    Parameters
    ----------
    use_hf : bool, optional
        Train with Hessian-free optimization (2 CG iterations, 40 epochs) if
        True, otherwise with gradient descent (:class:`~hessianfree.optim.optimizers.SGD`,
        learning rate 1, up to 10000 epochs) for comparison.
    rng : int, numpy.random.RandomState or Generator, optional
        Seed or random number generator for the initial weights (passed to
        :class:`~hessianfree.nets.ffnet.FFNet`); a fresh random one if None.
    curves : bool
        Record the training curves (``run_epochs(plotting=True,
        file_output="xor")``; Hessian-free only), save the trained model
        and say what each file written is for.
    resume : bool
        Continue the run from the checkpoint an earlier, interrupted run of
        this demo wrote (``--resume`` on the command line; needs ``curves``).

    Returns
    -------
    net : FFNet
        The trained network.
    """
    inputs, targets = _xor_data()
    net = hf.FFNet([2, 5, 1], rng=rng)
    if use_hf:
        net.run_epochs(inputs, targets,
                       optimizer=hf.opt.HessianFree(CG_iter=2),
                       max_epochs=40, **_curve_args("xor", curves, resume))
    else:
        if resume:
            raise ValueError("resume continues the Hessian-free run (use_hf=True)")
        curves = False  # 10,000 short epochs: too many to record
        net.run_epochs(inputs, targets, optimizer=hf.opt.SGD(l_rate=1),
                       max_epochs=10000, print_period=1000)
    _report(net, inputs, targets)
    _save_and_list(net, "xor", curves)
    return net


@register
def crossentropy(rng=None, curves=True, resume=False):
    """A network that changes the layer types and the loss function.

    ``layers=`` sets one nonlinearity per layer (here linear input, tanh
    hidden and softmax output) and ``loss_type=`` the loss minimized
    (cross-entropy)::

        hf.FFNet([2, 5, 2],
                 layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                 loss_type=hf.loss_funcs.CrossEntropy())

    Softmax needs more than one output, so the targets are the one-hot
    (two-dimensional) version of xor.  ``loss_type`` also accepts a list of
    losses, which are summed.

    Parameters
    ----------
    rng : int, numpy.random.RandomState or Generator, optional
        Seed or random number generator for the initial weights (passed to
        :class:`~hessianfree.nets.ffnet.FFNet`); a fresh random one if None.
    curves : bool
        Record the training curves (``run_epochs(plotting=True,
        file_output=<demo name>)``), save the trained model and say what
        each file written is for.
    resume : bool
        Continue the run from the checkpoint an earlier, interrupted run of
        this demo wrote (``--resume`` on the command line; needs ``curves``).

    Returns
    -------
    net : FFNet
        The trained network.
    """
    inputs, targets = _xor_data(one_hot=True)
    net = hf.FFNet([2, 5, 2],
                   layers=[hf.nl.Linear(), hf.nl.Tanh(), hf.nl.Softmax()],
                   loss_type=hf.loss_funcs.CrossEntropy(), rng=rng)
    net.run_epochs(inputs, targets, optimizer=hf.opt.HessianFree(CG_iter=2),
                   max_epochs=40, **_curve_args("crossentropy", curves, resume))
    _report(net, inputs, targets)
    _save_and_list(net, "crossentropy", curves)
    return net


@register
def connections(rng=None, curves=True, resume=False):
    """A network with non-standard connectivity between layers.

    ``conns=`` maps each layer to the later layers it projects to::

        hf.FFNet([2, 5, 5, 1], layers=hf.nl.Tanh(),
                 conns={0: [1, 2], 1: [2, 3], 2: [3]})

    Here layer 0 projects to layers 1 and 2, layer 1 to layers 2 and 3, and
    layer 2 to layer 3.  Connections must go downstream (no loops).  A single
    nonlinearity for ``layers=`` is used by every layer but the input layer,
    which is linear.

    It trains with 5 CG iterations per epoch: with 2, as the xor demo, the
    CG runs that start from the previous epoch's solution often end where
    the quadratic model predicts no decrease at all, and the log shows their
    reduction ratio as ``rho -inf``.

    Parameters
    ----------
    rng : int, numpy.random.RandomState or Generator, optional
        Seed or random number generator for the initial weights (passed to
        :class:`~hessianfree.nets.ffnet.FFNet`); a fresh random one if None.
    curves : bool
        Record the training curves (``run_epochs(plotting=True,
        file_output=<demo name>)``), save the trained model and say what
        each file written is for.
    resume : bool
        Continue the run from the checkpoint an earlier, interrupted run of
        this demo wrote (``--resume`` on the command line; needs ``curves``).

    Returns
    -------
    net : FFNet
        The trained network.
    """
    inputs, targets = _xor_data()
    net = hf.FFNet([2, 5, 5, 1], layers=hf.nl.Tanh(),
                   conns={0: [1, 2], 1: [2, 3], 2: [3]}, rng=rng)
    net.run_epochs(inputs, targets, optimizer=hf.opt.HessianFree(CG_iter=5),
                   max_epochs=40, **_curve_args("connections", curves, resume))
    _report(net, inputs, targets)
    _save_and_list(net, "connections", curves)
    return net
