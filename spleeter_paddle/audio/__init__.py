"""Audio: reading with resampling (``io``), writing (``writer``), and the project's exact STFT
(``spectrogram``)."""

from .io import AudioInfo, audio_info, load, resample, stream, to_stereo
from .writer import CODECS, SUBTYPES, StreamWriter, save

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
