"""Read TensorFlow checkpoint bundles (``model.index`` + ``model.data-*``) without TensorFlow.

The index is a LevelDB SSTable mapping tensor names to ``BundleEntryProto`` records; the data
shards hold raw little-endian C-order tensors, each protected by a masked CRC32C that is checked
on every read (see ``spleeter-reference.md`` section 2.3).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from ..errors import CheckpointError

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5
CRC_MASK_DELTA = 0xA282EAD8
_CASTAGNOLI_REFLECTED = 0x82F63B78
_COMPRESSION_NONE, _COMPRESSION_SNAPPY = 0, 1

# TensorFlow DataType enum -> numpy dtype (little-endian); bfloat16, strings, quantised: unsupported.
_DTYPES = {
    1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 8: "<c8", 9: "<i8", 10: "?",
    17: "<u2", 18: "<c16", 19: "<f2", 22: "<u4", 23: "<u8",
}  # fmt: skip


# --- CRC32C (Castagnoli) -------------------------------------------------------------------------


def _byte_tables(n_tables: int) -> np.ndarray:
    """``(n_tables, 256) uint32``: row k is the CRC register of a byte followed by k zero bytes."""
    tables = np.zeros((n_tables, 256), dtype=np.uint32)
    for byte in range(256):
        register = byte
        for _ in range(8):
            register = (register >> 1) ^ (_CASTAGNOLI_REFLECTED if register & 1 else 0)
        tables[0, byte] = register
    for k in range(1, n_tables):
        tables[k] = (tables[k - 1] >> 8) ^ tables[0][tables[k - 1] & 0xFF]
    return tables


_BYTE_TABLES = _byte_tables(8)
_BYTE_TABLE = [int(value) for value in _BYTE_TABLES[0]]
# 16-bit tables for 8-byte steps: entry v = b0 | b1 << 8 combines two byte tables.
_PAIR_INDEX = np.arange(1 << 16, dtype=np.uint32)
_PAIR_TABLES = [
    _BYTE_TABLES[k + 1][_PAIR_INDEX & 0xFF] ^ _BYTE_TABLES[k][_PAIR_INDEX >> 8]
    for k in (6, 4, 2, 0)
]
_ROW_BYTES = 1024  # bytes per independently processed row (a multiple of 8)
_ROWS_PER_PASS = 4096  # rows transposed at a time: keeps the working set in cache
_VECTOR_MIN_BYTES = 4096  # below this, the plain table loop is faster
_zero_shift_cache: Dict[int, List[int]] = {}


def _crc32c_loop(data: bytes, register: int) -> int:
    for byte in data:
        register = _BYTE_TABLE[(register ^ byte) & 0xFF] ^ (register >> 8)
    return register


def _apply_shift(columns: List[int], register: int) -> int:
    result = 0
    for bit in range(32):
        if register >> bit & 1:
            result ^= columns[bit]
    return result


def _zero_shift(log2_bytes: int) -> List[int]:
    """Linear map (32 column images) that feeds 2**log2_bytes zero bytes through the register."""
    if log2_bytes not in _zero_shift_cache:
        if log2_bytes == 0:
            columns = [_crc32c_loop(b"\0", 1 << bit) for bit in range(32)]
        else:
            half = _zero_shift(log2_bytes - 1)
            columns = [_apply_shift(half, column) for column in half]
        _zero_shift_cache[log2_bytes] = columns
    return _zero_shift_cache[log2_bytes]


def _apply_shift_array(columns: List[int], registers: np.ndarray) -> np.ndarray:
    tables = np.zeros((4, 256), dtype=np.uint32)
    for bit in range(32):
        table, low = divmod(bit, 8)
        tables[table, 1 << low : 2 << low] = tables[table, : 1 << low] ^ np.uint32(columns[bit])
    return (
        tables[0][registers & 0xFF]
        ^ tables[1][(registers >> 8) & 0xFF]
        ^ tables[2][(registers >> 16) & 0xFF]
        ^ tables[3][registers >> 24]
    )


def _row_registers(words: np.ndarray) -> np.ndarray:
    """CRC registers (initial value 0) of each row of ``words``, ``(n_rows, row_words) uint32``."""
    table6, table4, table2, table0 = _PAIR_TABLES
    registers = np.empty(words.shape[0], dtype=np.uint32)
    for start in range(0, words.shape[0], _ROWS_PER_PASS):
        columns = np.ascontiguousarray(words[start : start + _ROWS_PER_PASS].T)
        register = np.zeros(columns.shape[1], dtype=np.uint32)
        for step in range(0, columns.shape[0], 2):
            first = register ^ columns[step]
            second = columns[step + 1]
            register = np.take(table6, first & 0xFFFF)
            register ^= np.take(table4, first >> 16)
            register ^= np.take(table2, second & 0xFFFF)
            register ^= np.take(table0, second >> 16)
        registers[start : start + _ROWS_PER_PASS] = register
    return registers


def crc32c_numpy(data: Union[bytes, bytearray, memoryview, np.ndarray], crc: int = 0) -> int:
    """CRC-32C of ``data`` continuing from ``crc`` (zlib.crc32 convention), numpy only.

    Long inputs are split into 1 KiB rows whose CRCs run side by side (16-bit table lookups,
    8 bytes a step), then folded together with GF(2) zero-shift operators.
    """
    view = memoryview(data).cast("B")
    register = (crc ^ 0xFFFFFFFF) & 0xFFFFFFFF
    if len(view) < _VECTOR_MIN_BYTES:
        return _crc32c_loop(view, register) ^ 0xFFFFFFFF
    n_rows = -(-len(view) // _ROW_BYTES)
    padded = np.zeros(n_rows * _ROW_BYTES, dtype=np.uint8)
    start = len(padded) - len(view)  # leading zeros leave a zero register unchanged
    padded[start:] = np.frombuffer(view, dtype=np.uint8)
    # A non-zero initial register equals XOR-ing it into the first four bytes.
    padded[start : start + 4] ^= np.frombuffer(struct.pack("<I", register), dtype=np.uint8)
    registers = _row_registers(padded.view("<u4").reshape(n_rows, _ROW_BYTES // 4))
    level = _ROW_BYTES.bit_length() - 1
    while len(registers) > 1:
        if len(registers) % 2:
            registers = np.concatenate([np.zeros(1, dtype=np.uint32), registers])
        registers = _apply_shift_array(_zero_shift(level), registers[0::2]) ^ registers[1::2]
        level += 1
    return int(registers[0]) ^ 0xFFFFFFFF


def _native_crc32c():
    try:
        import google_crc32c  # type: ignore[import-not-found]

        if google_crc32c.implementation == "c":
            return lambda data, crc=0: google_crc32c.extend(crc, bytes(data))
    except ImportError:
        pass
    try:
        import crc32c as crc32c_module  # type: ignore[import-not-found]

        return lambda data, crc=0: crc32c_module.crc32c(data, crc)
    except ImportError:
        return None


_NATIVE_CRC32C = _native_crc32c()
CRC32C_BACKEND = "native" if _NATIVE_CRC32C is not None else "numpy"


def crc32c(data: Union[bytes, bytearray, memoryview, np.ndarray], crc: int = 0) -> int:
    """CRC-32C of ``data``: the ``google-crc32c`` / ``crc32c`` package when installed, else numpy."""
    if _NATIVE_CRC32C is not None:
        return _NATIVE_CRC32C(data, crc)
    return crc32c_numpy(data, crc)


def mask_crc(crc: int) -> int:
    """TensorFlow/LevelDB masking: rotate right by 15 bits, then add 0xa282ead8 (mod 2**32)."""
    return (((crc >> 15) | (crc << 17)) + CRC_MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: Union[bytes, bytearray, memoryview, np.ndarray]) -> int:
    """The checksum stored in TF bundle entries and SSTable block trailers."""
    return mask_crc(crc32c(data))


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
    dtype_code, shape, shard_id, offset, size, masked_crc, sliced = 0, (), 0, 0, 0, None, False
    for number, value in proto_fields(message):
        if number == 1:
            dtype_code = value
        elif number == 2:
            dims = []
            for dim_number, dim in proto_fields(value):
                if dim_number == 2:
                    sizes = [_signed64(v) for n, v in proto_fields(dim) if n == 1]
                    dims.append(sizes[-1] if sizes else 0)
            shape = tuple(dims)
        elif number == 3:
            shard_id = value
        elif number == 4:
            offset = value
        elif number == 5:
            size = value
        elif number == 6:
            masked_crc = value
        elif number == 7:
            sliced = True
    return TensorEntry(dtype_code, shape, shard_id, offset, size, masked_crc, sliced)


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
    """A TF checkpoint bundle opened by prefix (``TFCheckpoint("tf/2stems/model")``) or folder.

    ``names()`` lists tensors in index (sorted) order; ``read(name)`` returns a numpy array of the
    stored dtype and shape after checking its masked CRC32C.
    """

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

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, name: str) -> TensorEntry:
        if name not in self._entries:
            raise CheckpointError(f"{self.index_path}: no tensor named '{name}'")
        return self._entries[name]

    def shape(self, name: str) -> Tuple[int, ...]:
        """Stored TF shape, e.g. ``(5, 5, 2, 16)`` for a conv kernel ``[kh, kw, in, out]``."""
        return self.entry(name).shape

    def dtype(self, name: str) -> np.dtype:
        code = self.entry(name).dtype_code
        if code not in _DTYPES:
            raise CheckpointError(
                f"{self.index_path}: tensor '{name}' has unsupported TF dtype code {code}"
            )
        return np.dtype(_DTYPES[code]).newbyteorder(self.byte_order)

    def shard_path(self, shard_id: int) -> Path:
        return shard_path(self.prefix, shard_id, self.n_shards)

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

    def read_all(self, verify: bool = True) -> Dict[str, np.ndarray]:
        """Every tensor by name (index order)."""
        return {name: self.read(name, verify=verify) for name in self._entries}

    def verify_all(self) -> int:
        """Check every tensor's masked CRC32C; returns the number of tensors checked."""
        for name in self._entries:
            self.read(name, verify=True)
        return len(self._entries)


def find_checkpoint_prefix(directory: Union[str, Path]) -> Optional[Path]:
    """The bundle prefix in ``directory`` (``<dir>/model``), or None if it holds no checkpoint.

    Follows the ``checkpoint`` state file like ``tf.train.latest_checkpoint`` when present, else
    takes the only ``*.index`` file.
    """
    directory = Path(directory)
    state = directory / "checkpoint"
    if state.is_file():
        for line in state.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model_checkpoint_path":
                prefix = Path(value.strip().strip('"'))
                prefix = prefix if prefix.is_absolute() else directory / prefix
                if prefix.parent.joinpath(prefix.name + ".index").is_file():
                    return prefix
                # An absolute path from the training machine: look beside the state file.
                local = directory / prefix.name
                if local.parent.joinpath(local.name + ".index").is_file():
                    return local
    indexes = sorted(p for p in directory.glob("*.index") if not p.name.startswith("._"))
    if len(indexes) == 1:
        return indexes[0].with_suffix("")
    return None
