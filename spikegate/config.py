"""Model specifications (TOML) and dotted overrides, resolved into declarations.

A model file has a top level (``name``, ``seed``, ``backend``) and one section per
declaration; a section's keys are its declaration's fields::

    [data]     DataSpec          [train]    TrainingSpec       [gate]   name + the gate's fields
    spiking:   [network] NetworkSpec (its own fields), [neuron] LIF, [input] PoissonInput,
               [rule] ThreeFactorRule, [ern] ERNSignal
    rate:      [network] layers, alpha and [rate] the rest of RateSpec, [restrict] Restriction,
               [caching] SynapticCaching

Every key is optional except ``network.layers``. Quantities are strings with units
(``dt = "0.5 ms"``). A section is built as ``Declaration(**section)``; its resolved values
(every default written out) are the declaration's ``to_dict()``. Unknown keys, keys the
chosen backend or gate does not read, values of the wrong type or unit and out-of-range
values raise :class:`~spikegate.errors.ConfigError` naming the dotted key and what is allowed.
"""
from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, ParameterError
from .files import read_toml
from .model import (GATES, LIF, NEURON_MODELS, DataSpec, MetabolicReserve, ERNSignal, Gate, NetworkSpec, PoissonInput, RateSpec, Restriction,
                    SynapticCaching, ThreeFactorRule, TrainingSpec, make_gate)
from .model.code import IDENTIFIER
from .model.gates import GATE_NAME
from .units import check_number

BACKENDS = ("spiking", "rate")
TOP_LEVEL = {"name": "model", "seed": 0, "backend": "spiking"}
#: Declarations of the spiking network's sub-sections (fields of NetworkSpec).
SPIKING_PARTS = {"neuron": LIF, "input": PoissonInput, "rule": ThreeFactorRule, "ern": ERNSignal}
#: Keys of [network] per backend: NetworkSpec's own fields, or RateSpec's shared ones.
NETWORK_KEYS = {"spiking": tuple(k for k in NetworkSpec.field_names() if k not in SPIKING_PARTS),
                "rate": ("layers", "alpha")}
RATE_KEYS = tuple(k for k in RateSpec.field_names() if k not in NETWORK_KEYS["rate"])
#: What only one backend reads: setting it for the other is an error, not silently ignored.
TRAIN_SPIKING_ONLY = ("target", "chunk", "device", "max_steps")
#: Allowed keys per section (for both backends together).
SCHEMA = {
    "": tuple(TOP_LEVEL),
    "data": DataSpec.field_names(),
    "network": tuple(dict.fromkeys(NETWORK_KEYS["spiking"] + NETWORK_KEYS["rate"])),
    **{section: cls.field_names() for section, cls in SPIKING_PARTS.items()},
    "neuron": ("model",) + tuple(dict.fromkeys(k for cls in NEURON_MODELS.values() for k in cls.field_names())),
    "gate": ("name",) + tuple(dict.fromkeys(k for cls in GATES.values() for k in cls.reads())),
    "train": TrainingSpec.field_names(),
    "rate": RATE_KEYS,
    "restrict": Restriction.field_names(),
    "caching": SynapticCaching.field_names(),
    "reserve": MetabolicReserve.field_names(),
}
SECTIONS = {"spiking": ("", "data", "network", *SPIKING_PARTS, "gate", "reserve", "train"),
            "rate": ("", "data", "network", "rate", "restrict", "caching", "gate", "reserve", "train")}
DEFAULT_GATE = "lazy"
#: Table-valued keys whose entries an override can set one by one (``neuron.parameters.tau_w=...``).
TABLE_KEYS = (("neuron", "parameters"), ("neuron", "initial"))


