"""Spleeter's ``AudioAdapter``: the interface a script implements to load and save audio its own
way, and the registry of adapters by dotted class name (``-a/--adapter``).

The default adapter is :class:`FFMPEGProcessAudioAdapter` (also
``spleeter_paddle.audio.ffmpeg.FFMPEGProcessAudioAdapter``, Spleeter's path), as in Spleeter.
``Separator`` and the CLI read and write with this library's own streaming reader and tagged
writer when given that default; any other adapter loads and saves through its methods.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from importlib import import_module
from pathlib import Path
from typing import Any, Optional, Tuple, Union

import numpy as np

from .. import options
from ..errors import AudioError, ConfigurationError
from . import ffmpeg_tools, writer
from . import io as audio_io

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
            AudioAdapter._DEFAULT = FFMPEGProcessAudioAdapter()
        return AudioAdapter._DEFAULT

    @classmethod
    def get(cls, descriptor: Optional[str]) -> AudioAdapter:
        """An instance of the adapter class named ``package.module.Class`` (empty: the
        default). ``spleeter.<...>`` names this package's classes. ConfigurationError when the
        name does not lead to an :class:`AudioAdapter` subclass that can be made."""
        return make_adapter(descriptor) or cls.default()


class FFMPEGProcessAudioAdapter(AudioAdapter):
    """Spleeter's default adapter: decodes with an ``ffmpeg`` process (resampling with ffmpeg's
    own resampler, as Spleeter does) and writes with this library's atomic writer.

    Made only where ``ffmpeg`` and ``ffprobe`` are installed (AudioError otherwise).
    """

    SUPPORTED_CODECS = {"m4a": "aac", "ogg": "libvorbis", "wma": "wmav2"}  # Spleeter's table

    def __init__(self) -> None:
        for binary in ("ffmpeg", "ffprobe"):
            if shutil.which(binary) is None:
                raise AudioError(f"{binary} binary not found (apt install ffmpeg)")

    def load(
        self,
        path: Union[str, bytes, os.PathLike],
        offset: Optional[float] = None,
        duration: Optional[float] = None,
        sample_rate: Optional[float] = None,
        dtype: Any = np.float32,
    ) -> Tuple[np.ndarray, int]:
        """``(waveform (n_samples, n_channels) dtype, sample_rate)``: ``duration`` s (None: to
        the end) from ``offset`` s, at ``sample_rate`` (None: the file's), channels as stored."""
        name = os.fsdecode(path) if isinstance(path, (bytes, os.PathLike)) else path
        try:
            name = options.checked("path", options.path_value, name)
            offset, duration = options.seconds_span(0.0 if offset is None else offset, duration)
            if sample_rate is not None:
                sample_rate = options.checked("sample_rate", options.sample_rate_hz, sample_rate)
            dtype = np.dtype(dtype.decode() if isinstance(dtype, bytes) else dtype)
        except (ValueError, TypeError) as error:
            raise ConfigurationError(str(error)) from None
        audio_io.check_input_file(name)
        stream = ffmpeg_tools.probe(name, 0, "not read: ffmpeg adapter")
        rate = stream.sample_rate if sample_rate is None else sample_rate
        start = int(round(offset * rate))
        n_frames = None if duration is None else max(1, int(round(duration * rate)))
        blocks = list(ffmpeg_tools.decode(name, 0, stream.n_channels, rate, start, n_frames))
        if not blocks:
            raise AudioError(f"{name}: no audio samples from {offset:g} s (beyond the end?)")
        waveform = np.concatenate(blocks)
        found = audio_io.unusable_samples(waveform)
        if found is not None:
            raise AudioError(f"{name}: {found[1]} (first at sample {start + found[0]})")
        return waveform.astype(dtype, copy=False), rate

    def save(
        self,
        path: Union[str, os.PathLike],
        data: np.ndarray,
        sample_rate: float,
        codec: Optional[str] = None,
        bitrate: Optional[str] = None,
    ) -> None:
        """Write ``data`` ``(n_samples, n_channels)`` to ``path`` (its folder must exist):
        ``codec`` None takes the extension's; ``bitrate`` None is 128k."""
        name = os.fspath(path)
        directory = os.path.dirname(name) or "."
        if not os.path.isdir(directory):
            raise AudioError(f"output directory does not exist: {directory}")
        try:
            data = audio_io.checked_waveform(data)
            sample_rate = options.checked("sample_rate", options.sample_rate_hz, sample_rate)
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        writer.save(name, data, sample_rate, getattr(codec, "value", codec), bitrate or "128k")


def _our_name(descriptor: str) -> str:
    if descriptor.startswith(_SPLEETER_PREFIX):
        return "spleeter_paddle." + descriptor[len(_SPLEETER_PREFIX) :]
    return descriptor


def is_default_adapter_name(descriptor: Optional[str]) -> bool:
    """True for the default adapter's names (also Spleeter's, None and empty), without importing."""
    return descriptor is None or (
        isinstance(descriptor, str) and _our_name(descriptor) in ("", DEFAULT_ADAPTER)
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
    if is_default_adapter_name(descriptor):
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
    return adapter_class


def custom_adapter(adapter: Any) -> Optional[AudioAdapter]:
    """``adapter`` when it reads and writes its own way, None for the default adapter (whose
    work this library's streaming reader and tagged writer do), ValueError for anything else."""
    if adapter is None or type(adapter) is FFMPEGProcessAudioAdapter:
        return None
    if not isinstance(adapter, AudioAdapter):
        raise ValueError(f"audio_adapter must be an AudioAdapter instance, got {adapter!r}")
    return adapter
