"""Kronecker-factored (K-FAC) preconditioner for the CG runs of Hessian-free
optimization (Martens & Grosse 2015).

K-FAC approximates the Gauss-Newton (Fisher) matrix by a block diagonal with
one block per weight matrix, each the Kronecker product of two small
matrices.  For a connection with inputs :math:`a` (homogeneous,
:math:`\\bar a = [a, 1]`, which covers the biases) and the gradients
:math:`g` of the loss with respect to the layer's summed input
(back-propagated from the model's predictive distribution),

.. math:: G_{block} \\approx A \\otimes S, \\quad A = E[\\bar a \\bar a^T],
          \\quad S = E[g g^T]

(Martens & Grosse 2015, §3).  Its damped inverse with the factored Tikhonov
rule (§6.3),

.. math:: (A + \\pi \\sqrt{\\lambda} I)^{-1} \\otimes (S + \\tfrac{1}{\\pi}
          \\sqrt{\\lambda} I)^{-1}, \\quad
          \\pi = \\sqrt{\\frac{\\mathrm{tr}(A) / \\dim A}{\\mathrm{tr}(S) / \\dim S}},

is applied to a connection's block of a vector :math:`v`, reshaped as the
``(n_pre + 1, n_post)`` matrix :math:`V` of the parameter layout (weights,
then the biases as the last row), as :math:`A_\\lambda^{-1} V S_\\lambda^{-1}`:
two small GEMMs per connection.

The factors come from :mod:`hessianfree.optim.kfac_factors` (re-exported here);
this module inverts and applies them.  The pieces are pure functions over
arrays of the network's array module (NumPy or CuPy); :class:`KFAC` holds
the options and the running factors for
:class:`hessianfree.optim.optimizers.HessianFree`.
"""

import dataclasses
import math

import numpy as np

from hessianfree.base import validation as val
from hessianfree.base.backend import array_module
from hessianfree.optim.kfac_factors import (connection_blocks, draw_output_noise,  # noqa: F401
                                      input_factor, layer_factors, moving_average,
                                      output_factor, sample_output_errors)
from hessianfree.optim.preconditioners import Preconditioner


def factored_shifts(A, S, damping):
    """The factored Tikhonov damping of Martens & Grosse (2015, §6.3).

    Parameters
    ----------
    A, S : square arrays
        A connection's input and output factors.
    damping : float
        Tikhonov damping :math:`\\lambda \\ge 0`.

    Returns
    -------
    (float, float)
        :math:`(\\pi\\sqrt\\lambda, \\sqrt\\lambda/\\pi)`, the shifts added to
        the diagonals of ``A`` and ``S``, with
        :math:`\\pi = \\sqrt{(\\mathrm{tr}A/\\dim A) / (\\mathrm{tr}S/\\dim S)}`
        (1 when either trace is zero).  Their product is :math:`\\lambda`.
    """
    xp = array_module(A)
    mean_a = float(xp.trace(A)) / A.shape[0]
    mean_s = float(xp.trace(S)) / S.shape[0]
    pi = math.sqrt(mean_a / mean_s) if mean_a > 0 and mean_s > 0 else 1.0
    root = math.sqrt(damping)
    return pi * root, root / pi


def damped_inverse(F, shift):
    """:math:`(F + c I)^{-1}` of a symmetric positive semi-definite factor,
    computed in float64 and returned symmetric in ``F``'s dtype.

    Parameters
    ----------
    F : (n, n) array
    shift : float
        :math:`c > 0`; a shift below ``1e-6`` times the mean diagonal of
        ``F`` is raised to that so that the inverse stays finite.

    Notes
    -----
    An explicit inverse per refresh, rather than an eigendecomposition that
    would turn a new damping into a diagonal rescale: for the 785 x 785
    input factor of ``bench/fmnist.py`` the float64 ``eigh`` takes about
    twice as long as the inverse, and with ``rebuild_ratio=4`` the inverses
    are rebuilt between refreshes too seldom for the rescale to pay back
    (``docs/tuning.rst``; ``KFAC(rank=k)`` uses the eigendecomposition).
    """
    xp = array_module(F)
    F64 = F.astype(np.float64)
    floor = 1e-6 * max(float(xp.trace(F64)) / F.shape[0], 1e-30)
    F64 += xp.eye(F.shape[0], dtype=np.float64) * max(shift, floor)
    inv = xp.linalg.inv(F64)
    inv += inv.T
    inv *= 0.5
    return inv.astype(F.dtype)


