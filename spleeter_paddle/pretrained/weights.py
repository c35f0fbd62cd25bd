"""Weights on disk for a configuration: checked (made for it, sha256, NaN/Inf, layout), built
into a Paddle model when needed (``PretrainedWeights``) or at once (``load_pretrained_model``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from ..errors import ConfigurationError, ModelError
from ..files import PathLike
from .provider import Params, get_model_directory
from .store import (
    METADATA_FILE,
    WEIGHTS_FILE,
    assign_weights,
    read_metadata,
    read_weights,
    verified_weights_bytes,
    weights_digest,
)

logger = logging.getLogger(__name__)


class PretrainedWeights:
    """A configuration's checked weights on disk, named by their sha256 (a graph cached for these
    bytes runs without the model); :meth:`model` builds it from a read of the same digest."""

    def __init__(self, params: Params, directory: PathLike):
        self.params = params
        self.directory = Path(directory)
        check_made_for(params, self.directory)
        _, self.sha256 = verified_weights_bytes(self.directory)
        self._model = None

    def graph_identity(self) -> Dict[str, Any]:
        """What defines the eval-mode network: its class, configuration and weight bytes."""
        from ..model import graph_config, model_class

        cls = model_class(dict(self.params))
        return {
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "config": graph_config(dict(self.params)),
            "weights": f"safetensors sha256 {self.sha256}",
        }

    def model(self):
        """``build_model(params)`` holding these weights, in eval mode (built once)."""
        if self._model is None:
            from ..model import build_model

            arrays = read_weights(self.directory, self.sha256)
            model = build_model(dict(self.params), initialise=False)  # every weight is set next
            assign_weights(model, arrays, self.directory / WEIGHTS_FILE)
            model.eval()
            self._model = model
        return self._model

    def state_digest(self) -> str:
        """:func:`~.store.weights_digest` of the built model, else of the tensors on disk (the
        same digest), without building it."""
        if self._model is not None:
            return weights_digest(self._model.state_dict())
        return weights_digest(read_weights(self.directory, self.sha256))


def pretrained_weights(
    params: Params,
    model_home: Optional[PathLike] = None,
    model_dir: Optional[PathLike] = None,
) -> PretrainedWeights:
    """The checked weights for ``params``: from ``model_dir`` (e.g. a trained model) when given,
    else the config's provisioned pretrained weights."""
    if model_dir is None:
        model_dir = get_model_directory(params, model_home)
    return PretrainedWeights(params, model_dir)


def load_pretrained_model(
    params: Params,
    model_home: Optional[PathLike] = None,
    model_dir: Optional[PathLike] = None,
):
    """The model of :func:`pretrained_weights`, built (eval mode)."""
    weights = pretrained_weights(params, model_home, model_dir)
    model = weights.model()
    logger.info("weights: %s", weights.directory.absolute())
    return model


def _model_identity(params: Params) -> Dict[str, Any]:
    """What must agree between the configuration weights were made with and the one running them
    (names and shapes are not enough); ``F`` may differ: the U-Net is convolutional."""
    from ..model.unet import ACTIVATION_DEFAULTS, activation_name

    model = params.get("model") or {}
    model_params = dict(model.get("params") or {})
    if str(model.get("type", "")).startswith("unet."):
        model_params = {key: activation_name(model_params, key) for key in ACTIVATION_DEFAULTS}
    shared = ("n_channels", "sample_rate", "frame_length", "frame_step")
    return {
        **{key: params.get(key) for key in shared},
        "model.type": model.get("type"),
        "model.params": model_params,
        "instrument_list": sorted(params.get("instrument_list") or []),
    }


def check_made_for(params: Params, directory: PathLike) -> None:
    """A ModelError when ``directory``'s weights were made for a configuration that differs
    from ``params`` in what shapes the network's meaning (see ``_model_identity``)."""
    from ..configuration import load_configuration

    made_with = read_metadata(directory).get("config")
    recorded_as_preset = isinstance(made_with, str)
    if isinstance(made_with, str) and made_with.startswith("spleeter:"):
        try:
            made_with = load_configuration(made_with)
        except ConfigurationError:
            raise ModelError(
                f"{Path(directory) / METADATA_FILE}: names an unknown configuration "
                f"{made_with!r}; cannot tell what these weights were made for"
            ) from None
    if not isinstance(made_with, Mapping):
        return  # weights from before configurations were recorded: nothing to compare
    expected, running = _model_identity(made_with), _model_identity(params)
    differences = [
        f"{key} {expected[key]!r} (running {running[key]!r})"
        for key in expected
        if expected[key] is not None and expected[key] != running[key]
    ]
    if differences:
        raise ModelError(
            f"{directory}: these weights were made with {'; '.join(differences)}; they would "
            "give wrong stems with this configuration: use the configuration they were made "
            f"with (its 'config' in {Path(directory) / METADATA_FILE})"
        )
    trained_f, running_f = made_with.get("F"), params.get("F")
    if not recorded_as_preset and trained_f is not None and trained_f != running_f:
        # The convolutional U-Net runs at any F (the official 16 kHz presets widen 1024 to
        # 1536 on purpose), but bins a trained model never saw change its stems: say so.
        logger.warning(
            "%s: these weights were trained with F=%s; separating with F=%s (pass a "
            "configuration with \"F\": %s to separate as they were trained)",
            directory, trained_f, running_f, trained_f,
        )  # fmt: skip
