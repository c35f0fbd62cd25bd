"""Spleeter's ``AudioAdapter``: the interface a script implements to load and save audio its own
way, and the registry of adapters by dotted class name (``-a/--adapter``).

The default adapter is :class:`~spleeter_paddle.audio.ffmpeg.FFMPEGProcessAudioAdapter`, as in
Spleeter. ``Separator`` and the CLI read and write with this library's own streaming reader and
tagged writer when given that default; any other adapter loads and saves through its methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from importlib import import_module
from pathlib import Path
from typing import Any, Optional, Tuple, Union

import numpy as np

from ..errors import ConfigurationError

DEFAULT_ADAPTER = "spleeter_paddle.audio.ffmpeg.FFMPEGProcessAudioAdapter"
# Spleeter's own package name in scripts and -a values means this package.
_SPLEETER_PREFIX = "spleeter."


class AudioAdapter(ABC):
    """Loads and saves audio (Spleeter's abstract ``spleeter.audio.adapter.AudioAdapter``)."""

    _DEFAULT: Optional[AudioAdapter] = None  # the default instance, made on first use

    @abstractmethod
    def load(
        self,
        audio_descriptor: Any,
        offset: Optional[float] = None,
        duration: Optional[float] = None,
        sample_rate: Optional[float] = None,
        dtype: Any = np.float32,
    ) -> Tuple[np.ndarray, int]:
        """``(waveform (n_samples, n_channels) dtype, sample_rate)`` of ``audio_descriptor``
        (a file path for file adapters), from ``offset`` s for ``duration`` s, at
        ``sample_rate`` (None: the file's)."""

    @abstractmethod
    def save(
        self,
        path: Union[Path, str],
        data: np.ndarray,
        sample_rate: float,
        codec: Optional[str] = None,
        bitrate: Optional[str] = None,
    ) -> None:
        """Write ``data`` ``(n_samples, n_channels)`` to ``path`` with ``codec`` (None: from
        the extension) at ``bitrate`` (lossy codecs)."""

    @classmethod
    def default(cls) -> AudioAdapter:
        """The default adapter (one instance, made on first use)."""
        if AudioAdapter._DEFAULT is None:
            from .ffmpeg import FFMPEGProcessAudioAdapter

            AudioAdapter._DEFAULT = FFMPEGProcessAudioAdapter()
        return AudioAdapter._DEFAULT

    @classmethod
    def get(cls, descriptor: Optional[str]) -> AudioAdapter:
        """An instance of the adapter class named ``package.module.Class`` (empty: the
        default). ``spleeter.<...>`` names this package's classes. ConfigurationError when the
        name does not lead to an :class:`AudioAdapter` subclass that can be made."""
        return make_adapter(descriptor) or cls.default()


def _our_name(descriptor: str) -> str:
    if descriptor.startswith(_SPLEETER_PREFIX):
        return "spleeter_paddle." + descriptor[len(_SPLEETER_PREFIX) :]
    return descriptor


def is_default_adapter_name(descriptor: Optional[str]) -> bool:
    """True for the default adapter's names (also Spleeter's, and empty), without importing."""
    return not descriptor or (
        isinstance(descriptor, str) and _our_name(descriptor) == DEFAULT_ADAPTER
    )


def make_adapter(descriptor: Optional[str]) -> Optional[AudioAdapter]:
    """An instance of the class ``descriptor`` names, None for the default adapter (whose work
    this library's reader and writer do); a class that cannot be made is a ConfigurationError."""
    adapter_class = adapter_class_named(descriptor)
    if adapter_class is None:
        return None
    try:
        return adapter_class()
    except Exception as error:  # a user's class: abstract, needs arguments, or raises
        raise ConfigurationError(
            f"adapter {descriptor}: cannot be made ({type(error).__name__}: {error})"
        ) from None


def adapter_class_named(descriptor: Optional[str]) -> Optional[type]:
    """The class ``descriptor`` names (None for the default adapter), checked before anything
    loads: an unknown module or class is a ConfigurationError (a usage error)."""
    if descriptor is None or descriptor == "":
        return None
    if not isinstance(descriptor, str):
        raise ConfigurationError(
            f"adapter must be a 'package.module.Class' name, got {descriptor!r}"
        )
    descriptor = _our_name(descriptor)
    module_name, _, class_name = descriptor.rpartition(".")
    if not module_name or not class_name:
        raise ConfigurationError(
            f"adapter {descriptor!r} is not a 'package.module.Class' name (default: "
            f"{DEFAULT_ADAPTER})"
        )
    try:
        adapter_class = getattr(import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ConfigurationError(f"adapter {descriptor!r} cannot be imported ({error})") from None
    if not (isinstance(adapter_class, type) and issubclass(adapter_class, AudioAdapter)):
        raise ConfigurationError(f"{class_name} is not a valid AudioAdapter class")
    if descriptor == DEFAULT_ADAPTER:
        return None
    return adapter_class


def custom_adapter(adapter: Any) -> Optional[AudioAdapter]:
    """``adapter`` when it reads and writes its own way, None for the default adapter (whose
    work this library's streaming reader and tagged writer do), ValueError for anything else."""
    if adapter is None:
        return None
    from .ffmpeg import FFMPEGProcessAudioAdapter

    if type(adapter) is FFMPEGProcessAudioAdapter:
        return None
    if not isinstance(adapter, AudioAdapter):
        raise ValueError(f"audio_adapter must be an AudioAdapter instance, got {adapter!r}")
    return adapter
