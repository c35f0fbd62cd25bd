"""Training configurations: the default 2-stem one (``configs/2stems_config.json``) and overrides.

Paths in a configuration (manifests, caches) are relative to the working directory, like
Spleeter's; ``model_dir`` is relative to the model home (``resolve_model_home``).
The training options a library caller passes are checked here too, as the flags are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Union

from ..configuration import load_configuration
from ..errors import ConfigurationError

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
# The flag of each override, to name it when its value makes the configuration invalid.
OVERRIDE_FLAGS = {
    "T": "-T",
    "F": "-F",
    "chunk_duration": "-cd",
    "n_chunks_per_song": "-ncps",
    "batch_size": "-bs",
    "learning_rate": "-lr",
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
    source = None
    if descriptor is None:
        descriptor = DEFAULT_CONFIG_PATH
        if not DEFAULT_CONFIG_PATH.is_file():
            descriptor = default_training_params()
            source = "the built-in 2-stem training configuration"
    params = load_configuration(descriptor, source)
    source = source or (str(descriptor) if not isinstance(descriptor, dict) else None)
    applied = []
    for name, value in overrides.items():
        if name not in OVERRIDE_KEYS:
            raise TypeError(f"unknown override {name!r}")
        if value is not None:
            params[OVERRIDE_KEYS[name]] = value
            applied.append(f"{OVERRIDE_FLAGS[name]} {value}")
    if applied:  # errors name the file and the flags that changed it
        source = f"{source or 'the configuration dict'} (with {', '.join(applied)})"
    return load_configuration(params, source)


def check_training_options(options: Any) -> None:
    """Refuse a bad ``TrainingOptions`` field (ConfigurationError naming it) with the checks the
    flags use, before any data or weights are read."""
    from .. import options as checks
    from ..data.dataset import AUGMENTATIONS

    rules = {
        "batch_size": checks.whole_number,
        "learning_rate": checks.positive_number,
        "max_steps": checks.whole_number,
        "epochs": checks.whole_number,
        "save_every": checks.whole_number,
        "validate_every": lambda value: checks.whole_number(value, 0),
        "keep_checkpoints": checks.whole_number,
        "log_every": checks.whole_number,
        "num_workers": lambda value: checks.whole_number(value, 0, checks.MAX_LOADER_WORKERS),
        "seed": checks.random_seed,
        "augmentation": lambda value: checks.name_list(",".join(value), AUGMENTATIONS),
    }
    for name, check in rules.items():
        value = getattr(options, name)
        if value is None:
            continue
        try:
            if isinstance(value, (bool, str)):  # a string augmentation would be read by letter
                raise ValueError(f"must not be {value!r}")
            check(value)
        except (ValueError, TypeError) as error:
            raise ConfigurationError(f"TrainingOptions.{name} {error}") from None
