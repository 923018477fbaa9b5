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

**Decision and gates** mirror :mod:`spikegate.gates`: a *mistake* is a wrong argmax or a
tie at the maximum; the margin is :math:`y_\mathrm{label} - \max_{j \ne \mathrm{label}} y_j`.
The gate opens when ``always``, on a mistake, when the mistake memory of the sample is
open (:mod:`spikegate.memory`), or, for ``margin(kappa)``, while the margin is below
:math:`(\kappa - 1)\,m_\mathrm{scale}` (so :math:`\kappa = 1` is lazy, as with spike counts).
A closed gate skips the backward pass entirely: gating saves compute as well as writes.

**Blocked forward passes, exact per-sample learning.** With one sample per step the
weights change only at gated samples, each by a rank-one update. :meth:`RateClassifier.present`
computes the first layer's pre-activations of a block of samples as one matrix product
and keeps them valid across the block's openings with rank-one corrections
(:meth:`RateClassifier._present_corrected`); every opening is recomputed by the one-row
pass of the sequential loop, so gates, writes and weights are those of the literal
per-sample loop (``max_block=1``) bit for bit. The tests compare the two.

**Restrictions** (van Rossum & Pache 2024), applied to :math:`\Delta W_l` after gating,
see :class:`Restriction`. **Synaptic caching** (Li & van Rossum 2020), see
:class:`SynapticCaching`. Every write goes to the :class:`~spikegate.ledger.EnergyLedger`.
"""
from __future__ import annotations

import math
import time

import numpy as np
from scipy.linalg import blas
from threadpoolctl import threadpool_limits

from .declaration import Declaration, declaration
from .errors import ParameterError
from .gates import Gate
from .ledger import PresentationLog
from .quantities import check_number

HIDDEN_UNITS = ("leaky_relu", "sigmoid")
OUTPUTS = ("linear_mse", "softmax_ce")
INITS = ("gaussian", "scaled")
DTYPES = ("float64", "float32")
TOP_PER = ("layer", "neuron")


def _check_choice(where, value, allowed):
    if value not in allowed:
        raise ParameterError(f"{where} = {value!r}: unknown; allowed: {', '.join(allowed)}")
    return value


def _check_bool(where, value):
    if not isinstance(value, bool):
        raise ParameterError(f"{where} = {value!r}: expected true or false")
    return value


@declaration
class RateSpec(Declaration):
    r"""A multilayer perceptron trained one sample at a time (or in mini-batches).

    Parameters
    ----------
    layers : tuple of int
        Units per layer, input first, e.g. ``(784, 1000, 10)``; any number of hidden layers.
    hidden : {"leaky_relu", "sigmoid"}
    slope : float
        Leaky-ReLU slope for :math:`h < 0` (0.1 in van Rossum & Pache 2024).
    output : {"linear_mse", "softmax_ce"}
    lr, lr_hidden : float
        Learning rate of the output projection and of the projections into hidden layers
        (``lr_hidden`` defaults to ``lr``).
    init : {"gaussian", "scaled"}
        Initial weights :math:`\mathcal N(0, \sigma^2)`, or :math:`\mathcal N(0, \sigma^2/n_\mathrm{in})`
        with :math:`n_\mathrm{in}` the fan-in including the bias.
    sigma : float
    bias : bool
        A bias input (constant 1) into every layer.
    mean_subtract : bool
        Subtract the training-set mean of each pixel.
    batch_size : int
        Samples per weight write; the gate is still decided per sample, and a batch's write is
        the mean of the gated samples' updates (:math:`\sum_{s\,\mathrm{gated}} \Delta W_s / B`).
    dtype : {"float64", "float32"}
    margin_scale : float
        Output units per margin step of the ``margin(kappa)`` gate.
    alpha : float
        Exponent of :math:`M_\alpha` in the ledger.
    """

    layers: tuple = (784, 100, 10)
    hidden: str = "leaky_relu"
    slope: float = 0.1
    output: str = "linear_mse"
    lr: float = 0.01
    lr_hidden: float | None = None
    init: str = "gaussian"
    sigma: float = 0.03
    bias: bool = True
    mean_subtract: bool = True
    batch_size: int = 1
    dtype: str = "float32"
    margin_scale: float = 0.1
    alpha: float = 0.5

    def __post_init__(self):
        layers = tuple(self.layers)
        if len(layers) < 2 or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1
                                      for n in layers):
            raise ParameterError(f"RateSpec.layers = {list(layers)!r}: expected >= 2 positive integers, "
                                 "e.g. [784, 100, 10]")
        if layers[-1] < 2:
            raise ParameterError(f"RateSpec.layers = {list(layers)!r}: need >= 2 output classes")
        self._set("layers", tuple(int(n) for n in layers))
        _check_choice("RateSpec.hidden", self.hidden, HIDDEN_UNITS)
        _check_choice("RateSpec.output", self.output, OUTPUTS)
        _check_choice("RateSpec.init", self.init, INITS)
        _check_choice("RateSpec.dtype", self.dtype, DTYPES)
        self._set("slope", check_number("RateSpec.slope", self.slope, minimum=0, maximum=1))
        self._set("lr", check_number("RateSpec.lr", self.lr, minimum=0, strict_min=True))
        if self.lr_hidden is not None:
            self._set("lr_hidden", check_number("RateSpec.lr_hidden", self.lr_hidden, minimum=0, strict_min=True))
        self._set("sigma", check_number("RateSpec.sigma", self.sigma, minimum=0, strict_min=True))
        _check_bool("RateSpec.bias", self.bias)
        _check_bool("RateSpec.mean_subtract", self.mean_subtract)
        self._set("batch_size", check_number("RateSpec.batch_size", self.batch_size, minimum=1, integer=True))
        self._set("margin_scale", check_number("RateSpec.margin_scale", self.margin_scale, minimum=0,
                                               strict_min=True))
        self._set("alpha", check_number("RateSpec.alpha", self.alpha, minimum=0, strict_min=True))

    @property
    def n_in(self) -> int:
        return self.layers[0]

    @property
    def n_out(self) -> int:
        return self.layers[-1]

    @property
    def n_projections(self) -> int:
        return len(self.layers) - 1

    def learning_rate(self, projection: int) -> float:
        """:math:`\\eta_l`: ``lr`` for the output projection, ``lr_hidden`` (or ``lr``) otherwise."""
        if projection == self.n_projections - 1 or self.lr_hidden is None:
            return self.lr
        return self.lr_hidden


@declaration
class Restriction(Declaration):
    r"""Energy-saving restrictions of plasticity (van Rossum & Pache 2024), after gating.

    Parameters
    ----------
    top_fraction : float in (0, 1]
        Keep only the :math:`k = \mathrm{round}(p\,n)` largest :math:`|\Delta w|` of a write, where
        :math:`n` counts the plastic synapses of the projection (``top_per = "layer"``) or of
        each postsynaptic neuron (``"neuron"``). 1 keeps everything.
    top_per : {"layer", "neuron"}
    subset : int
        If > 0, only a fixed random subset of ``subset`` units per hidden layer is plastic:
        their incoming and outgoing synapses (paths through the network). 0: all units.
    control : bool
        Random-mask controls of the same size: a random :math:`k` entries instead of the
        largest, and a fixed random synapse mask with as many synapses as the path subset.
    """

    top_fraction: float = 1.0
    top_per: str = "layer"
    subset: int = 0
    control: bool = False

    def __post_init__(self):
        self._set("top_fraction", check_number("Restriction.top_fraction", self.top_fraction, minimum=0,
                                               maximum=1, strict_min=True))
        _check_choice("Restriction.top_per", self.top_per, TOP_PER)
        self._set("subset", check_number("Restriction.subset", self.subset, minimum=0, integer=True))
        _check_bool("Restriction.control", self.control)

    @property
    def active(self) -> bool:
        return self.top_fraction < 1 or self.subset > 0


@declaration
class SynapticCaching(Declaration):
    r"""Synaptic caching (Li & van Rossum 2020): transient plus consolidated weights.

    Every update goes into a cheap transient component :math:`w^\mathrm{t}`
    (``transient_writes`` in the ledger); the total weight is :math:`w^\mathrm{c} + w^\mathrm{t}`.
    After each presentation the transient part decays, :math:`w^\mathrm{t} \leftarrow
    w^\mathrm{t} e^{-1/\tau}` (:math:`\tau` in presentations; ``inf``: no decay), synapses with
    :math:`|w^\mathrm{t}| > \theta` are consolidated (:math:`w^\mathrm{c} \mathrel{+}= w^\mathrm{t}`,
    :math:`w^\mathrm{t} = 0`: one ledger *write* of size :math:`|w^\mathrm{t}|`), and the
    maintenance cost :math:`c \sum |w^\mathrm{t}|` is added to the ledger's ``maintenance``.
    Total energy: :math:`M_1 + \sum \mathrm{maintenance}`.
    """

    enabled: bool = False
    c: float = 0.01
    theta: float = 0.01
    tau: float = math.inf

    def __post_init__(self):
        _check_bool("SynapticCaching.enabled", self.enabled)
        self._set("c", check_number("SynapticCaching.c", self.c, minimum=0))
        self._set("theta", check_number("SynapticCaching.theta", self.theta, minimum=0))
        self._set("tau", check_number("SynapticCaching.tau", self.tau, minimum=0, strict_min=True,
                                      allow_inf=True))


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


def margins(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    r""":math:`y_\mathrm{label} - \max_{j \ne \mathrm{label}} y_j` per row (a mistake unless > 0; NaN, from diverged weights, is one)."""
    rows = np.arange(len(labels))
    own = outputs[rows, labels]
    rivals = outputs.copy()
    rivals[rows, labels] = -np.inf
    return own - rivals.max(axis=1)


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
        raise ParameterError(f"Restriction.subset = {k}: needs a hidden layer; layers are {list(layers)}")
    if k > min(hidden):
        raise ParameterError(f"Restriction.subset = {k}: must be <= the smallest hidden layer ({min(hidden)})")
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


class RateClassifier:
    """A rate network with gated per-sample learning; same interface as the spiking classifier.

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
        corrections before the block is recomputed (see :meth:`_present_corrected`).
    exact_openings : bool
        Recompute each gated sample by the sequential loop's one-row pass before its update
        (default): results bit for bit those of ``max_block=1``. False: updates from the
        corrected pre-activations, equal up to float rounding and one gemv cheaper per opening.
    """

    def __init__(self, spec: RateSpec, gate: Gate, images, seed: int = 0, restriction: Restriction | None = None,
                 caching: SynapticCaching | None = None, mean=None, max_block: int = 512, max_pending: int = 32,
                 exact_openings: bool = True):
        self.spec, self.gate = spec, gate
        self.restriction = restriction or Restriction()
        self.caching = caching or SynapticCaching()
        self.dtype = np.dtype(spec.dtype)
        images = np.asarray(images, dtype=self.dtype)
        if images.ndim != 2 or images.shape[1] != spec.n_in:
            raise ParameterError(f"images: shape {images.shape}; expected (n_images, {spec.n_in})")
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
        self._explicit_dw = self.restriction.active or self.caching.enabled
        self._ger = blas.dger if self.dtype == np.float64 else blas.sger
        #: forward-pass rows computed while learning (>= presentations: exact one-row passes of
        #: openings, and rows thrown away when a block ends early)
        self.forward_rows = 0

    # state ----------------------------------------------------------------------------------
    def weights(self, k: int) -> np.ndarray:
        return self.W[k].copy()

    def set_weights(self, k: int, w) -> None:
        w = np.asarray(w, dtype=self.dtype)
        if w.shape != self.W[k].shape:
            raise ParameterError(f"weights of projection {k}: shape {w.shape}; expected {self.W[k].shape}")
        self.W[k][...] = w

    # forward and backward -------------------------------------------------------------------
    def _forward(self, x: np.ndarray, h0: np.ndarray | None = None):
        """Layer inputs (with bias column), pre-activations and outputs for image rows ``x``
        (which carry their bias column already). ``h0``: first-layer pre-activations, when
        they are known already (the corrected block path)."""
        spec = self.spec
        inputs, pre = [], []
        a = x
        for l, W in enumerate(self.W):
            if spec.bias and l > 0:
                a = np.concatenate([a, np.ones((len(a), 1), dtype=self.dtype)], axis=1)
            inputs.append(a)
            if l == 0 and h0 is not None:
                h = h0
            elif len(a) == 1:  # BLAS gemv: a one-row gemm is ~1.5x slower
                h = (W @ a[0])[None, :]
            else:
                h = a @ W.T
            pre.append(h)
            if l < len(self.W) - 1:
                a = activation(h, spec.hidden, spec.slope)
        y = pre[-1] if spec.output == "linear_mse" else softmax(pre[-1])
        return inputs, pre, y

    def outputs(self, samples) -> np.ndarray:
        """Network outputs for image rows ``samples`` (no learning)."""
        samples = np.asarray(samples)
        return np.concatenate([self._forward(self.images[samples[i:i + 2048]])[2]
                               for i in range(0, len(samples), 2048)] or [np.zeros((0, self.spec.n_out))])

    def _deltas(self, inputs, pre, y, labels):
        """Errors :math:`\\delta_l` of every projection for the rows given (pre-update weights)."""
        spec = self.spec
        t = np.zeros_like(y)
        t[np.arange(len(labels)), labels] = 1
        delta = y - t
        deltas = [delta]
        for l in range(len(self.W) - 1, 0, -1):
            W = self.W[l][:, :spec.layers[l]]
            a_next = inputs[l][:, :spec.layers[l]]
            delta = (delta @ W) * activation_slope(pre[l - 1], a_next, spec.hidden, spec.slope)
            deltas.append(delta)
        return deltas[::-1]

    def _write(self, l: int, delta: np.ndarray, a: np.ndarray, scale: float, row, out) -> None:
        r"""Apply :math:`\Delta W_l = -\mathrm{scale}\,\delta^\top a` and count it in ``out`` at ``row``."""
        writes, abs_dw, alpha_dw, transient_writes, maintenance = out
        alpha = self.spec.alpha
        if not self._explicit_dw and delta.shape[0] == 1:
            # rank one: every count is a product of the two factors' counts (exact for dw = d_i a_j)
            d, x = delta[0], a[0]
            ad, ax = np.abs(d), np.abs(x)
            writes[row, l] += np.count_nonzero(d) * np.count_nonzero(x)
            abs_dw[row, l] += scale * float(ad.sum()) * float(ax.sum())
            power = np.sqrt if alpha == 0.5 else (lambda v: v ** alpha)
            alpha_dw[row, l] += scale ** alpha * float(power(ad).sum()) * float(power(ax).sum())
            # BLAS rank-one update in place on the (Fortran-ordered) transpose: no temporary matrix
            self._ger(-scale, x, d, a=self.W[l].T, overwrite_a=1)
            return
        dw = -scale * (delta.T @ a)
        keep = self.plastic[l] if self.plastic is not None else None
        if self.restriction.top_fraction < 1:
            keep = top_fraction_mask(dw, self.restriction.top_fraction, self.restriction.top_per, keep,
                                     self._control_rng)
        if keep is not None:
            dw = np.where(keep, dw, 0)
        if not self.caching.enabled:
            writes[row, l] += np.count_nonzero(dw)
            mag = np.abs(dw)
            abs_dw[row, l] += float(mag.sum())
            alpha_dw[row, l] += float((mag ** alpha).sum())
            self.W[l] += dw
            return
        transient_writes[row, l] += np.count_nonzero(dw)
        self.W[l] += dw
        self.transient[l] += dw

    def _cache_step(self, row, out) -> None:
        """Decay, consolidate and charge maintenance of the transient weights after a presentation."""
        writes, abs_dw, alpha_dw, _, maintenance = out
        c = self.caching
        for l, T in enumerate(self.transient):
            if self._decay != 1.0:
                lost = T * (1.0 - self._decay)
                T -= lost
                self.W[l] -= lost
            big = np.abs(T) > c.theta
            n = int(big.sum())
            if n:
                mag = np.abs(T[big])
                writes[row, l] += n
                abs_dw[row, l] += float(mag.sum())
                alpha_dw[row, l] += float((mag ** self.spec.alpha).sum())
                T[big] = 0
            maintenance[row, l] += c.c * float(np.abs(T).sum())

    def _open(self, margin, mistake, memgate):
        gate = self.gate
        if gate.always:
            return np.ones(len(margin), dtype=bool)
        opened = mistake | memgate
        if gate.kappa > 1:
            opened |= margin < (gate.kappa - 1) * self.spec.margin_scale
        return opened

    # presentations --------------------------------------------------------------------------
    def present(self, samples, labels, memgate=None, learn: bool = True, progress=None) -> PresentationLog:
        """Present image rows ``samples`` in order, learning when the gate opens.

        Same contract as :meth:`spikegate.network.GatedClassifier.present`: ``memgate`` is the
        precomputed mistake-memory gate of each presentation; the log has one row per
        presentation. A batch's write (``batch_size > 1``) is booked on its last presentation.
        """
        with threadpool_limits(1, user_api="blas"):
            # one BLAS thread: per-sample products are small, and a multi-threaded BLAS on a
            # busy machine spends milliseconds per call waking its threads
            return self._present(samples, labels, memgate, learn, progress)

    def _present(self, samples, labels, memgate, learn, progress) -> PresentationLog:
        t0 = time.perf_counter()
        samples = np.asarray(samples, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.int64)
        n, P = len(samples), self.spec.n_projections
        memgate = np.zeros(n, bool) if memgate is None else np.asarray(memgate, dtype=bool)
        out = (np.zeros((n, P), np.int64), np.zeros((n, P)), np.zeros((n, P)), np.zeros((n, P), np.int64),
               np.zeros((n, P)))
        outputs = np.zeros((n, self.spec.n_out))
        mistake = np.zeros(n, bool)
        gate_open = np.zeros(n, bool)
        if not learn:
            outputs[:] = self.outputs(samples)
            mistake[:] = ~(margins(outputs, labels) > 0)
            if progress:
                progress(n)
        elif self.spec.batch_size > 1:
            self._present_batched(samples, labels, memgate, outputs, mistake, gate_open, out, progress)
        elif self.max_block > 1 and not (self.gate.always or self.caching.enabled or self._explicit_dw):
            self._present_corrected(samples, labels, memgate, outputs, mistake, gate_open, out, progress)
        else:
            self._present_online(samples, labels, memgate, outputs, mistake, gate_open, out, progress)
        writes, abs_dw, alpha_dw, transient_writes, maintenance = out
        return PresentationLog(samples=samples, labels=labels, counts=outputs, mistake=mistake, gate_open=gate_open,
                               writes=writes, sum_abs_dw=abs_dw, sum_abs_dw_alpha=alpha_dw,
                               trace_updates=np.zeros((n, P), np.int64), wall_seconds=time.perf_counter() - t0,
                               transient_writes=transient_writes, maintenance=maintenance)

    def _present_online(self, samples, labels, memgate, outputs, mistake, gate_open, out, progress):
        n = len(samples)
        i, block = 0, 1
        mean_gap, run = 1.0, 0   # running mean of the samples between openings; samples since the last one
        always = self.gate.always
        caching = self.caching.enabled
        while i < n:
            m = 1 if always or caching else min(block, n - i)
            inputs, pre, y = self._forward(self.images[samples[i:i + m]])
            self.forward_rows += m
            mg = margins(y, labels[i:i + m])
            wrong = ~(mg > 0)  # NaN outputs (diverged learning) are mistakes
            opened = self._open(mg, wrong, memgate[i:i + m])
            j = int(np.argmax(opened)) if opened.any() else m
            used = min(j + 1, m)
            outputs[i:i + used] = y[:used]
            mistake[i:i + used] = wrong[:used]
            if j < m:
                gate_open[i + j] = True
                rows = slice(j, j + 1)
                ins = [a[rows] for a in inputs]
                deltas = self._deltas(ins, [h[rows] for h in pre], y[rows], labels[i + j:i + j + 1])
                for l in range(len(self.W)):
                    self._write(l, deltas[l], ins[l], self.lrs[l], i + j, out)
            if caching:
                self._cache_step(i, out)
            # With openings at rate p the gap is ~geometric(p): a block of ~0.75/p samples keeps the
            # discarded forward passes (after the first opening) near 40 % at little per-block overhead.
            run += used
            if j < m:
                mean_gap = 0.8 * mean_gap + 0.2 * run
                run = 0
            block = min(self.max_block, max(1, int(0.75 * max(mean_gap, run))))
            i += used
            if progress:
                progress(used)

    def _present_corrected(self, samples, labels, memgate, outputs, mistake, gate_open, out, progress):
        r"""Sequential per-sample learning with the first layer's forward passes done in blocks.

        A block's first-layer pre-activations :math:`H = X W_1^\top` are computed once with
        the weights at its start. Every gated sample :math:`g` then writes the rank-one
        update :math:`\Delta W_1 = u_g x_g^\top` (:math:`u_g = -\eta_1 \delta_{1,g}`), so a
        later row :math:`x_j` of the block has
        :math:`h_j = H_j + \sum_g (x_j \cdot x_g)\, u_g` under the current weights: the
        block stays valid, and no forward pass is discarded. Deeper layers are computed
        with the current weights. Decisions use these values, which equal the sequential
        ones up to float rounding; a row whose margin lies within ``decision_tolerance``
        of a decision threshold is recomputed exactly before deciding.

        With ``exact_openings`` every gated row is also recomputed by the one-row pass of
        the sequential loop before its update, so gates, mistakes, writes and weights are
        those of the literal sequential loop bit for bit (only the logged outputs of closed
        presentations may differ in the last bits). Without it the update uses the
        corrected pre-activations: the same arithmetic up to float rounding, one gemv
        cheaper per opening.
        """
        n = len(samples)
        W0 = self.W[0]
        n_pending = self.max_pending
        xs = np.empty((n_pending, W0.shape[1]), self.dtype)   # x_g of the updates since the block began
        us = np.empty((n_pending, W0.shape[0]), self.dtype)   # u_g = -eta_1 delta_1,g
        thresholds = [(self.gate.kappa - 1) * self.spec.margin_scale] if self.gate.kappa > 1 else []
        i = 0
        mean_gap, run = 1.0, 0   # running mean of the samples between openings; samples since the last one
        while i < n:
            # ~n_pending/2 openings expected per block: rarely cut short (which discards its tail)
            B = min(self.max_block, n - i, max(16, int(0.5 * n_pending * mean_gap)))
            X = self.images[samples[i:i + B]]
            H = X @ W0.T
            self.forward_rows += B
            G, pos = 0, 0
            while pos < B and G < n_pending:
                c = min(B - pos, max(1, int(0.75 * max(mean_gap, run))))  # ~one opening per chunk
                start = i + pos
                h0 = H[pos:pos + c] if G == 0 else H[pos:pos + c] + (X[pos:pos + c] @ xs[:G].T) @ us[:G]
                y = self._outputs_from_first_layer(h0)
                lab = labels[start:start + c]
                mg = margins(y, lab)
                tol = self.decision_tolerance * (1.0 + float(np.abs(y).max()))
                near = np.abs(mg) <= tol
                for thr in thresholds:
                    near |= np.abs(mg - thr) <= tol
                if near.any():  # too close to call in rounded arithmetic: exact passes
                    for k in np.flatnonzero(near):
                        y[k] = self._forward(X[pos + k:pos + k + 1])[2][0]
                        self.forward_rows += 1
                    mg = margins(y, lab)
                wrong = ~(mg > 0)  # NaN outputs (diverged learning) are mistakes
                opened = self._open(mg, wrong, memgate[start:start + c])
                j = int(opened.argmax()) if opened.any() else c
                used = min(j + 1, c)
                outputs[start:start + used] = y[:used]
                mistake[start:start + used] = wrong[:used]
                run += used
                if j < c:
                    row = start + j
                    gate_open[row] = True
                    if self.exact_openings:  # the one-row pass of the sequential loop
                        inputs, pre, y1 = self._forward(X[pos + j:pos + j + 1])
                        self.forward_rows += 1
                        outputs[row] = y1[0]
                    else:
                        inputs, pre, y1 = self._forward(X[pos + j:pos + j + 1], h0[j:j + 1])
                    deltas = self._deltas(inputs, pre, y1, labels[row:row + 1])
                    xs[G] = inputs[0][0]
                    us[G] = -self.lrs[0] * deltas[0][0]
                    G += 1
                    for l in range(len(self.W)):
                        self._write(l, deltas[l], inputs[l], self.lrs[l], row, out)
                    mean_gap = 0.8 * mean_gap + 0.2 * run
                    run = 0
                pos += used
                if progress:
                    progress(used)
            i += pos

    def _outputs_from_first_layer(self, h: np.ndarray) -> np.ndarray:
        """Outputs of rows whose first-layer pre-activations are ``h`` (current weights)."""
        spec = self.spec
        for W in self.W[1:]:
            a = activation(h, spec.hidden, spec.slope)
            h = a @ W[:, :-1].T + W[:, -1] if spec.bias else a @ W.T
        return h if spec.output == "linear_mse" else softmax(h)

    def _present_batched(self, samples, labels, memgate, outputs, mistake, gate_open, out, progress):
        n, B = len(samples), self.spec.batch_size
        for i in range(0, n, B):
            sl = slice(i, min(i + B, n))
            inputs, pre, y = self._forward(self.images[samples[sl]])
            mg = margins(y, labels[sl])
            wrong = ~(mg > 0)  # NaN outputs (diverged learning) are mistakes
            opened = self._open(mg, wrong, memgate[sl])
            outputs[sl], mistake[sl], gate_open[sl] = y, wrong, opened
            last = sl.stop - 1
            if opened.any():
                ins = [a[opened] for a in inputs]
                deltas = self._deltas(ins, [h[opened] for h in pre], y[opened], labels[sl][opened])
                for l in range(len(self.W)):
                    self._write(l, deltas[l], ins[l], self.lrs[l] / B, last, out)
            if self.caching.enabled:
                self._cache_step(last, out)
            if progress:
                progress(sl.stop - sl.start)
