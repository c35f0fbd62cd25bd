"""Test helper: TensorFlow checkpoint bundles with small blocks (the library's writer, which the
reader tests then cross many blocks of), and random-weight U-Net variable sets named the way Keras names them in Spleeter's
checkpoints (``conv2d_7/kernel``...), written from the reference tables independently of
``spleeter_paddle.pretrained.convert``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

from spleeter_paddle.configuration import load_configuration
from spleeter_paddle.pretrained.tf_writer import sstable_bytes
from spleeter_paddle.pretrained.tf_writer import write_bundle as library_write_bundle

TINY_FILTERS = [2, 4, 4, 4, 4, 4]


def write_sstable(
    path: Path,
    entries: List[Tuple[bytes, bytes]],
    block_size: int = 512,
    restart_interval: int = 4,
    snappy: bool = False,
) -> None:
    """Small blocks and restart intervals by default, so the reader crosses many of them."""
    path.write_bytes(sstable_bytes(entries, block_size, restart_interval, snappy))


def write_bundle(
    prefix: Path,
    tensors: Mapping[str, np.ndarray],
    n_shards: int = 1,
    snappy: bool = False,
    block_size: int = 512,
) -> Path:
    """The library's bundle writer with small blocks; returns ``prefix``."""
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    library_write_bundle(prefix, tensors, n_shards, snappy, block_size, restart_interval=4)
    return prefix


# --- Spleeter-style random U-Net variables -------------------------------------------------------


def _sfx(index: int) -> str:
    return "" if index == 0 else f"_{index}"


def unet_tf_variables(
    n_instruments: int,
    rng: np.random.Generator,
    filters: Sequence[int] = (16, 32, 64, 128, 256, 512),
    n_channels: int = 2,
) -> Dict[str, np.ndarray]:
    """TF variables of ``n_instruments`` U-Nets in official naming and TF shapes, random values.

    Instrument k: ``conv2d{7k+l}`` (l = 0..5 encoder, 6 head), ``conv2d_transpose{6k+l}``,
    ``batch_normalization{12k+l}`` (l = 0..5 encoder, 6..11 decoder); plus ``global_step``.
    """
    variables: Dict[str, np.ndarray] = {"global_step": np.array(0, dtype=np.int64)}

    def random(*shape: int) -> np.ndarray:
        values = rng.random(shape, dtype=np.float32)
        values -= 0.5
        return values

    encoder_in = [n_channels, *filters[:-1]]
    decoder_out = [*reversed(filters[:-1]), 1]
    decoder_in = [filters[-1]] + [2 * c for c in decoder_out[:-1]]
    for k in range(n_instruments):
        for layer in range(6):
            conv = f"conv2d{_sfx(7 * k + layer)}"
            variables[f"{conv}/kernel"] = random(5, 5, encoder_in[layer], filters[layer])
            variables[f"{conv}/bias"] = random(filters[layer])
            deconv = f"conv2d_transpose{_sfx(6 * k + layer)}"
            variables[f"{deconv}/kernel"] = random(5, 5, decoder_out[layer], decoder_in[layer])
            variables[f"{deconv}/bias"] = random(decoder_out[layer])
        bn_sizes = [*filters, *decoder_out]
        for layer, size in enumerate(bn_sizes):
            bn = f"batch_normalization{_sfx(12 * k + layer)}"
            variables[f"{bn}/gamma"] = random(size)
            variables[f"{bn}/beta"] = random(size)
            variables[f"{bn}/moving_mean"] = random(size)
            variables[f"{bn}/moving_variance"] = np.abs(random(size)) + 0.5
        head = f"conv2d{_sfx(7 * k + 6)}"
        variables[f"{head}/kernel"] = random(4, 4, 1, n_channels)
        variables[f"{head}/bias"] = random(n_channels)
    return variables


def expected_paddle_state(
    variables: Mapping[str, np.ndarray], instrument_list: Sequence[str]
) -> Dict[str, np.ndarray]:
    """Paddle state dict the converter must produce for ``variables`` (Keras creation-order names)."""
    perm = (3, 2, 0, 1)
    bn_map = {
        "weight": "gamma",
        "bias": "beta",
        "_mean": "moving_mean",
        "_variance": "moving_variance",
    }
    state: Dict[str, np.ndarray] = {}
    for k, name in enumerate(instrument_list):
        unet = f"unets.{name}"
        for layer in range(6):
            conv = f"conv2d{_sfx(7 * k + layer)}"
            state[f"{unet}.encoder.{layer}.conv.weight"] = variables[f"{conv}/kernel"].transpose(
                perm
            )
            state[f"{unet}.encoder.{layer}.conv.bias"] = variables[f"{conv}/bias"]
            deconv = f"conv2d_transpose{_sfx(6 * k + layer)}"
            state[f"{unet}.decoder.{layer}.deconv.weight"] = variables[
                f"{deconv}/kernel"
            ].transpose(perm)
            state[f"{unet}.decoder.{layer}.deconv.bias"] = variables[f"{deconv}/bias"]
            for part, index in (("encoder", layer), ("decoder", 6 + layer)):
                bn = f"batch_normalization{_sfx(12 * k + index)}"
                for paddle_name, tf_name in bn_map.items():
                    state[f"{unet}.{part}.{layer}.bn.{paddle_name}"] = variables[f"{bn}/{tf_name}"]
        head = f"conv2d{_sfx(7 * k + 6)}"
        state[f"{unet}.head.weight"] = variables[f"{head}/kernel"].transpose(perm)
        state[f"{unet}.head.bias"] = variables[f"{head}/bias"]
    return state


def tiny_params(model_dir: str = "testmodel", preset: str = "2stems") -> dict:
    """A real preset with small filters (``conv_n_filters``), so test checkpoints weigh kilobytes."""
    params = load_configuration(f"spleeter:{preset}")
    params["model_dir"] = model_dir
    params["model"]["params"]["conv_n_filters"] = TINY_FILTERS
    return params
