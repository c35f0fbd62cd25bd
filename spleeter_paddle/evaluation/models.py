"""Which model to evaluate: ``latest`` trained model, a model directory, a preset or a config."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Tuple, Union

from ..errors import ModelError
from ..options import checked, path_value
from ..vocab import LOAD_MODEL_LATEST

logger = logging.getLogger(__name__)


def resolve_model(
    descriptor: str, home: Union[str, Path, None] = None
) -> Tuple[Any, Optional[Path], str]:
    """``(params, model_dir, label)`` for ``latest``, a model directory, a preset or a JSON path
    (ValueError naming ``descriptor`` or ``home`` when it is not a path or name)."""
    from ..pretrained.store import WEIGHTS_FILE, find_latest_model, read_metadata

    what = "'latest', spleeter:<preset>, a model directory or a config JSON"
    descriptor = checked("descriptor", path_value, descriptor, what)
    if home is not None:
        home = checked("home", path_value, home, "the model home folder")
    if descriptor == LOAD_MODEL_LATEST:
        directory: Optional[Path] = find_latest_model(home)
    elif Path(descriptor).is_dir():
        directory = Path(descriptor)
        if not (directory / WEIGHTS_FILE).is_file():
            raise ModelError(f"{directory}: not a model directory (no {WEIGHTS_FILE})")
    else:
        return descriptor, None, descriptor
    config = read_metadata(directory).get("config")
    if not isinstance(config, (str, dict)):  # str: a pretrained model's preset name
        raise ModelError(
            f"{directory}/model.json: no 'config' (the params the model was trained with)"
        )
    return config, directory, str(directory)


def model_settings(
    descriptor: str = LOAD_MODEL_LATEST,
    mwf: Optional[bool] = None,
    device: str = "auto",
    home: Union[str, Path, None] = None,
    segment_frames: Optional[int] = None,
):
    """``(settings, label)``: the checked ``SeparatorSettings`` of ``descriptor`` (nothing is
    loaded; ConfigurationError for a bad option) and a label for reports (`` (MWF)`` if MWF).

    ``segment_frames``: separation segment length (default 512 as Spleeter's, never the
    training crop ``T`` of the model's config); ``mwf`` None: the configuration's ``MWF``.
    """
    from ..separation.arguments import separator_settings

    params, directory, label = resolve_model(descriptor, home)
    settings = separator_settings(
        params, mwf=mwf, device=device, model_dir=directory, segment_frames=segment_frames
    )
    return settings, label + (" (MWF)" if settings.mwf else "")


def load_separator(
    descriptor: str = LOAD_MODEL_LATEST,
    mwf: Optional[bool] = None,
    device: str = "auto",
    home: Union[str, Path, None] = None,
    segment_frames: Optional[int] = None,
):
    """A ``Separator`` for ``descriptor`` and a label for reports (loads Paddle); the options
    are :func:`model_settings`'s."""
    from ..separation.separator import Separator

    settings, label = model_settings(descriptor, mwf, device, home, segment_frames)
    logger.info("model: %s", label)
    return Separator.from_settings(settings), label