@dataclass
class RunConfig:
    """A resolved model specification: the raw values and the declarations built from them."""

    values: dict            # section -> key -> value (TOML-serialisable, defaults filled in)
    spec: NetworkSpec | RateSpec
    gate: Gate
    data: DataSpec
    training: TrainingSpec
    restriction: Restriction | None = None   # rate backend only
    caching: SynapticCaching | None = None   # rate backend only
    reserve: MetabolicReserve = field(default_factory=MetabolicReserve)

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

    @property
    def test_spec(self) -> NetworkSpec | None:
        """Spiking: the network of test presentations (window ``network.t_test``, else ``t_stim``)."""
        return self.spec.test_network() if self.backend == "spiking" else None

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


def split_key(key: str) -> tuple[str, str]:
    """``"rule.eta"`` -> ``("rule", "eta")``, ``"seed"`` -> ``("", "seed")``; unknown keys raise."""
    parts = key.split(".")
    if len(parts) == 3 and (parts[0], parts[1]) in TABLE_KEYS and IDENTIFIER.fullmatch(parts[2]):
        return parts[0], f"{parts[1]}.{parts[2]}"       # one entry of a table: neuron.parameters.tau_w
    if len(parts) > 2:
        raise ConfigError(f"config key {key!r}: expected 'section.key' (sections: "
                          f"{', '.join(s for s in SCHEMA if s)}) or one of "
                          f"{', '.join('.'.join(t) + '.NAME' for t in TABLE_KEYS)}")
    section, name = ("", parts[0]) if len(parts) == 1 else parts
    _check_key(section, name)
    return section, name


def _check_key(section: str, name: str) -> None:
    if section not in SCHEMA:
        raise ConfigError(f"unknown config section [{section}]; allowed: {', '.join(s for s in SCHEMA if s)}")
    if name not in SCHEMA[section]:
        where = f"{section}.{name}" if section else name
        raise ConfigError(f"unknown config key {where!r}; allowed keys in "
                          f"{'[' + section + ']' if section else 'the top level'}: {', '.join(SCHEMA[section])}")


def read_model_file(path) -> dict:
    return read_toml(path, "model file")


def resolve(model, overrides=(), gate: str | None = None, unread_gate_keys: str = "error") -> RunConfig:
    """Resolve a model (path to a TOML file, or a dict) plus ``--set`` overrides and ``--gate``.

    Gate keys of the model file are checked against the model file's own gate; when the
    gate is changed (``gate`` or an override of ``gate.name``), the file's keys that the new
    gate does not read are dropped. A gate key given as an override that the final gate
    does not read is an error, or, with ``unread_gate_keys="drop"`` (scans that cross gates
    with gate parameters, old run directories), dropped.
    """
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
    file_gate = dict(values["gate"])
    override_gate = {}
    for item in overrides:
        key, value = parse_override(item) if isinstance(item, str) else item
        section, name = split_key(key)
        if section == "gate" and name != "name":
            override_gate[name] = value
        elif "." in name:
            table, entry = name.split(".")
            current = values[section].get(table) or {}
            if not isinstance(current, dict):
                raise ConfigError(f"{section}.{table} = {current!r}: expected a table")
            values[section][table] = {**current, entry: value}
        else:
            values[section][name] = value
    if gate is not None:
        values["gate"]["name"] = gate
    if unread_gate_keys == "drop" and file_gate:  # a stored config: trust its own gate
        file_gate = {k: v for k, v in file_gate.items() if k == "name" or k in _gate_class(file_gate).reads()}
    values["gate"] = _gate_keys(file_gate, values["gate"].get("name", file_gate.get("name", DEFAULT_GATE)),
                                override_gate, unread_gate_keys)
    return _build(values)


def _gate_class(section: dict):
    name = section.get("name", DEFAULT_GATE)
    if not isinstance(name, str) or name.strip().lower() not in GATES:
        raise ConfigError(f"gate.name = {name!r}: unknown; allowed: {', '.join(GATES)}")
    return GATES[name.strip().lower()]


