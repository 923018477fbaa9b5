"""Exceptions with one-line messages that name the bad input and what is allowed."""


class SpikegateError(Exception):
    """Base class: every user-facing error of spikegate.

    The command line prints ``str(error)`` as one line and exits with code 2.
    """


class ParameterError(SpikegateError, ValueError):
    """A parameter of a declaration (rule, gate, neuron model, ...) is invalid."""


class ConfigError(SpikegateError, ValueError):
    """A model specification (TOML) or an override is invalid."""


class DataError(SpikegateError, ValueError):
    """A data set or data file is missing, corrupt or malformed."""
