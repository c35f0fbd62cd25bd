"""Spleeter-compatible JSON configuration: a plain ``dict`` with Spleeter's keys, loaded from a
``spleeter:<name>`` preset or a JSON file, and validated."""

from __future__ import annotations

import json
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from . import options
from .errors import ConfigurationError
from .vocab import PRESET_PREFIX, PRESETS  # noqa: F401 (PRESETS: read from here too)

MODEL_TYPES = ("unet.unet", "unet.softmax_unet", "blstm.blstm")
MASK_EXTENSIONS = ("zeros", "average")

LOSS_TYPES = ("L1_mask",)  # the loss the trainer implements (Spleeter's default)

# Every key of Spleeter's configuration reference (plus ``chunk_duration`` and ``loss_type``):
# its JSON type, the check of :mod:`.options` its flag uses (None: the type is enough), and the
# default Spleeter reads when the file lacks it (_REQUIRED: none, the key must be given).
_REQUIRED = object()
_KEYS = {
    "instrument_list": ("list", None, _REQUIRED),
    "mix_name": ("text", None, _REQUIRED),
    "model_dir": ("text", None, _REQUIRED),
    "sample_rate": ("whole", options.sample_rate_hz, _REQUIRED),
    "frame_length": ("whole", options.frame_length, _REQUIRED),
    "frame_step": ("whole", options.whole_number, _REQUIRED),
    "T": ("whole", options.segment_frames, _REQUIRED),
    "F": ("whole", options.whole_number, _REQUIRED),
    # 1 (mono: a song's first channel, as the spectrogram cache trains on) or 2; separation
    # takes and returns stereo either way, so more channels would have nothing to mean.
    "n_channels": ("whole", lambda value: options.whole_number(value, 1, 2), _REQUIRED),
    "separation_exponent": ("number", options.positive_number, _REQUIRED),
    "mask_extension": ("text", None, _REQUIRED),
    "model": ("object", None, _REQUIRED),
    "n_chunks_per_song": ("whole", options.chunks_per_song, 2),
    "chunk_duration": ("number", options.chunk_seconds, 20.0),
    "random_seed": ("whole", options.random_seed, 0),
    "batch_size": ("whole", options.training_batch, 8),
    "learning_rate": ("number", options.positive_number, 1e-4),
    "loss_type": ("text", None, "L1_mask"),
    "save_checkpoints_steps": ("whole", options.whole_number, 150),
    "save_summary_steps": ("whole", options.whole_number, 5),
    "train_max_steps": ("whole", options.whole_number, 1_000_000),
    "MWF": ("bool", None, None),  # the default of the Wiener filter (an explicit MWF/--mwf wins)
    "train_csv": ("text", None, None),
    "validation_csv": ("text", None, None),
    "training_cache": ("text", None, None),
    "validation_cache": ("text", None, None),
    "throttle_secs": ("number", options.offset_seconds, None),
}
_REQUIRED_KEYS = tuple(key for key, (_, _, default) in _KEYS.items() if default is _REQUIRED)
# Each JSON type: its name in messages, and whether a value has it (None: any value).
_KINDS = {
    "whole": ("a whole number", lambda value: isinstance(value, int)),
    "number": ("a number", lambda value: isinstance(value, (int, float))),
    "text": ("a non-empty string", lambda value: isinstance(value, str) and value != ""),
    "bool": ("true or false", lambda value: isinstance(value, bool)),
    "list": ("a list", lambda value: isinstance(value, list)),
    "object": ("an object", lambda value: isinstance(value, dict)),
    None: ("", lambda value: True),
}

Params = Dict[str, Any]


# Config fields that change a Separator's output (training-only fields, model_dir and the
# segment length T do not).
OUTPUT_FIELDS = tuple(key for key in _REQUIRED_KEYS if key not in ("model_dir", "T"))


def output_config(params: Params) -> Dict[str, Any]:
    """The fields of ``params`` that change a separator's output (part of every key of stored
    results: evaluation scores, finished stems)."""
    return {name: params[name] for name in OUTPUT_FIELDS if name in params}


def load_configuration(
    descriptor: Union[str, Path, Params], source: Optional[str] = None
) -> Params:
    """A new, validated dict from ``spleeter:<name>``, a JSON path or a dict, with Spleeter's
    defaults filled in; ``source`` names it in error messages (default: the path or preset)."""
    if isinstance(descriptor, dict):
        params = json.loads(json.dumps(descriptor))
        source = source or "the configuration dict"
    else:
        params = _read_descriptor(str(descriptor))
        source = source or str(descriptor)
    for key, (_, _, default) in _KEYS.items():
        if default is not _REQUIRED and default is not None:
            params.setdefault(key, default)
    model = params.setdefault("model", {})
    if isinstance(model, dict):  # anything else is refused by the validation
        model.setdefault("type", "unet.unet")
        model.setdefault("params", {})
    validate_configuration(params, source)
    return params


def _read_descriptor(descriptor: str) -> Params:
    if descriptor.startswith(PRESET_PREFIX):
        try:
            name = options.configuration_name(descriptor)[len(PRESET_PREFIX) :]
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        text = resources.files("spleeter_paddle.resources").joinpath(f"{name}.json").read_text()
        return json.loads(text)
    path = Path(descriptor)
    if not path.is_file():
        raise ConfigurationError(
            f"{descriptor}: configuration file not found (use spleeter:2stems or a JSON path)"
        )
    try:
        params = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigurationError(
            f"{descriptor}: not a readable JSON configuration ({error})"
        ) from None
    if not isinstance(params, dict):
        raise ConfigurationError(f"{descriptor}: a configuration must be a JSON object")
    return params


