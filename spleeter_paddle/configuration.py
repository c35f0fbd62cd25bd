"""Spleeter-compatible JSON configuration: ``spleeter:<name>`` presets, JSON files, validation.

A configuration is a plain ``dict`` with Spleeter's keys (see ``resources/2stems.json``); the
functions here load it and check the keys the model and the signal chain depend on.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Dict, Union

from .errors import ConfigurationError
from .vocab import PRESETS

PRESET_PREFIX = "spleeter:"
MODEL_TYPES = ("unet.unet", "unet.softmax_unet", "blstm.blstm")
MASK_EXTENSIONS = ("zeros", "average")

_REQUIRED_KEYS = {
    "instrument_list": list,
    "mix_name": str,
    "model_dir": str,
    "sample_rate": int,
    "frame_length": int,
    "frame_step": int,
    "T": int,
    "F": int,
    "n_channels": int,
    "separation_exponent": (int, float),
    "mask_extension": str,
    "model": dict,
}

# Keys Spleeter reads with a default when absent from the file.
_DEFAULTS = {
    "n_chunks_per_song": 2,
    "chunk_duration": 20.0,
    "random_seed": 0,
    "batch_size": 8,
    "learning_rate": 1e-4,
    "loss_type": "L1_mask",
    "save_checkpoints_steps": 150,
    "save_summary_steps": 5,
    "train_max_steps": 1_000_000,
}

Params = Dict[str, Any]


def load_configuration(descriptor: Union[str, Path, Params]) -> Params:
    """Load ``spleeter:<name>``, a JSON file path, or an already-loaded dict; validate it.

    Returns a new dict with Spleeter's code defaults filled in for optional keys.
    """
    if isinstance(descriptor, dict):
        params = json.loads(json.dumps(descriptor))
        source = "<dict>"
    else:
        source = str(descriptor)
        params = _read_descriptor(source)
    for key, value in _DEFAULTS.items():
        params.setdefault(key, value)
    params.setdefault("model", {}).setdefault("type", "unet.unet")
    params["model"].setdefault("params", {})
    validate_configuration(params, source)
    return params


def _read_descriptor(descriptor: str) -> Params:
    if descriptor.startswith(PRESET_PREFIX):
        name = descriptor[len(PRESET_PREFIX) :]
        if name not in PRESETS:
            raise ConfigurationError(
                f"{descriptor}: unknown preset; choose one of "
                + ", ".join(PRESET_PREFIX + p for p in PRESETS)
            )
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
    """Raise :class:`ConfigurationError` naming the first bad key of ``params``."""
    for key, expected in _REQUIRED_KEYS.items():
        if key not in params:
            raise ConfigurationError(f"{source}: missing required key '{key}'")
        value = params[key]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise ConfigurationError(f"{source}: key '{key}' has invalid value {value!r}")
    instruments = params["instrument_list"]
    if not instruments or not all(isinstance(name, str) and name for name in instruments):
        raise ConfigurationError(
            f"{source}: key 'instrument_list' must be a non-empty list of names"
        )
    if len(set(instruments)) != len(instruments):
        raise ConfigurationError(f"{source}: key 'instrument_list' has duplicate names")
    for key in ("sample_rate", "frame_length", "frame_step", "T", "F", "n_channels"):
        if params[key] <= 0:
            raise ConfigurationError(f"{source}: key '{key}' must be positive, got {params[key]}")
    n_bins = params["frame_length"] // 2 + 1
    if params["F"] > n_bins:
        raise ConfigurationError(
            f"{source}: key 'F' = {params['F']} exceeds frame_length/2+1 = {n_bins}"
        )
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
    if params["mask_extension"] not in MASK_EXTENSIONS:
        raise ConfigurationError(
            f"{source}: key 'mask_extension' = {params['mask_extension']!r} is unknown; "
            "use 'zeros' or 'average'"
        )
    if not isinstance(params["model"].get("params", {}), dict):
        raise ConfigurationError(f"{source}: key 'model.params' must be an object")
    if params["separation_exponent"] <= 0:
        raise ConfigurationError(f"{source}: key 'separation_exponent' must be positive")
