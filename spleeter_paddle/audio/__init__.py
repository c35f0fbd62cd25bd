"""Audio: file I/O with resampling (``io``) and the project's exact STFT (``spectrogram``)."""

from .io import (
    CODECS,
    SUBTYPES,
    AudioInfo,
    StreamWriter,
    audio_info,
    load,
    resample,
    save,
    stream,
    to_stereo,
)

__all__ = [
    "CODECS",
    "SUBTYPES",
    "AudioInfo",
    "StreamWriter",
    "audio_info",
    "load",
    "resample",
    "save",
    "stream",
    "to_stereo",
]
