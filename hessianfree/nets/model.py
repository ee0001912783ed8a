"""What a network offers as a whole model: its loss, its predictions, saving
it to a file, and the original package's stripped-down epoch.

:class:`WholeModel` is a base class of :class:`~hessianfree.nets.ffnet.FFNet`
(and so of :class:`~hessianfree.nets.rnnet.RNNet`); its methods use only the
network's public methods.
"""

import numpy as np

from hessianfree.nets import architecture


class WholeModel:
    """Methods of a network as a whole model (mixed into FFNet)."""

    @property
    def loss(self):
        """The loss built from ``loss_type`` (a
        :class:`~hessianfree.losses.loss_funcs.LossSet` for a list), as the original
        package exposes it: ``net.loss.batch_loss(net.forward(x), targets)``."""
        return self.loss_type

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
        inputs = inputs if hasattr(inputs, "ndim") else np.asarray(inputs)
        single = inputs.ndim == self._data_ndim - 1
        outputs = self.forward(inputs[None] if single else inputs, params)[-1]
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
