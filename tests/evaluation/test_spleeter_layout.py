"""Spleeter's evaluation layout (``<o>/metrics``, ``<o>/audio``): the stems it keeps never land
on the songs read nor outside ``-o``, and Spleeter's ``evaluate()`` function runs from a script
without a ``__main__`` guard (its metric workers are spawned processes)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spleeter_paddle.cli import main


@pytest.fixture
def one_song(musdb_hq, tmp_path, official_model_path) -> Path:
    song = sorted((musdb_hq / "test").iterdir())[0]
    root = tmp_path / "mus"
    shutil.copytree(song, root / "test" / song.name)
    return root


def _digests(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _evaluate(mus_dir: Path, out: Path, *flags: str) -> int:
    argv = [
        "evaluate",
        "--mus_dir",
        str(mus_dir),
        "-o",
        str(out),
        "--metric-workers",
        "0",
        "--no-progress",
    ]
    return main(argv + ["--no-stability-check", *flags])


def test_the_songs_read_are_never_written_over(one_song, tmp_path, capsys):
    out = tmp_path / "out"
    song = next((one_song / "test").iterdir())
    stems = out / "audio" / "test" / song.name
    stems.mkdir(parents=True)
    os.link(song / "vocals.wav", stems / "vocals.wav")  # the reference itself, by another name
    before = _digests(song)
    for flags in ((), ("--overwrite",)):
        assert _evaluate(one_song, out, *flags) == 1
        assert _digests(song) == before  # the references (vocals.wav) are untouched
        error = capsys.readouterr().err
        assert "is the input" in error and "refusing to write over an input" in error
        assert "use --overwrite" not in error
    assert os.path.samefile(stems / "vocals.wav", song / "vocals.wav")


def test_a_song_folder_leading_out_of_the_output_is_not_written(one_song, tmp_path):
    """(``<o>/audio`` or ``<o>/audio/<subset>`` as a link out is refused before anything runs.)"""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    song = next((one_song / "test").iterdir()).name
    (out / "audio" / "test").mkdir(parents=True)
    (out / "audio" / "test" / song).symlink_to(elsewhere, target_is_directory=True)
    assert _evaluate(one_song, out) == 1
    assert list(elsewhere.iterdir()) == []


@pytest.mark.slow  # a script in a subprocess that loads the model and spawns metric workers
def test_spleeters_evaluate_function_runs_from_an_unguarded_script(one_song, tmp_path):
    script = tmp_path / "my_evaluation.py"
    script.write_text(
        textwrap.dedent(
            f"""
            print("SCRIPT START", flush=True)
            from spleeter_paddle.__main__ import evaluate
            metrics = evaluate(
                output_path={str(tmp_path / "out")!r}, params_filename="spleeter:2stems",
                mus_dir={str(one_song)!r}, mwf=False, verbose=False,
            )
            print(sorted(metrics), sorted(metrics["vocals"]), len(metrics["vocals"]["SDR"]))
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("SCRIPT START") == 1  # the workers did not run the script again
    assert "['accompaniment', 'vocals'] ['ISR', 'SAR', 'SDR', 'SIR'] 1" in result.stdout


def test_the_dataset_itself_is_no_output_folder(one_song, tmp_path, capsys):
    for output in (one_song, tmp_path):  # the dataset, and a folder holding it
        assert _evaluate(one_song, output) == 2
        assert "is (or holds) the dataset" in capsys.readouterr().err
    assert sorted(p.name for p in one_song.iterdir()) == ["test"]
