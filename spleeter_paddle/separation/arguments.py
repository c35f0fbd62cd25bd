"""The checks of what ``Separator`` and its methods are given, before anything is loaded or
written: each raises a ValueError or ConfigurationError naming the argument."""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, Optional, Tuple, Union

import numpy as np
import soundfile as sf

from .. import options
from ..audio import ffmpeg_tools as ffmpeg
from ..audio import io as audio_io
from ..audio.io import checked_waveform  # noqa: F401 (the separator's check, re-exported)
from ..audio.writer import check_bitrate
from ..configuration import Params
from ..errors import ConfigurationError
from ..options import bitrate_text, checked, duration_seconds, offset_seconds
from ..vocab import BIT_DEPTHS, CODECS

# Frames per model call when separating: Spleeter's predictor uses the presets' T = 512 whatever
# crop a model was trained with, and the segment length alone changes the output.
SEPARATION_FRAMES = 512
DEFAULT_FILENAME_FORMAT = "{filename}/{instrument}.{codec}"


def check_segment_frames(params: Params, segment_frames: int) -> int:
    """``segment_frames`` if the configuration's model can take it, else a ConfigurationError."""
    try:
        segment_frames = options.segment_frames(segment_frames)
    except ValueError as error:
        raise ConfigurationError(f"segment_frames {error}") from None
    if params["model"]["type"].startswith("unet.") and segment_frames % 64:
        raise ConfigurationError(
            f"segment_frames must be a multiple of 64 for the U-Net, got {segment_frames}"
        )
    return segment_frames


def check_params_value(params: Any) -> None:
    """``params`` is a preset name, a config path or a config dict (ValueError otherwise)."""
    if not isinstance(params, (str, os.PathLike, dict)) or (isinstance(params, str) and not params):
        raise ValueError(
            f"params must be 'spleeter:<preset>', a JSON config path or a dict, got {params!r}"
        )


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """``value`` if it is one of ``allowed``, else a ConfigurationError naming ``name``."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def check_progress(progress: Any) -> None:
    """``progress``: None or a callable taking the number of samples written."""
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be a callable (n_samples) or None, got {progress!r}")


def checked_path(name: str, value: Any) -> str:
    return options.checked(name, options.path_value, value)


def wiener_switch(MWF: Any, mwf: Any) -> bool:
    """The one Wiener-filter switch from Spleeter's ``MWF`` and our earlier ``mwf`` name."""
    MWF = options.checked("MWF", options.strict_bool, MWF)
    if mwf is None:
        return MWF
    mwf = options.checked("mwf", options.strict_bool, mwf)
    if MWF and not mwf:
        raise ValueError("MWF=True and mwf=False contradict each other; give one of them")
    return mwf or MWF


def stereo_stems(stems: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """A mono model's ``(k, 1)`` estimates -> ``(k, 2)``; stereo ones are returned as they are."""
    return {name: audio_io.to_stereo(block) for name, block in stems.items()}


def check_file_options(
    codec: str,
    bitrate: Union[str, int],
    subtype: str,
    offset: Any,
    duration: Any,
    sample_rate: Optional[int] = None,
    seconds_names: Tuple[str, str] = ("offset", "duration"),
) -> Tuple[str, str, str, float, Optional[float]]:
    """What writing stems takes, checked and converted (ConfigurationError, exit 2; AudioError
    when the codec needs a missing ffmpeg): ``(codec, bitrate, subtype, offset, duration)``.
    With ``sample_rate``, a bitrate the codec cannot write at that rate is refused too;
    ``seconds_names`` name the offset and duration in messages."""
    for name, value, allowed in (("codec", codec, CODECS), ("subtype", subtype, BIT_DEPTHS)):
        if not isinstance(value, str) or value not in allowed:
            raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    try:
        offset = checked(seconds_names[0], offset_seconds, offset)
        if duration is not None:
            duration = checked(seconds_names[1], duration_seconds, duration)
        bitrate = checked("bitrate", bitrate_text, bitrate)
        if sample_rate is not None:
            check_bitrate(codec, bitrate, sample_rate)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    if subtype == "FLOAT" and codec != "wav":
        raise ConfigurationError(
            f"--bit-depth FLOAT is only for wav; {codec} takes PCM_16 or PCM_24"
        )
    needs_ffmpeg = codec in ffmpeg.ENCODERS and not _native_codec(codec)
    if needs_ffmpeg and not ffmpeg.can_encode():
        raise ffmpeg.missing_error(codec, f"writing {codec}")
    return codec, bitrate, subtype, offset, duration


def _native_codec(codec: str) -> bool:
    file_format = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3"}.get(codec)
    return file_format is not None and file_format in sf.available_formats()
