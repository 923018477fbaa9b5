r"""The schedule of a chunk: which image, label and memory gate each tick of the network reads.

A presentation is a stimulus window of :math:`T_\mathrm{stim}` and silent rows after it: the
inter-stimulus interval (``spec.isi_rows``) or, on the reset schedule, when the ERN's
post-decision interval is simulated and the network learns, that interval (``spec.post_rows``)
if it is longer; a tick ends each row. On the stream the next stimulus follows the interval
whatever the window: a decision's post-decision rows then run into the next presentations, and
its write (and its slot's) is marked on the row that ends its window. The post-decision rows come first (``post``: traces and the ERN are kept into
them, and the write happens at the end of the last); the rest of the interval is idle. The
schedule is a table with one row per tick (:data:`COLUMNS`), the pixel table one row per
presentation and a blank last row; both have shapes fixed by :data:`MAX_CHUNK` and the
network, so neither the generated code nor the compiled engine depends on the chunk's
content. After the scheduled presentations one idle row (blank input, no decision) closes
the last one.

Pure functions of numpy arrays: the runtime engine loads the tables as ``TimedArray`` s,
the compiled engine passes them as run arguments.
"""
from __future__ import annotations

import numpy as np
from brian2 import Quantity

from ...errors import ParameterError
from ...model import NetworkSpec
from ..inputs import check_labels, check_memgate, check_samples

#: Presentations one ``run()`` can hold: the tables' shapes are fixed by it.
MAX_CHUNK = 1000
#: Columns of the schedule: the row's image (in the chunk's pixel table), label and memory gate;
#: whether the row is a presentation's stimulus (decided at its end) or a silent post-decision
#: row, and whether the write happens at its end; the sample (row of the image bank).
#: On the stream a decision's ERN window may outlast the interval: ``slot`` is the slot that decides
#: at the row's end, ``write_slot`` the slot whose write happens then (:attr:`NetworkSpec.ern_slots`).
COLUMNS = {"image": 0, "label": 1, "memgate": 2, "valid": 3, "post": 4, "write": 5, "sample": 6, "slot": 7,
           "write_slot": 8}


def rows_per_presentation(spec: NetworkSpec, learn: bool = True) -> int:
    """Ticks a presentation takes: its stimulus, and the silent interval after it (the inter-stimulus
    interval, or on the reset schedule the simulated post-decision interval while learning if that
    is longer; on the stream the next stimulus comes after the interval, the ERN window or not)."""
    if spec.stream:
        return 1 + spec.isi_rows
    return 1 + max(spec.isi_rows, post_rows(spec, learn))


def tail_rows(spec: NetworkSpec, learn: bool = True) -> int:
    """Idle rows after a chunk's last presentation for the writes still pending (ERN windows that
    outlast the interval on the stream)."""
    return max(0, post_rows(spec, learn) + 1 - rows_per_presentation(spec, learn))


def post_rows(spec: NetworkSpec, learn: bool = True) -> int:
    """Silent rows of a presentation that belong to its decision (the simulated ERN's window)."""
    return spec.post_rows if learn else 0


def schedule_tables(spec: NetworkSpec, images: np.ndarray, samples, labels, memgate=None, learn: bool = True,
                    chunk: int = MAX_CHUNK) -> tuple[np.ndarray, np.ndarray]:
    """The schedule (one row per tick) and the pixel table of up to ``chunk`` presentations of
    rows ``samples`` of ``images``; their shapes do not depend on them."""
    samples = check_samples(samples, len(images))
    n = len(samples)
    if n > chunk:
        raise ParameterError(f"load_schedule: {n} presentations, at most chunk = {chunk}")
    labels = check_labels(labels, n, spec.n_out)
    memgate = check_memgate(memgate, n)
    r, p_rows = rows_per_presentation(spec, learn), post_rows(spec, learn)
    table = np.zeros((MAX_CHUNK * rows_per_presentation(spec) + tail_rows(spec) + 1, len(COLUMNS)))
    table[:, COLUMNS["image"]] = MAX_CHUNK                 # the blank row of the pixel table
    stim = np.arange(n) * r
    slots = np.arange(n) % spec.ern_slots
    for p in range(p_rows, -1, -1):       # a stimulus row last: on the stream it may be an earlier one's post row
        table[stim + p, COLUMNS["label"]] = labels
        table[stim + p, COLUMNS["post"]] = p > 0
    table[stim, COLUMNS["image"]] = np.arange(n)
    table[stim, COLUMNS["sample"]] = samples
    table[stim, COLUMNS["memgate"]] = memgate
    table[stim, COLUMNS["valid"]] = 1
    table[stim, COLUMNS["slot"]] = slots
    table[stim + p_rows, COLUMNS["write"]] = 1
    table[stim + p_rows, COLUMNS["write_slot"]] = slots
    pixels = np.zeros((MAX_CHUNK + 1, spec.n_in))
    pixels[:n] = images[samples]
    return table, pixels


def duration(spec: NetworkSpec, n: int, learn: bool = True) -> Quantity:
    """Simulated time of ``n`` scheduled presentations, the rows of their pending writes and the
    closing idle row."""
    return (n * rows_per_presentation(spec, learn) + (tail_rows(spec, learn) if n else 0) + 1) * spec.t_stim


def chunks(n: int, chunk: int):
    """``(start, stop)`` of each chunk of ``n`` presentations."""
    return [(a, min(a + chunk, n)) for a in range(0, n, chunk)]
