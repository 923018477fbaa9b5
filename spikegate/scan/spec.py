"""Scan files: the grid of points a scan trains, each resolved and hashed before anything runs.

See :mod:`spikegate.scan` for the file format. :func:`load_scan` parses and validates a scan
file into a :class:`Scan` whose :class:`Point` s are distinct resolved configurations.
"""
from __future__ import annotations

import itertools
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import data as data_mod
from ..config import config_hash, resolve, split_key
from ..errors import ConfigError, DataError, SpikegateError
from ..files import read_toml

SCAN_KEYS = ("model", "name", "seeds", "random_seed", "set", "grid", "random", "zip", "max_points")

#: Points a scan file may define unless it sets ``max_points``: each point is resolved and
#: validated before anything runs (measured: ~5 ms and ~30 kB each), and a store holds a
#: directory per point.
MAX_POINTS = 10_000
RANDOM_KEYS = ("low", "high", "n", "log", "unit", "integer", "digits")


@dataclass(frozen=True)
class Point:
    """One training of a scan: its swept values (with ``seed``) and its resolved config."""

    hash: str
    params: dict
    config_toml: str

    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.params.items()) or "(defaults)"


@dataclass
class Scan:
    """A parsed, fully validated scan file."""

    name: str
    model: str
    fixed: dict
    keys: list
    points: list
    source: str = ""
    duplicates: int = 0


def _flatten(table: dict, stop=lambda v: False, prefix: str = "") -> dict:
    out = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not stop(v):
            out.update(_flatten(v, stop, key + "."))
        else:
            out[key] = v
    return out


def _check_config_key(key: str, where: str) -> None:
    try:
        split_key(key)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _too_many(n: int, max_points: int, where: str) -> ConfigError:
    return ConfigError(f"{where}: {n:,} values, more than max_points = {max_points:,}; set max_points in the scan "
                       "file to run more")


def _axis_list(values, where: str, max_points: int) -> list:
    if not isinstance(values, list):
        raise ConfigError(f"{where} = {_short(values)}: expected a list of values")
    if not values:
        raise ConfigError(f"{where}: empty axis; give at least one value")
    if len(values) > max_points:     # before any work on the values
        raise _too_many(len(values), max_points, where)
    seen = set()
    for v in values:
        key = repr(v)
        if key in seen:
            raise ConfigError(f"{where}: value {_short(v)} listed twice")
        seen.add(key)
    return values


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _round_sig(x: float, digits: int) -> float:
    return float(f"{x:.{digits}g}")


def _random_axis(key: str, spec, seed: int, where: str, max_points: int) -> list:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} = {spec!r}: expected a table {{low = ..., high = ..., n = ...}}")
    unknown = [k for k in spec if k not in RANDOM_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(RANDOM_KEYS)}")
    for k in ("low", "high", "n"):
        if k not in spec:
            raise ConfigError(f"{where}: missing {k!r}; e.g. {{low = 1, high = 10, n = 5, log = true}}")
    low, high, n = spec["low"], spec["high"], spec["n"]
    for k, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{where}.{k} = {v!r}: expected a finite number")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"{where}.n = {n!r}: must be an integer >= 1" if n != 0 else
                          f"{where}: empty axis (n = 0); give n >= 1")
    if n > max_points:   # before drawing them
        raise _too_many(n, max_points, where)
    if not low < high:
        raise ConfigError(f"{where}: low = {low!r} must be < high = {high!r}")
    for flag in ("log", "integer"):
        if not isinstance(spec.get(flag, False), bool):
            raise ConfigError(f"{where}.{flag} = {spec[flag]!r}: expected true or false")
    log = spec.get("log", False)
    if log and low <= 0:
        raise ConfigError(f"{where}: log = true needs low > 0 (got {low!r})")
    rng = np.random.default_rng([int(seed), zlib.crc32(key.encode())])
    u = np.sort(rng.uniform(0.0, 1.0, n))
    xs = np.exp(np.log(low) + u * (np.log(high) - np.log(low))) if log else low + u * (high - low)
    if spec.get("integer", False):
        vals = [int(round(x)) for x in xs]
    else:
        digits = spec.get("digits", 4)
        if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 17:
            raise ConfigError(f"{where}.digits = {digits!r}: must be an integer in [1, 17] (significant digits)")
        vals = [_round_sig(float(x), digits) for x in xs]
    unit = spec.get("unit")
    if unit is not None and not isinstance(unit, str):
        raise ConfigError(f"{where}.unit = {unit!r}: expected a string such as 'ms'")
    return list(dict.fromkeys(f"{v:g} {unit}" if unit else v for v in vals))


