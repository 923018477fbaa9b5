r"""The order of forward passes and writes in the rate backend: three schedulers.

Each scheduler presents ``samples`` to a :class:`~spikegate.backends.rate.RateClassifier`
in order and fills a :class:`~spikegate.backends.rate.Presentations` record; all three
implement per-sample learning with the gate decided per sample:

* :func:`sequential`: forward passes in blocks whose length follows the running mean gap
  between openings, cut at each opening (``always``, synaptic caching, restrictions, or
  ``max_block = 1``, the literal per-sample loop);
* :func:`corrected_blocks`: the first layer's pre-activations of a block are computed
  once and kept valid across the block's openings by rank-one corrections (the default
  for gated learning; bit for bit the sequential loop);
* :func:`mini_batches`: ``batch_size > 1``, one write per batch.
"""
from __future__ import annotations

import numpy as np

from ...model.gates import decision_boundaries, margins


def schedule_for(clf):
    """The scheduler that fits the classifier's gate and options."""
    if clf.spec.batch_size > 1:
        return mini_batches
    if clf.max_block > 1 and not (clf.gate.always or clf.caching.enabled or clf.explicit_dw
                                  or not clf.reserve.unlimited):
        return corrected_blocks
    return sequential


def sequential(clf, samples, labels, memgate, book, progress):
    """Per-sample learning; forward passes of a block are discarded after its first opening."""
    n = len(samples)
    i, block = 0, 1
    mean_gap, run = 1.0, 0   # running mean of the samples between openings; samples since the last one
    budget = not clf.reserve.unlimited
    one_at_a_time = clf.gate.always or clf.caching.enabled or budget
    while i < n:
        m = 1 if one_at_a_time else min(block, n - i)
        inputs, pre, y = clf.forward_pass(clf.images[samples[i:i + m]])
        clf.forward_rows += m
        _, (wrong, opened, drive) = clf.decide(y, labels[i:i + m], memgate[i:i + m])
        if budget:   # an empty reserve keeps the gate shut
            opened = opened & (clf.reserve_j > 0)
        j = int(np.argmax(opened)) if opened.any() else m
        used = min(j + 1, m)
        book.outputs[i:i + used] = y[:used]
        book.mistake[i:i + used] = wrong[:used]
        book.drive[i:i + used] = drive[:used]
        if j < m:
            book.gate_open[i + j] = True
            rows = slice(j, j + 1)
            ins = [a[rows] for a in inputs]
            deltas = clf.deltas_of(ins, [h[rows] for h in pre], y[rows], labels[i + j:i + j + 1])
            for l in range(len(clf.W)):
                clf.write(l, deltas[l], ins[l], clf.lrs[l] * float(drive[j]), i + j, book)
        if clf.caching.enabled:
            clf.cache_step(i, book)
        if budget:
            clf.reserve_step(book.writes[i].sum())
        # With openings at rate p the gap is ~geometric(p): a block of ~0.75/p samples keeps the
        # discarded forward passes (after the first opening) near 40 % at little per-block overhead.
        run += used
        if j < m:
            mean_gap = 0.8 * mean_gap + 0.2 * run
            run = 0
        block = min(clf.max_block, max(1, int(0.75 * max(mean_gap, run))))
        i += used
        if progress:
            progress(used)


