"""Model specifications (TOML) and dotted overrides, resolved into declarations.

A model file has the sections below; every key is optional except ``network.layers``
and ``data.source``. Quantities are strings with units (``dt = "0.5 ms"``). Unknown
sections or keys, values of the wrong type or unit, and out-of-range values raise
:class:`~spikegate.errors.ConfigError` naming the dotted key and what is allowed.
"""
from __future__ import annotations

import copy
import dataclasses
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError, ParameterError, SpikegateError
from .ern import ERNSignal
from .gates import Gate, make_gate, GATE_NAMES
from .network import LIF, NetworkSpec, PoissonInput, ThreeFactorRule
from .rate import RateSpec, Restriction, SynapticCaching
from .quantities import parse_quantity, check_number

_DECLARED = {"neuron": LIF, "input": PoissonInput, "rule": ThreeFactorRule, "ern": ERNSignal}

#: Allowed keys per section with their defaults (None: no default / taken from the declaration).
SCHEMA = {
    "": {"name": "model", "seed": 0, "backend": "spiking"},
    "data": {"source": None, "n_train": None, "n_test": None, "dir": "", "path": ""},
    "network": {"layers": None, "dt": "0.1 ms", "t_stim": "100 ms", "t_test": None, "w_scale": "1 mV",
                "init_gain": 1.0, "alpha": 0.5},
    "gate": {"name": "lazy", "tau_mem": 5.0, "theta_mem": 0.5, "kappa": 2},
    "train": {"epochs": 1, "chunk": 1000, "eval_every_epoch": True, "target": "cython", "eval_every": 0,
              "target_accuracy": 0.0},
}
for _section, _cls in _DECLARED.items():
    SCHEMA[_section] = {f.name: None for f in dataclasses.fields(_cls)}
#: Sections of the rate backend (:mod:`spikegate.rate`); ``network.layers``/``alpha`` are shared.
_RATE_DECLARED = {"rate": RateSpec, "restrict": Restriction, "caching": SynapticCaching}
for _section, _cls in _RATE_DECLARED.items():
    SCHEMA[_section] = {f.name: None for f in dataclasses.fields(_cls) if f.name not in ("layers", "alpha")}

TARGETS = ("cython", "numpy")
BACKENDS = ("spiking", "rate")
#: What only one backend reads: setting it for the other is an error, not silently ignored.
_SPIKING_ONLY = {"neuron": None, "input": None, "rule": None, "ern": None,
                 "network": ("dt", "t_stim", "t_test", "w_scale", "init_gain"), "train": ("target", "chunk")}
_RATE_ONLY = {"rate": None, "restrict": None, "caching": None}

# Error messages of declarations name "Class.field"; configs speak of "section.key".
_CLASS_SECTION = {"LIF": "neuron", "PoissonInput": "input", "ThreeFactorRule": "rule", "ERNSignal": "ern",
                  "NetworkSpec": "network", "Trace": "gate", "Memorized": "gate", "Margin": "gate",
                  "RateSpec": "rate", "Restriction": "restrict", "SynapticCaching": "caching"}
_RENAME = {("Memorized", "theta"): "theta_mem", ("RateSpec", "layers"): "network.layers",
           ("RateSpec", "alpha"): "network.alpha"}


def _config_message(exc: Exception) -> str:
    msg = str(exc)
    m = re.match(r"^(\w+)\.(\w+)", msg)
    if m and m.group(1) in _CLASS_SECTION:
        key = _RENAME.get((m.group(1), m.group(2)), m.group(2))
        where = key if "." in key else f"{_CLASS_SECTION[m.group(1)]}.{key}"
        msg = where + msg[m.end():]
    return msg


@dataclass
class RunConfig:
    """A resolved model specification: the raw values and the declarations built from them."""

    values: dict            # section -> key -> value (TOML-serialisable, defaults filled in)
    spec: NetworkSpec | RateSpec
    gate: Gate
    restriction: Restriction | None = None   # rate backend only
    caching: SynapticCaching | None = None   # rate backend only
    test_spec: NetworkSpec | None = None     # spiking: the network of test presentations (window t_test)

    @property
    def backend(self) -> str:
        return self.values[""]["backend"]

    @property
    def seed(self) -> int:
        return self.values[""]["seed"]

    @property
    def name(self) -> str:
        return self.values[""]["name"]

    def section(self, name) -> dict:
        return self.values[name]

    def to_toml(self) -> str:
        import tomli_w

        top = {k: v for k, v in self.values[""].items() if v is not None}
        for section, entries in self.values.items():
            if section:
                top[section] = {k: v for k, v in entries.items() if v is not None}
        return tomli_w.dumps(top)


