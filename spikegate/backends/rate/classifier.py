r"""Rate-network backend: per-sample SGD sharing the gates, memory and ledger of the spiking core.

The conventional networks of the seed papers, vectorised in numpy. Inputs are pixel
vectors :math:`x \in [0,1]^{n}`, optionally mean-subtracted over the training set; every
projection :math:`l` has weights :math:`W_l` of shape ``(n_post, n_pre + 1)`` whose last
column is the bias (an input fixed at 1)

.. math::

    h_l = W_l\,[a_{l-1}; 1], \qquad a_l = f(h_l) \text{ (hidden)}, \qquad
    y = h_L \text{ (linear+MSE) or } \mathrm{softmax}(h_L) \text{ (cross-entropy)},

with :math:`f` leaky-ReLU (slope ``slope`` below zero) or the logistic sigmoid. For one
sample with one-hot target :math:`t` the output error is :math:`\delta_L = y - t` for both
loss pairs; hidden errors are :math:`\delta_l = (W_{l+1}^\top \delta_{l+1}) \odot f'(h_l)`
(bias column excluded), and the update is

.. math::

    \Delta W_l = -\eta_l\, \delta_l\, [a_{l-1}; 1]^\top .

**Decision and gates**: :func:`spikegate.model.gates.gate_decision` on the margins
:math:`y_\mathrm{label} - \max_{j \ne \mathrm{label}} y_j` with the margin unit
``margin_scale`` (so ``margin(min_margin)`` learns while the margin is at most
:math:`(m_\mathrm{min} - 1)\,m_\mathrm{scale}`, and ``min_margin = 1`` is lazy, as with spike counts).
A closed gate skips the backward pass entirely: gating saves compute as well as writes.

**Blocked forward passes, exact per-sample learning.** With one sample per step the
weights change only at gated samples, each by a rank-one update. The schedulers of
:mod:`spikegate.backends.rate.schedule` compute the first layer's pre-activations of a
block of samples as one matrix product and keep them valid across the block's openings
with rank-one corrections; every opening is recomputed by the one-row pass of the
sequential loop, so gates, writes and weights are those of the literal per-sample loop
(``max_block=1``) bit for bit. The tests compare the two.

**Restrictions** (van Rossum & Pache 2024), applied to :math:`\Delta W_l` after gating,
see :class:`~spikegate.model.Restriction`. **Synaptic caching** (Li & van Rossum 2020), see
:class:`~spikegate.model.SynapticCaching`. Every write is counted for the
:class:`~spikegate.ledger.EnergyLedger` by :func:`rank_one_counts` or :func:`dense_counts`.

The module holds the pure numpy functions (forward and backward passes, counting, masks)
and :class:`RateClassifier`, the thin stateful wrapper that owns the weights.
"""
from __future__ import annotations

import math
import time

import numpy as np
from brian2 import joule

from ...errors import ParameterError
from ...ledger import PresentationLog
from ...model import Gate, MetabolicReserve, RateSpec, Restriction, SynapticCaching, gate_decision, reserve_step
from ...model import synapse
from ...model.gates import Decision, margins
from . import schedule as rate_schedule
from ..inputs import (check_images, check_labels, check_learning_scale, check_memgate, check_projection, check_samples,
                      check_seed, check_weights)


# pure functions -----------------------------------------------------------------------------
def activation(h: np.ndarray, kind: str, slope: float) -> np.ndarray:
    """Hidden unit output :math:`f(h)`."""
    if kind == "leaky_relu":
        return np.maximum(h, slope * h)  # equals the two-branch form for 0 <= slope <= 1
    return 1.0 / (1.0 + np.exp(-h))


def activation_slope(h: np.ndarray, a: np.ndarray, kind: str, slope: float) -> np.ndarray:
    """:math:`f'(h)` given :math:`h` and :math:`a = f(h)`."""
    if kind == "leaky_relu":
        return np.where(h > 0, 1.0, slope).astype(h.dtype, copy=False)
    return a * (1.0 - a)


