"""Audio: reading with resampling (``io``), writing (``writer``), the project's exact STFT
(``spectrogram``), and Spleeter's names: ``Codec``, ``STFTBackend``, ``adapter.AudioAdapter`` and
``ffmpeg.FFMPEGProcessAudioAdapter``."""

from enum import Enum

from ..vocab import CODECS, STFT_BACKENDS
from .io import AudioInfo, audio_info, load, resample, stream, to_stereo
from .writer import SUBTYPES, StreamWriter, save

try:
    from enum import StrEnum
except ImportError:  # Python < 3.11

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str(self.value)

        def __format__(self, spec: str) -> str:
            return format(str(self.value), spec)


# Spleeter's enums: the members compare and format as their words (Codec.MP3 == "mp3").
Codec = StrEnum("Codec", {word.upper(): word for word in CODECS}, module=__name__)
STFTBackend = StrEnum(
    "STFTBackend", {word.upper(): word for word in STFT_BACKENDS}, module=__name__
)

__all__ = [
    "CODECS",
    "SUBTYPES",
    "AudioInfo",
    "Codec",
    "STFTBackend",
    "StreamWriter",
    "audio_info",
    "load",
    "resample",
    "save",
    "stream",
    "to_stereo",
]
