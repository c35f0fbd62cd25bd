"""What a training run is given: its configuration (default ``configs/2stems_config.json``, and
overrides; paths relative to the working directory, ``model_dir`` to the model home),
:class:`TrainingOptions` (checked as the flags are); and what it returns (:class:`TrainingResult`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from .. import options as checks
from ..configuration import load_configuration
from ..errors import ConfigurationError
from ..vocab import AUGMENTATIONS

LoadModel = Union[bool, str, None]  # -lm: True/"pretrained", "latest", a directory, False/None

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
# The configuration keys the command line overrides, and each one's flag (to name it when its
# value makes the configuration invalid).
OVERRIDE_FLAGS = {
    "T": "-T",
    "F": "-F",
    "chunk_duration": "-cd",
    "n_chunks_per_song": "-ncps",
    "batch_size": "-bs",
    "learning_rate": "-lr",
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
    training config) and apply the non-None ``overrides`` (keys of ``OVERRIDE_FLAGS``)."""
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
        if name not in OVERRIDE_FLAGS:
            raise TypeError(f"unknown override {name!r}")
        if value is not None:
            params[name] = value
            applied.append(f"{OVERRIDE_FLAGS[name]} {value}")
    if applied:  # errors name the file and the flags that changed it
        source = f"{source or 'the configuration dict'} (with {', '.join(applied)})"
    return load_configuration(params, source)


# Each TrainingOptions field and the check its flag uses.
_OPTION_CHECKS = {
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


@dataclass
class TrainingOptions:
    """How to train; ``None`` fields fall back to the configuration (Spleeter's keys). Checked
    when made, before any data or weights are read."""

    run_dir: Optional[str] = None  # default <model home>/<params model_dir>
    batch_size: Optional[int] = None
    learning_rate: Optional[float] = None
    max_steps: Optional[int] = None  # default: epochs, else train_max_steps
    epochs: Optional[int] = None
    save_every: Optional[int] = None  # default save_checkpoints_steps
    validate_every: Optional[int] = None  # default save_every; 0 disables
    keep_checkpoints: int = 2
    log_every: int = 10
    num_workers: int = 2
    load_model: LoadModel = False  # True/"pretrained": official weights; "latest"; a directory
    initial_weights: Optional[str] = None  # ``load_model`` already resolved to a directory
    resume: Optional[bool] = None  # True: continue the run; False: new run; None: if it matches
    batch_statistics: bool = False
    dropout: bool = False
    amp: bool = False
    seed: Optional[int] = None  # default random_seed
    device: str = "auto"
    augmentation: Sequence[str] = ()
    visualdl_dir: Optional[str] = None

    def __post_init__(self) -> None:
        """Refuse a bad field (ConfigurationError naming it), as its flag would be."""
        for name, check in _OPTION_CHECKS.items():
            value = getattr(self, name)
            if value is None:
                continue
            try:
                if isinstance(value, (bool, str)):  # a string augmentation would be read by letter
                    raise ValueError(f"must not be {value!r}")
                check(value)
            except (ValueError, TypeError) as error:
                raise ConfigurationError(f"TrainingOptions.{name} {error}") from None


@dataclass
class TrainingResult:
    """Where a run stands after training: its folder, final step and this call's losses."""

    run_dir: Path
    step: int
    start_step: int
    losses: List[float] = field(default_factory=list)  # one per step run now
    validation: Dict[int, float] = field(default_factory=dict)  # step -> validation loss
    initial_weights: Optional[Path] = None
    exit_status: int = 0  # the launcher's, for runs in several processes