def _find_model(model, base: Path | None) -> str:
    if not isinstance(model, str) or not model:
        raise ConfigError(f"model = {model!r}: expected the path of a model file, e.g. \"models/digits.toml\"")
    p = Path(model).expanduser()
    if p.is_absolute():
        candidates = [p]
    else:
        candidates = ([base / p] if base is not None else []) + [Path.cwd() / p]
    for c in candidates:
        if c.is_file():
            return str(c.resolve())
    raise ConfigError(f"model = {model!r}: not found (looked in {', '.join(str(c.parent) for c in candidates)})")


def _is_gate_parameter(key: str) -> bool:
    return key.startswith("gate.") and key != "gate.name"


def load_scan(source, base_dir=None, check_data: bool = True) -> Scan:
    """Parse and validate a scan file (path) or the same content as a dict.

    Every point is resolved (unknown keys, bad values and empty axes raise
    :class:`ConfigError` naming the scan file and the point); with ``check_data`` each data
    set is loaded once to check ``data.n_train``/``n_test`` and the input size.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        where = f"scan file {path}"
        raw = read_toml(path, "scan file")
        base = path.resolve().parent if base_dir is None else Path(base_dir)
        default_name = path.stem
    else:
        raw, where = dict(source), "scan"
        base = Path(base_dir) if base_dir is not None else None
        default_name = "scan"
    try:
        return _parse(raw, base, default_name, check_data, str(source) if isinstance(source, (str, Path)) else "")
    except SpikegateError as exc:
        raise type(exc)(f"{where}: {exc}") from None


def _parse(raw: dict, base, default_name, check_data, source) -> Scan:
    unknown = [k for k in raw if k not in SCAN_KEYS]
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}; allowed: {', '.join(SCAN_KEYS)}")
    if "model" not in raw:
        raise ConfigError("model: required, e.g. model = \"../models/digits.toml\"")
    model = _find_model(raw["model"], base)
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"name = {name!r}: expected a non-empty string")
    random_seed = raw.get("random_seed", 0)
    if isinstance(random_seed, bool) or not isinstance(random_seed, int) or random_seed < 0:
        raise ConfigError(f"random_seed = {random_seed!r}: expected an integer >= 0")
    for sect in ("set", "grid", "random"):
        if sect in raw and not isinstance(raw[sect], dict):
            raise ConfigError(f"{sect} = {raw[sect]!r}: expected a table [{sect}]")
    max_points = raw.get("max_points", MAX_POINTS)
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1:
        raise ConfigError(f"max_points = {max_points!r}: expected an integer >= 1")
    fixed = _flatten(raw.get("set", {}))
    for k in fixed:
        _check_config_key(k, f"[set] {k}")
    axes = _axes(raw, random_seed, max_points)
    seeds = raw.get("seeds")
    if seeds is not None:
        seeds = _axis_list(seeds, "seeds", max_points)
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                raise ConfigError(f"seeds: {s!r} is not an integer >= 0")
    keys = [k for ks, _ in axes for k in ks]
    if seeds is not None:
        keys.append("seed")
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ConfigError(f"{dup[0]!r} is swept twice; give each key in one axis only")
    both = [k for k in keys if k in fixed]
    if both:
        raise ConfigError(f"{both[0]!r} is both fixed ([set]) and swept; remove one")
    n_points = math.prod(len(vals) for _, vals in axes) * (len(seeds) if seeds is not None else 1)
    if n_points > max_points:
        raise ConfigError(f"{n_points:,} points: more than max_points = {max_points:,} (validating them alone "
                          f"takes an estimated {n_points * 5e-3 / 60:,.1f} min and {n_points * 30e3 / 1e9:,.2f} GB); "
                          f"set max_points = {n_points} in the scan file to run them")
    points, duplicates = _points(model, fixed, axes, seeds)
    if check_data:
        _check_data(points)
    return Scan(name=name, model=model, fixed=fixed, keys=keys, points=[p for p, _ in points],
                source=source, duplicates=duplicates)


def _axes(raw: dict, random_seed: int, max_points: int) -> list:
    """The swept axes of [grid], [random] and [zip]: ``(keys, list of value tuples)`` each."""
    axes = []
    for k, vals in _flatten(raw.get("grid", {})).items():
        _check_config_key(k, f"[grid] {k}")
        axes.append(((k,), [(v,) for v in _axis_list(vals, f"[grid] {k}", max_points)]))
    is_spec = lambda v: any(x in v for x in ("low", "high", "n"))  # noqa: E731
    for k, spec in _flatten(raw.get("random", {}), stop=is_spec).items():
        _check_config_key(k, f"[random] {k}")
        axes.append(((k,), [(v,) for v in _random_axis(k, spec, random_seed, f"[random] {k}", max_points)]))
    zips = raw.get("zip", [])
    zips = [zips] if isinstance(zips, dict) else zips
    if not isinstance(zips, list) or not all(isinstance(z, dict) for z in zips):
        raise ConfigError("zip: expected a table [zip] or tables [[zip]] of equal-length lists")
    for group in zips:
        flat = _flatten(group)
        if not flat:
            raise ConfigError("[zip]: empty group; give at least one key = [values]")
        lists = {}
        for k, vals in flat.items():
            _check_config_key(k, f"[zip] {k}")
            if not isinstance(vals, list):
                raise ConfigError(f"[zip] {k} = {vals!r}: expected a list of values")
            if not vals:
                raise ConfigError(f"[zip] {k}: empty axis; give at least one value")
            if len(vals) > max_points:
                raise _too_many(len(vals), max_points, f"[zip] {k}")
            lists[k] = vals
        lengths = {len(v) for v in lists.values()}
        if len(lengths) > 1:
            raise ConfigError(f"[zip]: lists of different lengths ({', '.join(f'{k}: {len(v)}' for k, v in lists.items())})")
        rows = list(zip(*lists.values()))
        if len(set(map(repr, rows))) != len(rows):
            raise ConfigError(f"[zip] {', '.join(lists)}: a combination is listed twice")
        axes.append((tuple(lists), rows))
    return axes


def _points(model: str, fixed: dict, axes: list, seeds) -> tuple[list, int]:
    """Every distinct resolved configuration of the grid, with its config, and the number of repeats.

    A gate parameter applies to the points whose gate reads it (scans cross gates with gate
    parameters); it is dropped from the others, which then resolve to one point each.
    """
    points, seen, duplicates = [], set(), 0
    gate_keys = {k for k in list(fixed) + [k for ks, _ in axes for k in ks] if _is_gate_parameter(k)}
    applied = set()
    seed_axis = [(s,) for s in seeds] if seeds is not None else [()]
    for seed_vals in seed_axis:  # seeds outermost: the first seed covers the whole grid first
        for combo in itertools.product(*(rows for _, rows in axes)):
            params = {}
            for (ks, _), row in zip(axes, combo):
                params.update(zip(ks, row))
            if seed_vals:
                params["seed"] = seed_vals[0]
            try:
                cfg = resolve(model, list(fixed.items()) + list(params.items()), unread_gate_keys="drop")
            except SpikegateError as exc:
                label = ", ".join(f"{k}={v!r}" for k, v in params.items())
                raise ConfigError(f"point {{{label}}}: {exc}") from None
            reads = {f"gate.{k}" for k in cfg.gate.reads()}
            applied |= gate_keys & reads
            params = {k: v for k, v in params.items() if not _is_gate_parameter(k) or k in reads}
            text = cfg.to_toml()
            h = config_hash(text)
            if h in seen:
                duplicates += 1
                continue
            seen.add(h)
            points.append((Point(h, params, text), cfg))
    unused = sorted(gate_keys - applied)
    if unused:
        gates = sorted({cfg.gate.name.split("(")[0] for _, cfg in points})
        raise ConfigError(f"{unused[0]}: not read by any gate of the scan ({', '.join(gates)}); remove it")
    return points, duplicates


def _check_data(points) -> None:
    """Load each data set once; check sizes and input width of every point before running."""
    loaded, validated = {}, {}
    for point, cfg in points:
        d = cfg.data
        src = (d.source, d.dir or None, d.path or None, cfg.spec.n_out)
        try:
            if src not in loaded:
                loaded[src] = data_mod.load(src[0], data_dir=src[1], path=src[2], n_classes=src[3])
            vkey = src + (cfg.spec.n_in,)
            if vkey not in validated:
                validated[vkey] = data_mod.validate(loaded[src], n_pixels=cfg.spec.n_in, n_classes=cfg.spec.n_out)
            validated[vkey].subset(d.n_train, d.n_test)
        except SpikegateError as exc:
            raise DataError(f"point {{{', '.join(f'{k}={v!r}' for k, v in point.params.items())}}}: {exc}") from None
