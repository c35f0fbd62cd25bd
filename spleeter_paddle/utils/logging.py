"""Spleeter's ``spleeter.utils.logging``: the package ``logger`` and ``configure_logger``."""

import logging as _logging

from ..logs import configure_logging, logger


def configure_logger(verbose: bool) -> None:
    """Log lines on stderr, debug ones too with ``verbose``."""
    configure_logging(_logging.DEBUG if verbose else _logging.INFO)


__all__ = ["configure_logger", "logger"]
