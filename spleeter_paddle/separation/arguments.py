"""The checks of what ``Separator`` and its methods are given, before anything is loaded or
written: each raises a ValueError or ConfigurationError naming the argument."""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable

import numpy as np

from .. import options
from ..audio import io as audio_io
from ..audio.io import checked_waveform  # noqa: F401 (the separator's check, re-exported)
from ..configuration import Params
from ..errors import ConfigurationError

# Frames per model call when separating: Spleeter's predictor uses the presets' T = 512 whatever
# crop a model was trained with, and the segment length alone changes the output.
SEPARATION_FRAMES = 512


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
