"""What an installed model directory is: ``model.safetensors``, ``model.json`` (with the weights'
sha256) and ``.complete``, written as a unit, read with every check, found under the model home.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..environment import CACHE_ENV, cache_home
from ..errors import ConfigurationError, ModelError
from ..files import PathLike, file_sha256, write_atomic, write_errors, write_text_atomic
from ..ownership import non_folder

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "model.json"
COMPLETION_MARKER = ".complete"
MODEL_FILES = (WEIGHTS_FILE, METADATA_FILE, COMPLETION_MARKER)  # the order they are written in
WEIGHTS_FORMAT = 1
LEGACY_MODEL_HOME = "model"  # the working directory's model home of earlier versions
SPLEETER_MODEL_HOME = "pretrained_models"  # official Spleeter's (its MODEL_PATH default)
# What makes ./model a model home still: an installed, trained or hand-placed model (converted
# weights or a TF checkpoint) in a folder of it, or of one of its folders (runs/mine).
_HELD_WEIGHTS = tuple(
    f"{folders}/{name}" for folders in ("*", "*/*") for name in (WEIGHTS_FILE, "model.index")
)


def resolve_model_home(home: Optional[PathLike] = None) -> Path:
    """Where named models live, the first that applies: ``home``; ``$MODEL_PATH``; ``./model``
    when it holds a model (earlier versions' home); ``./pretrained_models`` when it is a folder
    (official Spleeter's); else the per-user ``<cache home>/models``, shared by every working
    directory. A ConfigurationError when it, or a parent, exists and is not a folder."""
    if home:
        path, origin = Path(home), "the model home given"
    elif os.environ.get("MODEL_PATH"):
        path, origin = Path(os.environ["MODEL_PATH"]), "MODEL_PATH"
    elif _holds_weights(Path(LEGACY_MODEL_HOME)):
        path, origin = Path(LEGACY_MODEL_HOME), "./model holds models; set MODEL_PATH"
    elif Path(SPLEETER_MODEL_HOME).is_dir():
        path, origin = Path(SPLEETER_MODEL_HOME), "Spleeter's model home; set MODEL_PATH"
    else:
        path = cache_home() / "models"
        origin = f"the per-user model home; set MODEL_PATH or {CACHE_ENV}"
    path = path.expanduser()
    existing = non_folder(path)
    if existing is not None:
        what = "" if existing == path else f": {existing}"
        raise ConfigurationError(
            f"model home {path} ({origin}){what} exists and is not a directory; point "
            "it at a folder (it is created when missing)"
        )
    return path


def _holds_weights(folder: Path) -> bool:
    """True when a folder of ``folder`` (or of one of its folders) holds model weights."""
    return folder.is_dir() and any(any(folder.glob(pattern)) for pattern in _HELD_WEIGHTS)


def model_directory(model_dir: PathLike, home: Optional[PathLike] = None) -> Path:
    """The folder a configuration's ``model_dir`` names, for every command, absolute: an absolute
    path as it is, a relative one (``2stems``, ``runs/mine``, no ``..``) under the model home."""
    text = str(model_dir)
    path = Path(text).expanduser()
    if path.is_absolute():
        return path
    if not text.strip() or ".." in path.parts or not path.parts:
        raise ConfigurationError(
            f"model_dir {text!r}: a relative model_dir is a folder under the model home "
            "(like 2stems or runs/mine), without '..'; write an absolute path for a folder "
            "elsewhere"
        )
    return (resolve_model_home(home) / path).absolute()


def name_list(names: Sequence[str], limit: int = 4) -> str:
    """``"a, b, c, d and 3 more"``: the first ``limit`` names of a list for an error message."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def dtype_name(tensor: Any) -> str:
    """``float32`` for a Paddle tensor of ``paddle.float32`` (numpy spelling)."""
    return str(tensor.dtype).replace("paddle.", "")


def weights_digest(state: Mapping[str, Any]) -> str:
    """sha256 over a state dict (numpy arrays or Paddle tensors): every entry's name, dtype,
    shape and bytes, in name order. Equal digests mean equal weights."""
    digest = hashlib.sha256()
    for name, value in sorted(state.items()):
        array = np.ascontiguousarray(value.numpy() if hasattr(value, "numpy") else value)
        digest.update(f"{name}|{array.dtype}|{array.shape}|".encode())
        digest.update(memoryview(array.reshape(-1)).cast("B"))
    return digest.hexdigest()


def non_finite_problem(value: np.ndarray) -> Optional[str]:
    """``"3 NaN values (first at [0, 2])"`` when a float tensor holds NaN/Inf, else ``None``: such
    a weight makes every output it reaches wrong without any error, so it is refused at load."""
    if not np.issubdtype(value.dtype, np.inexact):  # floating or complex
        return None
    finite = np.isfinite(value)
    if finite.all():
        return None
    bad = ~finite
    n_nan = int(np.isnan(value).sum())
    kinds = [f"{n_nan} NaN"] if n_nan else []
    if int(bad.sum()) > n_nan:
        kinds.append(f"{int(bad.sum()) - n_nan} infinite")
    first = [int(i) for i in np.unravel_index(int(np.argmax(bad)), value.shape)]
    return f"{' and '.join(kinds)} value(s) (first at {first})"


def decode_tensors(data: bytes, path: Path, kind: str, refusal: str) -> Dict[str, np.ndarray]:
    """The arrays of safetensors ``data`` read from ``path`` (a ``kind`` file); a ModelError when
    they are unreadable or a float tensor holds NaN/Inf (``refusal`` says what that means)."""
    from safetensors.numpy import load

    try:
        arrays = load(data)
    except Exception as error:  # safetensors raises its own error types
        raise ModelError(f"{path}: unreadable {kind} file ({error})") from None
    for key, value in arrays.items():
        problem = non_finite_problem(value)
        if problem:
            raise ModelError(f"{path}: tensor '{key}' holds {problem}; {refusal}")
    return arrays


# --- writing --------------------------------------------------------------------------------------


def save_weights(
    state: Mapping[str, Any], directory: PathLike, metadata: Optional[Mapping[str, Any]] = None
) -> Path:
    """Write ``state`` (arrays or Paddle tensors) as ``model.safetensors``, and ``metadata`` with
    the weights' sha256 as ``model.json``, each atomically; returns the former's path."""
    from safetensors.numpy import save_file

    directory = Path(directory)
    weights_path = directory / WEIGHTS_FILE
    arrays = {
        key: np.ascontiguousarray(value.numpy() if hasattr(value, "numpy") else value)
        for key, value in state.items()
    }
    # A full disk or a failing device is one ModelError, whichever library wrote (safetensors
    # raises its own error type, naming the OS error).
    with write_errors(f"{weights_path}: cannot write", ModelError, directory.parent):
        write_atomic(weights_path, lambda path: save_file(arrays, str(path)))  # makes the folder
        document = {"config": None, "source": None, **dict(metadata or {})}
        document["sha256"] = {WEIGHTS_FILE: file_sha256(weights_path)}
        document["format"] = WEIGHTS_FORMAT
        write_text_atomic(directory / METADATA_FILE, json.dumps(document, indent=2) + "\n")
    return weights_path


def write_model(state: Mapping[str, Any], directory: PathLike, metadata: Mapping[str, Any]) -> Path:
    """Write an installed model as a unit (marker removed first, back last: an interrupted write
    never looks complete); returns the weights path."""
    directory = Path(directory)
    (directory / COMPLETION_MARKER).unlink(missing_ok=True)
    path = save_weights(state, directory, metadata)
    marker = json.dumps({"complete": True, "source": metadata.get("source")}) + "\n"
    write_text_atomic(directory / COMPLETION_MARKER, marker)
    return path


def install_model(staged: Path, target: Path) -> Path:
    """Move the complete model in ``staged`` (same filesystem) to ``target``: one rename, or into
    an existing ``target`` (keeping its other files: TF files placed by hand) marker last."""
    if not target.exists():
        try:
            os.rename(staged, target)
        except OSError:
            if not is_complete(target):  # another process may have won the race
                raise
        return target
    (target / COMPLETION_MARKER).unlink(missing_ok=True)
    for file_name in MODEL_FILES:
        os.replace(staged / file_name, target / file_name)
    return target


# --- reading and checking -------------------------------------------------------------------------


def is_complete(directory: PathLike) -> bool:
    """True when ``directory`` holds installed weights: marker, weights and metadata."""
    return all((Path(directory) / name).is_file() for name in MODEL_FILES)


def read_metadata(directory: PathLike) -> Dict[str, Any]:
    """The ``model.json`` of a weights directory (ModelError naming it if unreadable)."""
    path = Path(directory) / METADATA_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: weights metadata not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: unreadable weights metadata ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("sha256"), dict):
        raise ModelError(f"{path}: weights metadata has no 'sha256' object")
    if document.get("format") != WEIGHTS_FORMAT:
        raise ModelError(f"{path}: unsupported weights format {document.get('format')!r}")
    return document


def intact_metadata(directory: PathLike) -> Optional[Dict[str, Any]]:
    """``model.json`` of a complete model whose weights still match their sha256, else None."""
    directory = Path(directory)
    if not is_complete(directory):
        return None
    try:
        document = read_metadata(directory)
        intact = document["sha256"].get(WEIGHTS_FILE) == file_sha256(directory / WEIGHTS_FILE)
    except (ModelError, OSError):
        return None
    return document if intact else None


WEIGHTS_REFUSAL = (
    "these weights would give wrong stems (a diverged training or a damaged file), "
    "refusing to load them"
)


def verified_weights_bytes(directory: PathLike) -> Tuple[bytes, str]:
    """``(bytes, sha256)`` of ``model.safetensors``, read once and checked against the sha256
    ``model.json`` records: the digest describes exactly the bytes returned."""
    weights_path = Path(directory) / WEIGHTS_FILE
    if not weights_path.is_file():
        raise ModelError(f"{weights_path}: weights file not found")
    expected = read_metadata(directory)["sha256"].get(WEIGHTS_FILE)
    try:
        data = weights_path.read_bytes()
    except OSError as error:
        raise ModelError(f"{weights_path}: unreadable ({error.strerror or error})") from None
    actual = hashlib.sha256(data).hexdigest()
    if expected != actual:
        raise ModelError(
            f"{weights_path}: weights file is corrupted (sha256 {actual} does not match "
            f"{Path(directory) / METADATA_FILE}): it changed after it was written; nothing was "
            "loaded (for an official model, move the directory aside and run `spleeter-paddle models "
            "download`)"
        )
    return data, actual


def read_weights(directory: PathLike, opened_sha256: Optional[str] = None) -> Dict[str, np.ndarray]:
    """Arrays of ``model.safetensors`` after checking its sha256 against ``model.json`` (and
    ``opened_sha256``, the digest it had when opened); float tensors holding NaN or Inf are
    refused (:class:`ModelError` naming tensor and file)."""
    data, sha256 = verified_weights_bytes(directory)
    weights_path = Path(directory) / WEIGHTS_FILE
    if opened_sha256 is not None and sha256 != opened_sha256:
        raise ModelError(
            f"{weights_path}: the weights were replaced while in use (sha256 "
            f"{opened_sha256} when opened, {sha256} now); nothing was loaded"
        )
    return decode_tensors(data, weights_path, "weights", WEIGHTS_REFUSAL)


def load_weights(model: Any, directory: PathLike) -> Any:
    """:func:`read_weights` copied into ``model`` exactly (:func:`assign_weights`); returns it."""
    return assign_weights(model, read_weights(directory), Path(directory) / WEIGHTS_FILE)


Layout = Dict[str, Tuple[Tuple[int, ...], str]]  # state-dict key -> (shape, dtype name)


def model_layout(model: Any) -> Layout:
    return {
        key: (tuple(value.shape), dtype_name(value)) for key, value in model.state_dict().items()
    }


def layout_problems(
    arrays: Mapping[str, np.ndarray], expected: Layout
) -> Tuple[List[str], List[str], List[str]]:
    """``(missing keys, unexpected keys, "'<key>' is <dtype><shape>, the model needs ..."
    lines)`` of ``arrays`` against ``expected``."""
    missing = [key for key in expected if key not in arrays]
    unexpected = [key for key in arrays if key not in expected]
    wrong = [
        f"'{key}' is {arrays[key].dtype}{list(arrays[key].shape)}, the model needs "
        f"{dtype}{list(shape)}"
        for key, (shape, dtype) in expected.items()
        if key in arrays and (arrays[key].shape != shape or str(arrays[key].dtype) != dtype)
    ]
    return missing, unexpected, wrong


def assign_weights(model: Any, arrays: Mapping[str, np.ndarray], weights_path: Path) -> Any:
    """Copy ``arrays`` (read from ``weights_path``, named in errors) into ``model`` exactly."""
    missing, unexpected, wrong = layout_problems(arrays, model_layout(model))
    if missing or unexpected:
        problems = [f"missing {name_list(missing)}"] if missing else []
        if unexpected:
            problems.append(f"unexpected {name_list(unexpected)}")
        raise ModelError(
            f"{weights_path}: weights do not fit the model ({'; '.join(problems)}); "
            "was it saved for another configuration?"
        )
    if wrong:
        raise ModelError(f"{weights_path}: {wrong[0]}")
    for key, parameter in model.state_dict().items():
        parameter.set_value(arrays[key])
    return model


# --- listing --------------------------------------------------------------------------------------


def newest_model(
    accept: Callable[[Dict[str, Any]], bool],
    home: Optional[PathLike] = None,
    exclude: Optional[Path] = None,
) -> Optional[Path]:
    """The model under the model home with the newest weights whose ``model.json`` ``accept``
    takes (unreadable ones skipped with a warning), never ``exclude``."""
    home = resolve_model_home(home)
    candidates = []
    for metadata_path in sorted(home.glob(f"*/{METADATA_FILE}")) if home.is_dir() else []:
        directory = metadata_path.parent
        weights = directory / WEIGHTS_FILE
        if not weights.is_file():
            continue
        try:
            document = read_metadata(directory)
        except ModelError as error:
            logger.warning("skipping %s", error)
            continue
        excluded = exclude is not None and directory.resolve() == Path(exclude).resolve()
        if not excluded and accept(document):
            candidates.append((weights.stat().st_mtime, str(directory)))
    return Path(max(candidates)[1]) if candidates else None


def find_latest_model(home: Optional[PathLike] = None) -> Path:
    """The most recently written trained model directory under ``home`` (default: model home)."""

    def trained(document: Mapping[str, Any]) -> bool:  # written by training, with its params
        return document.get("source") == "training" and isinstance(document.get("config"), dict)

    newest = newest_model(trained, home)
    if newest is None:
        raise ModelError(
            f"{resolve_model_home(home)}/: no trained model (a <run>/ directory with "
            "model.safetensors and a model.json from training); train one, or pass --model "
            "spleeter:2stems"
        )
    return newest
