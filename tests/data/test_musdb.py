"""downloadMusdb conversion: MUSDB18-HQ folders and MUSDB18 .stem.mp4 -> dataset layout."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.data.musdb import STEM_IDS, convert_musdb, detect_is_wav
from spleeter_paddle.data.synthetic import generate_musdb_tree, generate_song
from spleeter_paddle.errors import DataError

PCM16_STEP = 1.0 / 32768


@pytest.fixture(scope="module")
def musdb_hq(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("musdb_hq")
    generate_musdb_tree(root, n_songs=2, duration_s=1.5, seed=4)
    return root


def test_hq_to_two_stems_and_resume(musdb_hq: Path, tmp_path: Path):
    report = convert_musdb(musdb_hq, tmp_path / "dataset", stems="2", show_progress=False)
    assert len(report.written) == 4 and not report.failed
    song = next((tmp_path / "dataset" / "train").iterdir())
    assert sorted(p.name for p in song.iterdir()) == [
        ".spleeter-paddle-musdb.json",
        "accompaniment.wav",
        "mixture.wav",
        "vocals.wav",
    ]
    source = musdb_hq / "train" / song.name
    drums, bass, other = (
        sf.read(source / f"{n}.wav", dtype="float32")[0] for n in ("drums", "bass", "other")
    )
    accompaniment, rate = sf.read(song / "accompaniment.wav", dtype="float32")
    assert rate == 44100
    np.testing.assert_allclose(accompaniment, drums + bass + other, atol=PCM16_STEP)
    again = convert_musdb(musdb_hq, tmp_path / "dataset", stems="2", show_progress=False)
    assert len(again.existing) == 4 and not again.written


def test_hq_four_stems_and_bad_song(musdb_hq: Path, tmp_path: Path):
    broken = tmp_path / "musdb"
    shutil.copytree(musdb_hq, broken)
    victim = sorted((broken / "test").iterdir())[0]
    (victim / "bass.wav").unlink()
    report = convert_musdb(broken, tmp_path / "dataset", stems="4", show_progress=False)
    assert len(report.written) == 3
    assert report.failed == [(f"test/{victim.name}", report.failed[0][1])]
    assert "missing stem 'bass'" in report.failed[0][1]
    song = tmp_path / "dataset" / "train" / sorted(p.name for p in (broken / "train").iterdir())[0]
    assert sorted(p.stem for p in song.glob("*.wav")) == [
        "bass",
        "drums",
        "mixture",
        "other",
        "vocals",
    ]


def test_not_a_musdb_root(tmp_path: Path):
    with pytest.raises(DataError, match="not a MUSDB18 root"):
        convert_musdb(tmp_path, tmp_path / "dataset", show_progress=False)


def _write_stem_file(path: Path, song, n_streams: int = len(STEM_IDS), bitrate: str = "128k"):
    """``path``: an AAC ``.stem.mp4`` of ``song``'s first ``n_streams`` stems in MUSDB18's order
    (mixture first), written by ffmpeg."""
    command = ["ffmpeg", "-v", "error", "-y"]
    with tempfile.TemporaryDirectory() as scratch:
        for stem in sorted(STEM_IDS, key=STEM_IDS.get)[:n_streams]:
            sf.write(Path(scratch) / f"{stem}.wav", song[stem], 44100)
            command += ["-i", str(Path(scratch) / f"{stem}.wav")]
        for index in range(n_streams):
            command += ["-map", str(index)]
        command += ["-c:a", "aac", "-b:a", bitrate, str(path)]
        subprocess.run(command, check=True)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="MUSDB18 stems need ffmpeg")
def test_stem_mp4_to_all_stems(tmp_path: Path):
    """A 5-stream AAC .stem.mp4 (MUSDB18's format) is decoded through musdb/stempeg."""
    song = generate_song(1.5, seed=3)
    (tmp_path / "musdb" / "train").mkdir(parents=True)
    _write_stem_file(tmp_path / "musdb/train/A - B.stem.mp4", song, bitrate="256k")
    assert not detect_is_wav(tmp_path / "musdb")
    report = convert_musdb(
        tmp_path / "musdb", tmp_path / "dataset", stems="all", show_progress=False
    )
    assert report.written == ["train/A - B"]
    out = tmp_path / "dataset" / "train" / "A - B"
    stems = {p.stem: sf.read(p, dtype="float32")[0] for p in out.glob("*.wav")}
    assert set(stems) == {"mixture", "vocals", "accompaniment", "drums", "bass", "other"}
    np.testing.assert_allclose(
        stems["accompaniment"], stems["drums"] + stems["bass"] + stems["other"], atol=2 * PCM16_STEP
    )
    # AAC is lossy and delayed: compare energies, not samples.
    for name in ("vocals", "drums"):
        ratio = np.sum(stems[name] ** 2) / np.sum(song[name] ** 2)
        assert 0.8 < ratio < 1.25, (name, ratio)


def test_a_one_stream_stem_file_is_one_failed_song_and_the_rest_converts(tmp_path: Path):
    """A .stem.mp4 holding only the mixture fails by name; the other song is converted."""
    song = generate_song(1.5, seed=3)
    folder = tmp_path / "musdb" / "train"
    folder.mkdir(parents=True)
    for name, n_streams in (("A - Good", len(STEM_IDS)), ("B - Lonely", 1)):
        _write_stem_file(folder / f"{name}.stem.mp4", song, n_streams)
    report = convert_musdb(tmp_path / "musdb", tmp_path / "dataset", stems="2", show_progress=False)
    assert report.written == ["train/A - Good"]
    assert len(report.failed) == 1
    assert "B - Lonely.stem.mp4: holds 1 audio streams" in str(report.failed[0])
    assert not (tmp_path / "dataset" / "train" / "B - Lonely").exists()


@pytest.mark.parametrize("content", [b"not a video at all\n", b""], ids=["text", "empty"])
def test_a_malformed_stem_file_is_one_failed_song_and_the_rest_converts(tmp_path, content):
    """A ``.stem.mp4`` ffprobe cannot read (musdb's listing probes every file: one bad file
    used to stop the whole run with a traceback) fails alone, by name."""
    song = generate_song(1.5, seed=3)
    folder = tmp_path / "musdb" / "train"
    folder.mkdir(parents=True)
    _write_stem_file(folder / "B - Good.stem.mp4", song)
    (folder / "A - Broken.stem.mp4").write_bytes(content)
    report = convert_musdb(tmp_path / "musdb", tmp_path / "dataset", stems="2", show_progress=False)
    assert report.written == ["train/B - Good"]
    assert len(report.failed) == 1 and "A - Broken.stem.mp4: cannot decode" in str(report.failed[0])
    assert not (tmp_path / "dataset" / "train" / "A - Broken").exists()
