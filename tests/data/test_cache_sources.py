"""The spectrogram cache follows its source audio: a replaced, swapped or deleted stem is never
served from a stale cache entry (computed again, or an error for that song)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from data_helpers import small_params

from spleeter_paddle.data.cache import build_cache
from spleeter_paddle.data.cache_files import SpectrogramCache
from spleeter_paddle.data.manifest import build_manifests
from spleeter_paddle.errors import DataError


@pytest.fixture
def cached(tmp_path: Path, song_writer):
    for index in range(2):
        song_writer("train", f"Song {index}", 5.0, index)
    params = small_params(tmp_path, n_chunks_per_song=1)
    build_manifests(params, tmp_path / "dataset", validation_fraction=0.0, show_progress=False)
    first = _build(params, tmp_path)
    assert len(first.computed) == 2
    return params, tmp_path


def _build(params, root: Path):
    return build_cache(
        params, params["train_csv"], params["training_cache"], root / "dataset", workers=1,
        show_progress=False,
    )  # fmt: skip


def _first_song(params, root: Path) -> Path:
    return root / "dataset" / Path(pd.read_csv(params["train_csv"])["mix_path"][0]).parent


def _vocals_of(params, song: str) -> np.ndarray:
    cache = SpectrogramCache(params["training_cache"])
    index = next(i for i, entry in enumerate(cache.songs) if entry["song"] == song)
    chunk = next(i for i, c in enumerate(cache.chunks) if c.song == index)
    return cache.read(chunk, 0, cache.chunks[chunk].n_frames, 128)[1][0]


def test_swapped_stems_of_the_same_duration_are_computed_again(cached):
    params, root = cached
    song = _first_song(params, root)
    before = _vocals_of(params, song.name)
    vocals, accompaniment = song / "vocals.wav", song / "accompaniment.wav"
    shutil.copyfile(vocals, root / "v.tmp")
    shutil.copyfile(accompaniment, vocals)
    shutil.copyfile(root / "v.tmp", accompaniment)
    with pytest.raises(DataError, match=r"is stale \(.*vocals.wav changed since it was cached"):
        SpectrogramCache(params["training_cache"]).verify()  # what training checks first
    report = _build(params, root)
    assert report.computed == [song.name] and len(report.reused) == 1
    after = _vocals_of(params, song.name)
    assert not np.allclose(before, after)
    SpectrogramCache(params["training_cache"]).verify()


def test_stems_swapped_keeping_size_mtime_and_inode_are_computed_again(tmp_path, song_writer):
    """``cp -p`` over stems of equal size and mtime keeps every stat field but the ctime."""
    song = song_writer("train", "Song 0", 5.0, 0)
    stems = [song / f"{name}.wav" for name in ("mixture", "vocals", "accompaniment")]
    for path in stems:  # as extracted from one archive
        os.utime(path, ns=(1_700_000_000 * 10**9, 1_700_000_000 * 10**9))
    assert len({path.stat().st_size for path in stems}) == 1
    params = small_params(tmp_path, n_chunks_per_song=1)
    build_manifests(params, tmp_path / "dataset", validation_fraction=0.0, show_progress=False)
    assert _build(params, tmp_path).computed == ["Song 0"]
    before = _vocals_of(params, "Song 0")
    vocals, accompaniment = stems[1], stems[2]
    inodes = (vocals.stat().st_ino, accompaniment.stat().st_ino)
    shutil.copy2(vocals, tmp_path / "v.tmp")  # cp -p: the content and mtime, into the inode
    shutil.copy2(accompaniment, vocals)
    shutil.copy2(tmp_path / "v.tmp", accompaniment)
    assert (vocals.stat().st_ino, accompaniment.stat().st_ino) == inodes
    assert vocals.stat().st_mtime_ns == accompaniment.stat().st_mtime_ns == 1_700_000_000 * 10**9
    with pytest.raises(DataError, match=r"is stale \(.*vocals.wav changed since it was cached"):
        SpectrogramCache(params["training_cache"]).verify()  # what training checks first
    report = _build(params, tmp_path)
    assert report.computed == ["Song 0"] and not report.reused
    assert not np.allclose(before, _vocals_of(params, "Song 0"))
    SpectrogramCache(params["training_cache"]).verify()


def test_same_bytes_with_a_new_mtime_are_reused(cached):
    params, root = cached
    song = _first_song(params, root)
    stamp = (song / "vocals.wav").stat().st_mtime_ns + 10**9
    os.utime(song / "vocals.wav", ns=(stamp, stamp))
    assert len(_build(params, root).reused) == 2
    entry = next(
        e for e in SpectrogramCache(params["training_cache"]).songs if e["song"] == song.name
    )
    assert any(source["mtime_ns"] == stamp for source in entry["sources"])


def test_a_deleted_mixture_is_an_error_for_that_song(cached, caplog):
    params, root = cached
    song = _first_song(params, root)
    (song / "mixture.wav").unlink()
    with caplog.at_level(logging.ERROR, logger="spleeter_paddle"):
        report = _build(params, root)
    assert [name for name, _ in report.skipped] == [song.name] and len(report.reused) == 1
    assert f"ERROR {song.name}: " in caplog.text and "mixture.wav: no such file" in caplog.text
    assert [e["song"] for e in SpectrogramCache(params["training_cache"]).songs] != [song.name]
    assert len(SpectrogramCache(params["training_cache"]).songs) == 1


def test_a_song_entry_that_is_not_an_object_is_computed_again(cached):
    params, root = cached
    for entry in (Path(params["training_cache"]) / "songs").glob("*.json"):
        entry.write_text("[1, 2]")
    report = _build(params, root)
    assert len(report.computed) == 2 and not report.skipped
