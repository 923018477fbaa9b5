"""Exceptions with one-line messages that name the bad input and what is allowed."""


class SpikegateError(Exception):
    """Base class: every user-facing error of spikegate.

    The command line prints ``str(error)`` as one line and exits with code 2.
    """


class ParameterError(SpikegateError, ValueError):
    """A parameter of a declaration (rule, gate, neuron model, ...) is invalid.

    ``where`` is the name the message starts with (``"LIF.tau_m"``); the configuration
    layer uses it to restate the message in terms of the config key the value came from.
    """

    def __init__(self, message: str, where: str | None = None):
        super().__init__(message)
        self.where = where

    @property
    def field(self) -> str | None:
        """The declaration field named by ``where`` (``"tau_m"`` for ``"LIF.tau_m"``)."""
        if not self.where:
            return None
        return self.where.split(".", 1)[-1].split("[", 1)[0]

    def restated(self, where: str) -> str:
        """The message with its leading ``Class.field`` replaced by ``where`` (a config key)."""
        text = str(self)
        prefix = (self.where or "").split("[", 1)[0]   # "NetworkSpec.layers[2]": keep the "[2]"
        if prefix and text.startswith(prefix):
            return where + text[len(prefix):]
        return text


class ConfigError(SpikegateError, ValueError):
    """A model specification (TOML) or an override is invalid."""


class DataError(SpikegateError, ValueError):
    """A data set or data file is missing, corrupt or malformed."""


class EnergyError(ConfigError):
    """An energy catalogue, technology name or energy option is invalid."""


class EngineError(SpikegateError, RuntimeError):
    """The compiled engine cannot build or run: an unusable cache, a failed compilation, a
    binary that changed under a running process."""