def corrected_blocks(clf, samples, labels, memgate, book, progress):
    r"""Sequential per-sample learning with the first layer's forward passes done in blocks.

    A block's first-layer pre-activations :math:`H = X W_1^\top` are computed once with
    the weights at its start. Every gated sample :math:`g` then writes the rank-one
    update :math:`\Delta W_1 = u_g x_g^\top` (:math:`u_g = -\eta_1 \delta_{1,g}`), so a
    later row :math:`x_j` of the block has
    :math:`h_j = H_j + \sum_g (x_j \cdot x_g)\, u_g` under the current weights: the
    block stays valid, and no forward pass is discarded. Deeper layers are computed
    with the current weights. Decisions use these values, which equal the sequential
    ones up to float rounding; a row whose margin lies within ``clf.decision_tolerance``
    of a decision threshold is recomputed exactly before deciding.

    With ``clf.exact_openings`` every gated row is also recomputed by the one-row pass of
    the sequential loop before its update, so gates, mistakes, writes and weights are
    those of the literal sequential loop bit for bit (only the logged outputs of closed
    presentations may differ in the last bits). Without it the update uses the
    corrected pre-activations: the same arithmetic up to float rounding, one gemv
    cheaper per opening.
    """
    n = len(samples)
    W0 = clf.W[0]
    n_pending = clf.max_pending
    xs = np.empty((n_pending, W0.shape[1]), clf.dtype)   # x_g of the updates since the block began
    us = np.empty((n_pending, W0.shape[0]), clf.dtype)   # u_g = -eta_1 delta_1,g
    thresholds = decision_boundaries(clf.gate, clf.spec.margin_scale)
    i = 0
    mean_gap, run = 1.0, 0   # running mean of the samples between openings; samples since the last one
    while i < n:
        # ~n_pending/2 openings expected per block: rarely cut short (which discards its tail)
        B = min(clf.max_block, n - i, max(16, int(0.5 * n_pending * mean_gap)))
        X = clf.images[samples[i:i + B]]
        H = X @ W0.T
        clf.forward_rows += B
        G, pos = 0, 0
        while pos < B and G < n_pending:
            c = min(B - pos, max(1, int(0.75 * max(mean_gap, run))))  # ~one opening per chunk
            start = i + pos
            h0 = H[pos:pos + c] if G == 0 else H[pos:pos + c] + (X[pos:pos + c] @ xs[:G].T) @ us[:G]
            y = _outputs_near_exact(clf, h0, X[pos:pos + c], labels[start:start + c], thresholds)
            _, (wrong, opened, drive) = clf.decide(y, labels[start:start + c], memgate[start:start + c])
            j = int(opened.argmax()) if opened.any() else c
            used = min(j + 1, c)
            book.outputs[start:start + used] = y[:used]
            book.mistake[start:start + used] = wrong[:used]
            book.drive[start:start + used] = drive[:used]
            run += used
            if j < c:
                xs[G], us[G] = _open_and_write(clf, X[pos + j:pos + j + 1], h0[j:j + 1], start + j, float(drive[j]),
                                               labels, memgate, book)
                G += 1
                mean_gap = 0.8 * mean_gap + 0.2 * run
                run = 0
            pos += used
            if progress:
                progress(used)
        i += pos


def _outputs_near_exact(clf, h0, X, labels, thresholds):
    """Outputs of rows with first-layer pre-activations ``h0``; a row whose margin lies within
    ``clf.decision_tolerance`` of a decision threshold is too close to call in rounded
    arithmetic and is recomputed by the exact one-row pass."""
    y = clf.outputs_from_first_layer_of(h0)
    mg = margins(y, labels)
    tol = clf.decision_tolerance * (1.0 + float(np.abs(y).max()))
    near = np.zeros(len(mg), bool)
    for thr in thresholds:
        near |= np.abs(mg - thr) <= tol
    for k in np.flatnonzero(near):
        y[k] = clf.forward_pass(X[k:k + 1])[2][0]
        clf.forward_rows += 1
    return y


def _open_and_write(clf, x_row, h0_row, row: int, drive: float, labels, memgate, book):
    """The write of an opening at ``row`` (one-row pass of the sequential loop with
    ``clf.exact_openings``); returns the rank-one factors ``(x_g, u_g)`` of its first layer."""
    book.gate_open[row] = True
    if clf.exact_openings:  # the one-row pass of the sequential loop, and its drive
        inputs, pre, y1 = clf.forward_pass(x_row)
        clf.forward_rows += 1
        book.outputs[row] = y1[0]
        drive = float(clf.decide(y1, labels[row:row + 1], memgate[row:row + 1])[1].drive[0])
        book.drive[row] = drive
    else:
        inputs, pre, y1 = clf.forward_pass(x_row, h0_row)
    deltas = clf.deltas_of(inputs, pre, y1, labels[row:row + 1])
    lrs = [lr * drive for lr in clf.lrs]
    for l in range(len(clf.W)):
        clf.write(l, deltas[l], inputs[l], lrs[l], row, book)
    return inputs[0][0], -lrs[0] * deltas[0][0]


def mini_batches(clf, samples, labels, memgate, book, progress):
    """One write per batch of ``batch_size`` samples: the mean of its gated samples' updates."""
    n, B = len(samples), clf.spec.batch_size
    for i in range(0, n, B):
        sl = slice(i, min(i + B, n))
        inputs, pre, y = clf.forward_pass(clf.images[samples[sl]])
        _, (wrong, opened, drive) = clf.decide(y, labels[sl], memgate[sl])
        book.outputs[sl], book.mistake[sl], book.gate_open[sl], book.drive[sl] = y, wrong, opened, drive
        last = sl.stop - 1
        if opened.any():
            ins = [a[opened] for a in inputs]
            deltas = clf.deltas_of(ins, [h[opened] for h in pre], y[opened], labels[sl][opened])
            if not np.all(drive[opened] == 1):  # graded drives weigh the samples' updates
                deltas = [(d * drive[opened][:, None]).astype(d.dtype) for d in deltas]
            for l in range(len(clf.W)):
                clf.write(l, deltas[l], ins[l], clf.lrs[l] / B, last, book)
        if clf.caching.enabled:
            clf.cache_step(last, book)
        if progress:
            progress(sl.stop - sl.start)
