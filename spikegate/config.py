"""Model specifications (TOML) and dotted overrides, resolved into declarations.

A model file has a top level (``name``, ``seed``, ``backend``) and one section per
declaration; a section's keys are its declaration's fields::

    [data]     DataSpec          [train]    TrainingSpec       [gate]   name + the gate's fields
    [reserve]  MetabolicReserve  and the sections of the backend (Backend.sections):
    spiking:   [network] NetworkSpec (its own fields), [neuron] LIF, [input] PoissonInput,
               [rule] ThreeFactorRule, [ern] ERNSignal
    rate:      [network] layers, alpha and [rate] the rest of RateSpec, [restrict] Restriction,
               [caching] SynapticCaching

Every key is optional except ``network.layers``. Quantities are strings with units
(``dt = "0.5 ms"``). A section is built as ``Declaration(**section)``. Unknown keys, keys the
chosen backend or gate does not read, values of the wrong type or unit and out-of-range
values raise :class:`~spikegate.errors.ConfigError` naming the dotted key and what is allowed.
A renamed key (``gate.kappa``, ``rate.lr``, ...) is read under its new name with a one-line
:class:`SpikegateDeprecationWarning`.

A :class:`RunConfig` holds the declarations only; its TOML text (every default written out)
and its hash are derived from them (:meth:`RunConfig.to_toml`, :attr:`RunConfig.hash`).
"""
from __future__ import annotations

import copy
import hashlib
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path

from .backends import BACKENDS, Backend, get_backend
from .errors import ConfigError, ParameterError
from .files import read_toml
from .model import GATES, DataSpec, Gate, MetabolicReserve, TrainingSpec, make_gate
from .model.code import IDENTIFIER
from .model.gates import GATE_NAME
from .units import check_number

TOP_LEVEL = {"name": "model", "seed": 0, "backend": "spiking"}
#: Sections every backend reads (before its own).
SHARED = ("data", "gate", "reserve", "train")


def _schema() -> dict:
    """Allowed keys per section, for every backend together (a key no backend reads is unknown)."""
    schema = {"": tuple(TOP_LEVEL), "data": DataSpec.field_names()}
    for name in BACKENDS:
        backend = get_backend(name)
        for section in backend.sections:
            schema[section] = tuple(dict.fromkeys(schema.get(section, ()) + backend.section_keys(section)))
    gate_keys = ("name",) + tuple(dict.fromkeys(k for cls in GATES.values() for k in cls.reads() + tuple(cls.renamed)))
    return {**schema, "gate": gate_keys, "train": TrainingSpec.field_names(), "reserve": MetabolicReserve.field_names()}


SCHEMA = _schema()
DEFAULT_GATE = "lazy"
#: Table-valued keys whose entries an override can set one by one (``neuron.parameters.tau_w=...``).
TABLE_KEYS = (("neuron", "parameters"), ("neuron", "initial"))
HASH_CHARS = 16


class SpikegateDeprecationWarning(UserWarning):
    """A renamed key or name was used; the message names the new one (one line)."""


@dataclass(frozen=True, eq=False)
class RunConfig:
    """A resolved model specification: its declarations (the one copy of the truth)."""

    name: str
    seed: int
    backend: Backend
    spec: object            # NetworkSpec or RateSpec
    gate: Gate
    data: DataSpec
    training: TrainingSpec
    reserve: MetabolicReserve
    restriction: object = None   # rate backend only
    caching: object = None       # rate backend only

    @property
    def test_spec(self):
        """The network of test presentations (spiking: window ``network.t_test``, else ``t_stim``)."""
        return getattr(self.spec, "test_network", lambda: None)()

    def sections(self) -> dict:
        """Every section's resolved values (every default written out), in the order of a model file."""
        parts = {"spec": self.spec, "restriction": self.restriction, "caching": self.caching}
        own = self.backend.to_sections(parts)
        out = {"": {"name": self.name, "seed": self.seed, "backend": self.backend.name},
               "data": self.data.to_dict()}
        out.update({s: own[s] for s in own if s in ("network", "neuron", "input", "rule", "ern")})
        out["gate"] = {"name": GATE_NAME[type(self.gate)], **self.gate.to_dict()}
        out["train"] = self.training.to_dict(TrainingSpec.backend_fields(self.backend.name))
        out.update({s: own[s] for s in own if s not in out})
        if self.reserve != MetabolicReserve():
            out["reserve"] = self.reserve.to_dict()   # no budget: written nowhere (configs and hashes unchanged)
        return out

    def section(self, name) -> dict:
        return self.sections()[name]

    @property
    def values(self) -> dict:
        """The resolved values, section by section (see :meth:`sections`)."""
        return self.sections()

    def to_toml(self) -> str:
        import tomli_w

        top, sections = {}, self.sections()
        top.update({k: v for k, v in sections.pop("").items() if v is not None})
        for section, entries in sections.items():
            top[section] = {k: v for k, v in entries.items() if v is not None}
        return tomli_w.dumps(top)

    @property
    def hash(self) -> str:
        """SHA-256 of :meth:`to_toml` (its first 16 hex digits): the identity of a scan point."""
        return config_hash(self.to_toml())


