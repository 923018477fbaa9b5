"""Scan results: one row per finished point, aggregates over seeds, plots.

:func:`collect` gathers a store into rows (``point``, the swept keys, ``seed`` and every
scalar metric); :func:`aggregate` takes means and standard errors over seeds;
:func:`plot_axis` and :func:`plot_heatmap` draw them.
"""
from __future__ import annotations

import csv
import math
import re
import warnings
from pathlib import Path

from ..errors import DataError
from ..files import atomic_path
from ..rundir import CONFIG, METRICS, read_run
from ..config import HASH_CHARS
from .store import Store

HASH_NAME = re.compile(f"[0-9a-f]{{{HASH_CHARS}}}")


def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items()
            if v is None or isinstance(v, (int, float, str, bool))}


def _config_value(values: dict, key: str):
    section, _, name = key.rpartition(".")
    return values.get(section, {}).get(name)


def collect(store, on_skip=None) -> tuple[list, list]:
    """One row per finished point: ``point``, the swept keys (with ``seed``), scalar metrics.

    Returns ``(rows, columns)``. Points missing from ``scan.json`` (an older store) are
    included with their keys read from their ``config.toml``. A point directory that is
    truncated or corrupt is left out and reported: ``on_skip(hash, reason)`` (default: a
    :class:`RuntimeWarning`); the others are collected.
    """
    store = Store(store)
    if not store.points.is_dir():
        raise DataError(f"{store.root}: not a scan store (no points/ directory)")
    if on_skip is None:
        def on_skip(h, reason):
            warnings.warn(f"{store.run_dir(h)}: left out ({reason})", RuntimeWarning, stacklevel=3)
    m = store.manifest()
    keys = list(m.get("keys", []))
    params = {p["hash"]: p.get("params", {}) for p in m.get("points", [])}
    order = {h: i for i, h in enumerate(params)}
    done = []
    for d in store.points.iterdir():
        if d.name.startswith(".") or not d.is_dir() or not HASH_NAME.fullmatch(d.name):
            continue
        problem = store.problem(d.name)
        if problem is None:
            done.append(d.name)
        else:   # training writes a hidden temporary: a visible directory is finished or broken
            on_skip(d.name, problem)
    done.sort(key=lambda h: (order.get(h, len(order)), h))
    rows, metric_cols = [], []
    for h in done:
        rec = read_run(store.run_dir(h), (CONFIG, METRICS))
        metrics, values = rec.metrics, rec.config
        values = {"": {k: v for k, v in values.items() if not isinstance(v, dict)},
                  **{k: v for k, v in values.items() if isinstance(v, dict)}}
        row = {"point": h}
        for k in keys:
            row[k] = params.get(h, {}).get(k, _config_value(values, k))
        sc = _scalars(metrics)
        for k in sc:
            if k not in metric_cols and k not in row:
                metric_cols.append(k)
        row.update({k: v for k, v in sc.items() if k not in row})
        rows.append(row)
    return rows, ["point"] + keys + metric_cols


def read_csv(path) -> list:
    """Rows of a ``collect`` CSV, with numbers converted back."""
    def conv(s):
        if s == "":
            return None
        for t in (int, float):
            try:
                return t(s)
            except ValueError:
                pass
        return {"True": True, "False": False}.get(s, s)

    with open(path, newline="") as f:
        return [{k: conv(v) for k, v in r.items()} for r in csv.DictReader(f)]


_NUM = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf)\b", re.IGNORECASE)


def as_number(v):
    """``0.5`` -> 0.5, ``"0.25 Hz"`` -> 0.25, ``"inf"`` -> inf; None if not a number."""
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        m = _NUM.match(v)
        if m:
            return float(m.group(1))
    return None


_UNIT = re.compile(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+|inf)(?:[eE][-+]?\d+)?\s*\*?\s*([A-Za-z]+)\s*$", re.IGNORECASE)


def axis_label(rows, key: str) -> str:
    """``key`` with its unit: the one unit its quantity strings share (``rule.eta`` -> ``rule.eta (Hz)``),
    or seconds for the ``*_seconds`` metrics."""
    if key.endswith("_seconds"):
        return f"{key} (s)"
    units = {m.group(1) for r in rows if isinstance(r.get(key), str) and (m := _UNIT.match(r[key]))}
    return f"{key} ({units.pop()})" if len(units) == 1 else key


def _filter(rows, where):
    if not where:
        return list(rows)
    return [r for r in rows if all(r.get(k) == v or str(r.get(k)) == str(v) for k, v in where.items())]


