"""Spleeter's ``spleeter.utils.configuration``: ``load_configuration("spleeter:2stems")`` or a
JSON path (validated here: a bad key is a ConfigurationError naming it)."""

from ..configuration import load_configuration

__all__ = ["load_configuration"]