def validate_configuration(params: Params, source: str = "<config>") -> None:
    """Raise :class:`ConfigurationError` naming ``source`` and the first bad key of ``params``
    (type, range, with the checks the flags use; required keys present)."""
    for key in _REQUIRED_KEYS:
        if key not in params:
            raise ConfigurationError(f"{source}: missing required key '{key}'")
    for key, (kind, check, _) in _KEYS.items():
        if key in params:
            _check_value(source, key, params[key], kind, check)
    _check_instruments(params["instrument_list"], params["mix_name"], source)
    n_bins = params["frame_length"] // 2 + 1
    if params["F"] > n_bins:
        raise ConfigurationError(
            f"{source}: key 'F' = {params['F']} exceeds frame_length/2+1 = {n_bins}"
        )
    if params["frame_step"] > params["frame_length"]:
        raise ConfigurationError(
            f"{source}: key 'frame_step' = {params['frame_step']} exceeds frame_length = "
            f"{params['frame_length']} (samples between frames would be lost)"
        )
    _check_model(params, source)
    if params["mask_extension"] not in MASK_EXTENSIONS:
        raise ConfigurationError(
            f"{source}: key 'mask_extension' = {params['mask_extension']!r} is unknown; "
            "use 'zeros' or 'average'"
        )
    if params.get("loss_type", LOSS_TYPES[0]) not in LOSS_TYPES:
        raise ConfigurationError(
            f"{source}: key 'loss_type' = {params['loss_type']!r} is not implemented; "
            f"use {' or '.join(repr(name) for name in LOSS_TYPES)}"
        )


def _check_value(source: str, key: str, value: Any, kind: str, check: Any) -> None:
    """Refuse ``value`` unless it has the JSON type ``kind`` and passes ``check`` (the value is
    kept as written: ``2`` stays ``2`` in every record made from the configuration)."""
    name, allowed = _KINDS[kind]
    if (isinstance(value, bool) and kind not in ("bool", None)) or not allowed(value):
        raise ConfigurationError(f"{source}: key '{key}' must be {name}, got {json.dumps(value)}")
    if check is None:
        return
    try:
        check(value)
    except ValueError as error:
        raise ConfigurationError(f"{source}: key '{key}' {error}") from None


def instrument_names_problem(names: Sequence[Any]) -> Optional[str]:
    """Why ``names`` cannot name stems (``<instrument>.wav`` files), or None: each a non-empty
    str, once, usable as a file name."""
    if not names or not all(isinstance(name, str) and name for name in names):
        return "must be a non-empty list of names (non-empty str)"
    if len(set(names)) != len(names):
        return "has duplicate names"
    for name in names:
        if name in (".", "..") or any(char in name for char in "/\\\0"):
            return f"has {name!r}, not usable as a file name"
    return None


def _check_instruments(instruments: List[Any], mix_name: str, source: str) -> None:
    """Names, each once, usable as a file name (stems are ``<instrument>.wav``) and not the mix."""
    problem = instrument_names_problem(instruments)
    if problem:
        raise ConfigurationError(f"{source}: key 'instrument_list' {problem}")
    if len(instruments) > options.MAX_INSTRUMENTS:
        raise ConfigurationError(
            f"{source}: key 'instrument_list' has {len(instruments)} names; at most "
            f"{options.MAX_INSTRUMENTS} stems are supported"
        )
    if mix_name in instruments:
        raise ConfigurationError(
            f"{source}: key 'instrument_list' has {mix_name!r}, the mix_name of the mixture"
        )


def _check_model(params: Params, source: str) -> None:
    model_type = params["model"].get("type")
    if model_type not in MODEL_TYPES:
        raise ConfigurationError(
            f"{source}: key 'model.type' = {model_type!r} is unknown; use one of {', '.join(MODEL_TYPES)}"
        )
    if model_type.startswith("unet."):
        for key in ("T", "F"):
            if params[key] % 64:
                raise ConfigurationError(
                    f"{source}: key '{key}' = {params[key]} must be a multiple of 64 for the U-Net"
                )
    model_params = params["model"].get("params", {})
    if not isinstance(model_params, dict):
        raise ConfigurationError(f"{source}: key 'model.params' must be an object")
    known = _MODEL_PARAMS[model_type]
    for key, value in model_params.items():
        if key not in known:
            raise ConfigurationError(
                f"{source}: key 'model.params.{key}' is not a parameter of {model_type} (it "
                f"would be ignored); use {', '.join(known)}"
            )
        _check_value(source, f"model.params.{key}", value, *known[key])


def _filters(value: Any) -> None:
    """``conv_n_filters``: the 6 encoder widths of the U-Net (T and F are multiples of 2**6)."""
    if not (isinstance(value, list) and len(value) == 6) or any(
        isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in value
    ):
        raise ValueError(f"must be a list of 6 positive whole numbers, got {json.dumps(value)}")


# The ``model.params`` each model type reads, as (JSON type, check): any other key would be ignored.
_UNET_PARAMS = {
    "conv_n_filters": (None, _filters),
    "conv_activation": (None, partial(options.choice, allowed=("LeakyReLU", "ReLU", "ELU"))),
    "deconv_activation": (None, partial(options.choice, allowed=("ReLU", "LeakyReLU", "ELU"))),
}
_MODEL_PARAMS = {
    "unet.unet": _UNET_PARAMS,
    "unet.softmax_unet": _UNET_PARAMS,
    "blstm.blstm": {"lstm_units": ("whole", options.whole_number)},
}