def mean_sem(values) -> tuple[float, float, int]:
    """Mean, standard error of the mean (sample s.d. / sqrt(n); 0 for one value) and n."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return float("nan"), float("nan"), 0
    mu = sum(xs) / n
    if n == 1:
        return mu, 0.0, 1
    sd = math.sqrt(sum((x - mu) ** 2 for x in xs) / (n - 1))
    return mu, sd / math.sqrt(n), n


def aggregate(rows, x, y, hue=None, where=None) -> dict:
    """``{hue value: [(x value, mean y, s.e.m., n), ...]}`` sorted by x (numerically if possible)."""
    rows = _filter(rows, where)
    if not rows:
        raise DataError("no rows to aggregate" + (f" with {where}" if where else ""))
    for k in (x, y) + ((hue,) if hue else ()):
        if k not in rows[0]:
            raise DataError(f"column {k!r} not in the results; columns: {', '.join(rows[0])}")
    text = sorted({repr(r[y]) for r in rows if r[y] is not None and not isinstance(r[y], (int, float))})
    if text:
        raise DataError(f"column {y!r} holds values that are not numbers ({', '.join(text[:3])}); "
                        f"plot a numeric column")
    groups = {}
    for r in rows:
        groups.setdefault(r.get(hue) if hue else None, {}).setdefault(r[x], []).append(r[y])
    numeric = all(as_number(r[x]) is not None for r in rows)
    out = {}
    for g, by_x in groups.items():
        xs = sorted(by_x, key=(lambda v: as_number(v)) if numeric else str)
        out[g] = [(xv, *mean_sem(by_x[xv])) for xv in xs]
    return out


def plot_axis(rows, x, y, hue="gate.name", where=None, ax=None, out=None, logx=None, title=None):
    """Mean +/- s.e.m. over seeds (and any other varying keys) of ``y`` against ``x``, one
    line per value of ``hue`` (None or a missing column: one line). Returns the figure."""
    from matplotlib.figure import Figure

    if hue and rows and hue not in rows[0]:
        hue = None
    agg = aggregate(rows, x, y, hue, where)
    fig = ax.figure if ax is not None else Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = ax if ax is not None else fig.subplots()
    all_x = [xv for series in agg.values() for xv, *_ in series]
    numeric = all(as_number(v) is not None for v in all_x)
    cats = sorted(set(map(str, all_x))) if not numeric else None
    for g, series in sorted(agg.items(), key=lambda kv: str(kv[0])):
        xs = [as_number(v) if numeric else cats.index(str(v)) for v, *_ in series]
        ax.errorbar(xs, [s[1] for s in series], yerr=[s[2] for s in series], marker="o", capsize=3,
                    label=str(g) if hue else None)
    if numeric:
        pos = [as_number(v) for v in all_x]
        if logx is None:
            logx = min(pos) > 0 and max(pos) / min(pos) >= 20
        if logx:
            ax.set_xscale("log")
    else:
        ax.set_xticks(range(len(cats)), cats)
    ns = [s[3] for series in agg.values() for s in series]
    ax.set_xlabel(axis_label(rows, x))
    ylabel = axis_label(rows, y)
    ax.set_ylabel(f"{ylabel}, mean ± s.e.m., n={min(ns)}–{max(ns)}" if min(ns) != max(ns)
                  else f"{ylabel}, mean ± s.e.m., n={ns[0]}")
    if hue:
        ax.legend(title=hue, fontsize="small")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    if out is not None:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=120, format=Path(out).suffix.lstrip(".") or "png")
    return fig


def plot_heatmap(rows, x, y, z, where=None, ax=None, out=None, title=None):
    """Mean of ``z`` over seeds (and other varying keys) on the grid of ``x`` by ``y``."""
    import numpy as np
    from matplotlib.figure import Figure

    rows = _filter(rows, where)
    agg = aggregate(rows, x, z, hue=y)
    ys = sorted(agg, key=lambda v: (as_number(v) is None, as_number(v) or 0, str(v)))
    xs = []
    for series in agg.values():
        for xv, *_ in series:
            if xv not in xs:
                xs.append(xv)
    xs.sort(key=lambda v: (as_number(v) is None, as_number(v) or 0, str(v)))
    grid = np.full((len(ys), len(xs)), np.nan)
    for i, yv in enumerate(ys):
        for xv, mu, _, _ in agg[yv]:
            grid[i, xs.index(xv)] = mu
    fig = ax.figure if ax is not None else Figure(figsize=(1.2 * len(xs) + 2.5, 0.6 * len(ys) + 1.8),
                                                  layout="constrained")
    ax = ax if ax is not None else fig.subplots()
    im = ax.imshow(grid, aspect="auto", origin="lower", cmap="viridis")
    ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    ax.set_yticks(range(len(ys)), [str(v) for v in ys])
    ax.set_xlabel(axis_label(rows, x))
    ax.set_ylabel(axis_label(rows, y))
    fig.colorbar(im, ax=ax, label=f"{axis_label(rows, z)}, mean")
    finite = grid[np.isfinite(grid)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(len(ys)):
        for j in range(len(xs)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center", fontsize="small",
                        color="black" if grid[i, j] > mid else "white")
    if title:
        ax.set_title(title)
    if out is not None:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=120, format=Path(out).suffix.lstrip(".") or "png")
    return fig