@dataclasses.dataclass
class LowRankInverse:
    """:math:`(F + c I)^{-1} \\approx s I + Q\\,\\mathrm{diag}(d)\\,Q^T` from
    the ``k`` largest eigenpairs :math:`(w, Q)` of :math:`F`: exact on their
    span (:math:`s + d = 1 / (w + c)`), and :math:`s = 1 / (\\bar w + c)`
    with :math:`\\bar w` the mean of the other eigenvalues elsewhere.  Applied
    to an ``(n, m)`` matrix it costs :math:`4 n k m` flops instead of the
    explicit inverse's :math:`2 n^2 m` (:func:`low_rank_inverse`)."""

    Q: object
    d: object
    s: float

    def left(self, V, out):
        """``inverse @ V`` into ``out``."""
        xp = array_module(V)
        xp.matmul(self.Q, self.d[:, None] * xp.matmul(self.Q.T, V), out=out)
        out += self.s * V
        return out

    def right(self, V, out):
        """``V @ inverse`` into ``out``."""
        xp = array_module(V)
        xp.matmul(xp.matmul(V, self.Q) * self.d, self.Q.T, out=out)
        out += self.s * V
        return out


def eigen(F):
    """Eigenvalues (descending, negative rounding set to 0) and eigenvectors
    of a symmetric positive semi-definite factor, in float64."""
    xp = array_module(F)
    w, Q = xp.linalg.eigh(F.astype(np.float64))
    return xp.maximum(w[::-1], 0.0), Q[:, ::-1]


def low_rank_inverse(w, Q, shift, rank, dtype):
    """The :class:`LowRankInverse` of rank ``rank`` of :math:`(F + c I)^{-1}`
    from :func:`eigen`'s ``(w, Q)`` (shift floored as in
    :func:`damped_inverse`), in ``dtype``."""
    n = w.shape[0]
    c = max(shift, 1e-6 * max(float(w.sum()) / n, 1e-30))
    rest = float(w[rank:].sum()) / max(n - rank, 1)
    s = 1.0 / (rest + c)
    d = 1.0 / (w[:rank] + c) - s
    return LowRankInverse(Q[:, :rank].astype(dtype), d.astype(dtype), dtype.type(s))


def apply_blocks(blocks, inverses, r, out, scratch=None):
    """:math:`z = M^{-1} r` for the block-diagonal K-FAC matrix :math:`M`.

    Parameters
    ----------
    blocks : list of (int, int, int)
        ``(start, rows, cols)`` of each connection's ``(n_pre + 1, n_post)``
        matrix in the parameter vector.
    inverses : list of (array, array)
        ``(A_inv, S_inv)`` per block, from :func:`damped_inverse` (or
        :class:`LowRankInverse`).
    r : (n_params,) array
    out : (n_params,) array
        Receives :math:`A^{-1}_\\lambda V S^{-1}_\\lambda` per block; entries
        outside every block (none for a feed-forward network) are copied
        from ``r``.
    scratch : list of arrays, optional
        One ``(rows, cols)`` array per block for :math:`V S^{-1}_\\lambda`
        (allocated per call when not given).

    Returns
    -------
    (n_params,) array
        ``out``.
    """
    xp = array_module(r)
    for k, ((start, rows, cols), (A_inv, S_inv)) in enumerate(zip(blocks, inverses)):
        stop = start + rows * cols
        V = r[start:stop].reshape(rows, cols)
        VS = xp.empty_like(V) if scratch is None else scratch[k]
        if isinstance(S_inv, LowRankInverse):
            S_inv.right(V, VS)
        else:
            xp.matmul(V, S_inv, out=VS)
        target = out[start:stop].reshape(rows, cols)
        if isinstance(A_inv, LowRankInverse):
            A_inv.left(VS, target)
        else:
            xp.matmul(A_inv, VS, out=target)
    covered = sum(rows * cols for _, rows, cols in blocks)
    if covered < r.shape[0]:
        out[covered:] = r[covered:]
    return out


