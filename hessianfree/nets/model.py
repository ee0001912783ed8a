"""What a network offers as a whole model: its loss, its predictions, saving
it to a file, and the original package's stripped-down epoch.

:class:`WholeModel` is a base class of :class:`~hessianfree.nets.ffnet.FFNet`
(and so of :class:`~hessianfree.nets.rnnet.RNNet`); its methods use only the
network's public methods.
"""

import numpy as np

from hessianfree.nets import architecture


def as_examples(net, inputs, name):
    """``inputs`` as a batch for ``net``, and whether they were one example.

    One example (``(n_in,)``, or ``(time, n_in)`` for an RNNet) gets a batch
    axis; a wrong number of input units is reported with the shape the
    caller passed.  Other shapes are left to the network's own checks.
    """
    inputs = inputs if hasattr(inputs, "ndim") else np.asarray(inputs)
    single = inputs.ndim == net._data_ndim - 1
    if single and inputs.ndim > 0 and inputs.shape[-1] != net.shape[0]:
        n_in = net.shape[0]
        one, batch = (((n_in,), f"(batch, {n_in})") if net._data_ndim == 2 else
                      (f"(time, {n_in})", f"(batch, time, {n_in})"))
        raise ValueError(f"{name} must have {n_in} input units on its last axis: "
                         f"{one} for one example or {batch}, got shape "
                         f"{tuple(inputs.shape)}")
    return (inputs[None] if single else inputs), single


def _summary_text(net):
    """The table that :meth:`WholeModel.summary` prints."""
    recurrent = set(getattr(net, "rec_layers", None) or ())
    header = ("layer", "units", "nonlinearity", "inputs from", "parameters")
    rows = []
    for i, (units, layer) in enumerate(zip(net.shape, net.layers)):
        sources = [str(pre) for pre in net.back_conns[i]]
        sources += ["itself (recurrent)"] if i in recurrent else []
        n = sum(end - start for (pre, post), (start, _, end) in net.offsets.items()
                if post == i)
        rows.append((str(i), str(units), repr(layer),
                     ", ".join(sources) or "(input)", f"{n:,}"))
    widths = [max(len(row[k]) for row in rows + [header]) for k in range(len(header))]
    right = (False, True, False, False, True)  # numbers align right

    def line(row):
        return "  ".join(c.rjust(w) if r else c.ljust(w)
                         for c, w, r in zip(row, widths, right)).rstrip()
    device = "GPU" if net.use_GPU else "CPU"
    return "\n".join([f"{type(net).__name__}: {net.n_layers} layers, {net.n_params:,} "
                      f"parameters ({np.dtype(net.dtype).name}, {device})",
                      line(header), line(["-" * w for w in widths]),
                      *map(line, rows), f"loss: {net.loss_type!r}"])


class WholeModel:
    """Methods of a network as a whole model (mixed into FFNet)."""

    @property
    def loss(self):
        """The loss built from ``loss_type`` (a
        :class:`~hessianfree.losses.loss_funcs.LossSet` for a list), as the original
        package exposes it: ``net.loss.batch_loss(net.forward(x), targets)``."""
        return self.loss_type

    def __repr__(self):
        """``FFNet(shape=[...], layers=[...], loss=..., n_params=...)``: the
        architecture in one line (:meth:`summary` has a table)."""
        parts = [f"shape={list(self.shape)}",
                 f"layers=[{', '.join(type(layer).__name__ for layer in self.layers)}]"]
        if self.conns != {i: [i + 1] for i in range(self.n_layers - 1)}:
            parts.append(f"conns={self.conns}")
        if getattr(self, "rec_layers", None) is not None:
            parts.append(f"rec_layers={list(self.rec_layers)}")
        parts += [f"loss={self.loss_type!r}", f"n_params={self.n_params}"]
        return f"{type(self).__name__}({', '.join(parts)})"

    def summary(self):
        """Print the network as a table: per layer its units, nonlinearity,
        the layers it takes input from and its parameters (the weights and
        biases of its incoming connections), then the loss and the total.

        Examples
        --------
        >>> hf.FFNet([2, 5, 1]).summary()
        FFNet: 3 layers, 21 parameters (float32, CPU)
        layer  units  nonlinearity  inputs from  parameters
        -----  -----  ------------  -----------  ----------
        0          2  Linear()      (input)               0
        1          5  Logistic()    0                    15
        2          1  Logistic()    1                     6
        loss: SquaredError()
        """
        print(_summary_text(self))

    def predict(self, inputs, params=None):
        """The network's output (the last layer only).

        Parameters
        ----------
        inputs : (batch, n_in) array_like, or (n_in,) for one example
            Input vectors (RNNet: ``(batch, time, n_in)`` or ``(time, n_in)``).
        params : (n_params,) array, optional
            Parameters to use instead of ``self.W``.

        Returns
        -------
        (batch, n_out) array, or (n_out,) for one example
            RNNet: ``(batch, time, n_out)`` or ``(time, n_out)``.
        """
        inputs, single = as_examples(self, inputs, "inputs")
        outputs = self.forward(inputs, params)[-1]
        return outputs[0] if single else outputs

    def save(self, path):
        """Write the architecture (JSON) and the weights to one ``.npz`` file,
        without pickle; :func:`hessianfree.nets.architecture.load` (``hf.load``)
        rebuilds the network.

        The file is replaced atomically (written beside it, fsynced, then
        renamed), so a failed write leaves the previous file intact.

        Parameters
        ----------
        path : str or os.PathLike
            File name (``.npz`` is appended if missing, as by NumPy).

        Raises
        ------
        TypeError
            If a layer or the loss is a custom class (the message names it):
            see :func:`hessianfree.nets.architecture.describe`.
        ValueError
            If the weights hold NaN or inf (nothing is written).
        OSError
            If the file cannot be written (the message names it).
        """
        architecture.save(self, path)

    def _run_epoch(self, inputs, targets, minibatch_size=None):
        """One update without ``run_epochs``' bookkeeping (no test error,
        files, plots or checks for NaN): cache this epoch's minibatch and add
        ``optimizer.compute_update()`` to ``W``."""
        self.cache_minibatch(*self._epoch_data(inputs, targets, minibatch_size))
        self.W += self.optimizer.compute_update(False)
