"""Read TensorFlow checkpoint bundles without TensorFlow: ``model.index`` is a LevelDB SSTable of
``BundleEntryProto`` records, the ``model.data-*`` shards hold raw tensors, each with a masked
CRC32C checked on every read."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from ..errors import CheckpointError
from .checksums import masked_crc32c

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5
_COMPRESSION_NONE, _COMPRESSION_SNAPPY = 0, 1

# TensorFlow DataType enum -> numpy dtype (little-endian); bfloat16, strings, quantised: unsupported.
TF_DTYPES = {
    1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 8: "<c8", 9: "<i8", 10: "?",
    17: "<u2", 18: "<c16", 19: "<f2", 22: "<u4", 23: "<u8",
}  # fmt: skip


# --- protobuf and SSTable decoding ----------------------------------------------------------------


def read_varint(buffer: bytes, position: int) -> Tuple[int, int]:
    """``(value, next_position)`` of the unsigned LEB128 varint at ``position``."""
    value = shift = 0
    while True:
        if position >= len(buffer) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = buffer[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def proto_fields(message: bytes) -> Iterator[Tuple[int, Union[int, bytes]]]:
    """``(field_number, value)`` pairs; varint/fixed values as ints, length-delimited as bytes."""
    position = 0
    while position < len(message):
        key, position = read_varint(message, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = read_varint(message, position)
        elif wire_type in (1, 5):
            size = 8 if wire_type == 1 else 4
            if position + size > len(message):
                raise ValueError("truncated fixed-width field")
            value = int.from_bytes(message[position : position + size], "little")
            position += size
        elif wire_type == 2:
            size, position = read_varint(message, position)
            if position + size > len(message):
                raise ValueError("truncated length-delimited field")
            value = bytes(message[position : position + size])
            position += size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        yield number, value


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


class TensorEntry(NamedTuple):
    """One ``BundleEntryProto``: where a tensor lives and how to check it."""

    dtype_code: int
    shape: Tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    masked_crc: Optional[int]
    sliced: bool


def parse_bundle_entry(message: bytes) -> TensorEntry:
    fields, shape, sliced = {}, (), False  # field number -> value, for the scalar fields
    for number, value in proto_fields(message):
        if number == 2:
            dims = []
            for dim_number, dim in proto_fields(value):
                if dim_number == 2:
                    sizes = [_signed64(v) for n, v in proto_fields(dim) if n == 1]
                    dims.append(sizes[-1] if sizes else 0)
            shape = tuple(dims)
        elif number == 7:
            sliced = True
        else:
            fields[number] = value
    dtype_code, shard_id, offset, size = (fields.get(number, 0) for number in (1, 3, 4, 5))
    return TensorEntry(dtype_code, shape, shard_id, offset, size, fields.get(6), sliced)


def snappy_decompress(compressed: bytes) -> bytes:
    """Decode a raw Snappy block (the SSTable block compression TF may use)."""
    length, position = read_varint(compressed, 0)
    output = bytearray()
    while position < len(compressed):
        tag = compressed[position]
        position += 1
        kind = tag & 3
        if kind == 0:
            size = (tag >> 2) + 1
            if size > 60:
                extra = size - 60
                size = int.from_bytes(compressed[position : position + extra], "little") + 1
                position += extra
            output += compressed[position : position + size]
            position += size
            continue
        if kind == 1:
            size, distance = ((tag >> 2) & 7) + 4, ((tag >> 5) << 8) | compressed[position]
            position += 1
        else:
            width = 2 if kind == 2 else 4
            size = (tag >> 2) + 1
            distance = int.from_bytes(compressed[position : position + width], "little")
            position += width
        if not 0 < distance <= len(output):
            raise ValueError("invalid snappy copy offset")
        for _ in range(size):  # copies may overlap their own output
            output.append(output[-distance])
    if len(output) != length:
        raise ValueError("snappy block has the wrong decoded length")
    return bytes(output)


def _block_handle(encoded: bytes, position: int = 0) -> Tuple[int, int, int]:
    offset, position = read_varint(encoded, position)
    size, position = read_varint(encoded, position)
    return offset, size, position


def _read_block(table: bytes, offset: int, size: int) -> bytes:
    end = offset + size + BLOCK_TRAILER_SIZE
    if end > len(table):
        raise ValueError(f"block at {offset} runs past the end of the file")
    contents, compression = table[offset : offset + size], table[offset + size]
    (stored,) = struct.unpack_from("<I", table, offset + size + 1)
    if masked_crc32c(table[offset : offset + size + 1]) != stored:
        raise ValueError(f"block at {offset} fails its CRC32C check")
    if compression == _COMPRESSION_SNAPPY:
        return snappy_decompress(contents)
    if compression != _COMPRESSION_NONE:
        raise ValueError(f"block at {offset} uses unsupported compression {compression}")
    return contents


def parse_block(block: bytes) -> List[Tuple[bytes, bytes]]:
    """Entries of one SSTable block: prefix-compressed keys, followed by the restart array."""
    if len(block) < 4:
        raise ValueError("block too short")
    (n_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    limit = len(block) - 4 - 4 * n_restarts
    if limit < 0:
        raise ValueError("block restart array is larger than the block")
    entries, key, position = [], b"", 0
    while position < limit:
        shared, position = read_varint(block, position)
        unshared, position = read_varint(block, position)
        value_size, position = read_varint(block, position)
        if shared > len(key) or position + unshared + value_size > limit:
            raise ValueError("malformed block entry")
        key = key[:shared] + block[position : position + unshared]
        position += unshared
        entries.append((key, block[position : position + value_size]))
        position += value_size
    return entries


def read_sstable(path: Path) -> List[Tuple[bytes, bytes]]:
    """All ``(key, value)`` pairs of a LevelDB-format table, in file order."""
    table = path.read_bytes()
    if len(table) < FOOTER_SIZE:
        raise ValueError("file is shorter than an SSTable footer")
    footer = table[-FOOTER_SIZE:]
    if struct.unpack("<Q", footer[-8:])[0] != TABLE_MAGIC:
        raise ValueError("bad SSTable magic number (not a TF checkpoint index)")
    _, _, position = _block_handle(footer)  # metaindex: unused by TF bundles
    index_offset, index_size, _ = _block_handle(footer, position)
    entries = []
    for _, handle in parse_block(_read_block(table, index_offset, index_size)):
        offset, size, _ = _block_handle(handle)
        entries.extend(parse_block(_read_block(table, offset, size)))
    return entries


# --- the bundle -----------------------------------------------------------------------------------


def shard_path(prefix: Path, shard_id: int, n_shards: int) -> Path:
    """``<prefix>.data-0000K-of-0000N``, the name TF gives data shard ``shard_id``."""
    return prefix.parent / f"{prefix.name}.data-{shard_id:05d}-of-{n_shards:05d}"


class TFCheckpoint:
    """A TF checkpoint bundle opened by prefix (``TFCheckpoint("tf/2stems/model")``) or folder;
    ``read(name)`` returns a tensor in its stored dtype and shape, CRC-checked."""

    def __init__(self, prefix: Union[str, Path]):
        self.prefix = Path(prefix)
        if self.prefix.is_dir():  # a checkpoint directory: follow its state file
            self.prefix = find_checkpoint_prefix(self.prefix) or self.prefix / "model"
        self.index_path = self.prefix.parent / f"{self.prefix.name}.index"
        if not self.index_path.is_file():
            raise CheckpointError(f"{self.index_path}: checkpoint index not found")
        try:
            records = read_sstable(self.index_path)
            self._entries: Dict[str, TensorEntry] = {}
            self.n_shards, big_endian = 1, False
            for key, value in records:
                if key == b"":
                    header = dict(proto_fields(value))
                    self.n_shards = header.get(1, 1)
                    big_endian = header.get(2, 0) == 1
                elif not key.startswith(b"\0"):  # "\0"-prefixed keys describe variable slices
                    self._entries[key.decode("utf-8")] = parse_bundle_entry(value)
        except (ValueError, UnicodeDecodeError) as error:
            raise CheckpointError(
                f"{self.index_path}: corrupted checkpoint index ({error})"
            ) from None
        self.byte_order = ">" if big_endian else "<"
        for name, entry in self._entries.items():
            if entry.shard_id >= self.n_shards:
                raise CheckpointError(
                    f"{self.index_path}: tensor '{name}' names shard {entry.shard_id} "
                    f"of {self.n_shards}"
                )

    def names(self) -> List[str]:
        """Tensor names in index order (sorted bytewise), e.g. ``batch_normalization/beta``."""
        return list(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def entry(self, name: str) -> TensorEntry:
        if name not in self._entries:
            raise CheckpointError(f"{self.index_path}: no tensor named '{name}'")
        return self._entries[name]

    def shape(self, name: str) -> Tuple[int, ...]:
        """Stored TF shape, e.g. ``(5, 5, 2, 16)`` for a conv kernel ``[kh, kw, in, out]``."""
        return self.entry(name).shape

    def dtype(self, name: str) -> np.dtype:
        code = self.entry(name).dtype_code
        if code not in TF_DTYPES:
            raise CheckpointError(
                f"{self.index_path}: tensor '{name}' has unsupported TF dtype code {code}"
            )
        return np.dtype(TF_DTYPES[code]).newbyteorder(self.byte_order)

    def shard_path(self, shard_id: int) -> Path:
        return shard_path(self.prefix, shard_id, self.n_shards)

    def files(self) -> List[Path]:
        """The bundle's files: the index, then every data shard."""
        return [self.index_path] + [self.shard_path(i) for i in range(self.n_shards)]

    def read(self, name: str, verify: bool = True) -> np.ndarray:
        """The tensor ``name`` in its stored shape, native byte order; CRC-checked if ``verify``."""
        entry = self.entry(name)
        dtype = self.dtype(name)
        if entry.sliced:
            raise CheckpointError(
                f"{self.index_path}: tensor '{name}' is a partitioned variable (not supported)"
            )
        expected_size = int(np.prod(entry.shape, dtype=np.int64)) * dtype.itemsize
        if expected_size != entry.size:
            raise CheckpointError(
                f"{self.index_path}: tensor '{name}' of shape {list(entry.shape)} should take "
                f"{expected_size} bytes but the index says {entry.size}"
            )
        path = self.shard_path(entry.shard_id)
        buffer = bytearray(entry.size)
        try:
            with path.open("rb") as shard:
                shard.seek(entry.offset)
                n_read = shard.readinto(buffer)
        except OSError as error:
            raise CheckpointError(f"{path}: cannot read tensor '{name}' ({error})") from None
        if n_read != entry.size:
            raise CheckpointError(
                f"{path}: file is truncated, tensor '{name}' needs bytes "
                f"{entry.offset}..{entry.offset + entry.size} but only {n_read} were read"
            )
        if verify and entry.masked_crc is not None:
            actual = masked_crc32c(buffer)
            if actual != entry.masked_crc:
                raise CheckpointError(
                    f"{path}: tensor '{name}' is corrupted (masked CRC32C {actual} != stored "
                    f"{entry.masked_crc}); fetch the checkpoint again"
                )
        array = np.frombuffer(buffer, dtype=dtype).reshape(entry.shape)
        return array.astype(dtype.newbyteorder("="), copy=False)

    def verify_all(self) -> int:
        """Check every tensor's masked CRC32C; returns the number of tensors checked."""
        for name in self._entries:
            self.read(name, verify=True)
        return len(self._entries)


def find_checkpoint_prefix(directory: Union[str, Path]) -> Optional[Path]:
    """The bundle prefix in ``directory`` (``<dir>/model``) by its ``checkpoint`` state file
    (as ``tf.train.latest_checkpoint``), else its only ``*.index``; None otherwise."""
    directory = Path(directory)
    state = directory / "checkpoint"
    if state.is_file():
        for line in state.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model_checkpoint_path":
                prefix = Path(value.strip().strip('"'))
                prefix = prefix if prefix.is_absolute() else directory / prefix
                # An absolute path from the training machine: look beside the state file too.
                for candidate in (prefix, directory / prefix.name):
                    if candidate.parent.joinpath(candidate.name + ".index").is_file():
                        return candidate
    indexes = sorted(p for p in directory.glob("*.index") if not p.name.startswith("._"))
    if len(indexes) == 1:
        return indexes[0].with_suffix("")
    return None
