"""TensorFlow checkpoint bundles written without TensorFlow (the mirror of ``tf_checkpoint``): a
trained model as ``model.ckpt-<step>.*`` with Spleeter's variable names, for official Spleeter."""

from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np

from ..files import PathLike, file_sha256, write_atomic, write_text_atomic
from ..ownership import recorded_problem
from .checksums import masked_crc32c
from .convert import KERNEL_PERMUTATION, UNET_TYPES, tf_variable_map
from .tf_checkpoint import TABLE_MAGIC, TF_DTYPES, shard_path

logger = logging.getLogger(__name__)

STATE_FILE = "checkpoint"  # TF's CheckpointState text: which prefix is the latest
DTYPE_CODES = {np.dtype(name).name: code for code, name in TF_DTYPES.items()}  # float32: 1, ...
# Paddle kernel [out, in, kh, kw] (deconv [in, out, kh, kw]) -> TF [kh, kw, in, out] ([kh, kw, out, in]).
TF_KERNEL_PERMUTATION = tuple(int(axis) for axis in np.argsort(KERNEL_PERMUTATION))


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


def bundle_entry(
    dtype_code: int, shape: Sequence[int], shard: int, offset: int, data: bytes
) -> bytes:
    """A ``BundleEntryProto``: dtype, shape, shard, offset, size and the data's masked CRC32C."""
    shape_proto = b"".join(field_bytes(2, field_varint(1, dim)) for dim in shape)
    entry = field_varint(1, dtype_code) + field_bytes(2, shape_proto)
    for number, value in ((3, shard), (4, offset), (5, len(data))):
        if value:  # proto3 leaves out a zero
            entry += field_varint(number, value)
    return entry + varint(6 << 3 | 5) + struct.pack("<I", masked_crc32c(data))  # fixed32 field 6


def snappy_literals(data: bytes) -> bytes:
    """A valid Snappy encoding made of literal elements only (TF reads it like any other)."""
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


def sstable_bytes(
    entries: List[Tuple[bytes, bytes]],
    block_size: int = 4096,
    restart_interval: int = 16,
    snappy: bool = False,
) -> bytes:
    """An SSTable (LevelDB format, as TF's bundle index) of ``entries`` sorted by key."""
    table, index_entries, pending, pending_size = bytearray(), [], [], 0
    for position, (key, value) in enumerate(entries, 1):
        pending.append((key, value))
        pending_size += len(key) + len(value)
        if pending_size >= block_size or position == len(entries):  # a full block, or the last
            handle = _append_block(table, _block(pending, restart_interval), snappy)
            index_entries.append((key, handle))
            pending, pending_size = [], 0
    metaindex = _append_block(table, _block([], 1), snappy)
    index = _append_block(table, _block(index_entries, 1), snappy)
    footer = (metaindex + index).ljust(40, b"\0") + struct.pack("<Q", TABLE_MAGIC)
    return bytes(table + footer)


def write_bundle(
    prefix: PathLike,
    tensors: Mapping[str, np.ndarray],
    n_shards: int = 1,
    snappy: bool = False,
    block_size: int = 4096,
    restart_interval: int = 16,
) -> Dict[str, str]:
    """Write ``<prefix>.data-0000K-of-0000N`` (tensors sorted by name, to shards in turn,
    little-endian) then ``<prefix>.index``, each atomically; returns ``{file name: sha256}``."""
    prefix = Path(prefix)
    header = field_varint(1, n_shards) + field_bytes(3, field_varint(1, 1))
    entries: List[Tuple[bytes, bytes]] = [(b"", header)]
    shards: List[List[bytes]] = [[] for _ in range(n_shards)]
    offsets = [0] * n_shards
    for position, name in enumerate(sorted(tensors, key=lambda n: n.encode())):
        array = np.asarray(tensors[name])
        data = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<"))).tobytes()
        shard = position % n_shards
        code = DTYPE_CODES[array.dtype.name]
        entries.append(
            (name.encode(), bundle_entry(code, array.shape, shard, offsets[shard], data))
        )
        shards[shard].append(data)
        offsets[shard] += len(data)
    written = {}
    for shard, chunks in enumerate(shards):
        path = shard_path(prefix, shard, n_shards)
        write_atomic(path, lambda temporary, chunks=chunks: _write_chunks(temporary, chunks))
        written[path.name] = file_sha256(path)
    index = prefix.parent / f"{prefix.name}.index"
    table = sstable_bytes(entries, block_size, restart_interval, snappy)
    write_atomic(index, lambda temporary: temporary.write_bytes(table))
    written[index.name] = file_sha256(index)
    return written


def _write_chunks(path: Path, chunks: Sequence[bytes]) -> None:
    with path.open("wb") as stream:
        stream.writelines(chunks)


def tf_variables(
    state: Mapping[str, Any], params: Mapping[str, Any], step: int
) -> Dict[str, np.ndarray]:
    """Spleeter's TF variables (``conv2d_7/kernel``... and ``global_step``) of a U-Net model's
    Paddle state dict: the inverse of ``convert.convert_checkpoint``."""
    variables: Dict[str, np.ndarray] = {"global_step": np.array(step, dtype=np.int64)}
    for paddle_key, tf_name, is_kernel in tf_variable_map(params["instrument_list"]):
        value = np.asarray(state[paddle_key], dtype=np.float32)
        variables[tf_name] = value.transpose(TF_KERNEL_PERMUTATION) if is_kernel else value
    return variables


def can_write_tf(params: Mapping[str, Any]) -> bool:
    """Spleeter's TF graph names U-Net variables only (its BLSTM has other names)."""
    return params["model"]["type"] in UNET_TYPES


def write_tf_checkpoint(
    state: Mapping[str, Any], params: Mapping[str, Any], directory: PathLike, step: int
) -> Dict[str, str]:
    """``<directory>/model.ckpt-<step>`` (index + data) and the ``checkpoint`` state naming it,
    as TensorFlow's Estimator writes them; returns ``{file name: sha256}`` of the three files."""
    directory = Path(directory)
    prefix = f"model.ckpt-{int(step)}"
    written = write_bundle(directory / prefix, tf_variables(state, params, step))
    state_text = f'model_checkpoint_path: "{prefix}"\nall_model_checkpoint_paths: "{prefix}"\n'
    write_text_atomic(directory / STATE_FILE, state_text)
    written[STATE_FILE] = file_sha256(directory / STATE_FILE)
    return written


def replace_tf_checkpoint(
    state: Mapping[str, Any],
    params: Mapping[str, Any],
    directory: PathLike,
    step: int,
    previous: Mapping[str, str],
) -> Dict[str, str]:
    """:func:`write_tf_checkpoint` for ``step``, then ``previous`` (``{file name: sha256}``, the
    last call's) removed where unchanged; never over a file it did not write (then ``{}``)."""
    directory = Path(directory)
    prefix = f"model.ckpt-{int(step)}"
    targets = (STATE_FILE, f"{prefix}.index", f"{prefix}.data-00000-of-00001")
    for name in targets:
        path = directory / name
        if (path.exists() or path.is_symlink()) and recorded_problem(directory, previous, [name]):
            logger.warning(
                "%s: not written by this run, so no TensorFlow checkpoint is exported beside it",
                path,
            )
            return {}
    written = write_tf_checkpoint(state, params, directory, step)
    for name in (name for name in previous if name not in written and Path(name).name == name):
        if recorded_problem(directory, previous, [name]) is None:  # still what was written
            (directory / name).unlink()
    return written
