"""Imports of ``musdb`` and ``museval``: their ``stempeg`` dependency refuses to import unless
``ffmpeg`` and ``ffprobe`` are on PATH, which would otherwise surface as a bare RuntimeError.
"""

from __future__ import annotations

import importlib
from functools import partial
from types import ModuleType

from .errors import SpleeterError

_HOW = (
    "needs ffmpeg and ffprobe on PATH (its stempeg dependency checks at import); install "
    "ffmpeg, e.g. `apt-get install ffmpeg` or `conda install ffmpeg`"
)


def _import(name: str) -> ModuleType:
    """``import <name>``, or a one-line :class:`SpleeterError` saying how to install ffmpeg."""
    try:
        return importlib.import_module(name)
    except RuntimeError as error:
        raise SpleeterError(f"{name} {_HOW} ({error})") from None


import_musdb = partial(_import, "musdb")
import_museval = partial(_import, "museval")