def _gate_keys(file_gate: dict, name, overrides: dict, unread: str) -> dict:
    """The [gate] section the final gate reads (see :func:`resolve`)."""
    file_cls = _gate_class(file_gate)
    for k in file_gate:
        if k != "name" and k not in file_cls.reads():
            raise ConfigError(_unread_message(k, file_gate[k], file_cls))
    cls = _gate_class({"name": name})
    section = {"name": name, **{k: v for k, v in file_gate.items() if k != "name" and k in cls.reads()}}
    for k, v in overrides.items():
        if k in cls.reads():
            section[k] = v
        elif unread != "drop":
            raise ConfigError(_unread_message(k, v, cls))
    return section


def _unread_message(key, value, cls) -> str:
    try:
        make_gate(cls.__name__, **{key: value})
    except ParameterError as exc:
        return str(exc)
    raise AssertionError("make_gate accepted a key the gate does not read")  # pragma: no cover


def _declare(cls, section: dict, origin: dict, **parts):
    """``cls(**section, **parts)``, its errors restated in terms of config keys.

    ``origin`` maps the declaration's fields to the keys they came from; errors of the
    parts (``NetworkSpec`` checks its ``ern`` against its timing) name the parts' sections.
    """
    origins = {f"{cls.__name__}.{field}": key for field, key in origin.items()}
    for section_name, part in parts.items():
        origins.update({f"{type(part).__name__}.{f}": f"{section_name}.{f}" for f in part.field_names()})
    try:
        return cls(**section, **parts)
    except ParameterError as exc:
        where = (exc.where or "").split("[", 1)[0]
        rest = ".".join(where.split(".")[2:])   # "NeuronEquations.parameters.tau_m": an entry of a table
        key = origins.get(".".join(where.split(".")[:2]))
        raise ConfigError(exc.restated(f"{key}.{rest}" if rest else key) if key else str(exc)) from None


def _section(values: dict, section: str, cls):
    """Build ``cls`` from ``values[section]`` and write its resolved fields back."""
    given = {k: v for k, v in values[section].items() if v is not None}
    if section == "neuron":
        return _neuron(values, given)
    decl = _declare(cls, given, {k: f"{section}.{k}" for k in SCHEMA[section]})
    values[section] = decl.to_dict()
    return decl


def _neuron(values: dict, given: dict):
    """The [neuron] section: ``model = "LIF"`` (default) or ``"equations"`` (any Brian2 equations)."""
    model = given.pop("model", "LIF")
    names = {k.lower(): k for k in NEURON_MODELS}
    if not isinstance(model, str) or model.strip().lower() not in names:
        raise ConfigError(f"neuron.model = {model!r}: unknown; allowed: {', '.join(NEURON_MODELS)}")
    model = names[model.strip().lower()]
    cls = NEURON_MODELS[model]
    for key in given:
        if key not in cls.field_names():
            raise ConfigError(f"neuron.{key}: not read by neuron model {model!r}; its keys: "
                              f"{', '.join(cls.field_names())}")
    decl = _declare(cls, given, {k: f"neuron.{k}" for k in cls.field_names()})
    if model != "LIF":
        from .backends.brian import check_neuron_model

        try:
            check_neuron_model(decl)
        except ParameterError as exc:
            raise ConfigError(exc.restated("neuron.equations")) from None
    # LIF, the default, is written without `model`: resolved configs (and scan hashes) stay as they were
    values["neuron"] = decl.to_dict() if model == "LIF" else {"model": model, **decl.to_dict()}
    return decl


def _check_backend(values: dict) -> str:
    """The backend; keys the backend does not read are errors (before defaults are filled in)."""
    backend = values[""].get("backend", "spiking")
    if backend not in BACKENDS:
        raise ConfigError(f"backend = {backend!r}: unknown; allowed: {', '.join(BACKENDS)}")
    other = "rate" if backend == "spiking" else "spiking"
    mine = set(SECTIONS[backend])
    for section, entries in values.items():
        for key in entries:
            used = section in mine and (section != "network" or key in NETWORK_KEYS[backend]) and \
                (section != "train" or backend == "spiking" or key not in TRAIN_SPIKING_ONLY)
            if not used:
                raise ConfigError(f"{section}.{key}: not used by backend {backend!r} (only by {other!r}); remove it")
    return backend