# ------------------------------------------------------ the preconditioner
@dataclasses.dataclass
class KFACState:
    """Running factors of :class:`KFAC`.

    Attributes
    ----------
    factors : list of (array, array) or None
        Exponential averages of ``(A, S)`` per connection.  Connections from
        the same layer share their ``A`` (the same array), connections into
        the same layer their ``S``.
    eigen : dict or None
        With a ``rank``: :func:`eigen` of the factors inverted through it,
        by ``id``, from the latest refresh.
    inverses : list of (array, array) or None
        The damped inverses per connection, as last computed.
    n_refreshes : int
        Number of times the factors were computed.
    """

    factors: list = None
    eigen: dict = None
    inverses: list = None
    n_refreshes: int = 0

    def distinct(self):
        """The distinct factor arrays, in first-use order."""
        seen = {}
        for pair in self.factors or ():
            for F in pair:
                seen.setdefault(id(F), F)
        return list(seen.values())


class KFAC(Preconditioner):
    """K-FAC preconditioner for
    ``HessianFree(preconditioner=KFAC(...))`` (``preconditioner="kfac"``
    uses the defaults).

    Every ``period`` updates the factors :math:`A, S` of each connection are
    computed on the curvature batch (one extra backward pass over it, from
    sampled targets: :func:`sample_output_errors`), folded into exponential
    averages with weight ``min(decay, 1 - 1/k)`` for the old value at the
    ``k``-th refresh (Martens & Grosse 2015, §5), and inverted with the
    factored Tikhonov damping at the current :math:`\\lambda`
    (:func:`factored_shifts`, :func:`damped_inverse`).  Each CG iteration
    then costs two GEMMs per connection more (:func:`apply_blocks`).

    Parameters
    ----------
    period : int
        Refresh the factors and their inverses every this many updates
        (also whenever the damping has moved by more than a factor
        ``rebuild_ratio`` since the inverses were computed).
    decay : float in [0, 1)
        Weight of the old factors in the exponential average.
    rebuild_ratio : float > 1
        See ``period``.
    sampled : bool
        Back-propagate targets sampled from the model (the true Fisher, as
        Martens & Grosse recommend); False uses the training targets'
        gradients (the "empirical Fisher": deterministic, so data-parallel
        runs match one process exactly, but a poorer curvature estimate).
    rank : int, optional
        Invert factors larger than ``2 * rank`` through their ``rank``
        largest eigenpairs (:class:`LowRankInverse`; one float64
        eigendecomposition per refresh, then a new damping is a rescale),
        which makes applying them cheaper when the factors' spectra fall
        fast (images, sigmoid layers).  None (default): explicit inverses.

    Notes
    -----
    Only feed-forward networks (:class:`~hessianfree.FFNet`, any
    ``conns``: a connection's block uses the output factor of the layer it
    projects to); attaching it to an :class:`~hessianfree.RNNet` raises
    (use ``preconditioner="diagonal"``).  Chunked minibatches
    (``chunk_size``) give the same factors as whole ones.  The factors, the
    refresh counter and the damping of the inverses are part of
    :meth:`state_dict`, so a resumed run continues bit for bit.
    """

    def __init__(self, period=4, decay=0.95, rebuild_ratio=4.0, sampled=True, rank=None):
        self.sampled = val.check_bool(sampled, "sampled")
        self.rank = None if rank is None else val.check_positive_int(rank, "rank")
        self.period = val.check_positive_int(period, "period")
        self.decay = val.check_real(decay, "decay", 0.0, 1.0)
        if self.decay >= 1:
            raise ValueError(f"decay must be in [0, 1), got {decay!r}")
        self.rebuild_ratio = val.check_real(rebuild_ratio, "rebuild_ratio", 1.0)
        self.state = KFACState()
        self._damping = None
        self._updates = 0

    def reset(self):
        """Forget the factors (a new network)."""
        self.state = KFACState()
        self._damping, self._updates = None, 0

    def settings(self):
        return {"period": self.period, "decay": self.decay,
                "rebuild_ratio": self.rebuild_ratio, "sampled": self.sampled,
                "rank": self.rank}

    def check_network(self, net):
        if getattr(net, "_data_ndim", 2) != 2:
            raise TypeError(f"the K-FAC preconditioner serves feed-forward networks "
                            f"(FFNet) only, not a {type(net).__name__}: use "
                            f"preconditioner='diagonal' there")

    def state_dict(self):
        """The running factors (each distinct one once, with the index of
        each connection's pair), the refresh and update counters and the
        damping the inverses were built with (the inverses follow from
        them)."""
        factors = pairs = None
        if self.state.factors is not None:
            factors = self.state.distinct()
            index = {id(F): k for k, F in enumerate(factors)}
            pairs = [[index[id(A)], index[id(S)]] for A, S in self.state.factors]
        return {"factors": factors, "pairs": pairs, "n_refreshes": self.state.n_refreshes,
                "updates": self._updates, "damping": self._damping}

    def load_state_dict(self, state):
        """Restore :meth:`state_dict`'s result; the inverses are rebuilt
        from the factors at the saved damping."""
        if not isinstance(state, dict):
            raise TypeError(f"KFAC state must be a dict, got {type(state).__name__}")
        factors, pairs = state.get("factors"), state.get("pairs")
        if factors is not None and (
                not isinstance(factors, (list, tuple)) or not isinstance(pairs, list)
                or not all(getattr(F, "ndim", None) == 2 and F.shape[0] == F.shape[1]
                           for F in factors)
                or not all(isinstance(p, list) and len(p) == 2 and all(
                    isinstance(k, int) and 0 <= k < len(factors) for k in p)
                           for p in pairs)):
            raise ValueError("KFAC state['factors'] must be None or a list of square "
                             "arrays, with state['pairs'] the indices of each "
                             "connection's (A, S)")
        counts = [state.get(name, 0) for name in ("n_refreshes", "updates")]
        if any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in counts):
            raise ValueError(f"KFAC state's n_refreshes and updates must be integers "
                             f">= 0, got {counts}")
        damping = state.get("damping")
        if damping is not None:
            damping = val.check_real(damping, "KFAC state['damping']")
        self.state = KFACState(
            factors=None if factors is None else
            [(factors[a], factors[b]) for a, b in pairs], n_refreshes=counts[0])
        self._updates, self._damping = counts[1], damping
        if factors is not None and damping is not None:
            self._invert(damping)

    def _invert(self, damping):
        """The damped inverses per connection (:func:`damped_inverse`, or
        :func:`low_rank_inverse` of the factors larger than ``2 * rank``,
        whose eigendecompositions are kept until the next refresh)."""
        eigens = self.state.eigen = self.state.eigen or {}

        def inverse(F, shift):
            if self.rank is None or F.shape[0] <= 2 * self.rank:
                return damped_inverse(F, shift)
            if id(F) not in eigens:
                eigens[id(F)] = eigen(F)
            return low_rank_inverse(*eigens[id(F)], shift, self.rank, F.dtype)
        self.state.inverses = [
            (inverse(A, a_shift), inverse(S, s_shift))
            for (A, S), (a_shift, s_shift) in
            ((f, factored_shifts(*f, damping)) for f in self.state.factors)]
        self._damping = damping

    def prepare(self, net, damping, squared_gradient=None):
        """Refresh the factors if due, rebuild the inverses if the damping
        moved; returns ``precond(r, out)`` for
        :func:`hessianfree.optim.cg.conjugate_gradient`."""
        self.check_network(net)
        due = self._updates % self.period == 0 or self.state.factors is None
        self._updates += 1
        if due:
            self._refresh(net)
        if due or self._damping_moved(damping):
            self._invert(damping)
        blocks, inverses = connection_blocks(net), self.state.inverses
        scratch = [net.xp.empty((rows, cols), dtype=net.dtype) for _, rows, cols in blocks]

        def precond(r, out):
            return apply_blocks(blocks, inverses, r, out, scratch)
        return precond

    def _damping_moved(self, damping):
        if self._damping is None or self._damping <= 0 or damping <= 0:
            return self._damping != damping
        ratio = damping / self._damping
        return max(ratio, 1 / ratio) > self.rebuild_ratio

    def _refresh(self, net):
        new = layer_factors(net, sampled=self.sampled)
        k = self.state.n_refreshes + 1
        decay = min(self.decay, 1 - 1 / k)
        old = self.state.factors or [(None, None)] * len(new)
        averaged = {}  # shared factors are averaged once

        def average(F0, F):
            if id(F) not in averaged:
                averaged[id(F)] = moving_average(F0, F, decay)
            return averaged[id(F)]
        self.state.factors = [(average(A0, A), average(S0, S))
                              for (A0, S0), (A, S) in zip(old, new)]
        self.state.n_refreshes = k
        self.state.eigen = None  # of the old factors
