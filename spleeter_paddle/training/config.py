"""Training configurations: the default 2-stem one (``configs/2stems_config.json``) and overrides.

Paths in a configuration (manifests, caches) are relative to the working directory, like
Spleeter's; ``model_dir`` is relative to the model home (``$MODEL_PATH`` or ``model/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Union

from ..configuration import load_configuration

DEFAULT_CONFIG_PATH = Path("configs/2stems_config.json")
# The 2-stem training defaults on top of ``spleeter:2stems`` (configs/2stems_config.json holds
# exactly this; a test keeps them equal).
TRAINING_DEFAULTS_2STEMS: Dict[str, Any] = {
    "train_csv": "configs/2stems_train.csv",
    "validation_csv": "configs/2stems_validation.csv",
    "model_dir": "2stems-musdb",
    "training_cache": "cache/2stems/training",
    "validation_cache": "cache/2stems/validation",
    "n_chunks_per_song": 8,
    "chunk_duration": 20.0,
    "train_max_steps": 200000,
    "save_checkpoints_steps": 500,
    "random_seed": 0,
}
# Command-line overrides and the configuration keys they set.
OVERRIDE_KEYS = {
    "T": "T",
    "F": "F",
    "chunk_duration": "chunk_duration",
    "n_chunks_per_song": "n_chunks_per_song",
    "batch_size": "batch_size",
    "learning_rate": "learning_rate",
}


def default_training_params() -> Dict[str, Any]:
    """``spleeter:2stems`` with the training defaults above (what the config file holds)."""
    params = load_configuration("spleeter:2stems")
    params.update(TRAINING_DEFAULTS_2STEMS)
    return params


def training_configuration(
    descriptor: Union[str, Path, Dict[str, Any], None] = None, **overrides: Optional[Any]
) -> Dict[str, Any]:
    """Load ``descriptor`` (default ``configs/2stems_config.json``, else the built-in 2-stem
    training config) and apply the non-None ``overrides`` (``T``, ``F``, ``chunk_duration``,
    ``n_chunks_per_song``, ``batch_size``, ``learning_rate``); validated."""
    if descriptor is None:
        descriptor = (
            DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else default_training_params()
        )
    params = load_configuration(descriptor)
    for name, value in overrides.items():
        if name not in OVERRIDE_KEYS:
            raise TypeError(f"unknown override {name!r}")
        if value is not None:
            params[OVERRIDE_KEYS[name]] = value
    return load_configuration(params)