def config_hash(config_toml: str) -> str:
    """The identity of a resolved config: SHA-256 of its TOML text (first 16 hex digits)."""
    return hashlib.sha256(config_toml.encode()).hexdigest()[:HASH_CHARS]


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


#: Keys a user may try to continue a run with: the error names --init-from.
CONTINUE_KEYS = ("initial_weights", "init_from", "init", "checkpoint", "resume")


def _check_key(section: str, name: str) -> None:
    if section not in SCHEMA:
        raise ConfigError(f"unknown config section [{section}]; allowed: {', '.join(s for s in SCHEMA if s)}")
    if name not in SCHEMA[section]:
        where = f"{section}.{name}" if section else name
        if name in CONTINUE_KEYS:     # what a user continuing a run reaches for first
            raise ConfigError(f"unknown config key {where!r}: a run is continued with spikegate train MODEL "
                              "--init-from RUN_DIR (its checkpoint.npz), not a config key")
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
    if file_gate:
        file_gate = _renamed("gate", file_gate, _gate_class(file_gate).renamed)
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


def _renamed(section: str, entries: dict, renamed: dict) -> dict:
    """``entries`` with old keys under their new names, each with a one-line deprecation warning."""
    out = {}
    for key, value in entries.items():
        if key in renamed:
            new = renamed[key]
            warnings.warn(f"{section}.{key} is renamed {section}.{new}; read as {section}.{new}",
                          SpikegateDeprecationWarning, stacklevel=2)
            if new in entries:
                raise ConfigError(f"{section}.{key} and {section}.{new} are one key (renamed); give {new} only")
            key = new
        out[key] = value
    return out


def _gate_keys(file_gate: dict, name, overrides: dict, unread: str) -> dict:
    """The [gate] section the final gate reads (see :func:`resolve`)."""
    file_cls = _gate_class(file_gate)
    for k in file_gate:
        if k != "name" and k not in file_cls.reads():
            raise ConfigError(_unread_message(k, file_gate[k], file_cls))
    cls = _gate_class({"name": name})
    overrides = _renamed("gate", overrides, cls.renamed)
    section = {"name": name, **{k: v for k, v in file_gate.items() if k != "name" and k in cls.reads()}}
    for k, v in overrides.items():
        if k in cls.reads():
            section[k] = v
        elif unread != "drop":
            raise ConfigError(_unread_message(k, v, cls))
    return section


def _unread_message(key, value, cls) -> str:
    try:
        make_gate(GATE_NAME[cls], **{key: value})
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
    section = {k: v for k, v in section.items() if v is not None}
    try:
        return cls(**section, **parts)
    except ParameterError as exc:
        where = (exc.where or "").split("[", 1)[0]
        rest = ".".join(where.split(".")[2:])   # "NeuronEquations.parameters.tau_m": an entry of a table
        key = origins.get(".".join(where.split(".")[:2]))
        raise ConfigError(exc.restated(f"{key}.{rest}" if rest else key) if key else str(exc)) from None


def _check_backend(values: dict) -> Backend:
    """The backend; keys the backend does not read are errors (before defaults are filled in)."""
    backend = get_backend(values[""].get("backend", "spiking"))
    mine = set(SHARED) | set(backend.sections) | {""}
    train = TrainingSpec.backend_fields(backend.name)
    for section, entries in values.items():
        for key in entries:
            used = section in mine and (section not in backend.sections or key in backend.section_keys(section)) \
                and (section != "train" or key in train)
            if not used:
                others = [b for b in BACKENDS if b != backend.name]
                raise ConfigError(f"{section}.{key}: not used by backend {backend.name!r} (only by "
                                  f"{', '.join(repr(b) for b in others)}); remove it")
    return backend


