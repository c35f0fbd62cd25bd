"""The checks of what ``Separator`` and its methods are given, before anything is loaded or
written: each raises a ValueError or ConfigurationError naming the argument."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, Optional

from .. import options
from ..configuration import Params, load_configuration, output_config
from ..errors import ConfigurationError
from ..graph.convert import require
from ..vocab import BACKENDS, DEVICES, STFT_BACKENDS

# Frames per model call when separating: Spleeter's predictor uses the presets' T = 512 whatever
# crop a model was trained with, and the segment length alone changes the output.
SEPARATION_FRAMES = 512


def config_descriptor(params: Any) -> Any:
    """A preset name, a config path or a config dict (ValueError "must be ..." otherwise)."""
    if not isinstance(params, (str, os.PathLike, dict)) or (isinstance(params, str) and not params):
        raise ValueError(
            f"must be 'spleeter:<preset>', a JSON config path or a dict, got {params!r}"
        )
    return params


@dataclass(frozen=True)
class SeparatorSettings:
    """A Separator's model-side options, checked, with its configuration loaded."""

    params: Params
    mwf: bool
    multiprocess: bool
    device: str
    backend: str
    model_dir: Optional[str]
    batch_size: int
    segment_frames: int


def separator_settings(
    params_descriptor: Any = "spleeter:2stems",
    MWF: Any = None,  # noqa: N803 (Spleeter's name)
    multiprocess: Any = True,
    *,
    mwf: Any = None,
    stft_backend: Any = "auto",
    device: Any = "auto",
    model_dir: Any = None,
    backend: Any = "auto",
    batch_size: Any = 1,
    segment_frames: Any = None,
) -> SeparatorSettings:
    """What ``Separator(...)`` is given, checked before anything loads (ConfigurationError
    naming the argument). The Wiener filter is ``MWF``/``mwf`` when given, else the
    configuration's ``MWF`` key (as a Spleeter config says it), else off."""
    try:
        options.checked("params", config_descriptor, params_descriptor)
        wiener = None if MWF is None else options.checked("MWF", options.strict_bool, MWF)
        if mwf is not None:  # our earlier name of the same switch
            mwf = options.checked("mwf", options.strict_bool, mwf)
            if wiener and not mwf:
                raise ValueError("MWF=True and mwf=False contradict each other; give one of them")
            wiener = mwf or bool(wiener)
        multiprocess = options.checked("multiprocess", options.strict_bool, multiprocess)
        if model_dir is not None:
            model_dir = options.checked("model_dir", options.path_value, model_dir)
        for name, value, allowed in (
            ("device", device, DEVICES),
            ("backend", backend, BACKENDS),
            ("stft_backend", getattr(stft_backend, "value", stft_backend), STFT_BACKENDS),
        ):
            options.checked(name, options.choice, value, allowed)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    batch_size = options.checked("batch_size", options.batch_size, batch_size)  # a ValueError
    require(backend)  # before any model loads
    params = load_configuration(params_descriptor)
    segment_frames = options.checked(
        "segment_frames", options.segment_frames,
        SEPARATION_FRAMES if segment_frames is None else segment_frames, error=ConfigurationError,
    )  # fmt: skip
    if params["model"]["type"].startswith("unet.") and segment_frames % 64:
        raise ConfigurationError(
            f"segment_frames must be a multiple of 64 for the U-Net, got {segment_frames}"
        )
    wiener = bool(params.get("MWF", False)) if wiener is None else wiener
    return SeparatorSettings(
        params, wiener, multiprocess, device, backend, model_dir, batch_size, segment_frames
    )


def check_progress(*callbacks: Any) -> None:
    """Each progress callback: None or a callable taking the number of samples written."""
    for progress in callbacks:
        if progress is not None and not callable(progress):
            raise ValueError(f"progress must be a callable (n_samples) or None, got {progress!r}")


def spleeter_setting(settings: SeparatorSettings, weights_sha256: str) -> Dict[str, Any]:
    """What defines the estimates of a ``Separator`` of ``settings`` whose weights have
    ``weights_sha256`` (``weights_digest`` of its state): the key of stored scores
    (``evaluation``). Device, backend and batch size give the same numbers and are left out."""
    return {
        "kind": "spleeter",
        "weights_sha256": weights_sha256,
        "config": output_config(settings.params),
        "mwf": bool(settings.mwf),
        "segment_frames": int(settings.segment_frames),
    }


def stems_setting(
    settings: SeparatorSettings, weights_sha256: str, file_options: Dict[str, Any]
) -> Dict[str, Any]:
    """What defines the stems a separator writes (the key in their tags, ``outputs.made_digest``):
    the weights file's digest, the output config, MWF, the segment length and the file options
    (codec, bitrate, subtype, offset, duration): :func:`spleeter_setting` without its kind."""
    setting = spleeter_setting(settings, weights_sha256)
    del setting["kind"]
    return {**setting, "file": dict(file_options)}
