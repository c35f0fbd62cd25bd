"""process_data: Spleeter chunking, uint8 dB / float16 storage, resume, bad songs, parallel."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from data_helpers import small_params

from spleeter_paddle.audio.spectrogram import stft
from spleeter_paddle.data.cache import build_cache, chunk_starts, process_data
from spleeter_paddle.data.cache_files import SpectrogramCache, dequantise_table, quantise
from spleeter_paddle.data.manifest import build_manifests
from spleeter_paddle.errors import DataError

# One uint8 step is 100 dB / 256 = 0.39 dB: a magnitude ratio of 10^(0.39/20) = 1.046.
UINT8_RATIO = 10 ** (100 / 256 / 20)


def test_chunk_starts_follow_spleeter():
    # K > 1: evenly spaced, first at 0.5 s, last ending 0.5 s before the end.
    assert chunk_starts(100.0, 20.0, 3) == [0.5, 40.0, 79.5]
    # K = 1: the central chunk; songs shorter than a chunk repeat start 0, as Spleeter does:
    # every song gives K samples per epoch (the old code kept 2 distinct starts).
    assert chunk_starts(30.0, 12.0, 1) == [9.0]
    assert chunk_starts(10.0, 20.0, 4) == [0.5, 0.0, 0.0, 0.0]


def test_uint8_round_trip_within_one_step():
    rng = np.random.default_rng(0)
    magnitude = rng.uniform(0, 1, (2, 50, 64)).astype(np.float32) ** 4 * 300
    codes, db_min, db_max = quantise(magnitude)
    assert codes.dtype == np.uint8 and db_max - db_min <= 100 + 1e-3
    decoded = dequantise_table(db_min, db_max)[codes]
    above_floor = magnitude > 10 ** (db_min / 20) * UINT8_RATIO
    ratio = magnitude[above_floor] / decoded[above_floor]
    assert ratio.min() >= 1 - 1e-5 and ratio.max() <= UINT8_RATIO * (1 + 1e-5)


@pytest.fixture
def dataset_with_manifest(tmp_path: Path, song_writer):
    for index in range(3):
        song_writer("train", f"Song {index}", 6.0, index)
    params = small_params(tmp_path)
    build_manifests(params, tmp_path / "dataset", validation_fraction=0.34, show_progress=False)
    return params, tmp_path


@pytest.mark.parametrize("dtype", ["uint8", "float16"])
def test_cached_magnitudes_equal_the_training_stft(dataset_with_manifest, dtype):
    params, root = dataset_with_manifest
    report = build_cache(
        params,
        params["train_csv"],
        params["training_cache"],
        root / "dataset",
        dtype=dtype,
        workers=1,
        show_progress=False,
    )
    assert len(report.computed) == 2 and report.n_chunks == 4
    cache = SpectrogramCache(params["training_cache"])
    assert cache.instruments == ["mix", "vocals", "accompaniment"]
    mix_path = root / "dataset" / pd.read_csv(params["train_csv"])["mix_path"][0]
    waveform, rate = sf.read(mix_path, dtype="float32")
    start = int(
        round(chunk_starts(6.0, 4.0, 2)[1] * rate)
    )  # the second chunk: 0.5 s before the end
    segment = waveform[start : start + 4 * rate]
    expected = np.abs(stft(segment, 4096, 1024, pad=False))[:, :128].transpose(2, 0, 1)
    chunk = cache.chunks[1]
    assert chunk.n_frames == expected.shape[1] == 169
    stored = cache.read(1, 0, chunk.n_frames, 128)[0]
    if dtype == "float16":
        np.testing.assert_allclose(stored, expected, rtol=1e-3, atol=1e-4)
    else:
        loud = expected > expected.max() * 1e-4
        ratio = expected[loud] / stored[loud]
        assert ratio.min() > 1 - 1e-4 and ratio.max() < UINT8_RATIO * (1 + 1e-4)


def test_resume_reuses_finished_songs(dataset_with_manifest):
    params, root = dataset_with_manifest
    first = process_data(params, root / "dataset", workers=2, show_progress=False)
    assert set(first) == {"training", "validation"}
    songs = Path(params["training_cache"]) / "songs"
    stamps = {p.name: p.stat().st_mtime_ns for p in songs.glob("*.bin")}
    second = process_data(params, root / "dataset", workers=2, show_progress=False)
    assert len(second["training"].reused) == 2 and not second["training"].computed
    assert stamps == {p.name: p.stat().st_mtime_ns for p in songs.glob("*.bin")}
    validation = json.loads((Path(params["validation_cache"]) / "index.json").read_text())
    assert validation["settings"]["chunk_duration"] == 12.0 and len(validation["songs"]) == 1
    # A changed setting recomputes.
    third = process_data({**params, "F": 64}, root / "dataset", workers=1, show_progress=False)
    assert len(third["training"].computed) == 2


def test_bad_songs_in_a_manifest_are_skipped(dataset_with_manifest, caplog):
    params, root = dataset_with_manifest
    frame = pd.read_csv(params["train_csv"])
    good = frame.iloc[0]
    corrupt = good.copy()
    corrupt["mix_path"] = "train/Corrupt/mixture.wav"
    missing = good.replace(regex=r"^train/[^/]+/", value="train/Missing/")
    shutil.copytree(
        root / "dataset" / Path(good["mix_path"]).parent, root / "dataset/train/Missing"
    )
    (root / "dataset/train/Missing/vocals.wav").unlink()
    (root / "dataset/train/Corrupt").mkdir()
    (root / "dataset/train/Corrupt/mixture.wav").write_bytes(b"not a wav file at all" * 50)
    pd.DataFrame([good, corrupt, missing]).to_csv(params["train_csv"], index=False)
    with caplog.at_level(logging.WARNING, logger="spleeter_paddle"):
        report = build_cache(
            params,
            params["train_csv"],
            params["training_cache"],
            root / "dataset",
            workers=2,
            show_progress=False,
        )
    skipped = dict(report.skipped)
    assert set(skipped) == {"Corrupt", "Missing"}
    assert "mixture.wav" in skipped["Corrupt"] and "no such file" in skipped["Missing"]
    assert len(report.computed) == 1
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert sorted(line.split(":")[0] for line in lines) == ["ERROR Corrupt", "ERROR Missing"]


def test_chunk_too_short_for_t(dataset_with_manifest):
    params, root = dataset_with_manifest
    with pytest.raises(DataError, match="raise chunk_duration"):
        build_cache(
            {**params, "chunk_duration": 1.0}, params["train_csv"], root / "c", root / "dataset"
        )


def _song_files(params) -> list:
    return sorted((Path(params["training_cache"]) / "songs").glob("*.bin"))


def test_a_truncated_cache_file_is_refused_then_rebuilt(dataset_with_manifest, caplog):
    params, root = dataset_with_manifest
    process_data(params, root / "dataset", workers=1, show_progress=False)
    damaged = _song_files(params)[0]
    intact = damaged.read_bytes()
    damaged.write_bytes(intact[: len(intact) // 3])
    with pytest.raises(DataError, match=r"is damaged \(.*bytes.*\); run `-m process_data`"):
        SpectrogramCache(params["training_cache"])
    with caplog.at_level(logging.WARNING, logger="spleeter_paddle"):
        report = process_data(params, root / "dataset", workers=1, show_progress=False)
    training = report["training"]
    assert len(training.rebuilt) == 1 and len(training.reused) == 1  # it used to say 2 reused
    assert "1 rebuilt" in training.summary_line() and "rebuilding it" in caplog.text
    assert damaged.read_bytes() == intact
    SpectrogramCache(params["training_cache"]).verify()
    # Same size, other bytes: the sha256 catches it (process_data, and verify before training).
    damaged.write_bytes(bytes(len(intact)))
    with pytest.raises(DataError, match="does not match its sha256"):
        SpectrogramCache(params["training_cache"]).verify()
    report = process_data(params, root / "dataset", workers=1, show_progress=False)
    assert len(report["training"].rebuilt) == 1 and damaged.read_bytes() == intact


def test_a_corrupt_or_old_index_gives_a_clear_message_and_is_rebuilt(dataset_with_manifest):
    params, root = dataset_with_manifest
    process_data(params, root / "dataset", workers=1, show_progress=False)
    index = Path(params["training_cache"]) / "index.json"
    good = json.loads(index.read_text())
    index.write_text(index.read_text()[:100])
    with pytest.raises(
        DataError, match="unreadable cache index .*rebuild it with `-m process_data`"
    ):
        SpectrogramCache(params["training_cache"])
    process_data(params, root / "dataset", workers=1, show_progress=False)
    assert json.loads(index.read_text()) == good
    old = {**good, "settings": {**good["settings"], "format": 1}}
    index.write_text(json.dumps(old))
    with pytest.raises(DataError, match="older format; rebuild it with `-m process_data`"):
        SpectrogramCache(params["training_cache"])


def test_every_song_gives_n_chunks_per_song_samples(tmp_path: Path, song_writer, caplog):
    """A 3 s song with 4 s chunks: Spleeter's 4 samples (starts 0.5, 0, 0, 0), two blocks stored,
    every chunk shorter than the chunk length kept (the old code made 2 and dropped songs)."""
    song_writer("train", "Short", 3.0, 1)
    song_writer("train", "Long", 9.0, 2)
    params = small_params(tmp_path, n_chunks_per_song=4)
    build_manifests(params, tmp_path / "dataset", validation_fraction=0.0, show_progress=False)
    report = build_cache(
        params, params["train_csv"], params["training_cache"], tmp_path / "dataset", workers=1
    )
    assert report.n_chunks == 8
    cache = SpectrogramCache(params["training_cache"])
    short = next(song for song in cache.songs if song["song"] == "Short")
    assert [chunk["start_s"] for chunk in short["chunks"]] == [0.5, 0.0, 0.0, 0.0]
    assert len({chunk["offset"] for chunk in short["chunks"]}) == 2
    frames = {chunk["start_s"]: chunk["n_frames"] for chunk in short["chunks"]}
    assert frames == {0.5: 1 + (int(2.5 * 44100) - 4096) // 1024, 0.0: 126}
    block = 3 * 2 * 128  # instruments x channels x bins, uint8
    assert (cache.directory / "songs" / short["file"]).stat().st_size == block * (frames[0.5] + 126)


def test_chunks_that_repeat_the_same_audio_are_named_before_the_work(
    tmp_path: Path, song_writer, caplog
):
    """n_chunks_per_song far beyond what the songs hold: one warning with the counts (the chunks
    are still built, as Spleeter would); a sensible setting says nothing."""
    short = song_writer("train", "Short", 3.0, 1)
    params = small_params(tmp_path, n_chunks_per_song=50)
    build_manifests(params, tmp_path / "dataset", validation_fraction=0.0, show_progress=False)
    with caplog.at_level(logging.WARNING, logger="spleeter_paddle"):
        build_cache(
            params, params["train_csv"], params["training_cache"], tmp_path / "dataset", workers=1
        )
    warnings = [r.getMessage() for r in caplog.records if "n_chunks_per_song" in r.getMessage()]
    assert len(warnings) == 1 and "49 of 50 chunks" in warnings[0], warnings
    caplog.clear()
    shutil.rmtree(short)
    song_writer("train", "Long", 40.0, 2)
    params = small_params(tmp_path / "second", n_chunks_per_song=4)
    build_manifests(params, tmp_path / "dataset", validation_fraction=0.0, show_progress=False)
    with caplog.at_level(logging.WARNING, logger="spleeter_paddle"):
        build_cache(
            params, params["train_csv"], params["training_cache"], tmp_path / "dataset", workers=1
        )
    assert not [r for r in caplog.records if "n_chunks_per_song" in r.getMessage()]


def _one_song_under_many_names(tmp_path: Path, song_writer, n_songs: int) -> Dict:
    """The parameters of a training split of ``n_songs`` songs, all one 6 s song's audio (its
    files hard-linked under each name), its manifests built: each a song to cache."""
    first = song_writer("train", "Song 00", 6.0, 0)
    for index in range(1, n_songs):
        folder = first.parent / f"Song {index:02d}"
        folder.mkdir()
        for stem in first.iterdir():
            os.link(stem, folder / stem.name)
    params = small_params(tmp_path)
    build_manifests(params, tmp_path / "dataset", validation_fraction=0.0, show_progress=False)
    return params


def test_an_interrupted_parallel_build_does_not_compute_the_songs_not_yet_started(
    tmp_path: Path, song_writer
):
    """Ctrl-C (or SIGTERM) once the workers cache songs: the songs not yet started are dropped,
    so the command ends soon (not after the whole dataset); no temporary is left behind."""
    params = _one_song_under_many_names(tmp_path, song_writer, 40)
    songs = Path(params["training_cache"]) / "songs"

    def interrupt_once_a_song_is_cached(signal_number, frame):
        if any(songs.glob("*.bin")):
            signal.setitimer(signal.ITIMER_REAL, 0)
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt_once_a_song_is_cached)
    signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
    try:
        with pytest.raises(KeyboardInterrupt):
            build_cache(
                params, params["train_csv"], params["training_cache"], tmp_path / "dataset",
                workers=2, show_progress=False,
            )  # fmt: skip
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    computed = list(songs.glob("*.bin"))
    # the songs done, those running (2) and those already handed to the workers (3) at most
    assert 1 <= len(computed) <= 20, f"{len(computed)} of 40 songs computed after Ctrl-C"
    assert not [p.name for p in songs.parent.rglob(".*")], "temporaries or journals left"


def _children(pid: int) -> List[str]:
    """The command lines of ``pid``'s child processes (Linux ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and int((entry / "stat").read_text().rsplit(")")[1].split()[1]) == pid
            ):
                found.append((entry / "cmdline").read_text().replace("\0", " "))
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")
def test_sigterm_while_the_workers_start_is_one_line_not_a_workers_traceback(
    tmp_path: Path, song_writer
):
    """SIGTERM while process-data waits for its first worker process (the worker server still
    loading): the command says `interrupted`, and no worker, started for a process that is gone,
    prints a traceback (it found its parent's semaphores removed)."""
    params = _one_song_under_many_names(tmp_path, song_writer, 8)
    (tmp_path / "config.json").write_text(json.dumps(params))
    command = [sys.executable, "-m", "spleeter_paddle", "process-data", "-p", "config.json"]
    command += ["-d", "dataset", "--quiet", "--workers", "2"]
    with open(tmp_path / "stderr.txt", "w+b") as stderr:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=stderr, stderr=stderr)
        started = time.monotonic()
        while not any("forkserver" in line for line in _children(process.pid)):
            assert process.poll() is None and time.monotonic() - started < 120, "no worker server"
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 128 + signal.SIGTERM
        time.sleep(5)  # the worker server finishes loading: a worker it forks would fail now
        stderr.seek(0)
        text = stderr.read().decode(errors="replace")
    assert "Traceback" not in text, text
    assert text.strip().splitlines()[-1] == "spleeter-paddle: interrupted (SIGTERM)", text