def softmax(h: np.ndarray) -> np.ndarray:
    z = np.exp(h - h.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def top_fraction_mask(dw: np.ndarray, fraction: float, per: str = "layer", plastic: np.ndarray | None = None,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    r"""Boolean mask of the entries of ``dw`` a top-:math:`p` restriction keeps.

    Keeps exactly :math:`\mathrm{round}(p\,n)` entries of the plastic ones, :math:`n` counted per
    projection (``per="layer"``) or per row (``per="neuron"``, rows are postsynaptic units):
    the largest :math:`|\Delta w|`, or random ones when ``rng`` is given (the control).
    """
    plastic = np.ones(dw.shape, dtype=bool) if plastic is None else plastic
    score = np.abs(dw) if rng is None else rng.random(dw.shape)
    score = np.where(plastic, score, -1.0)
    mask = np.zeros(dw.shape, dtype=bool)
    if per == "layer":
        k = int(round(fraction * int(plastic.sum())))
        if k > 0:
            flat = np.argpartition(-score.ravel(), k - 1)[:k]
            mask.ravel()[flat] = True
        return mask
    k = int(round(fraction * int(plastic.sum(axis=1).max(initial=0))))
    if k > 0:
        cols = np.argpartition(-score, k - 1, axis=1)[:, :k]
        np.put_along_axis(mask, cols, True, axis=1)
    return mask & plastic


def path_subset_masks(layers, k: int, rng: np.random.Generator, bias: bool = True) -> list[np.ndarray]:
    """Plastic-synapse masks of a fixed random subset of ``k`` units in every hidden layer.

    Projection ``l`` (shape ``(n_post, n_pre + bias)``) is plastic where its postsynaptic unit
    is chosen (or is an output) and its presynaptic unit is chosen (or is an input or the bias).
    """
    hidden = layers[1:-1]
    if not hidden:
        raise ParameterError(f"Restriction.subset = {k}: needs a hidden layer; layers are {list(layers)}",
                             "Restriction.subset")
    if k > min(hidden):
        raise ParameterError(f"Restriction.subset = {k}: must be <= the smallest hidden layer ({min(hidden)})",
                             "Restriction.subset")
    chosen = [None] + [np.sort(rng.choice(n, size=k, replace=False)) for n in hidden] + [None]
    masks = []
    for l in range(len(layers) - 1):
        n_pre, n_post = layers[l], layers[l + 1]
        rows = np.ones(n_post, bool) if chosen[l + 1] is None else np.isin(np.arange(n_post), chosen[l + 1])
        cols = np.ones(n_pre, bool) if chosen[l] is None else np.isin(np.arange(n_pre), chosen[l])
        if bias:
            cols = np.append(cols, True)
        masks.append(np.outer(rows, cols))
    return masks


def random_masks_like(masks, rng: np.random.Generator) -> list[np.ndarray]:
    """Control masks: as many plastic synapses per projection as ``masks``, placed at random."""
    out = []
    for m in masks:
        r = np.zeros(m.size, dtype=bool)
        r[rng.choice(m.size, size=int(m.sum()), replace=False)] = True
        out.append(r.reshape(m.shape))
    return out


def forward(W: list, x: np.ndarray, spec: RateSpec, h0: np.ndarray | None = None):
    """Layer inputs (with bias column), pre-activations and outputs for rows ``x``.

    ``x`` carries its bias column already (the classifier stores images that way);
    ``h0``: first-layer pre-activations when they are known already (the corrected
    block scheduler).
    """
    inputs, pre = [], []
    a = x
    for l, Wl in enumerate(W):
        if spec.bias and l > 0:
            a = np.concatenate([a, np.ones((len(a), 1), dtype=a.dtype)], axis=1)
        inputs.append(a)
        if l == 0 and h0 is not None:
            h = h0
        elif len(a) == 1:  # BLAS gemv: a one-row gemm is ~1.5x slower
            h = (Wl @ a[0])[None, :]
        else:
            h = a @ Wl.T
        pre.append(h)
        if l < len(W) - 1:
            a = activation(h, spec.hidden, spec.slope)
    y = pre[-1] if spec.output == "linear_mse" else softmax(pre[-1])
    return inputs, pre, y


def outputs_from_first_layer(W: list, h: np.ndarray, spec: RateSpec) -> np.ndarray:
    """Outputs of rows whose first-layer pre-activations are ``h``."""
    for Wl in W[1:]:
        a = activation(h, spec.hidden, spec.slope)
        h = a @ Wl[:, :-1].T + Wl[:, -1] if spec.bias else a @ Wl.T
    return h if spec.output == "linear_mse" else softmax(h)


def deltas(W: list, inputs, pre, y, labels, spec: RateSpec) -> list:
    """Errors :math:`\\delta_l` of every projection for the rows given (weights before the update)."""
    t = np.zeros_like(y)
    t[np.arange(len(labels)), labels] = 1
    delta = y - t
    out = [delta]
    for l in range(len(W) - 1, 0, -1):
        Wl = W[l][:, :spec.layers[l]]
        a_next = inputs[l][:, :spec.layers[l]]
        delta = (delta @ Wl) * activation_slope(pre[l - 1], a_next, spec.hidden, spec.slope)
        out.append(delta)
    return out[::-1]


def rank_one_counts(d: np.ndarray, x: np.ndarray, scale: float, alpha: float) -> tuple[int, float, float]:
    r"""Writes, :math:`\sum|\Delta w|` and :math:`\sum|\Delta w|^\alpha` of :math:`\Delta w = -s\,d\,x^\top`.

    Each is a product of the two factors' counts (exact for a rank-one update), so the
    update matrix is never formed.
    """
    ad, ax = np.abs(d), np.abs(x)
    power = np.sqrt if alpha == 0.5 else (lambda v: v ** alpha)
    return (np.count_nonzero(d) * np.count_nonzero(x), scale * float(ad.sum()) * float(ax.sum()),
            scale ** alpha * float(power(ad).sum()) * float(power(ax).sum()))


def dense_counts(dw: np.ndarray, alpha: float) -> tuple[int, float, float]:
    r"""Writes, :math:`\sum|\Delta w|` and :math:`\sum|\Delta w|^\alpha` of an update matrix."""
    mag = np.abs(dw)
    return np.count_nonzero(dw), float(mag.sum()), float((mag ** alpha).sum())


class RateClassifier:
    """A rate network with gated per-sample learning; same interface as the spiking classifier.

    The weights ``W[l]`` (shape ``(n_post, n_pre + bias)``) are its state; the maths are the
    module's pure functions, the order of forward passes and writes one of the schedulers of
    :mod:`spikegate.backends.rate.schedule`.

    Parameters
    ----------
    spec : RateSpec
    gate : Gate
    images : array (n_images, n_in)
        The image bank (training rows first); presentations refer to rows of it.
    seed : int
        Seeds initial weights, subset masks and random controls.
    restriction : Restriction, optional
    caching : SynapticCaching, optional
    mean : array (n_in,), optional
        Pixel means to subtract (used when ``spec.mean_subtract``; computed by the caller from
        the training rows).
    max_block : int
        Longest block of forward passes computed at once (1: the literal sequential loop).
    max_pending : int
        Gated updates folded into a block's first-layer pre-activations as rank-one
        corrections before the block is recomputed (see
        :func:`~spikegate.backends.rate.schedule.corrected_blocks`).
    exact_openings : bool
        Recompute each gated sample by the sequential loop's one-row pass before its update
        (default): results bit for bit those of ``max_block=1``. False: updates from the
        corrected pre-activations, equal up to float rounding and one gemv cheaper per opening.
    """

    def __init__(self, spec: RateSpec, gate: Gate, images, seed: int = 0, restriction: Restriction | None = None,
                 caching: SynapticCaching | None = None, mean=None, max_block: int = 512, max_pending: int = 32,
                 exact_openings: bool = True, reserve: MetabolicReserve | None = None):
        self.spec, self.gate = spec, gate
        self.restriction = restriction or Restriction()
        self.caching = caching or SynapticCaching()
        self.set_reserve(MetabolicReserve() if reserve is None else reserve)
        self.dtype = np.dtype(spec.dtype)
        self.seed = seed = check_seed(seed, "RateClassifier.seed")
        images = check_images(images, spec.n_in, self.dtype)
        if spec.mean_subtract and mean is not None:
            images = images - np.asarray(mean, dtype=self.dtype)
        if spec.bias:  # the bias input is stored with the image, so forward passes copy nothing
            images = np.concatenate([images, np.ones((len(images), 1), dtype=self.dtype)], axis=1)
        self.images = images
        self.max_block = int(max_block)
        self.max_pending = int(max_pending)
        self.exact_openings = bool(exact_openings)
        if self.max_block < 1 or self.max_pending < 1:
            raise ParameterError(f"max_block = {max_block}, max_pending = {max_pending}: expected integers >= 1")
        #: margins closer than this (times 1 + max |y|) to a decision threshold are recomputed
        #: exactly in the corrected block path; rounding differences are ~1e3x smaller
        self.decision_tolerance = 1e-4 if self.dtype == np.float32 else 1e-10
        rng = np.random.default_rng(seed)
        b = 1 if spec.bias else 0
        self.W = []
        for n_pre, n_post in zip(spec.layers[:-1], spec.layers[1:]):
            std = spec.sigma if spec.init == "gaussian" else spec.sigma / math.sqrt(n_pre + b)
            self.W.append((std * rng.standard_normal((n_post, n_pre + b))).astype(self.dtype))
        self.plastic = None
        if self.restriction.subset > 0:
            self.plastic = path_subset_masks(spec.layers, self.restriction.subset, np.random.default_rng(seed + 101),
                                             bias=spec.bias)
            if self.restriction.control:
                self.plastic = random_masks_like(self.plastic, np.random.default_rng(seed + 102))
        self._control_rng = np.random.default_rng(seed + 103) if self.restriction.control else None
        self.transient = [np.zeros_like(w) for w in self.W] if self.caching.enabled else None
        self._decay = 0.0 if math.isinf(self.caching.tau) else math.exp(-1.0 / self.caching.tau)
        self.lrs = [spec.learning_rate(l) for l in range(spec.n_projections)]
        self.learning_scale = 1.0
        self.synapse = spec.synapse
        if self.synapse.quantized:
            if self.caching.enabled:
                raise ParameterError("caching: synaptic caching keeps float transient weights; use it with "
                                     "synapse.bits = 0", "caching")
            self.W = [self.stored(w) for w in self.W]
        #: stochastic rounding's stream: none of the run's other streams
        self._round_rng = np.random.default_rng([seed, 0x5B1])
        self.explicit_dw = self.restriction.active or self.caching.enabled or self.synapse.quantized
        from scipy.linalg import blas   # here, not at import: ~0.2 s that a spiking run does not need

        self._ger = blas.dger if self.dtype == np.float64 else blas.sger
        #: forward-pass rows computed while learning (>= presentations: exact one-row passes of
        #: openings, and rows thrown away when a block ends early)
        self.forward_rows = 0

    # state ----------------------------------------------------------------------------------
    def set_learning_scale(self, scale: float) -> None:
        """Multiply every learning rate by ``scale`` (>= 0) from now on, relative to the spec's rates."""
        self.learning_scale = check_learning_scale(scale, "RateClassifier.learning_scale")
        self.lrs = [self.spec.learning_rate(l) * self.learning_scale for l in range(self.spec.n_projections)]

    def set_reserve(self, reserve: MetabolicReserve) -> None:
        """Set the metabolic reserve (full, or at its ``initial`` value)."""
        if not isinstance(reserve, MetabolicReserve):
            raise ParameterError(f"reserve: expected a MetabolicReserve, got {type(reserve).__name__}")
        if not reserve.unlimited and self.spec.batch_size > 1:
            raise ParameterError("reserve: a limited metabolic reserve needs rate.batch_size = 1 (each write "
                                 "draws on it before the next decision)", "reserve")
        self.reserve = reserve
        self.reserve_j = float(reserve.start / joule)

    def reserve_step(self, writes) -> None:
        """Charge a presentation's writes to the reserve and refill it (a limited reserve only)."""
        r = self.reserve
        self.reserve_j = reserve_step(self.reserve_j, writes, float(r.j_per_write / joule), float(r.refill / joule),
                                      float(r.capacity / joule))

    def weights(self, k: int) -> np.ndarray:
        return self.W[check_projection(k, self.spec.n_projections)].copy()

    def set_weights(self, k: int, w) -> None:
        """Set projection ``k``'s weights (finite-precision synapses store the nearest codes)."""
        k = check_projection(k, self.spec.n_projections)
        self.W[k][...] = self.stored(check_weights(k, w, self.W[k].shape, self.dtype))

    def stored(self, w: np.ndarray) -> np.ndarray:
        """What synapses store for weights ``w``: ``w``, or the weights of the nearest codes."""
        return synapse.stored(w, self.synapse, self.synapse.w_max).astype(self.dtype, copy=False)

    # the network's maths on the current weights ------------------------------------------------
    def forward_pass(self, x: np.ndarray, h0: np.ndarray | None = None):
        return forward(self.W, x, self.spec, h0)

    def deltas_of(self, inputs, pre, y, labels):
        return deltas(self.W, inputs, pre, y, labels, self.spec)

    def outputs_from_first_layer_of(self, h: np.ndarray) -> np.ndarray:
        return outputs_from_first_layer(self.W, h, self.spec)

    def outputs(self, samples) -> np.ndarray:
        """Network outputs for image rows ``samples`` (no learning)."""
        samples = np.asarray(samples)
        return np.concatenate([self.forward_pass(self.images[samples[i:i + 2048]])[2]
                               for i in range(0, len(samples), 2048)] or [np.zeros((0, self.spec.n_out))])

    def _open(self, margin, mistake, memgate) -> np.ndarray:
        """Gate openings for given margins (``mistake`` is implied by them)."""
        return gate_decision(margin, memgate, self.gate, self.spec.margin_scale).open

    def decide(self, y: np.ndarray, labels, memgate) -> tuple[np.ndarray, Decision]:
        """Margins and the decision (mistakes, openings, drives) of outputs ``y``
        (:func:`~spikegate.model.gate_decision`; the margin unit is ``margin_scale``)."""
        mg = margins(y, labels)
        return mg, gate_decision(mg, memgate, self.gate, self.spec.margin_scale)

    # writes ---------------------------------------------------------------------------------
    def write(self, l: int, delta: np.ndarray, a: np.ndarray, scale: float, row: int, book: "Presentations") -> None:
        r"""Apply :math:`\Delta W_l = -\mathrm{scale}\,\delta^\top a` and count it in ``book`` at ``row``."""
        if not self.explicit_dw and delta.shape[0] == 1:
            book.count(row, l, *rank_one_counts(delta[0], a[0], scale, self.spec.alpha))
            # BLAS rank-one update in place on the (Fortran-ordered) transpose: no temporary matrix
            self._ger(-scale, a[0], delta[0], a=self.W[l].T, overwrite_a=1)
            return
        dw = -scale * (delta.T @ a)
        keep = self.plastic[l] if self.plastic is not None else None
        if self.restriction.top_fraction < 1:
            keep = top_fraction_mask(dw, self.restriction.top_fraction, self.restriction.top_per, keep,
                                     self._control_rng)
        if keep is not None:
            dw = np.where(keep, dw, 0)
        if self.synapse.quantized:
            self._write_codes(l, dw, row, book)
            return
        self.W[l] += dw
        if not self.caching.enabled:
            book.count(row, l, *dense_counts(dw, self.spec.alpha))
            return
        book.transient_writes[row, l] += np.count_nonzero(dw)
        self.transient[l] += dw

    def _write_codes(self, l: int, dw: np.ndarray, row: int, book: "Presentations") -> None:
        """Round ``W[l] + dw`` onto the code grid (:mod:`spikegate.model.synapse`) and count changed codes,
        bits flipped and the stored weights' change."""
        fmt = self.synapse
        old = synapse.codes_of(self.W[l], fmt.bits, fmt.w_max)
        offset = synapse.round_offsets(fmt.rounding, dw.shape, self._round_rng)
        new = synapse.written_codes(old, dw, fmt.bits, fmt.w_max, offset)
        stored = synapse.weights_of(new, fmt.bits, fmt.w_max)
        change = stored - self.W[l]
        self.W[l][...] = stored
        mag = np.abs(change)
        book.count(row, l, int(np.count_nonzero(new != old)), float(mag.sum()), float((mag ** self.spec.alpha).sum()))
        book.bits_flipped[row, l] += int(synapse.bit_flips(old, new).sum())

    def cache_step(self, row: int, book: "Presentations") -> None:
        """Decay, consolidate and charge maintenance of the transient weights after a presentation."""
        c = self.caching
        for l, T in enumerate(self.transient):
            if self._decay != 1.0:
                lost = T * (1.0 - self._decay)
                T -= lost
                self.W[l] -= lost
            big = np.abs(T) > c.theta
            if big.any():
                book.count(row, l, *dense_counts(T[big], self.spec.alpha))
                T[big] = 0
            book.maintenance[row, l] += c.c * float(np.abs(T).sum())

    # presentations --------------------------------------------------------------------------
    def present(self, samples, labels, memgate=None, learn: bool = True, progress=None) -> PresentationLog:
        """Present image rows ``samples`` in order, learning when the gate opens.

        Same contract as :meth:`spikegate.backends.spiking.GatedClassifier.present`: ``memgate``
        is the precomputed mistake-memory gate of each presentation; the log has one row per
        presentation. A batch's write (``batch_size > 1``) is booked on its last presentation.
        """
        t0 = time.perf_counter()
        samples = check_samples(samples, len(self.images))
        labels = check_labels(labels, len(samples), self.spec.n_out)
        memgate = check_memgate(memgate, len(samples)).astype(bool)
        book = Presentations(len(samples), self.spec.n_projections, self.spec.n_out)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, user_api="blas"):
            # one BLAS thread: per-sample products are small, and a multi-threaded BLAS on a
            # busy machine spends milliseconds per call waking its threads
            if not learn:
                book.outputs[:] = self.outputs(samples)
                book.mistake[:] = ~(margins(book.outputs, labels) > 0)
                if progress:
                    progress(len(samples))
            else:
                rate_schedule.schedule_for(self)(self, samples, labels, memgate, book, progress)
        log = book.log(samples, labels, time.perf_counter() - t0)
        log.activity[:, 0] = np.count_nonzero(self.images[samples], axis=1)
        log.activity[:, 1:] = [n + (self.spec.bias and k < self.spec.n_projections - 1)
                               for k, n in enumerate(self.spec.layers[1:])]
        return log


class Presentations:
    """What one :meth:`RateClassifier.present` call fills in, one row per presentation."""

    def __init__(self, n: int, n_projections: int, n_out: int):
        shape = (n, n_projections)
        self.outputs = np.zeros((n, n_out))
        self.mistake = np.zeros(n, bool)
        self.gate_open = np.zeros(n, bool)
        self.writes = np.zeros(shape, np.int64)
        self.abs_dw = np.zeros(shape)
        self.alpha_dw = np.zeros(shape)
        self.transient_writes = np.zeros(shape, np.int64)
        self.bits_flipped = np.zeros(shape, np.int64)
        self.maintenance = np.zeros(shape)
        self.drive = np.zeros(n)

    def count(self, row: int, l: int, writes: int, abs_dw: float, alpha_dw: float) -> None:
        self.writes[row, l] += writes
        self.abs_dw[row, l] += abs_dw
        self.alpha_dw[row, l] += alpha_dw

    def log(self, samples, labels, wall: float) -> PresentationLog:
        return PresentationLog(samples=samples, labels=labels, outputs=self.outputs, mistake=self.mistake,
                               gate_open=self.gate_open, writes=self.writes, sum_abs_dw=self.abs_dw,
                               sum_abs_dw_alpha=self.alpha_dw, trace_updates=np.zeros_like(self.writes),
                               wall_seconds=wall, transient_writes=self.transient_writes,
                               maintenance=self.maintenance, drive=self.drive, bits_flipped=self.bits_flipped)