def parse_override(text: str) -> tuple[str, object]:
    """``"data.n_train=1000"`` -> ``("data.n_train", 1000)``; values are TOML, else strings."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected dotted.key=value, e.g. data.n_train=1000")
    key, raw = text.split("=", 1)
    key, raw = key.strip(), raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def _set_dotted(values: dict, key: str, value) -> None:
    parts = key.split(".")
    if len(parts) == 1:
        section, name = "", parts[0]
    elif len(parts) == 2:
        section, name = parts
    else:
        raise ConfigError(f"config key {key!r}: expected 'section.key' (sections: "
                          f"{', '.join(s for s in SCHEMA if s)})")
    _check_key(section, name)
    values.setdefault(section, {})[name] = value


def _check_key(section: str, name: str) -> None:
    if section not in SCHEMA:
        raise ConfigError(f"unknown config section [{section}]; allowed: {', '.join(s for s in SCHEMA if s)}")
    if name not in SCHEMA[section]:
        where = f"{section}.{name}" if section else name
        raise ConfigError(f"unknown config key {where!r}; allowed keys in "
                          f"{'[' + section + ']' if section else 'the top level'}: {', '.join(SCHEMA[section])}")


def read_model_file(path) -> dict:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"model file {path}: cannot read ({exc.strerror or exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"model file {path}: invalid TOML ({exc})") from None


def resolve(model, overrides=(), gate: str | None = None) -> RunConfig:
    """Resolve a model (path to a TOML file, or a dict) plus ``--set`` overrides and ``--gate``."""
    raw = read_model_file(model) if isinstance(model, (str, Path)) else copy.deepcopy(dict(model))
    values = {s: {} for s in SCHEMA}
    for key, value in raw.items():
        if isinstance(value, dict):
            if key not in SCHEMA or key == "":
                _check_key(key, next(iter(value), ""))
            for name, v in value.items():
                _check_key(key, name)
                values[key][name] = v
        else:
            _check_key("", key)
            values[""][key] = value
    for item in overrides:
        key, value = parse_override(item) if isinstance(item, str) else item
        _set_dotted(values, key, value)
    if gate is not None:
        values["gate"]["name"] = gate
    _check_backend(values)
    for section, defaults in SCHEMA.items():
        for name, default in defaults.items():
            values[section].setdefault(name, default)
    try:
        return _build(values)
    except ConfigError:
        raise
    except SpikegateError as exc:
        raise ConfigError(_config_message(exc)) from None


def _check_backend(values: dict) -> None:
    """Reject keys the chosen backend does not read (before defaults are filled in)."""
    backend = values[""].get("backend", "spiking")
    if backend not in BACKENDS:
        raise ConfigError(f"backend = {backend!r}: unknown; allowed: {', '.join(BACKENDS)}")
    other = _SPIKING_ONLY if backend == "rate" else _RATE_ONLY
    for section, keys in other.items():
        for key in values.get(section, {}):
            if keys is None or key in keys:
                raise ConfigError(f"{section}.{key}: not used by backend {backend!r} "
                                  f"(only by {'spiking' if backend == 'rate' else 'rate'}); remove it")


def _build_rate(values: dict) -> tuple[RateSpec, Restriction, SynapticCaching]:
    net = values["network"]
    if net["layers"] is None:
        raise ConfigError("network.layers: required, e.g. [784, 100, 10]")
    parts = {}
    for section, cls in _RATE_DECLARED.items():
        kwargs = {k: v for k, v in values[section].items() if v is not None}
        if section == "caching" and isinstance(kwargs.get("tau"), str) and kwargs["tau"].strip().lower() in ("inf", "infinity"):
            kwargs["tau"] = float("inf")
        if section == "rate":
            kwargs["layers"] = tuple(net["layers"]) if isinstance(net["layers"], list) else net["layers"]
            kwargs["alpha"] = parse_quantity(net["alpha"], "network.alpha")
        parts[section] = cls(**kwargs)
        resolved = parts[section].to_dict()
        values[section] = {k: v for k, v in resolved.items() if k not in ("layers", "alpha")}
    for section in _SPIKING_ONLY:
        if _SPIKING_ONLY[section] is None:
            values.pop(section, None)
        else:
            for key in _SPIKING_ONLY[section]:
                values[section].pop(key, None)
    return parts["rate"], parts["restrict"], parts["caching"]


def _build(values: dict) -> RunConfig:
    top, data, net, train = values[""], values["data"], values["network"], values["train"]
    top["seed"] = check_number("seed", top["seed"], minimum=0, integer=True)
    if not isinstance(top["name"], str):
        raise ConfigError(f"name = {top['name']!r}: expected a string")
    if data["source"] is None:
        raise ConfigError("data.source: required; allowed: digits, mnist, npz")
    for key in ("n_train", "n_test"):
        if data[key] is not None:
            data[key] = check_number(f"data.{key}", data[key], minimum=1, integer=True)
    train["epochs"] = check_number("train.epochs", train["epochs"], minimum=1, integer=True)
    train["chunk"] = check_number("train.chunk", train["chunk"], minimum=1, integer=True)
    if not isinstance(train["eval_every_epoch"], bool):
        raise ConfigError(f"train.eval_every_epoch = {train['eval_every_epoch']!r}: expected true or false")
    if train["target"] not in TARGETS:
        raise ConfigError(f"train.target = {train['target']!r}: unknown; allowed: {', '.join(TARGETS)}")
    train["eval_every"] = check_number("train.eval_every", train["eval_every"], minimum=0, integer=True)
    train["target_accuracy"] = check_number("train.target_accuracy", train["target_accuracy"], minimum=0,
                                            maximum=1)
    if top["backend"] == "rate":
        spec, restriction, caching = _build_rate(values)
        return RunConfig(values=values, spec=spec, gate=_build_gate(values["gate"]), restriction=restriction,
                         caching=caching)
    for section in _RATE_ONLY:
        values.pop(section, None)
    parts = {}
    for section, cls in _DECLARED.items():
        kwargs = {}
        for name, v in values[section].items():
            if v is not None:
                kwargs[name] = parse_quantity(v, f"{section}.{name}")
        parts[section] = cls(**kwargs)
        values[section] = parts[section].to_dict()  # resolved: every default written out
    if net["layers"] is None:
        raise ConfigError("network.layers: required, e.g. [784, 100, 10]")
    if not isinstance(net["layers"], list) or not all(isinstance(n, int) and not isinstance(n, bool)
                                                      for n in net["layers"]):
        raise ConfigError(f"network.layers = {net['layers']!r}: expected a list of integers, e.g. [784, 100, 10]")
    spec = NetworkSpec(layers=tuple(net["layers"]),
                       dt=parse_quantity(net["dt"], "network.dt"),
                       t_stim=parse_quantity(net["t_stim"], "network.t_stim"),
                       w_scale=parse_quantity(net["w_scale"], "network.w_scale"),
                       init_gain=tuple(net["init_gain"]) if isinstance(net["init_gain"], list)
                       else parse_quantity(net["init_gain"], "network.init_gain"),
                       alpha=parse_quantity(net["alpha"], "network.alpha"), **parts)
    test_spec = spec
    if net["t_test"] is not None:
        try:
            test_spec = spec.replace(t_stim=parse_quantity(net["t_test"], "network.t_test"))
        except SpikegateError as exc:
            raise ConfigError(str(exc).replace("NetworkSpec.t_stim", "network.t_test")) from None
    return RunConfig(values=values, spec=spec, gate=_build_gate(values["gate"]), test_spec=test_spec)


def _build_gate(g: dict) -> Gate:
    if g["name"] not in GATE_NAMES:
        raise ConfigError(f"gate.name = {g['name']!r}: unknown; allowed: {', '.join(GATE_NAMES)}")
    tau_mem = g["tau_mem"]
    if isinstance(tau_mem, str) and tau_mem.strip().lower() in ("inf", "infinity"):
        tau_mem = float("inf")
    try:
        gate = make_gate(g["name"], tau_mem=tau_mem, theta_mem=g["theta_mem"], kappa=g["kappa"])
    except ParameterError as exc:
        raise ConfigError(_config_message(exc)) from None
    return gate
