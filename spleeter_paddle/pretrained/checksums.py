"""CRC-32C (Castagnoli), the checksum of TF checkpoint bundles and LevelDB blocks, with masking:
vectorised with numpy (no compiled package needed)."""

from __future__ import annotations

import functools
import struct
from typing import Sequence, Tuple, Union

import numpy as np

CRC_MASK_DELTA = 0xA282EAD8
_CASTAGNOLI_REFLECTED = 0x82F63B78


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


def _crc32c_loop(data: bytes, register: int) -> int:
    for byte in data:
        register = _BYTE_TABLE[(register ^ byte) & 0xFF] ^ (register >> 8)
    return register


@functools.cache
def _zero_shift(log2_bytes: int) -> Tuple[int, ...]:
    """Linear map (32 column images) that feeds 2**log2_bytes zero bytes through the register."""
    if log2_bytes == 0:
        return tuple(_crc32c_loop(b"\0", 1 << bit) for bit in range(32))
    half = _zero_shift(log2_bytes - 1)
    return tuple(int(c) for c in _apply_shift_array(half, np.array(half, dtype=np.uint32)))


def _apply_shift_array(columns: Sequence[int], registers: np.ndarray) -> np.ndarray:
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


def crc32c(data: Union[bytes, bytearray, memoryview, np.ndarray], crc: int = 0) -> int:
    """CRC-32C of ``data`` continuing from ``crc`` (zlib.crc32 convention): 1 KiB
    rows run side by side (8 bytes a step), then fold with GF(2) zero-shift operators."""
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


def masked_crc32c(data: Union[bytes, bytearray, memoryview, np.ndarray]) -> int:
    """The checksum stored in TF bundle entries and SSTable block trailers: the CRC-32C rotated
    right by 15 bits, plus 0xa282ead8 (TensorFlow/LevelDB masking)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + CRC_MASK_DELTA) & 0xFFFFFFFF
