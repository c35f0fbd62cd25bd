"""Test helper: write TensorFlow checkpoint bundles (index SSTable + data shards) without TensorFlow.

Also builds random-weight U-Net variable sets named the way Keras names them in Spleeter's
checkpoints (``conv2d_7/kernel``...), written from the reference tables independently of
``spleeter_paddle.pretrained.convert``.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

from spleeter_paddle.configuration import load_configuration
from spleeter_paddle.pretrained.checksums import masked_crc32c
from spleeter_paddle.pretrained.tf_checkpoint import TABLE_MAGIC

TINY_FILTERS = [2, 4, 4, 4, 4, 4]

TF_DTYPE_CODES = {
    "float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6, "complex64": 8,
    "int64": 9, "bool": 10, "uint16": 17, "complex128": 18, "float16": 19, "uint32": 22,
    "uint64": 23,
}  # fmt: skip


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def field_bytes(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def field_fixed32(number: int, value: int) -> bytes:
    return varint(number << 3 | 5) + struct.pack("<I", value)


def bundle_entry(
    dtype_code: int, shape: Sequence[int], shard: int, offset: int, data: bytes
) -> bytes:
    shape_proto = b"".join(field_bytes(2, field_varint(1, dim)) for dim in shape)
    entry = field_varint(1, dtype_code) + field_bytes(2, shape_proto)
    if shard:
        entry += field_varint(3, shard)
    if offset:
        entry += field_varint(4, offset)
    if data:
        entry += field_varint(5, len(data))
    return entry + field_fixed32(6, masked_crc32c(data))


def snappy_literals(data: bytes) -> bytes:
    """A valid Snappy encoding made of literal elements only (enough to exercise the reader)."""
    out = bytearray(varint(len(data)))
    for start in range(0, len(data), 60):
        chunk = data[start : start + 60]
        out.append((len(chunk) - 1) << 2)
        out += chunk
    return bytes(out)


def _block(entries: List[Tuple[bytes, bytes]], restart_interval: int) -> bytes:
    out, restarts, previous = bytearray(), [], b""
    for position, (key, value) in enumerate(entries):
        shared = 0
        if position % restart_interval == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value))
        out += key[shared:] + value
        previous = key
    restarts = restarts or [0]
    out += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return bytes(out)


def _append_block(table: bytearray, block: bytes, snappy: bool) -> bytes:
    """Append block + trailer; returns the encoded BlockHandle."""
    contents, compression = (snappy_literals(block), 1) if snappy else (block, 0)
    handle = varint(len(table)) + varint(len(contents))
    table += contents + bytes([compression])
    table += struct.pack("<I", masked_crc32c(contents + bytes([compression])))
    return handle


def write_sstable(
    path: Path,
    entries: List[Tuple[bytes, bytes]],
    block_size: int = 512,
    restart_interval: int = 4,
    snappy: bool = False,
) -> None:
    table, index_entries, pending, pending_size = bytearray(), [], [], 0
    for key, value in entries:
        pending.append((key, value))
        pending_size += len(key) + len(value)
        if pending_size >= block_size:
            handle = _append_block(table, _block(pending, restart_interval), snappy)
            index_entries.append((pending[-1][0], handle))
            pending, pending_size = [], 0
    if pending:
        handle = _append_block(table, _block(pending, restart_interval), snappy)
        index_entries.append((pending[-1][0], handle))
    metaindex = _append_block(table, _block([], 1), snappy)
    index = _append_block(table, _block(index_entries, 1), snappy)
    footer = (metaindex + index).ljust(40, b"\0") + struct.pack("<Q", TABLE_MAGIC)
    path.write_bytes(bytes(table + footer))


def write_bundle(
    prefix: Path,
    tensors: Mapping[str, np.ndarray],
    n_shards: int = 1,
    snappy: bool = False,
    block_size: int = 512,
) -> Path:
    """Write ``<prefix>.index`` and ``<prefix>.data-0000K-of-0000N``; tensors go to shards in turn.

    Like TF, entries are sorted by name and tensors are stored in that order, little-endian.
    """
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    header = field_varint(1, n_shards) + field_bytes(3, field_varint(1, 1))
    entries: List[Tuple[bytes, bytes]] = [(b"", header)]
    shards = [
        (prefix.parent / f"{prefix.name}.data-{k:05d}-of-{n_shards:05d}").open("wb")
        for k in range(n_shards)
    ]
    offsets = [0] * n_shards
    try:
        for position, name in enumerate(sorted(tensors, key=lambda n: n.encode())):
            array = np.asarray(tensors[name])
            data = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<"))).tobytes()
            shard = position % n_shards
            code = TF_DTYPE_CODES[array.dtype.name]
            entries.append(
                (name.encode(), bundle_entry(code, array.shape, shard, offsets[shard], data))
            )
            shards[shard].write(data)
            offsets[shard] += len(data)
    finally:
        for stream in shards:
            stream.close()
    write_sstable(
        prefix.parent / f"{prefix.name}.index", entries, block_size=block_size, snappy=snappy
    )
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
