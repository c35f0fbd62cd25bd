"""preprocess: song discovery, checks with reasons, train/validation split, Spleeter CSVs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from data_helpers import small_params, two_stem_song, write_song

from spleeter_paddle.data.manifest import (
    MUSDB_VALIDATION_TRACKS,
    build_manifests,
    discover_songs,
)
from spleeter_paddle.data.manifest_csv import manifest_rows
from spleeter_paddle.errors import DataError


def test_flat_seed_layout_with_alias_names(tmp_path: Path):
    """The seed's dataset/<song>/{mixture,vocal,instrumental}.wav is read as vocals/accompaniment."""
    for index in range(3):
        stems = two_stem_song(2.0, index)
        write_song(
            tmp_path / "dataset" / f"Song {index}",
            {
                "mixture": stems["mixture"],
                "vocal": stems["vocals"],
                "instrumental": stems["accompaniment"],
            },
        )
    params = small_params(tmp_path)
    report = build_manifests(params, tmp_path / "dataset", show_progress=False)
    assert len(report.manifests["train"]) == 2 and len(report.manifests["validation"]) == 1
    rows, problems = manifest_rows(params["train_csv"], params)
    assert len(rows) == 2 and not problems
    frame = pd.read_csv(params["train_csv"])
    assert list(frame.columns[:4]) == ["mix_path", "vocals_path", "accompaniment_path", "duration"]
    assert frame["vocals_path"].str.endswith("vocal.wav").all()
    assert frame["accompaniment_path"].str.endswith("instrumental.wav").all()
    assert np.allclose(frame["duration"], 2.0)
    # Paths are relative to the dataset root.
    assert (tmp_path / "dataset" / frame["mix_path"][0]).is_file()


def test_musdb_validation_names_and_statistics(tmp_path: Path, song_writer):
    validation_name = sorted(MUSDB_VALIDATION_TRACKS)[0]
    song_writer("train", validation_name, 2.0, 1)
    song_writer("train", "Other Artist - Train", 3.0, 2)
    song_writer("test", "Someone - Test", 2.5, 3)
    params = small_params(tmp_path)
    report = build_manifests(params, tmp_path / "dataset", show_progress=False)
    assert [s.name for s in report.manifests["validation"]] == [validation_name]
    assert [s.name for s in report.manifests["train"]] == ["Other Artist - Train"]
    assert report.paths["test"] == Path(params["train_csv"]).with_name("test.csv")
    assert len(pd.read_csv(report.paths["test"])) == 1
    lines = "\n".join(report.summary_lines())
    assert "train: 1 songs" in lines and "min 132300, max 132300" in lines and "3.00" in lines


def test_seeded_validation_fraction(tmp_path: Path):
    for index in range(6):
        write_song(tmp_path / "dataset" / "train" / f"S{index}", two_stem_song(1.7, index))
    params = small_params(tmp_path)
    first = build_manifests(params, tmp_path / "dataset", 0.34, seed=5, show_progress=False)
    second = build_manifests(params, tmp_path / "dataset", 0.34, seed=5, show_progress=False)
    names = [s.name for s in first.manifests["validation"]]
    assert len(names) == 2 and names == [s.name for s in second.manifests["validation"]]


def test_bad_songs_are_reported_and_skipped(tmp_path: Path, song_writer, caplog):
    """Missing stem, too short, mismatched rates/lengths, corrupt wav: one line each, skipped."""
    song_writer("train", "Good One", 2.0, 1)
    song_writer("train", "Good Two", 2.0, 2)
    (song_writer("train", "Missing Stem", 2.0, 3) / "vocals.wav").unlink()
    song_writer("train", "Too Short", 0.05, 4)
    song_writer("train", "Shorter Than T", 1.0, 8)  # 43 frames < T = 64: kept, padded later
    rates = song_writer("train", "Mixed Rates", 2.0, 5)
    sf.write(rates / "vocals.wav", np.zeros((44100, 2), np.float32), 22050)
    lengths = song_writer("train", "Mixed Lengths", 2.0, 6)
    sf.write(lengths / "accompaniment.wav", np.zeros((44100, 2), np.float32), 44100)
    corrupt = song_writer("train", "Corrupt Wav", 2.0, 7)
    (corrupt / "mixture.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage" * 10)
    params = small_params(tmp_path)
    with caplog.at_level(logging.WARNING, logger="spleeter_paddle"):
        report = build_manifests(params, tmp_path / "dataset", 0.0, show_progress=False)
    reasons = dict(report.skipped)
    assert set(reasons) == {
        "train/Missing Stem",
        "train/Too Short",
        "train/Mixed Rates",
        "train/Mixed Lengths",
        "train/Corrupt Wav",
    }
    assert "missing stem 'vocals'" in reasons["train/Missing Stem"]
    assert "less than one STFT frame" in reasons["train/Too Short"]
    assert "44100 Hz" in reasons["train/Mixed Rates"] and "22050 Hz" in reasons["train/Mixed Rates"]
    assert "stems of unequal lengths" in reasons["train/Mixed Lengths"]
    assert "mixture.wav" in reasons["train/Corrupt Wav"]
    for song in reasons:
        lines = [r.getMessage() for r in caplog.records if song in r.getMessage()]
        assert len(lines) == 1 and "\n" not in lines[0]
    kept = ["Good One", "Good Two", "Shorter Than T"]
    assert sorted(s.name for s in report.manifests["train"]) == kept


def test_errors_name_the_folder_or_file(tmp_path: Path):
    params = small_params(tmp_path)
    with pytest.raises(DataError, match="dataset directory not found"):
        discover_songs(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no song folders"):
        discover_songs(tmp_path / "empty")
    Path(params["train_csv"]).parent.mkdir(parents=True)
    pd.DataFrame({"mix_path": ["a.wav"], "duration": [1.0]}).to_csv(params["train_csv"])
    with pytest.raises(DataError, match="lacks column.*vocals_path"):
        manifest_rows(params["train_csv"], params)
