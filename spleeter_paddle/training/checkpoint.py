"""Training checkpoints as safetensors + JSON (never pickle), last K kept, and the model export:
``checkpoints/step_<N>/`` holds ``model.safetensors``, ``optimizer.safetensors`` and
``state.json`` (with both files' sha256); the run folder itself is re-exported as a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np

from ..errors import ModelError
from ..files import PathLike, new_temporary
from ..ownership import staged_folder
from ..pretrained.store import (
    Layout,
    decode_tensors,
    dtype_name,
    file_sha256,
    intact_metadata,
    layout_problems,
    model_layout,
    name_list,
    non_finite_problem,
    write_model,
)
from ..pretrained.tf_writer import can_write_tf, replace_tf_checkpoint
from ..runtime import paddle

CHECKPOINT_FORMAT = 2
CHECKPOINT_PATTERN = re.compile(r"^step_(\d+)$")
MODEL_STATE = "model.safetensors"
OPTIMIZER_STATE = "optimizer.safetensors"
TRAINER_STATE = "state.json"
TENSOR_FILES = (MODEL_STATE, OPTIMIZER_STATE)
PICKLE_FILES = ("model.pdparams", "model.pdopt")
ADAM_ACCUMULATORS = ("moment1", "moment2", "beta1_pow_acc", "beta2_pow_acc")
TEMPORARY_PREFIX = ".step_"


def rng_seed(seed: int, step: int) -> int:
    """The Paddle seed in force from ``step`` on (reset at every checkpoint, so that a resumed
    run draws the same dropout masks as a straight one)."""
    return (int(seed) * 1_000_003 + int(step)) % (2**31 - 1)


def check_layout(path: Path, arrays: Dict[str, np.ndarray], expected: Layout) -> None:
    """Refuse ``arrays`` unless names, count, shapes and dtypes equal ``expected`` exactly."""
    missing, extra, wrong = layout_problems(arrays, expected)
    problems = []
    if missing:
        problems.append(f"{len(missing)} of {len(expected)} tensors missing ({name_list(missing)})")
    if extra:
        problems.append(f"{len(extra)} unexpected ({name_list(extra)})")
    problems += wrong[:4]
    if problems:
        raise ModelError(f"{path}: checkpoint does not fit the model: {'; '.join(problems)}")


def optimizer_layout(model: paddle.nn.Layer, stepped: Set[str]) -> Layout:
    """Adam's state for the trainable parameters whose keys are in ``stepped``:
    ``<key>.moment1`` ... ``<key>.beta2_pow_acc``."""
    layout = {}
    for key, parameter in model.named_parameters():
        if parameter.stop_gradient or key not in stepped:
            continue
        for name in ADAM_ACCUMULATORS:
            shape = tuple(parameter.shape) if name.startswith("moment") else (1,)
            layout[f"{key}.{name}"] = (shape, dtype_name(parameter))
    return layout


def portable_optimizer_state(model: paddle.nn.Layer, optimizer: Any) -> Dict[str, np.ndarray]:
    """Adam's accumulators keyed by structured names (``unets.vocals....moment1``) instead of
    Paddle's process-global ones (``conv2d_28.w_0_moment1_0``), so that any process can load them."""
    state = optimizer.state_dict()
    arrays = {}
    for key, parameter in model.named_parameters():
        for name in ADAM_ACCUMULATORS:
            value = state.get(f"{parameter.name}_{name}_0")
            if value is not None:
                arrays[f"{key}.{name}"] = np.ascontiguousarray(value.numpy())
    return arrays


def _paddle_optimizer_state(
    model: paddle.nn.Layer, arrays: Dict[str, np.ndarray]
) -> Dict[str, Any]:
    names = {key: parameter.name for key, parameter in model.named_parameters()}
    state = {}
    for portable, value in arrays.items():
        key, name = portable.rsplit(".", 1)
        state[f"{names[key]}_{name}_0"] = paddle.to_tensor(value)
    return state


def _json_scalars(state: Dict[str, Any]) -> Dict[str, Any]:
    """A GradScaler state (numbers and one-element tensors) as plain JSON numbers."""
    plain = {}
    for key, value in state.items():
        value = value.numpy() if hasattr(value, "numpy") else value
        plain[key] = np.asarray(value).item() if np.asarray(value).size == 1 else value
    return plain