def _build(values: dict) -> RunConfig:
    backend = _check_backend(values)
    top = {**TOP_LEVEL, **values[""]}
    top["seed"] = _config_number("seed", top["seed"], minimum=0, maximum=2 ** 32 - 1, integer=True)
    if not isinstance(top["name"], str):
        raise ConfigError(f"name = {top['name']!r}: expected a string")
    values[""] = top
    if "source" not in values["data"]:
        raise ConfigError("data.source: required; allowed: digits, mnist, npz")
    data = _section(values, "data", DataSpec)
    training = _section(values, "train", TrainingSpec)
    reserve = _section(values, "reserve", MetabolicReserve)
    if reserve == MetabolicReserve():
        del values["reserve"]    # no budget: written nowhere, so configs (and scan hashes) stay as they were
    if not reserve.unlimited and backend == "spiking" and training.device == "cpp_standalone":
        raise ConfigError("reserve: a limited reserve needs train.device = \"runtime\" (the compiled engine does "
                          "not carry the reserve from one chunk to the next)")
    gate_cls = _gate_class(values["gate"])
    gate = _declare(gate_cls, {k: v for k, v in values["gate"].items() if k != "name"},
                    {k: f"gate.{k}" for k in gate_cls.reads()})
    values["gate"] = {"name": GATE_NAME[gate_cls], **gate.to_dict()}
    if "layers" not in values["network"]:
        raise ConfigError("network.layers: required, e.g. [784, 100, 10]")
    if backend == "rate":
        for section in SECTIONS["spiking"]:
            if section not in SECTIONS["rate"]:
                values.pop(section, None)
        values["train"] = {k: v for k, v in values["train"].items() if k not in TRAIN_SPIKING_ONLY}
        rate_given = {k: v for k, v in values["rate"].items() if v is not None}
        net_given = {k: v for k, v in values["network"].items() if v is not None}
        origin = {**{k: f"rate.{k}" for k in RATE_KEYS}, **{k: f"network.{k}" for k in NETWORK_KEYS["rate"]}}
        spec = _declare(RateSpec, {**rate_given, **_layers(net_given)}, origin)
        values["network"] = spec.to_dict(NETWORK_KEYS["rate"])
        values["rate"] = spec.to_dict(RATE_KEYS)
        restriction = _section(values, "restrict", Restriction)
        caching = _section(values, "caching", SynapticCaching)
        if not reserve.unlimited and spec.batch_size > 1:
            raise ConfigError(f"reserve: a limited metabolic reserve needs rate.batch_size = 1, got "
                              f"{spec.batch_size} (each write draws on it before the next decision)")
        return RunConfig(values, spec, gate, data, training, restriction, caching, reserve)
    for section in SECTIONS["rate"]:
        if section not in SECTIONS["spiking"]:
            values.pop(section, None)
    parts = {section: _section(values, section, cls) for section, cls in SPIKING_PARTS.items()}
    net_given = _layers({k: v for k, v in values["network"].items() if v is not None})
    spec = _declare(NetworkSpec, net_given, {k: f"network.{k}" for k in NETWORK_KEYS["spiking"]}, **parts)
    values["network"] = spec.to_dict(NETWORK_KEYS["spiking"])
    return RunConfig(values, spec, gate, data, training, reserve=reserve)


def _layers(network: dict) -> dict:
    """``network.layers`` as a tuple of integers (TOML gives a list)."""
    layers = network.get("layers")
    if not isinstance(layers, (list, tuple)) or not all(isinstance(n, int) and not isinstance(n, bool)
                                                         for n in layers):
        raise ConfigError(f"network.layers = {layers!r}: expected a list of integers, e.g. [784, 100, 10]")
    return {**network, "layers": tuple(layers)}


def _config_number(key, value, **limits):
    try:
        return check_number(key, value, **limits)
    except ParameterError as exc:
        raise ConfigError(str(exc)) from None


__all__ = ["RunConfig", "resolve", "parse_override", "split_key", "read_model_file", "SCHEMA", "BACKENDS"]
