"""Training checkpoints (model + optimizer + step, last K kept, atomic) and model export.

A run directory ``model/<run>/`` is "a model": ``model.safetensors`` + ``model.json`` (the
config) exported at every checkpoint, loadable by the separator and the evaluator, and
``checkpoints/step_<N>/`` with the full training state for resuming.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import paddle

from ..errors import ModelError
from ..pretrained.convert import METADATA_FILE, WEIGHTS_FILE, read_metadata, save_weights
from ..pretrained.provider import COMPLETION_MARKER, resolve_model_home

logger = logging.getLogger(__name__)

PRETRAINED_PRESETS = ("2stems", "4stems", "5stems")
LoadModel = Union[bool, str, None]
CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)$")
MODEL_STATE, OPTIMIZER_STATE, TRAINER_STATE = "model.pdparams", "model.pdopt", "state.json"
PathLike = Union[str, Path]


def run_directory(params: Dict[str, Any], override: Optional[PathLike] = None) -> Path:
    """``override``, else ``params['model_dir']`` (absolute, or relative to the model home)."""
    if override is not None:
        return Path(override)
    path = Path(params["model_dir"])
    return path if path.is_absolute() else resolve_model_home() / path


class CheckpointManager:
    """``<directory>/step_<N>/{model.pdparams, model.pdopt, state.json}``; keeps the last ``keep``."""

    def __init__(self, directory: PathLike, keep: int = 2):
        self.directory = Path(directory)
        self.keep = max(1, keep)

    def list(self) -> List[Tuple[int, Path]]:
        """Complete checkpoints (those with ``state.json``), oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.iterdir():
            match = CHECKPOINT_PATTERN.match(path.name)
            if match and (path / TRAINER_STATE).is_file():
                found.append((int(match.group(1)), path))
        return sorted(found)

    def latest(self) -> Optional[Path]:
        found = self.list()
        return found[-1][1] if found else None

    def save(
        self, step: int, model: paddle.nn.Layer, optimizer: Any, state: Dict[str, Any]
    ) -> Path:
        """Write to a temporary directory, rename it to ``step_<N>``, prune old checkpoints."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"step_{step:08d}"
        temporary = Path(tempfile.mkdtemp(prefix=f".step_{step:08d}.", dir=self.directory))
        try:
            paddle.save(model.state_dict(), str(temporary / MODEL_STATE))
            paddle.save(
                portable_optimizer_state(model, optimizer), str(temporary / OPTIMIZER_STATE)
            )
            (temporary / TRAINER_STATE).write_text(json.dumps({**state, "step": step}, indent=2))
            if target.exists():
                shutil.rmtree(target)
            os.replace(temporary, target)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        for _, old in self.list()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return target

    @staticmethod
    def load(path: PathLike, model: paddle.nn.Layer, optimizer: Any) -> Dict[str, Any]:
        """Restore model and optimizer state from ``path``; returns its ``state.json``."""
        path = Path(path)
        try:
            state = json.loads((path / TRAINER_STATE).read_text())
            model.set_state_dict(paddle.load(str(path / MODEL_STATE)))
            saved = paddle.load(str(path / OPTIMIZER_STATE))
            optimizer.set_state_dict(restore_optimizer_state(model, saved))
        except (OSError, ValueError, RuntimeError) as error:
            raise ModelError(
                f"{path}: unreadable checkpoint ({error}); delete it to start over"
            ) from None
        return state


def _rename(key: str, renames: Dict[str, str]) -> str:
    for old, new in renames.items():
        if key.startswith(old + "_"):
            return new + key[len(old) :]
    return key


def portable_optimizer_state(model: paddle.nn.Layer, optimizer: Any) -> Dict[str, Any]:
    """The optimizer's state keyed by structured parameter names (``@unets.vocals...``) instead
    of Paddle's process-global ones (``conv2d_28.w_0``), so that any process can load it."""
    renames = {p.name: "@" + key for key, p in model.named_parameters()}
    state = {}
    for key, value in optimizer.state_dict().items():
        if key == "master_weights":
            value = {renames.get(name, name): weight for name, weight in value.items()}
        state[_rename(key, renames)] = value
    return state


def restore_optimizer_state(model: paddle.nn.Layer, state: Dict[str, Any]) -> Dict[str, Any]:
    """Inverse of :func:`portable_optimizer_state` for this process's parameter names."""
    renames = {"@" + key: p.name for key, p in model.named_parameters()}
    restored = {}
    for key, value in state.items():
        if key == "master_weights":
            value = {renames.get(name, name): weight for name, weight in value.items()}
        restored[_rename(key, renames)] = value
    return restored


def export_model(
    model: paddle.nn.Layer, params: Dict[str, Any], directory: PathLike, **metadata: Any
) -> Path:
    """Write the weights + config the separator loads (``model.safetensors`` + ``model.json``)
    and the provider's completion marker, so that the run directory is an installed model."""
    state = {key: value.numpy() for key, value in model.state_dict().items()}
    path = save_weights(state, directory, {"config": params, "source": "training", **metadata})
    marker = json.dumps({"complete": True, "source": "training"}) + "\n"
    (Path(directory) / COMPLETION_MARKER).write_text(marker, encoding="utf-8")
    return path


def is_compatible(config: Optional[Dict[str, Any]], params: Dict[str, Any]) -> bool:
    """Same weight layout: model type, instruments (names and order) and channel count."""
    if not isinstance(config, dict):
        return False
    return (
        all(config.get(key) == params.get(key) for key in ("instrument_list", "n_channels"))
        and config.get("model", {}).get("type") == params["model"]["type"]
    )


def newest_trained_model(
    params: Dict[str, Any], exclude: Optional[Path] = None, home: Optional[Path] = None
) -> Optional[Path]:
    """The most recently exported model under the model home whose weights fit ``params``."""
    home = resolve_model_home() if home is None else home
    candidates = []
    for metadata_path in home.glob(f"*/{METADATA_FILE}"):
        directory = metadata_path.parent
        if exclude is not None and directory.resolve() == exclude.resolve():
            continue
        if not (directory / WEIGHTS_FILE).is_file():
            continue
        try:
            document = read_metadata(directory)
        except ModelError:
            continue
        if is_compatible(document.get("config"), params):
            candidates.append((metadata_path.stat().st_mtime, directory))
    return max(candidates)[1] if candidates else None


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
    if load_model in (None, False) or str(load_model).lower() in ("false", "0", "no", "none"):
        return None
    choice = str(load_model).lower()
    if choice == "latest":
        newest = newest_trained_model(params, exclude=run_dir)
        if newest is None:
            raise ModelError(
                "-lm latest: no trained model under the model home fits this configuration"
            )
        return newest
    if choice in ("true", "1", "yes", "pretrained"):
        try:
            return pretrained_directory(params)
        except ModelError as error:
            newest = newest_trained_model(params, exclude=run_dir)
            if newest is None:
                raise ModelError(
                    f"-lm: {error}; and no own trained model fits (use -lm False)"
                ) from None
            logger.warning("-lm: %s; using the newest own model %s", error, newest)
            return newest
    directory = Path(str(load_model))
    if not (directory / METADATA_FILE).is_file():
        raise ModelError(f"-lm {directory}: not a model directory (no {METADATA_FILE})")
    return directory
