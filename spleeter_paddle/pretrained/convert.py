"""TF checkpoint -> Paddle state dict: the one place that knows TF variable names and layouts."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

import numpy as np

from ..errors import CheckpointError
from ..files import PathLike
from .store import Layout, model_layout, name_list, non_finite_problem
from .tf_checkpoint import TFCheckpoint

UNET_TYPES = ("unet.unet", "unet.softmax_unet")  # the models whose weights have TF names
N_ENCODER_LAYERS = N_DECODER_LAYERS = 6
# TF layers auto-named per U-Net, in creation order: 6 encoder convs + head, 6 deconvs, 12 BNs.
CONVS_PER_UNET, DECONVS_PER_UNET, BATCH_NORMS_PER_UNET = 7, 6, 12
# Conv kernel TF [kh, kw, in, out] -> Paddle [out, in, kh, kw]; deconv TF [kh, kw, out, in] ->
# Paddle [in, out, kh, kw]: the same permutation, no spatial flip.
KERNEL_PERMUTATION = (3, 2, 0, 1)
_CONV_VARIABLES = (("weight", "kernel"), ("bias", "bias"))
_BN_VARIABLES = (("weight", "gamma"), ("bias", "beta"), ("_mean", "moving_mean"), ("_variance", "moving_variance"))  # fmt: skip
_MODEL_VARIABLE = re.compile(
    r"^(conv2d|conv2d_transpose|batch_normalization)(_\d+)?/"
    r"(kernel|bias|gamma|beta|moving_mean|moving_variance)$"
)


def tf_variable_map(instrument_list: Sequence[str]) -> List[Tuple[str, str, bool]]:
    """``(paddle_key, tf_name, is_kernel)`` for every U-Net weight, instruments in list order:
    instrument k owns ``conv2d{7k+l}`` (l = 6 is the mask head), ``conv2d_transpose{6k+l}`` and
    ``batch_normalization{12k+l}`` (encoder BNs then decoder BNs); index 0 has no ``_0`` suffix."""
    mapping: List[Tuple[str, str, bool]] = []
    for k, instrument in enumerate(instrument_list):
        layers = []  # (Paddle layer, TF layer, its index among the TF layers of that kind)
        for i in range(N_ENCODER_LAYERS):
            layers.append((f"encoder.{i}.conv", "conv2d", CONVS_PER_UNET * k + i))
            layers.append((f"encoder.{i}.bn", "batch_normalization", BATCH_NORMS_PER_UNET * k + i))
        for i in range(N_DECODER_LAYERS):
            bn_index = BATCH_NORMS_PER_UNET * k + N_ENCODER_LAYERS + i
            layers.append((f"decoder.{i}.deconv", "conv2d_transpose", DECONVS_PER_UNET * k + i))
            layers.append((f"decoder.{i}.bn", "batch_normalization", bn_index))
        layers.append(("head", "conv2d", CONVS_PER_UNET * k + N_ENCODER_LAYERS))
        for paddle_layer, tf_layer, index in layers:
            tf_layer += f"_{index}" if index else ""
            variables = _BN_VARIABLES if tf_layer.startswith("batch") else _CONV_VARIABLES
            for paddle_name, tf_name in variables:
                paddle_key = f"unets.{instrument}.{paddle_layer}.{paddle_name}"
                mapping.append((paddle_key, f"{tf_layer}/{tf_name}", tf_name == "kernel"))
    return mapping


def _expected_state(params: Mapping[str, Any], model: Any) -> Layout:
    if model is None:
        from ..model import build_model

        model = build_model(dict(params), initialise=False)  # only the shapes are read
    return model_layout(model)


def expected_weight_bytes(params: Mapping[str, Any]) -> int:
    """Bytes of the float32 weights of ``build_model(params)`` (78,614,072 for 2stems)."""
    return sum(
        int(np.prod(shape)) * np.dtype(dtype).itemsize
        for shape, dtype in _expected_state(params, None).values()
    )


def convert_checkpoint(
    checkpoint: Union[TFCheckpoint, PathLike],
    params: Mapping[str, Any],
    model: Any = None,
) -> Dict[str, np.ndarray]:
    """Paddle state dict of ``build_model(params)`` (or of ``model``) from a TF U-Net checkpoint
    (a :class:`TFCheckpoint` or a bundle prefix), CRC-checked; a CheckpointError names missing,
    mis-shaped or unused variables."""
    if not isinstance(checkpoint, TFCheckpoint):
        checkpoint = TFCheckpoint(checkpoint)
    source = checkpoint.index_path
    model_type = params["model"]["type"]
    if model_type not in UNET_TYPES:
        raise CheckpointError(f"{source}: cannot convert TF weights for model type '{model_type}'")
    expected = _expected_state(params, model)
    mapping = tf_variable_map(params["instrument_list"])
    missing = [tf_name for _, tf_name, _ in mapping if tf_name not in checkpoint]
    if missing:
        raise CheckpointError(
            f"{source}: checkpoint lacks {len(missing)} variables of the "
            f"{len(params['instrument_list'])}-instrument U-Net ({name_list(missing)}); "
            "does the configuration match the checkpoint?"
        )
    used = {tf_name for _, tf_name, _ in mapping}
    extra = [n for n in checkpoint.names() if n not in used and _MODEL_VARIABLE.match(n)]
    if extra:
        raise CheckpointError(
            f"{source}: checkpoint has U-Net variables the configuration does not use "
            f"({name_list(extra)}); it holds more instruments than "
            f"{len(params['instrument_list'])}"
        )
    unmapped = sorted(set(expected) - {key for key, _, _ in mapping})
    if unmapped:
        raise CheckpointError(f"{source}: no TF variable maps to Paddle {name_list(unmapped)}")
    state: Dict[str, np.ndarray] = {}
    for paddle_key, tf_name, is_kernel in mapping:
        value = checkpoint.read(tf_name)
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
