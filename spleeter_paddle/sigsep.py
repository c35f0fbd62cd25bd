"""Imports of ``musdb`` and ``museval``: their ``stempeg`` dependency refuses to import unless
``ffmpeg`` and ``ffprobe`` are on PATH, which would otherwise surface as a bare RuntimeError.
"""

from __future__ import annotations

from types import ModuleType

from .errors import SpleeterError

_HOW = (
    "needs ffmpeg and ffprobe on PATH (its stempeg dependency checks at import); install "
    "ffmpeg, e.g. `apt-get install ffmpeg` or `conda install ffmpeg`"
)


def import_musdb() -> ModuleType:
    """``import musdb``, or a one-line :class:`SpleeterError` saying how to install ffmpeg."""
    try:
        import musdb
    except RuntimeError as error:
        raise SpleeterError(f"musdb {_HOW} ({error})") from None
    return musdb


def import_museval() -> ModuleType:
    """``import museval``, or a one-line :class:`SpleeterError` saying how to install ffmpeg."""
    try:
        import museval
    except RuntimeError as error:
        raise SpleeterError(f"museval {_HOW} ({error})") from None
    return museval
