"""TF checkpoint -> Paddle state dict (the one place that knows TF variable names), and weight files.

A model directory holds ``model.safetensors`` (tensors by Paddle state-dict key) and ``model.json``
(``{"config", "source", "sha256", "format"}``); :func:`save_weights` writes both atomically and
:func:`load_weights` checks them before copying every tensor into a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import CheckpointError, ModelError
from .tf_checkpoint import TFCheckpoint

WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "model.json"
WEIGHTS_FORMAT = 1
N_ENCODER_LAYERS = N_DECODER_LAYERS = 6
# TF layers auto-named per U-Net, in creation order: 6 encoder convs + head, 6 deconvs, 12 BNs.
CONVS_PER_UNET, DECONVS_PER_UNET, BATCH_NORMS_PER_UNET = 7, 6, 12
# Conv kernel TF [kh, kw, in, out] -> Paddle [out, in, kh, kw]; deconv TF [kh, kw, out, in] ->
# Paddle [in, out, kh, kw]: the same permutation, no spatial flip.
KERNEL_PERMUTATION = (3, 2, 0, 1)
_BN_VARIABLES = (("weight", "gamma"), ("bias", "beta"), ("_mean", "moving_mean"), ("_variance", "moving_variance"))  # fmt: skip
_MODEL_VARIABLE = re.compile(
    r"^(conv2d|conv2d_transpose|batch_normalization)(_\d+)?/"
    r"(kernel|bias|gamma|beta|moving_mean|moving_variance)$"
)

PathLike = Union[str, Path]


def _suffix(index: int) -> str:
    return "" if index == 0 else f"_{index}"


def tf_variable_map(instrument_list: Sequence[str]) -> List[Tuple[str, str, bool]]:
    """``(paddle_key, tf_name, is_kernel)`` for every U-Net weight, instruments in list order.

    Instrument k owns ``conv2d{7k+l}`` (l = 6 is the mask head), ``conv2d_transpose{6k+l}`` and
    ``batch_normalization{12k+l}`` (encoder BNs then decoder BNs); index 0 has no ``_0`` suffix.
    """
    mapping: List[Tuple[str, str, bool]] = []
    for k, instrument in enumerate(instrument_list):
        unet = f"unets.{instrument}"

        def batch_norm(paddle_layer: str, bn_index: int) -> None:
            tf_layer = f"batch_normalization{_suffix(bn_index)}"
            for paddle_name, tf_name in _BN_VARIABLES:
                mapping.append((f"{paddle_layer}.{paddle_name}", f"{tf_layer}/{tf_name}", False))

        for layer in range(N_ENCODER_LAYERS):
            conv = f"conv2d{_suffix(CONVS_PER_UNET * k + layer)}"
            mapping.append((f"{unet}.encoder.{layer}.conv.weight", f"{conv}/kernel", True))
            mapping.append((f"{unet}.encoder.{layer}.conv.bias", f"{conv}/bias", False))
            batch_norm(f"{unet}.encoder.{layer}.bn", BATCH_NORMS_PER_UNET * k + layer)
        for layer in range(N_DECODER_LAYERS):
            deconv = f"conv2d_transpose{_suffix(DECONVS_PER_UNET * k + layer)}"
            mapping.append((f"{unet}.decoder.{layer}.deconv.weight", f"{deconv}/kernel", True))
            mapping.append((f"{unet}.decoder.{layer}.deconv.bias", f"{deconv}/bias", False))
            bn_index = BATCH_NORMS_PER_UNET * k + N_ENCODER_LAYERS + layer
            batch_norm(f"{unet}.decoder.{layer}.bn", bn_index)
        head = f"conv2d{_suffix(CONVS_PER_UNET * k + N_ENCODER_LAYERS)}"
        mapping.append((f"{unet}.head.weight", f"{head}/kernel", True))
        mapping.append((f"{unet}.head.bias", f"{head}/bias", False))
    return mapping


def _expected_state(
    params: Mapping[str, Any], model: Any
) -> Dict[str, Tuple[Tuple[int, ...], str]]:
    if model is None:
        from ..model import build_model

        model = build_model(dict(params))
    return {
        key: (tuple(value.shape), _dtype_name(value)) for key, value in model.state_dict().items()
    }


def expected_weight_bytes(params: Mapping[str, Any]) -> int:
    """Bytes of the float32 weights of ``build_model(params)`` (78,614,072 for 2stems)."""
    return sum(
        int(np.prod(shape)) * np.dtype(dtype).itemsize
        for shape, dtype in _expected_state(params, None).values()
    )


def _dtype_name(tensor: Any) -> str:
    """``float32`` for a Paddle tensor of ``paddle.float32`` (numpy spelling)."""
    return str(tensor.dtype).replace("paddle.", "")


def non_finite_problem(value: np.ndarray) -> Optional[str]:
    """``"3 NaN values (first at [0, 2])"`` when a float tensor holds NaN/Inf, else ``None``.

    A NaN or infinite weight makes every output it reaches NaN or wrong without any error, so
    weights are refused at load instead (the caller names the tensor and the file).
    """
    if not (
        np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.complexfloating)
    ):
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


def _listing(names: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def convert_checkpoint(
    checkpoint: Union[TFCheckpoint, PathLike],
    params: Mapping[str, Any],
    model: Any = None,
    verify: bool = True,
) -> Dict[str, np.ndarray]:
    """Paddle state dict of ``build_model(params)`` from a TF U-Net checkpoint (any stem count).

    ``checkpoint`` is a :class:`TFCheckpoint` or a bundle prefix (``<dir>/model``). ``model``
    (optional) is the built model whose state dict the result must fill; built from ``params``
    otherwise. Every tensor is CRC-checked when ``verify``. Raises :class:`CheckpointError` naming
    missing, mis-shaped or unused variables.
    """
    if not isinstance(checkpoint, TFCheckpoint):
        checkpoint = TFCheckpoint(checkpoint)
    source = checkpoint.index_path
    model_type = params["model"]["type"]
    if model_type not in ("unet.unet", "unet.softmax_unet"):
        raise CheckpointError(f"{source}: cannot convert TF weights for model type '{model_type}'")
    expected = _expected_state(params, model)
    mapping = tf_variable_map(params["instrument_list"])
    missing = [tf_name for _, tf_name, _ in mapping if tf_name not in checkpoint]
    if missing:
        raise CheckpointError(
            f"{source}: checkpoint lacks {len(missing)} variables of the "
            f"{len(params['instrument_list'])}-instrument U-Net ({_listing(missing)}); "
            "does the configuration match the checkpoint?"
        )
    used = {tf_name for _, tf_name, _ in mapping}
    extra = [n for n in checkpoint.names() if n not in used and _MODEL_VARIABLE.match(n)]
    if extra:
        raise CheckpointError(
            f"{source}: checkpoint has U-Net variables the configuration does not use "
            f"({_listing(extra)}); it holds more instruments than "
            f"{len(params['instrument_list'])}"
        )
    unmapped = sorted(set(expected) - {key for key, _, _ in mapping})
    if unmapped:
        raise CheckpointError(f"{source}: no TF variable maps to Paddle {_listing(unmapped)}")
    state: Dict[str, np.ndarray] = {}
    for paddle_key, tf_name, is_kernel in mapping:
        value = checkpoint.read(tf_name, verify=verify)
        problem = non_finite_problem(value)  # index in the TF layout, like the name
        if problem:
            raise CheckpointError(
                f"{source}: tensor '{tf_name}' holds {problem}; the checkpoint is corrupt or "
                "comes from a diverged training, refusing to convert it"
            )
        if is_kernel:
            if value.ndim != 4:
                raise CheckpointError(
                    f"{source}: '{tf_name}' has shape {list(value.shape)}, expected a 4-D kernel"
                )
            value = value.transpose(KERNEL_PERMUTATION)
        shape, dtype = expected.get(paddle_key, (None, ""))
        if shape is None:
            raise CheckpointError(f"{source}: '{tf_name}' maps to unknown Paddle key {paddle_key}")
        if tuple(value.shape) != shape:
            raise CheckpointError(
                f"{source}: '{tf_name}' has shape {list(checkpoint.shape(tf_name))}, which does "
                f"not fit Paddle {paddle_key} {list(shape)}"
            )
        if dtype and str(value.dtype) != dtype:
            raise CheckpointError(
                f"{source}: '{tf_name}' is {value.dtype}, Paddle {paddle_key} needs {dtype}"
            )
        state[paddle_key] = np.ascontiguousarray(value)
    return state


# --- weight files ---------------------------------------------------------------------------------


def file_sha256(path: PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _as_array(value: Any) -> np.ndarray:
    if hasattr(value, "numpy"):
        value = value.numpy()
    return np.ascontiguousarray(np.asarray(value))


def _file_mode() -> int:
    umask = os.umask(0o22)
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(target: Path, write) -> None:
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, _file_mode())  # mkstemp creates 0600; weights are shareable
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_weights(
    state: Mapping[str, Any],
    directory: PathLike,
    metadata: Optional[Mapping[str, Any]] = None,
    basename: str = "model",
) -> Path:
    """Write ``<basename>.safetensors`` + ``<basename>.json`` into ``directory``; returns the former.

    ``state`` maps state-dict keys to arrays (numpy or Paddle tensors, any shape/dtype).
    ``metadata`` goes into the JSON (``config``, ``source``, anything JSON-serialisable); the
    weights' sha256 and ``format`` are added. Each file is written to a temporary name and renamed.
    """
    from safetensors.numpy import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights_path = directory / f"{basename}.safetensors"
    arrays = {key: _as_array(value) for key, value in state.items()}
    _atomic_write(weights_path, lambda path: save_file(arrays, path))
    document = {"config": None, "source": None, **dict(metadata or {})}
    document["sha256"] = {weights_path.name: file_sha256(weights_path)}
    document["format"] = WEIGHTS_FORMAT
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"
    _atomic_write(directory / f"{basename}.json", lambda path: Path(path).write_text(text))
    return weights_path


def read_metadata(directory: PathLike, basename: str = "model") -> Dict[str, Any]:
    """The ``<basename>.json`` document of a weights directory (ModelError naming it if unreadable)."""
    path = Path(directory) / f"{basename}.json"
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


def read_weights(directory: PathLike, basename: str = "model") -> Dict[str, np.ndarray]:
    """Arrays of ``<basename>.safetensors`` after checking its sha256 against the JSON.

    Float tensors holding NaN or Inf are refused (:class:`ModelError` naming tensor and file).
    """
    from safetensors.numpy import load_file

    directory = Path(directory)
    weights_path = directory / f"{basename}.safetensors"
    if not weights_path.is_file():
        raise ModelError(f"{weights_path}: weights file not found")
    expected = read_metadata(directory, basename)["sha256"].get(weights_path.name)
    actual = file_sha256(weights_path)
    if expected != actual:
        raise ModelError(
            f"{weights_path}: weights file is corrupted (sha256 {actual} does not match "
            f"{directory / (basename + '.json')}): it changed after it was written; nothing was "
            "loaded (for an official model, move the directory aside and run `spleeter-paddle models "
            "download`)"
        )
    try:
        arrays = load_file(str(weights_path))
    except Exception as error:  # safetensors raises its own error types
        raise ModelError(f"{weights_path}: unreadable weights file ({error})") from None
    for key, value in arrays.items():
        problem = non_finite_problem(value)
        if problem:
            raise ModelError(
                f"{weights_path}: tensor '{key}' holds {problem}; these weights would give "
                "wrong stems (a diverged training or a damaged file), refusing to load them"
            )
    return arrays


def load_weights(model: Any, directory: PathLike, basename: str = "model") -> Any:
    """Copy every tensor of ``<directory>/<basename>.safetensors`` into ``model`` exactly.

    Keys, shapes and dtypes must match ``model.state_dict()`` one to one; returns ``model``.
    """
    arrays = read_weights(directory, basename)
    weights_path = Path(directory) / f"{basename}.safetensors"
    target = model.state_dict()
    missing = [key for key in target if key not in arrays]
    unexpected = [key for key in arrays if key not in target]
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"missing {_listing(missing)}")
        if unexpected:
            problems.append(f"unexpected {_listing(unexpected)}")
        raise ModelError(
            f"{weights_path}: weights do not fit the model ({'; '.join(problems)}); "
            "was it saved for another configuration?"
        )
    for key, parameter in target.items():
        value, shape = arrays[key], tuple(parameter.shape)
        dtype = _dtype_name(parameter)
        if value.shape != shape or str(value.dtype) != dtype:
            raise ModelError(
                f"{weights_path}: '{key}' is {value.dtype}{list(value.shape)}, the model needs "
                f"{dtype}{list(shape)}"
            )
        parameter.set_value(value)
    return model
