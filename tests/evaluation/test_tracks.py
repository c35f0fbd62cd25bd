"""Song discovery in MUSDB18 (wav, stems), the seed's and the training tools' layouts."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.data.musdb import read_stem_file
from spleeter_paddle.errors import DataError, SpleeterError
from spleeter_paddle.evaluation import folder_tracks, musdb_tracks
from spleeter_paddle.evaluation.musdb_source import MusdbTrack
from spleeter_paddle.evaluation.tracks import FolderTrack

SOURCES = ("vocals", "drums", "bass", "other")


def test_musdb_hq_folders_give_both_splits_and_the_accompaniment_sum(musdb_hq):
    tracks = folder_tracks(musdb_hq)
    assert [t.subset for t in tracks] == ["test", "test", "train", "train"]
    assert all(isinstance(t, FolderTrack) for t in tracks)
    track = tracks[0]
    assert track.targets == ("vocals", "drums", "bass", "other", "accompaniment")
    assert track.rate == 44100
    references = track.load_references(["vocals", "accompaniment", "drums", "bass", "other"])
    song = musdb_hq / "test" / track.name
    vocals = sf.read(song / "vocals.wav", dtype="float64")[0]
    np.testing.assert_array_equal(references["vocals"], vocals)
    np.testing.assert_allclose(
        references["accompaniment"],
        references["drums"] + references["bass"] + references["other"],
        atol=1e-12,
    )
    assert track.load_mixture().dtype == np.float32 and track.load_mixture().shape == vocals.shape
    assert [t.name for t in folder_tracks(musdb_hq, ["train"])] == [t.name for t in tracks[2:]]


def test_musdb_db_reads_the_same_references_as_the_folders(musdb_hq):
    musdb_track = musdb_tracks(musdb_hq, ["test"], is_wav=None)[0]
    folder_track = folder_tracks(musdb_hq, ["test"])[0]
    assert isinstance(musdb_track, MusdbTrack) and musdb_track.key == folder_track.key
    assert set(musdb_track.targets) == set(folder_track.targets)
    ours = folder_track.load_references(["vocals", "accompaniment"])
    theirs = musdb_track.load_references(["vocals", "accompaniment"])
    for target in ours:
        np.testing.assert_allclose(theirs[target], ours[target], atol=1e-9)
    np.testing.assert_allclose(musdb_track.load_mixture(), folder_track.load_mixture(), atol=1e-7)


def test_seed_layout_maps_vocal_and_instrumental(seed_layout):
    tracks = folder_tracks(seed_layout)
    assert len(tracks) == 2 and {t.subset for t in tracks} == {"test"}
    assert tracks[0].targets == ("vocals", "accompaniment")
    assert tracks[0].reference_files["accompaniment"][0].name == "instrumental.wav"


def test_training_tools_layout_with_split_folders(musdb_hq, tmp_path):
    song = sorted((musdb_hq / "train").iterdir())[0]
    directory = tmp_path / "dataset" / "train" / song.name
    directory.mkdir(parents=True)
    for name in ("mixture", "vocals"):
        shutil.copy(song / f"{name}.wav", directory / f"{name}.wav")
    accompaniment = sum(sf.read(song / f"{n}.wav")[0] for n in ("drums", "bass", "other"))
    sf.write(directory / "accompaniment.wav", accompaniment, 44100, subtype="PCM_16")
    (track,) = folder_tracks(tmp_path / "dataset")
    assert (track.subset, track.name, track.targets) == (
        "train",
        song.name,
        ("vocals", "accompaniment"),
    )


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="MUSDB18 stems need ffmpeg")
def test_musdb_stems_are_found_and_decoded(musdb_hq, tmp_path):
    import stempeg

    song = sorted((musdb_hq / "test").iterdir())[0]
    stems = np.stack(
        [sf.read(song / f"{n}.wav")[0] for n in ("mixture", "drums", "bass", "other", "vocals")]
    )
    (tmp_path / "test").mkdir()
    path = tmp_path / "test" / f"{song.name}.stem.mp4"
    stempeg.write_stems(
        str(path),
        stems,
        sample_rate=44100,
        writer=stempeg.StreamsWriter(codec="aac", bitrate=256000),
    )
    for tracks in (musdb_tracks(tmp_path, ["test"]), folder_tracks(tmp_path)):
        (track,) = tracks
        assert isinstance(track, MusdbTrack) and track.name == song.name
        assert "accompaniment" in track.targets and "linear_mixture" not in track.targets
        references = track.load_references(["vocals", "accompaniment"])
        vocals = sf.read(song / "vocals.wav")[0]
        # AAC at 256 kb/s: close to the source, with the encoder's delay trimmed by stempeg.
        assert abs(len(references["vocals"]) - len(vocals)) < 2048
        n = min(len(vocals), len(references["vocals"]))
        error = references["vocals"][:n] - vocals[:n]
        assert 10 * np.log10(np.sum(vocals[:n] ** 2) / np.sum(error**2)) > 15
        # the mixture alone (one stream decoded) is the full read's mixture stream
        mixture, (everything, _) = track.load_mixture(), read_stem_file(path)
        np.testing.assert_array_equal(mixture, everything["mixture"])
        assert mixture.shape == references["vocals"].shape


def test_missing_dataset_directory_is_one_line_naming_it(tmp_path):
    with pytest.raises(DataError, match=r"nowhere: dataset directory not found"):
        folder_tracks(tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"nowhere: MUSDB18 directory not found"):
        musdb_tracks(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: no songs found"):
        folder_tracks(tmp_path / "empty")


def test_mixture_without_references_is_a_song_that_fails_its_check(tmp_path, musdb_hq):
    song = sorted((musdb_hq / "test").iterdir())[0]
    (tmp_path / "lonely").mkdir()
    shutil.copy(song / "mixture.wav", tmp_path / "lonely" / "mixture.wav")
    (track,) = folder_tracks(tmp_path)
    with pytest.raises(DataError, match=r"lonely: missing vocals .*, accompaniment"):
        track.check()


def test_references_of_different_lengths_are_an_error(tmp_path, musdb_hq):
    song = sorted((musdb_hq / "test").iterdir())[0]
    directory = tmp_path / "song"
    directory.mkdir()
    for name in ("mixture", "vocals"):
        shutil.copy(song / f"{name}.wav", directory / f"{name}.wav")
    sf.write(directory / "accompaniment.wav", np.zeros((1000, 2)), 44100)
    (track,) = folder_tracks(tmp_path)
    with pytest.raises(
        DataError, match=r"accompaniment.wav: 1000 samples, but vocals.wav has 88200"
    ):
        track.load_references(["vocals", "accompaniment"])


def test_unreadable_reference_is_one_line_naming_the_file(tmp_path, musdb_hq):
    song = sorted((musdb_hq / "test").iterdir())[0]
    directory = tmp_path / "song"
    directory.mkdir()
    for name in ("mixture", "accompaniment"):
        shutil.copy(
            song / ("other.wav" if name == "accompaniment" else "mixture.wav"),
            directory / f"{name}.wav",
        )
    (directory / "vocals.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 4)
    (track,) = folder_tracks(tmp_path)
    with pytest.raises(SpleeterError) as raised:
        track.load_references(["vocals", "accompaniment"])
    message = str(raised.value)
    assert "vocals.wav" in message and "\n" not in message
