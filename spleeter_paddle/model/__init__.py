"""Model registry: build the network a configuration's ``model.type`` names.

Every model maps ``[B, C, T, F]`` mix magnitudes to ``[B, N, C, T, F]`` instrument magnitude
estimates, N = ``len(instrument_list)`` in list order.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator

from ..runtime import nn
from .blstm import SpleeterBLSTM
from .unet import LeakyReLU, SpleeterUNet


@contextlib.contextmanager
def portable_activations(model: nn.Layer) -> Iterator[nn.Layer]:
    """Within the block, ``model`` writes its leaky ReLUs with ops every exporter maps exactly
    (same numbers in Paddle); use it around ``paddle.jit.save`` for ONNX/OpenVINO."""
    layers = [layer for layer in model.sublayers() if isinstance(layer, LeakyReLU)]
    for layer in layers:
        layer.portable = True
    try:
        yield model
    finally:
        for layer in layers:
            layer.portable = False


def build_model(
    params: Dict[str, Any],
    batch_statistics: bool = False,
    dropout: bool = False,
    initialise: bool = True,
) -> nn.Layer:
    """The ``paddle.nn.Layer`` for a validated configuration (see ``configuration.py``).

    ``batch_statistics`` / ``dropout`` switch BN to batch statistics and enable dropout in
    training; both are off by default, which is how Spleeter trained. ``initialise=False``
    skips the random initial weights (all zero) for a caller that loads every weight next.
    """
    model_params, instruments = params["model"].get("params", {}), params["instrument_list"]
    if model_class(params) is SpleeterUNet:
        model = SpleeterUNet(
            instruments,
            params["n_channels"],
            model_params,
            softmax=params["model"]["type"] == "unet.softmax_unet",
            batch_statistics=batch_statistics,
            dropout=dropout,
            initialise=initialise,
        )
    else:
        model = SpleeterBLSTM(
            instruments, params["n_channels"], params["F"], model_params, initialise
        )
    model.graph_config = graph_config(params, batch_statistics, dropout)
    return model


def graph_config(
    params: Dict[str, Any], batch_statistics: bool = False, dropout: bool = False
) -> Dict[str, Any]:
    """Everything besides weights and code that shapes ``build_model(params, ...)``'s network:
    exported graphs are keyed on it."""
    return {
        "type": params["model"]["type"],
        "params": params["model"].get("params", {}),
        "instrument_list": list(params["instrument_list"]),
        "n_channels": params["n_channels"],
        "F": params["F"],
        "batch_statistics": batch_statistics,
        "dropout": dropout,
    }


def model_class(params: Dict[str, Any]) -> type:
    """The ``nn.Layer`` class ``build_model(params)`` makes."""
    model_type = params["model"]["type"]
    if model_type in ("unet.unet", "unet.softmax_unet"):
        return SpleeterUNet
    if model_type == "blstm.blstm":
        return SpleeterBLSTM
    raise ValueError(f"unknown model type {model_type!r}")


__all__ = [
    "build_model",
    "graph_config",
    "model_class",
    "portable_activations",
    "SpleeterUNet",
    "SpleeterBLSTM",
]
