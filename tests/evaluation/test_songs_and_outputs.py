"""Songs given twice, broken or mono MUSDB18-HQ songs, names that could forge lines, and an output
folder that is not ours: each refused or reported the way docs/errors.md's bad-input table says."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.commands.evaluate import main
from spleeter_paddle.errors import ConfigurationError, DataError
from spleeter_paddle.evaluation import (
    OracleSeparator,
    evaluate,
    folder_tracks,
    format_table,
    musdb_tracks,
)

SOURCES = ("vocals", "drums", "bass", "other")


def _songs(musdb_hq, subset="test"):
    return sorted((musdb_hq / subset).iterdir())


def _oracle_run(tracks, out, **keywords):
    scored = [t for t in tracks if not t.problem]
    oracle = OracleSeparator(scored, ratio_mask=True)
    return evaluate(oracle, tracks, out, n_workers=0, progress=False, **keywords)


def test_a_song_given_twice_is_scored_once_and_the_copies_fail(musdb_hq, tmp_path, caplog):
    first, second = _songs(musdb_hq)
    data = tmp_path / "data" / "test"
    shutil.copytree(first, data / "a")
    shutil.copytree(second, data / "b")
    (data / "a_copy").symlink_to("a")
    shutil.copytree(first, data / "a_dup")
    tracks = folder_tracks(tmp_path / "data")
    assert [t.key for t in tracks] == ["test/a", "test/a_copy", "test/a_dup", "test/b"]
    with caplog.at_level(logging.ERROR, logger="spleeter_paddle"):
        result = _oracle_run(tracks, tmp_path / "out")
    assert result.evaluated == ["test/a", "test/b"]
    assert result.failed == {
        "test/a_copy": "is the same song as test/a, given twice",
        "test/a_dup": "has the same files as test/a (a copy), given twice",
    }
    assert "ERROR test/a_copy: is the same song as test/a, given twice" in caplog.text
    assert result.summary["songs"] == ["test/a", "test/b"]


def _png_of_someone_else(path):
    from PIL import Image

    Image.new("RGB", (4, 4)).save(path)
    return path.read_bytes()


def test_report_files_not_written_by_us_are_never_replaced(musdb_hq, tmp_path):
    tracks = folder_tracks(musdb_hq, ["test"])
    out = tmp_path / "out"
    _oracle_run(tracks, out)
    again = _oracle_run(tracks, out)  # our own report files are recognised and replaced
    assert again.resumed == [t.key for t in tracks]
    assert json.loads((out / "summary.json").read_text())["run"]["resumed"] == 2
    foreign = {
        "results.csv": b"my spreadsheet\n",
        "summary.json": b'{"mine": 1}\n',
        "sdr.png": _png_of_someone_else(tmp_path / "theirs.png"),
    }
    for name, content in foreign.items():
        saved = (out / name).read_bytes()
        (out / name).write_bytes(content)
        with pytest.raises(DataError, match=rf"{name} exists and was not written by spleeter"):
            _oracle_run(tracks, out)
        assert (out / name).read_bytes() == content
        (out / name).write_bytes(saved)
    (out / "results.csv").write_bytes(foreign["results.csv"])
    _oracle_run(tracks, out, overwrite=True)
    assert (out / "results.csv").read_text().startswith("subset,track,target,metric,score")
    elsewhere = tmp_path / "elsewhere"
    shutil.move(out / "metrics" / "test", elsewhere)
    (out / "metrics" / "test").symlink_to(elsewhere)
    with pytest.raises(DataError, match=r"leads outside the output folder .* not writing there"):
        _oracle_run(tracks, out, overwrite=True)


def test_cli_refuses_foreign_reports_and_a_file_as_output_before_loading_a_model(
    seed_layout, tmp_path, monkeypatch, capsys
):
    # No model is installed: had the run loaded one first, it would fail on that (exit 4).
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "no_models"))
    argv = [
        "--data",
        str(seed_layout),
        "--model",
        "latest",
        "--metric-workers",
        "0",
        "--no-progress",
    ]
    report = tmp_path / "report"
    report.mkdir()
    (report / "results.csv").write_text("my spreadsheet\n")
    assert main(argv + ["-o", str(report)]) == DataError.exit_code
    assert "results.csv exists and was not written by" in capsys.readouterr().err
    assert (report / "results.csv").read_text() == "my spreadsheet\n"
    tone = tmp_path / "tone.wav"
    tone.write_bytes(b"RIFF")
    for output in (tone, tone / "out"):
        assert main(argv + ["-o", str(output)]) == ConfigurationError.exit_code == 2
        (line,) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
        assert "is not a directory" in line and str(tone) in line
    assert main(argv + ["-o", ""]) == 2
    assert "output folder is empty" in capsys.readouterr().err


def test_song_names_cannot_forge_lines_in_the_table(musdb_hq, tmp_path):
    forged = "\n[2026-11-30 17:00:00,000] [   ERROR] - FORGED\x1b[31mred"
    first, second = _songs(musdb_hq)
    data = tmp_path / "data" / "test"
    shutil.copytree(first, data / f"good{forged}")
    (data / f"bad{forged}").mkdir(parents=True)
    shutil.copy(second / "mixture.wav", data / f"bad{forged}")
    tracks = folder_tracks(tmp_path / "data")
    result = _oracle_run(tracks, tmp_path / "out")
    assert result.evaluated == [f"test/good{forged}"]
    table = format_table(result.summary)
    assert "\x1b" not in table
    assert not [line for line in table.splitlines() if line.startswith("[")]
    assert "test/good\\n[2026-11-30 17:00:00,000] [   ERROR] - FORGED\\x1b[31mred  vocals" in table
    assert "note: song test/bad\\n[2026-11-30" in table and "FAILED" in table


def _musdb_tree(musdb_hq, root):
    shutil.copytree(_songs(musdb_hq)[0], root / "test" / "good")
    return root


def test_broken_musdb_wav_songs_fail_alone(musdb_hq, tmp_path, caplog):
    root = _musdb_tree(musdb_hq, tmp_path / "musdb")
    good = root / "test" / "good"
    (good / "notes").mkdir()  # a folder inside a song is not a song
    broken = root / "test"
    (broken / "empty").mkdir()
    shutil.copytree(good, broken / "no mixture")
    (broken / "no mixture" / "mixture.wav").unlink()
    shutil.copytree(good, broken / "junk mixture")
    (broken / "junk mixture" / "mixture.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 4)
    shutil.copytree(good, broken / "zero mixture")
    (broken / "zero mixture" / "mixture.wav").write_bytes(b"")
    shutil.copytree(good, broken / "other rate")
    audio, _ = sf.read(good / "bass.wav")
    sf.write(broken / "other rate" / "bass.wav", audio, 22050)
    tracks = musdb_tracks(root, ["test"], is_wav=True)
    with caplog.at_level(logging.ERROR, logger="spleeter_paddle"):
        result = _oracle_run(tracks, tmp_path / "out")
    assert result.evaluated == ["test/good"]
    missing_all = "missing mixture.wav, vocals.wav, drums.wav, bass.wav, other.wav"
    expected = {
        "test/empty": missing_all,
        "test/no mixture": "no mixture: missing mixture.wav",
        "test/junk mixture": "mixture.wav: cannot decode",
        "test/zero mixture": "mixture.wav: file is empty",
        "test/other rate": "bass.wav: 22050 Hz, but the mixture is 44100 Hz",
    }
    assert sorted(result.failed) == sorted(expected)
    for song, problem in expected.items():
        assert problem in result.failed[song], result.failed[song]
        assert caplog.text.count(f"ERROR {song}: ") == 1
    assert "Traceback" not in caplog.text


def test_a_mono_musdb_wav_stem_is_read_as_mono_like_the_folder_route(musdb_hq, tmp_path):
    root = _musdb_tree(musdb_hq, tmp_path / "musdb")
    vocals = root / "test" / "good" / "vocals.wav"
    mono, rate = sf.read(vocals, dtype="int16")
    sf.write(vocals, mono[:, 0], rate, subtype="PCM_16")
    (track,) = musdb_tracks(root, ["test", "test"], is_wav=True)  # a subset named twice: once
    (folder,) = folder_tracks(root, ["test"])
    references = track.load_references(["vocals", "accompaniment"])
    assert references["vocals"].shape == (len(mono), 2)
    np.testing.assert_array_equal(references["vocals"][:, 1], mono[:, 0] / 32768.0)
    expected = folder.load_references(["vocals", "accompaniment"])
    for target in references:
        np.testing.assert_array_equal(references[target], expected[target])
    result = _oracle_run([track], tmp_path / "out")
    assert result.evaluated == ["test/good"] and result.failed == {}
