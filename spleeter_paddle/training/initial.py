"""Which weights a new training run starts from (``-lm``): none, the official pretrained model,
the newest own trained model, or a given model directory; and where a run lives.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from ..errors import ConfigurationError, ModelError
from ..pretrained.store import METADATA_FILE, model_directory, newest_model
from ..vocab import LOAD_MODEL_LATEST, LOAD_MODEL_PRETRAINED, LOAD_MODEL_SCRATCH, PRETRAINED_PRESETS
from .config import LoadModel

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]


def run_directory(params: Dict[str, Any], override: Optional[PathLike] = None) -> Path:
    """``override`` (``-o``, from the working directory), else the folder of
    ``params['model_dir']`` by the rule every command reads it with (absolute, or relative to
    the model home: :func:`~..pretrained.store.model_directory`)."""
    return Path(override) if override is not None else model_directory(str(params["model_dir"]))


def is_compatible(config: Optional[Dict[str, Any]], params: Dict[str, Any]) -> bool:
    """Same weight layout: model type, instruments (names and order) and channel count; and a
    configuration that passes validation (a run recorded with a NaN or negative learning rate,
    say, is never picked)."""
    from ..configuration import load_configuration

    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        return False
    try:
        load_configuration(config)
    except ConfigurationError:
        return False
    return (
        all(config.get(key) == params.get(key) for key in ("instrument_list", "n_channels"))
        and config.get("model", {}).get("type") == params["model"]["type"]
    )


def newest_trained_model(params: Dict[str, Any], exclude: Optional[Path] = None) -> Optional[Path]:
    """The most recently exported model under the model home whose weights fit ``params``."""
    return newest_model(
        lambda document: is_compatible(document.get("config"), params), None, exclude
    )


def pretrained_directory(params: Dict[str, Any]) -> Path:
    """Official weights whose instruments match ``params`` (provisioned by the model provider)."""
    from ..configuration import load_configuration
    from ..pretrained.provider import get_model_directory

    for name in PRETRAINED_PRESETS:
        preset = load_configuration(f"spleeter:{name}")
        if preset["instrument_list"] == params["instrument_list"]:
            return Path(get_model_directory(preset))
    raise ModelError(
        f"no official pretrained model has the instruments {params['instrument_list']}"
    )


def resolve_initial_weights(
    params: Dict[str, Any], load_model: LoadModel, run_dir: Optional[Path] = None
) -> Optional[Path]:
    """The weights directory ``-lm`` asks for: None (scratch), the official pretrained model
    (``True``; falls back to the newest own compatible model), ``"latest"`` or a directory."""
    return resolve_load_model(params, load_model, run_dir)[1]


def resolve_load_model(
    params: Dict[str, Any], load_model: LoadModel, run_dir: Optional[Path] = None
) -> Tuple[LoadModel, Optional[Path]]:
    """``(what was loaded, its directory)`` for ``-lm``: the choice itself, except when the
    official weights are out of reach and the newest own model stands in: then its directory,
    so that the run records the weights it really started from."""
    label = initial_weights_label(load_model)
    if label == "scratch":
        return load_model, None
    if label == "latest":
        newest = newest_trained_model(params, exclude=run_dir)
        if newest is None:
            raise ModelError(
                "-lm latest: no trained model under the model home fits this configuration"
            )
        return load_model, newest
    if label == "pretrained":
        try:
            return load_model, pretrained_directory(params)
        except ModelError as error:
            newest = newest_trained_model(params, exclude=run_dir)
            if newest is None:
                raise ModelError(
                    f"-lm: {error}; and no own trained model fits (use -lm False)"
                ) from None
            logger.warning("-lm: %s; using the newest own model %s", error, newest)
            return str(newest.resolve()), newest
    directory = Path(str(load_model))
    if not (directory / METADATA_FILE).is_file():
        raise ModelError(f"-lm {directory}: not a model directory (no {METADATA_FILE})")
    return load_model, directory


def initial_weights_label(load_model: LoadModel) -> str:
    """``-lm`` as a run records it: ``scratch``, ``pretrained``, ``latest`` or an absolute path."""
    if load_model in (None, False) or str(load_model).lower() in LOAD_MODEL_SCRATCH:
        return "scratch"
    choice = str(load_model).lower()
    if choice in LOAD_MODEL_PRETRAINED:
        return "pretrained"
    if choice == LOAD_MODEL_LATEST:
        return "latest"
    return str(Path(str(load_model)).expanduser().resolve())
