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
"""

import argparse
import inspect
import sys

import numpy as np

import hessianfree as hf
from hessianfree.backend import to_numpy

DEMOS = {}
"""Every registered demo, by name (filled by :func:`register`)."""


def register(func):
    """Register ``func`` as the demo ``func.__name__`` (decorator)."""
    DEMOS[func.__name__] = func
    return func


def get_demo(name):
    """Return the demo function called ``name``.

    Raises
    ------
    ValueError
        If there is no such demo (the message lists the available ones).
    """
    try:
        return DEMOS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown demo {name!r}; available demos: "
                         f"{', '.join(DEMOS)}") from None


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


def _report(net, inputs, targets):
    """Print the network's output next to the targets, and the final error."""
    outputs = to_numpy(net.forward(inputs)[-1])
    print("input -> output (target)")
    for x, y, t in zip(inputs, outputs, targets):
        print(f"  {np.array2string(x, precision=0)} -> "
              f"{np.array2string(y, precision=3, suppress_small=True)} "
              f"({np.array2string(t, precision=0)})")
    error = net.error(inputs=inputs, targets=targets)
    print(f"final error: {float(error):.4g}")
    return error


@register
def xor(use_hf=True, rng=None):
    """Run a basic xor training test.

    The xor function is the most basic test of a multi-layer network (Minsky
    and Papert, 1969): output 1 when exactly one input is 1.  A three-layer
    network ``[2, 5, 1]`` with logistic units learns it; the output is printed
    next to the targets at the end.

    This demo shows the two key steps: the :class:`~hessianfree.ffnet.FFNet`
    constructor sets up the network, and
    :meth:`~hessianfree.ffnet.FFNet.run_epochs` optimizes it.  ``forward(inputs)``
    returns every layer's activations, so ``forward(inputs)[-1]`` is the
    output.

    Parameters
    ----------
    use_hf : bool, optional
        Train with Hessian-free optimization (2 CG iterations, 40 epochs) if
        True, otherwise with gradient descent (:class:`~hessianfree.optimizers.SGD`,
        learning rate 1, up to 10000 epochs) for comparison.
    rng : numpy.random.RandomState, optional
        Random number generator for the initial weights (passed to
        :class:`~hessianfree.ffnet.FFNet`); a fresh random one if None.

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
                       max_epochs=40)
    else:
        net.run_epochs(inputs, targets, optimizer=hf.opt.SGD(l_rate=1),
                       max_epochs=10000, print_period=1000)
    _report(net, inputs, targets)
    return net


@register
def crossentropy(rng=None):
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
    rng : numpy.random.RandomState, optional
        Random number generator for the initial weights (passed to
        :class:`~hessianfree.ffnet.FFNet`); a fresh random one if None.

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
                   max_epochs=40)
    _report(net, inputs, targets)
    return net


@register
def connections(rng=None):
    """A network with non-standard connectivity between layers.

    ``conns=`` maps each layer to the later layers it projects to::

        hf.FFNet([2, 5, 5, 1], layers=hf.nl.Tanh(),
                 conns={0: [1, 2], 1: [2, 3], 2: [3]})

    Here layer 0 projects to layers 1 and 2, layer 1 to layers 2 and 3, and
    layer 2 to layer 3.  Connections must go downstream (no loops).  A single
    nonlinearity for ``layers=`` is used by every layer but the input layer,
    which is linear.

    Parameters
    ----------
    rng : numpy.random.RandomState, optional
        Random number generator for the initial weights (passed to
        :class:`~hessianfree.ffnet.FFNet`); a fresh random one if None.

    Returns
    -------
    net : FFNet
        The trained network.
    """
    inputs, targets = _xor_data()
    net = hf.FFNet([2, 5, 5, 1], layers=hf.nl.Tanh(),
                   conns={0: [1, 2], 1: [2, 3], 2: [3]}, rng=rng)
    net.run_epochs(inputs, targets, optimizer=hf.opt.HessianFree(CG_iter=2),
                   max_epochs=40)
    _report(net, inputs, targets)
    return net


def run_demo(name, plots=True, **kwargs):
    """Run the demo ``name``; ``plots`` is passed on to demos that take it.

    Other keyword arguments go to the demo function.  Returns what the demo
    returns.
    """
    func = get_demo(name)
    if "plots" in inspect.signature(func).parameters:
        kwargs["plots"] = plots
    return func(**kwargs)


def main(argv=None):
    """Command line: ``python -m hessianfree.demos NAME [--no-plots]``."""
    parser = argparse.ArgumentParser(
        prog="python -m hessianfree.demos",
        description="Run one of the hessianfree demos.")
    parser.add_argument("name", nargs="?",
                        help=f"demo to run: {', '.join(DEMOS)}")
    parser.add_argument("--no-plots", action="store_true",
                        help="do not draw figures (for headless runs)")
    parser.add_argument("--list", action="store_true",
                        help="list the demos and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, func in DEMOS.items():
            summary = (inspect.getdoc(func) or "").partition("\n")[0]
            print(f"{name:14s} {summary}")
        return 0
    if args.name is None:
        parser.error(f"give a demo name: {', '.join(DEMOS)}")
    if args.name not in DEMOS:
        parser.error(f"unknown demo {args.name!r}; available demos: "
                     f"{', '.join(DEMOS)}")
    run_demo(args.name, plots=not args.no_plots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
