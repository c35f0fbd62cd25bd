"""The pure-Python TF bundle reader: CRC32C, SSTable/protobuf decoding, the official checkpoint."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from tf_bundle_writer import write_bundle, write_sstable

from spleeter_paddle.errors import CheckpointError
from spleeter_paddle.pretrained import checksums
from spleeter_paddle.pretrained.checksums import crc32c, masked_crc32c
from spleeter_paddle.pretrained.tf_checkpoint import (
    TFCheckpoint,
    find_checkpoint_prefix,
    snappy_decompress,
)

# (name, TF shape, offset, bytes, masked crc32c): rows of the official 2stems model.index.
OFFICIAL_ROWS = [
    ("batch_normalization/beta", [16], 0, 64, 2887784269),
    ("batch_normalization/gamma", [16], 64, 64, 3939792285),
    ("batch_normalization_23/moving_variance", [1], 26140, 4, 735749505),
    ("batch_normalization_5/gamma", [512], 34336, 2048, 3320841310),
    ("conv2d/kernel", [5, 5, 2, 16], 48224, 3200, 216521705),
    ("conv2d_12/kernel", [5, 5, 256, 512], 4202336, 13107200, 3011432958),
    ("conv2d_13/bias", [2], 17309536, 8, 2256694125),
    ("conv2d_13/kernel", [4, 4, 1, 2], 17309544, 128, 797262551),
    ("conv2d_6/kernel", [4, 4, 1, 2], 34721520, 128, 3836023),
    ("conv2d_transpose/kernel", [5, 5, 256, 512], 34982320, 13107200, 777026844),
    ("conv2d_transpose_11/kernel", [5, 5, 1, 32], 54746100, 3200, 1178999210),
    ("conv2d_transpose_9/kernel", [5, 5, 32, 128], 78204472, 409600, 1228475034),
    ("global_step", [], 78614072, 8, 127402793),
]


def _official_names() -> set:
    def sfx(i):
        return "" if i == 0 else f"_{i}"

    names = {"global_step"}
    names |= {f"conv2d{sfx(i)}/{v}" for i in range(14) for v in ("kernel", "bias")}
    names |= {f"conv2d_transpose{sfx(i)}/{v}" for i in range(12) for v in ("kernel", "bias")}
    bn = ("gamma", "beta", "moving_mean", "moving_variance")
    names |= {f"batch_normalization{sfx(i)}/{v}" for i in range(24) for v in bn}
    return names


# --- CRC32C -----------------------------------------------------------------------------------------


def test_crc32c_matches_published_check_values():
    # RFC 3720 B.4 and the CRC-32C catalogue check value.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(b"") == 0
    # global_step = int64 0 in the official index (read from model.index).
    assert masked_crc32c(bytes(8)) == 127402793


@pytest.mark.parametrize("length", [1, 7, 4095, 4096, 4097, 8191, 70_000, 4 * 1024 * 4096 + 13])
def test_vectorised_crc32c_equals_bytewise_and_chains(length):
    data = np.random.default_rng(length).integers(0, 256, length, dtype=np.uint8).tobytes()
    expected = checksums._crc32c_loop(data[:300_000], 0xFFFFFFFF) ^ 0xFFFFFFFF
    if length <= 300_000:
        assert crc32c(data) == expected
    else:
        assert crc32c(data[:300_000]) == expected
    half = length // 3
    assert crc32c(data[half:], crc32c(data[:half])) == crc32c(data)


def test_native_crc32c_packages_agree_when_installed():
    data = np.random.default_rng(1).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
    for module_name, function in (("crc32c", "crc32c"), ("google_crc32c", "value")):
        try:
            module = __import__(module_name)
        except ImportError:
            continue
        assert getattr(module, function)(data) == crc32c(data)


# --- the official checkpoint --------------------------------------------------------------------


def test_official_2stems_checkpoint_matches_reference(official_2stems_prefix: Path):
    checkpoint = TFCheckpoint(official_2stems_prefix)
    names = checkpoint.names()
    assert len(names) == 149
    assert set(names) == _official_names()
    assert names == sorted(names, key=str.encode)
    for name, shape, offset, size, crc in OFFICIAL_ROWS:
        entry = checkpoint.entry(name)
        assert (list(entry.shape), entry.offset, entry.size, entry.masked_crc) == (
            shape,
            offset,
            size,
            crc,
        ), name
    sizes = sum(checkpoint.entry(name).size for name in names)
    assert sizes == checkpoint.shard_path(0).stat().st_size == 78_614_080
    step = checkpoint.read("global_step")
    assert step.dtype == np.int64 and step.shape == () and int(step) == 0
    assert checkpoint.read("conv2d_12/kernel").dtype == np.float32
    for index in range(24):  # every BN holds the initial moving statistics
        suffix = "" if index == 0 else f"_{index}"
        assert not checkpoint.read(f"batch_normalization{suffix}/moving_mean").any()
        assert (checkpoint.read(f"batch_normalization{suffix}/moving_variance") == 1).all()


def test_official_checkpoint_passes_every_crc_quickly(official_2stems_prefix: Path):
    checkpoint = TFCheckpoint(official_2stems_prefix)
    start = time.perf_counter()
    assert checkpoint.verify_all() == 149
    # numpy CRC32C runs at ~150 MB/s on 2 cores.
    assert time.perf_counter() - start < 10


def test_corrupted_byte_is_detected_and_named(official_2stems_prefix: Path, tmp_path: Path):
    for source in official_2stems_prefix.parent.iterdir():
        if source.name.startswith("model."):
            shutil.copy(source, tmp_path / source.name)
    data = tmp_path / "model.data-00000-of-00001"
    with data.open("r+b") as stream:
        stream.seek(21614312 + 123_457)  # inside conv2d_5/kernel
        byte = stream.read(1)
        stream.seek(-1, 1)
        stream.write(bytes([byte[0] ^ 0x10]))
    checkpoint = TFCheckpoint(tmp_path / "model")
    with pytest.raises(CheckpointError, match=r"model\.data-00000-of-00001.*'conv2d_5/kernel'"):
        checkpoint.read("conv2d_5/kernel")
    with pytest.raises(CheckpointError, match="conv2d_5/kernel"):
        checkpoint.verify_all()
    assert checkpoint.read("conv2d_5/bias").shape == (512,)
    assert checkpoint.read("conv2d_5/kernel", verify=False).shape == (5, 5, 256, 512)


def test_truncated_data_file_is_reported(official_2stems_prefix: Path, tmp_path: Path):
    shutil.copy(official_2stems_prefix.with_suffix(".index"), tmp_path / "model.index")
    with (official_2stems_prefix.parent / "model.data-00000-of-00001").open("rb") as stream:
        (tmp_path / "model.data-00000-of-00001").write_bytes(stream.read(50_000_000))
    checkpoint = TFCheckpoint(tmp_path / "model")
    with pytest.raises(CheckpointError, match="truncated.*conv2d_transpose_7/kernel"):
        checkpoint.read("conv2d_transpose_7/kernel")


# --- bundles written by the test writer -----------------------------------------------------------


def _mixed_tensors() -> dict:
    rng = np.random.default_rng(3)
    tensors = {
        "scalar_step": np.array(-5, dtype=np.int64),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "flags": rng.integers(0, 2, (3, 2)).astype(bool),
        "half": rng.standard_normal((4, 5)).astype(np.float16),
        "double": rng.standard_normal(7),
        "bytes": rng.integers(0, 256, 9, dtype=np.uint8),
        "ints": rng.integers(-1000, 1000, (2, 3, 4), dtype=np.int32),
        "big/kernel": rng.standard_normal((5, 5, 16, 32), dtype=np.float32),
    }
    for index in range(60):  # many similar names: several blocks, restarts, shared prefixes
        tensors[f"layer_{index}/bias"] = rng.standard_normal(index + 1, dtype=np.float32)
    return tensors


@pytest.mark.parametrize(("n_shards", "snappy"), [(1, False), (3, True)])
def test_written_bundle_reads_back_exactly(tmp_path: Path, n_shards: int, snappy: bool):
    tensors = _mixed_tensors()
    prefix = write_bundle(tmp_path / "model", tensors, n_shards=n_shards, snappy=snappy)
    checkpoint = TFCheckpoint(prefix)
    assert checkpoint.n_shards == n_shards
    assert checkpoint.names() == sorted(tensors, key=str.encode)
    for name, expected in tensors.items():
        value = checkpoint.read(name)
        assert value.dtype == expected.dtype and value.shape == expected.shape, name
        np.testing.assert_array_equal(value, expected)
    assert checkpoint.verify_all() == len(tensors)


def test_corrupted_index_is_reported(tmp_path: Path):
    prefix = write_bundle(tmp_path / "model", _mixed_tensors())
    index = prefix.with_suffix(".index")
    original = index.read_bytes()
    damaged = bytearray(original)
    damaged[40] ^= 0xFF  # inside the first data block
    index.write_bytes(bytes(damaged))
    with pytest.raises(CheckpointError, match=r"model\.index.*CRC32C"):
        TFCheckpoint(prefix)
    index.write_bytes(original[:-8] + bytes(8))
    with pytest.raises(CheckpointError, match="magic"):
        TFCheckpoint(prefix)
    index.unlink()
    with pytest.raises(CheckpointError, match="not found"):
        TFCheckpoint(prefix)


def test_missing_shard_is_reported(tmp_path: Path):
    prefix = write_bundle(tmp_path / "model", _mixed_tensors(), n_shards=2)
    (tmp_path / "model.data-00001-of-00002").unlink()
    checkpoint = TFCheckpoint(prefix)
    with pytest.raises(CheckpointError, match="data-00001-of-00002"):
        checkpoint.verify_all()


def test_sstable_of_arbitrary_entries_round_trips(tmp_path: Path):
    from spleeter_paddle.pretrained.tf_checkpoint import read_sstable

    entries = [
        (f"key{i:04d}".encode() * (1 + i % 3), bytes([i % 256]) * (i % 50)) for i in range(300)
    ]
    entries.sort()
    write_sstable(tmp_path / "table", entries, block_size=200, restart_interval=5)
    assert read_sstable(tmp_path / "table") == entries


def test_snappy_copies_are_expanded():
    # literal "abcd", then a 1-byte-offset copy (8 bytes back 4) and a 2-byte-offset copy.
    block = bytes([20, 3 << 2]) + b"abcd" + bytes([((8 - 4) << 2) | 1, 4])
    block += bytes([((8 - 1) << 2) | 2, 6, 0])
    assert snappy_decompress(block) == b"abcdabcdabcd" + b"cdabcdcd"
    with pytest.raises(ValueError):
        snappy_decompress(bytes([4, 1 << 2 | 1, 9]))


def test_checkpoint_prefix_is_found(tmp_path: Path):
    assert find_checkpoint_prefix(tmp_path) is None
    write_bundle(tmp_path / "model.ckpt-10", {"a": np.zeros(2, np.float32)})
    (tmp_path / "._model.ckpt-10.index").write_bytes(b"macOS resource fork")
    assert find_checkpoint_prefix(tmp_path) == tmp_path / "model.ckpt-10"
    write_bundle(tmp_path / "model.ckpt-20", {"a": np.ones(2, np.float32)})
    assert find_checkpoint_prefix(tmp_path) is None  # ambiguous without a state file
    (tmp_path / "checkpoint").write_text(
        'model_checkpoint_path: "/train/run/model.ckpt-20"\nall_model_checkpoint_paths: "x"\n'
    )
    assert find_checkpoint_prefix(tmp_path) == tmp_path / "model.ckpt-20"
    assert TFCheckpoint(tmp_path).read("a").tolist() == [1.0, 1.0]
