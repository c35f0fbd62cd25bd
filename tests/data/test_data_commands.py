"""preprocess / process-data / download-musdb through the CLI: a bad song is one
``ERROR <song>: <problem>`` line, the other songs are processed, and the exit status is 1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from data_helpers import small_params

from spleeter_paddle.cli import main
from spleeter_paddle.data.synthetic import generate_musdb_tree


def _error_lines(text: str) -> list:
    return [line.split("] - ", 1)[1] for line in text.splitlines() if "] - ERROR " in line]


@pytest.fixture
def work(tmp_path: Path, song_writer) -> Path:
    for index in range(3):
        song_writer("train", f"Song {index}", 5.0, index)
    params = small_params(tmp_path, n_chunks_per_song=1)
    (tmp_path / "config.json").write_text(json.dumps(params))
    return tmp_path


def _cli(work: Path, command: str, *extra: str) -> int:
    flags = ["-p", str(work / "config.json"), "-d", str(work / "dataset"), "--quiet"]
    if command == "process-data":
        flags += ["--workers", "1"]
    return main([command, *flags, *extra])


def test_preprocess_reports_a_bad_song_and_exits_1(work: Path, capsys):
    broken = work / "dataset/train/broken"
    broken.mkdir()
    shutil.copyfile(work / "dataset/train/Song 0/mixture.wav", broken / "mixture.wav")
    assert _cli(work, "preprocess", "--validation-fraction", "0") == 1
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and errors[0].startswith("ERROR train/broken: missing stem 'vocals'")
    assert len((work / "configs/train.csv").read_text().splitlines()) == 4  # header + 3 songs
    shutil.rmtree(broken)
    assert _cli(work, "preprocess", "--validation-fraction", "0") == 0


def test_process_data_reports_a_bad_song_and_exits_1(work: Path, capsys):
    assert _cli(work, "preprocess", "--validation-fraction", "0") == 0
    (work / "dataset/train/Song 1/mixture.wav").unlink()
    assert _cli(work, "process-data") == 1
    captured = capsys.readouterr()
    errors = _error_lines(captured.err)
    assert len(errors) == 1 and errors[0].startswith("ERROR Song 1: ")
    assert "mixture.wav: no such file" in errors[0]
    assert "2 songs" in captured.out and "1 skipped" in captured.out


def test_download_musdb_reports_a_bad_song_and_exits_1(tmp_path: Path, capsys):
    generate_musdb_tree(tmp_path / "musdb", n_songs=2, duration_s=1.0, seed=3)
    victim = sorted((tmp_path / "musdb/test").iterdir())[0]
    (victim / "vocals.wav").unlink()
    argv = ["download-musdb", "--musdb-root", str(tmp_path / "musdb"), "--is-wav", "--quiet"]
    assert main([*argv, "-o", str(tmp_path / "dataset")]) == 1
    captured = capsys.readouterr()
    errors = _error_lines(captured.err)
    assert len(errors) == 1 and errors[0].startswith(f"ERROR test/{victim.name}: missing stem")
    assert "converted 3 songs" in captured.out