def refuse_non_finite(arrays: Dict[str, np.ndarray], target: PathLike) -> None:
    """Raise ModelError before ``target`` is written when a tensor holds NaN/Inf: a diverged
    training must not leave weights that look usable."""
    for key, value in arrays.items():
        problem = non_finite_problem(np.asarray(value))
        if problem is not None:
            raise ModelError(
                f"{target}: not saved, tensor '{key}' holds {problem}: the training diverged; "
                "lower the learning rate (-lr) or check the training data"
            )


def _read_tensors(path: Path, expected_sha256: Optional[str]) -> Dict[str, np.ndarray]:
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint file missing")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelError(
            f"{path}: unreadable checkpoint file ({error.strerror or error})"
        ) from None
    if expected_sha256 != hashlib.sha256(data).hexdigest():
        raise ModelError(f"{path}: checkpoint file corrupted (sha256 differs from state.json)")
    refusal = (
        "the run diverged before this checkpoint, refusing to resume from it (an earlier "
        "checkpoint or lower learning rate may help)"
    )
    return decode_tensors(data, path, "checkpoint", refusal)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# What each field of ``state.json`` must hold (fields older checkpoints lack may be absent).
_STATE_FIELDS = {
    "step": (True, _whole, "a whole number >= 0"),
    "optimizer_tensors": (True, _whole, "a whole number >= 0"),
    "sha256": (
        True,
        lambda v: isinstance(v, dict) and all(isinstance(v.get(n), str) for n in TENSOR_FILES),
        f"an object with the sha256 of {' and '.join(TENSOR_FILES)}",
    ),
    "scaler": (False, lambda v: v is None or isinstance(v, dict), "an object or null"),
    "epoch": (False, _whole, "a whole number >= 0"),
    "seed": (False, _whole, "a whole number >= 0"),
    "batch_size": (False, lambda v: _whole(v) and v > 0, "a whole number > 0"),
    "world_size": (False, lambda v: _whole(v) and v > 0, "a whole number > 0"),
}


def check_state(path: Path, state: Dict[str, Any]) -> None:
    """Refuse a ``state.json`` whose fields have the wrong type or disagree with its folder's
    step (ModelError: a damaged checkpoint, never a traceback later)."""
    for key, (required, valid, expected) in _STATE_FIELDS.items():
        if (required or key in state) and not valid(state.get(key)):
            raise ModelError(
                f"{path / TRAINER_STATE}: damaged checkpoint: '{key}' is "
                f"{json.dumps(state.get(key))}, expected {expected}"
            )
    match = CHECKPOINT_PATTERN.match(path.name)
    if match and int(match.group(1)) != state["step"]:
        raise ModelError(
            f"{path / TRAINER_STATE}: damaged checkpoint: 'step' is {state['step']} in "
            f"folder {path.name}"
        )