def _build(values: dict) -> RunConfig:
    backend = _check_backend(values)
    top = {**TOP_LEVEL, **values[""]}
    seed = _config_number("seed", top["seed"], minimum=0, maximum=2 ** 32 - 1, integer=True)
    if not isinstance(top["name"], str):
        raise ConfigError(f"name = {top['name']!r}: expected a string")
    if "source" not in values["data"]:
        raise ConfigError("data.source: required; allowed: digits, mnist, npz")
    if "layers" not in values["network"]:
        raise ConfigError("network.layers: required, e.g. [784, 100, 10]")
    data = _declare(DataSpec, values["data"], {k: f"data.{k}" for k in DataSpec.field_names()})
    training = _declare(TrainingSpec, values["train"], {k: f"train.{k}" for k in TrainingSpec.field_names()})
    reserve = _declare(MetabolicReserve, values["reserve"], {k: f"reserve.{k}" for k in MetabolicReserve.field_names()})
    gate_cls = _gate_class(values["gate"])
    gate = _declare(gate_cls, {k: v for k, v in values["gate"].items() if k != "name"},
                    {k: f"gate.{k}" for k in gate_cls.reads()})
    sections = {s: values[s] for s in backend.sections}
    if "layers" in sections["network"]:
        sections["network"] = {**sections["network"], "layers": _layers(sections["network"]["layers"])}
    for s, renamed in backend.renamed.items():
        sections[s] = _renamed(s, sections[s], renamed)
    parts = backend.declare(sections, _declare)
    cfg = RunConfig(top["name"], int(seed), backend, parts.pop("spec"), gate, data, training, reserve, **parts)
    backend.validate(cfg)
    return cfg


def _layers(layers) -> tuple:
    """``network.layers`` as a tuple of integers (TOML gives a list)."""
    if not isinstance(layers, (list, tuple)) or not all(isinstance(n, int) and not isinstance(n, bool)
                                                         for n in layers):
        raise ConfigError(f"network.layers = {layers!r}: expected a list of integers, e.g. [784, 100, 10]")
    return tuple(layers)


def _config_number(key, value, **limits):
    try:
        return check_number(key, value, **limits)
    except ParameterError as exc:
        raise ConfigError(str(exc)) from None


__all__ = ["RunConfig", "resolve", "parse_override", "split_key", "read_model_file", "SCHEMA", "BACKENDS",
           "config_hash", "SpikegateDeprecationWarning"]


def parameters_markdown() -> str:
    """Every model-file key with its default, allowed values, backend, whether the compiled engine
    compiles it in, and its meaning: ``docs/parameters.md``, generated from the declarations."""
    from .model import GATES, LIF, ErrorMonitor, NetworkSpec, NeuronEquations, RateSpec, Restriction, SynapticCaching
    from .model.declaration import parameter_table
    from .model.neuron import PoissonInput
    from .model.plasticity import ERNSignal, ThreeFactorRule

    sections = [("data", DataSpec), ("train", TrainingSpec), ("reserve", MetabolicReserve),
                ("network (spiking)", NetworkSpec), ("neuron (LIF, the default)", LIF),
                ("neuron (model = \"equations\")", NeuronEquations), ("input", PoissonInput), ("rule", ThreeFactorRule),
                ("ern", ERNSignal), ("error_monitor", ErrorMonitor), ("network and rate (rate)", RateSpec),
                ("restrict", Restriction),
                ("caching", SynapticCaching)]
    sections += [(f"gate (name = \"{name}\")", cls) for name, cls in GATES.items() if cls.params()]
    out = ["# Model-file parameters", "",
           "Generated from the declarations (`spikegate.model`) by `spikegate.config.parameters_markdown()`;",
           "a test keeps this file in step with them. *compiled*: the compiled engine compiles the value",
           "in (a change builds a new binary); every other value is a run argument.", ""]
    for title, cls in sections:
        key = title.split(" ")[0] if not title.startswith("network and rate") else "rate"
        out += [f"## [{title}]", "", (cls.__doc__ or "").strip().splitlines()[0], "", parameter_table(cls, key), ""]
    return "\n".join(out)
