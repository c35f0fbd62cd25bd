"""The project's error hierarchy: every user-facing failure is one of these, with one clear line."""


class SpleeterError(Exception):
    """Base class; the CLI prints ``str(error)`` on one line and exits with ``exit_code``."""

    exit_code = 1


class ConfigurationError(SpleeterError):
    """A configuration is missing, unreadable or invalid (the message names the key)."""

    exit_code = 2


class AudioError(SpleeterError):
    """An input file cannot be read or an output cannot be written (the message names the file)."""

    exit_code = 3


class ModelError(SpleeterError):
    """Weights are missing, corrupt, or cannot be fetched (the message says what was tried)."""

    exit_code = 4


class CheckpointError(ModelError):
    """A TensorFlow checkpoint bundle is malformed or fails its CRC check."""


class DataError(SpleeterError):
    """A dataset, manifest or cache is missing or inconsistent (the message names the song/file)."""

    exit_code = 5