class CheckpointManager:
    """``<directory>/step_<N>/{model,optimizer}.safetensors + state.json``; keeps the last ``keep``."""

    def __init__(self, directory: PathLike, keep: int = 2):
        self.directory = Path(directory)
        self.keep = max(1, keep)

    def list(self) -> List[Tuple[int, Path]]:
        """Complete checkpoints (those with ``state.json``, written last), oldest first."""
        found = []
        for path in self.directory.glob("step_*"):  # none where the folder is not
            match = CHECKPOINT_PATTERN.match(path.name)
            if match and (path / TRAINER_STATE).is_file():
                found.append((int(match.group(1)), path))
        return sorted(found)

    def latest(self) -> Optional[Path]:
        found = self.list()
        return found[-1][1] if found else None

    def pickled(self) -> List[Path]:
        """Checkpoints of older versions (pickle files), which are never loaded."""
        return sorted(p for p in self.directory.glob("step_*/*") if p.name in PICKLE_FILES)

    def save(
        self,
        step: int,
        model: paddle.nn.Layer,
        optimizer: Any,
        state: Dict[str, Any],
        scaler: Any = None,
    ) -> Path:
        """Write to a temporary directory (state.json last), rename it to ``step_<N>``, prune."""
        from safetensors.numpy import save_file

        target = self.directory / f"step_{step:08d}"
        weights = {k: np.ascontiguousarray(v.numpy()) for k, v in model.state_dict().items()}
        refuse_non_finite(weights, target)
        self.directory.mkdir(parents=True, exist_ok=True)
        with staged_folder(target, "") as temporary:  # ".step_<N>.<8 hex>", listed by none
            save_file(weights, str(temporary / MODEL_STATE))
            moments = portable_optimizer_state(model, optimizer)
            save_file(moments, str(temporary / OPTIMIZER_STATE))
            document = {"format": CHECKPOINT_FORMAT, **state, "step": step}
            document["optimizer_tensors"] = len(moments)
            document["scaler"] = _json_scalars(scaler.state_dict()) if scaler else None
            document["sha256"] = {name: file_sha256(temporary / name) for name in TENSOR_FILES}
            (temporary / TRAINER_STATE).write_text(json.dumps(document, indent=2))
            if target.exists():
                self._remove(target)
            os.replace(temporary, target)
        for _, old in self.list()[: -self.keep]:
            self._remove(old)
        return target

    def _remove(self, checkpoint: Path) -> None:
        """Move out of the listing first, into a temporary folder (recorded like the others),
        so that a kill never leaves half a checkpoint."""
        doomed = new_temporary(checkpoint, ".removing", directory=True)
        os.replace(checkpoint, doomed / checkpoint.name)
        shutil.rmtree(doomed, ignore_errors=True)

    @staticmethod
    def load(
        path: PathLike, model: paddle.nn.Layer, optimizer: Any, scaler: Any = None
    ) -> Dict[str, Any]:
        """Restore model and optimizer state from ``path`` exactly (every tensor must match the
        model, else nothing is loaded); returns its ``state.json``."""
        path = Path(path)
        try:
            state = json.loads((path / TRAINER_STATE).read_text())
        except (OSError, ValueError) as error:
            raise ModelError(f"{path / TRAINER_STATE}: unreadable ({error})") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise ModelError(f"{path}: not a checkpoint of this version (format 2 expected)")
        check_state(path, state)
        digests = state["sha256"]
        weights = _read_tensors(path / MODEL_STATE, digests.get(MODEL_STATE))
        moments = _read_tensors(path / OPTIMIZER_STATE, digests.get(OPTIMIZER_STATE))
        check_layout(path / MODEL_STATE, weights, model_layout(model))
        # Adam has state only for parameters that received a gradient: all four accumulators
        # of each, as many tensors as state.json recorded.
        stepped = {name.rsplit(".", 1)[0] for name in moments}
        check_layout(path / OPTIMIZER_STATE, moments, optimizer_layout(model, stepped))
        if len(moments) != state["optimizer_tensors"]:
            raise ModelError(
                f"{path / OPTIMIZER_STATE}: holds {len(moments)} tensors, state.json recorded "
                f"{state.get('optimizer_tensors')}"
            )
        for key, parameter in model.state_dict().items():
            parameter.set_value(weights[key])
        if moments:
            optimizer.set_state_dict(_paddle_optimizer_state(model, moments))
        if scaler is not None and state.get("scaler"):
            try:
                scaler.load_state_dict(state["scaler"])
            except (TypeError, ValueError, KeyError, AttributeError) as error:
                raise ModelError(
                    f"{path / TRAINER_STATE}: damaged checkpoint: 'scaler' unusable ({error})"
                ) from None
        return state


# --- the exported model -------------------------------------------------------------------------


def export_model(
    model: paddle.nn.Layer, params: Dict[str, Any], directory: PathLike, **metadata: Any
) -> Path:
    """Write the run directory as an installed model, as a unit; U-Net runs also get the TF
    checkpoint official Spleeter loads, recorded with its sha256 in ``model.json``."""
    state = {key: value.numpy() for key, value in model.state_dict().items()}
    refuse_non_finite(state, directory)
    step = metadata.get("step")
    if can_write_tf(params) and step is not None:
        # ``{file name: sha256}`` of the TF checkpoint the last export recorded in model.json
        recorded = (intact_metadata(directory) or {}).get("tf_checkpoint")
        recorded = recorded if isinstance(recorded, dict) else {}
        files = {str(k): str(v) for k, v in recorded.items() if isinstance(v, str)}
        metadata["tf_checkpoint"] = replace_tf_checkpoint(state, params, directory, step, files)
    return write_model(state, directory, {"config": params, "source": "training", **metadata})


def export_is_current(directory: PathLike, step: int) -> bool:
    """True when the run's export is complete, consistent (sha256) and of checkpoint ``step``."""
    document = intact_metadata(directory)
    return document is not None and document.get("step") == step
