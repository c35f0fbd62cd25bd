"""A song with a missing, unreadable or length-mismatched stem is never scored: one ERROR line,
listed as failed, the other songs scored, non-zero exit at the end."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import soundfile as sf
import stempeg

from spleeter_paddle.commands.evaluate import main
from spleeter_paddle.errors import DataError
from spleeter_paddle.evaluation import (
    OracleSeparator,
    evaluate,
    folder_tracks,
    format_table,
    musdb_tracks,
    score_track,
)

JUNK = b"RIFF\x00\x00\x00\x00WAVEjunk" * 4


def _error_lines(text: str, song: str):
    return [line for line in text.splitlines() if f"ERROR {song}: " in line]


def test_seed_layout_bad_songs_fail_alone_with_one_line_each(
    seed_layout, official_model_path, tmp_path, capsys
):
    dataset = tmp_path / "dataset"
    shutil.copytree(seed_layout, dataset)
    good = sorted(p.name for p in dataset.iterdir())
    source = dataset / good[0]
    broken = {
        "Missing Stem": "missing accompaniment",
        "Corrupt Mixture": "mixture.wav: cannot decode",
        "Short Stem": "stems of unequal lengths",
    }
    for name in broken:
        shutil.copytree(source, dataset / name)
    (dataset / "Missing Stem" / "instrumental.wav").unlink()
    (dataset / "Corrupt Mixture" / "mixture.wav").write_bytes(JUNK)
    sf.write(dataset / "Short Stem" / "instrumental.wav", np.zeros((1000, 2)), 44100)
    out = tmp_path / "out"
    argv = [
        "--data",
        str(dataset),
        "--model",
        "spleeter:2stems",
        "-o",
        str(out),
        "--metric-workers",
        "0",
    ]
    status = main(argv + ["--fraction", "1", "--no-progress"])
    captured = capsys.readouterr()
    assert status == 1
    for name, problem in broken.items():
        (line,) = _error_lines(captured.err, f"test/{name}")
        assert problem in line, line
    assert "Traceback" not in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(summary["failed"]) == sorted(f"test/{name}" for name in broken)
    assert summary["songs"] == [f"test/{name}" for name in good]
    assert all(f"song test/{name}: FAILED" in captured.out for name in broken)
    for name in broken:
        assert not (out / "metrics" / "test" / f"{name}.json").exists()


@pytest.fixture
def musdb_with_bad_songs(musdb_hq, tmp_path):
    """A MUSDB18-HQ tree: one good song, one without bass.wav, one with unreadable vocals."""
    root = tmp_path / "musdb"
    songs = sorted((musdb_hq / "test").iterdir())
    shutil.copytree(songs[0], root / "test" / songs[0].name)
    shutil.copytree(songs[1], root / "test" / "No Bass")
    (root / "test" / "No Bass" / "bass.wav").unlink()
    shutil.copytree(songs[1], root / "test" / "Bad Vocals")
    (root / "test" / "Bad Vocals" / "vocals.wav").write_bytes(JUNK)
    return root, songs[0].name


def test_musdb_wav_tree_missing_bass_is_not_scored_as_drums_plus_other(
    musdb_with_bad_songs, tmp_path, caplog
):
    root, good = musdb_with_bad_songs
    tracks = musdb_tracks(root, ["test"], is_wav=True)
    oracle = OracleSeparator([t for t in tracks if t.name == good], ratio_mask=True)
    with caplog.at_level(logging.ERROR, logger="spleeter_paddle"):
        result = evaluate(oracle, tracks, tmp_path / "out", n_workers=0, progress=False)
    assert result.evaluated == [f"test/{good}"]
    assert set(result.failed) == {"test/No Bass", "test/Bad Vocals"}
    assert "No Bass: missing bass.wav" in result.failed["test/No Bass"]
    assert "vocals.wav: cannot decode" in result.failed["test/Bad Vocals"]
    for song in result.failed:
        assert len(_error_lines(caplog.text, song)) == 1
    assert result.summary["failed"] == result.failed
    assert "song test/No Bass: FAILED, not scored" in format_table(result.summary)


def test_musdb_stems_broken_files_fail_alone(musdb_hq, tmp_path):
    song = sorted((musdb_hq / "test").iterdir())[0]
    order = ("mixture", "drums", "bass", "other", "vocals")
    stems = np.stack([sf.read(song / f"{name}.wav")[0] for name in order])
    (tmp_path / "test").mkdir()
    stempeg.write_stems(
        str(tmp_path / "test" / "Good.stem.mp4"),
        stems,
        sample_rate=44100,
        writer=stempeg.StreamsWriter(codec="aac", bitrate=256000),
    )
    stempeg.write_stems(
        str(tmp_path / "test" / "Four.stem.mp4"),
        stems[:4],
        sample_rate=44100,
        writer=stempeg.StreamsWriter(codec="aac", bitrate=256000),
    )
    (tmp_path / "test" / "Junk.stem.mp4").write_bytes(b"junk" * 100)
    tracks = musdb_tracks(tmp_path, ["test"], is_wav=False)
    assert [t.name for t in tracks] == ["Four", "Good", "Junk"]
    oracle = OracleSeparator([t for t in tracks if t.name == "Good"], ratio_mask=True)
    result = evaluate(oracle, tracks, tmp_path / "out", n_workers=0, progress=False)
    assert result.evaluated == ["test/Good"]
    assert "4 audio streams, expected 5" in result.failed["test/Four"]
    assert "Junk.stem.mp4: unreadable stem file" in result.failed["test/Junk"]


def test_references_not_as_long_as_the_mixture_are_refused(musdb_hq):
    (track,) = folder_tracks(musdb_hq, ["test"])[:1]
    references = track.load_references(["vocals", "accompaniment"])
    estimates = {name: reference[:-100] for name, reference in references.items()}
    with pytest.raises(DataError, match=r"mixture has 88100 samples but vocals 88200"):
        score_track(track, estimates)
