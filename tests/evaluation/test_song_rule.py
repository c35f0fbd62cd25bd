"""One rule for song folders, shared by preprocess (training) and evaluate (scoring): which file
holds which stem (two candidates for one stem is an error, never a silent pick), and when stems
make a usable song (the mixture's rate and exact length, at least one STFT frame)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.data.manifest import build_manifests
from spleeter_paddle.data.synthetic import generate_song
from spleeter_paddle.errors import DataError
from spleeter_paddle.evaluation import folder_tracks
from spleeter_paddle.training.config import default_training_params

RATE = 44100


def _write(
    folder: Path, n_samples: int, shorter: Optional[str] = None, extra: Optional[Dict] = None
):
    song = generate_song(max(n_samples, RATE) / RATE, seed=len(folder.name))
    stems = {
        "mixture": song["mixture"][:n_samples],
        "vocals": song["vocals"][:n_samples],
        "accompaniment": (song["drums"] + song["bass"] + song["other"])[:n_samples],
    }
    if shorter:
        stems[shorter] = stems[shorter][:-1]
    folder.mkdir(parents=True)
    for name, waveform in stems.items():
        sf.write(folder / f"{name}.wav", waveform, RATE, subtype="FLOAT")
    for name, waveform in (extra or {}).items():  # another file that could hold a stem
        sf.write(folder / name, waveform, RATE)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rule") / "dataset"
    noise = np.random.default_rng(0).standard_normal((RATE, 2)).astype(np.float32) * 0.1
    _write(root / "test/Good A", RATE)
    _write(root / "test/Good B", RATE)
    _write(root / "test/Both Vocal Names", RATE, extra={"vocal.wav": noise})
    _write(root / "test/Two Codecs", RATE, extra={"vocals.flac": noise})
    _write(root / "test/One Sample", 1)
    _write(root / "test/Short Stem", RATE, shorter="vocals")
    return root


def _preprocess_reasons(dataset: Path, tmp_path: Path) -> Dict[str, str]:
    params = default_training_params()
    params.update(train_csv=str(tmp_path / "train.csv"), validation_csv=str(tmp_path / "v.csv"))
    (dataset / "train").mkdir(exist_ok=True)
    if not (dataset / "train/Good C").exists():
        _write(dataset / "train/Good C", RATE)
    report = build_manifests(params, dataset, 0.0, show_progress=False)
    assert [song.name for song in report.manifests["test"]] == ["Good A", "Good B"]
    return {song.split("/", 1)[1]: reason for song, reason in report.skipped}


def _evaluate_problems(dataset: Path) -> Dict[str, str]:
    problems = {}
    for track in folder_tracks(dataset, ["test"]):
        try:
            track.check()
        except DataError as error:
            problems[track.name] = str(error)
    return problems


@pytest.fixture(scope="module")
def verdicts(dataset, tmp_path_factory):
    by_preprocess = _preprocess_reasons(dataset, tmp_path_factory.mktemp("manifests"))
    by_evaluate = _evaluate_problems(dataset)
    assert by_preprocess == by_evaluate  # the same songs, for the same reason
    assert set(by_evaluate) == {"Both Vocal Names", "Two Codecs", "One Sample", "Short Stem"}
    return by_evaluate


def test_two_files_for_one_stem_are_an_error_for_both_tools(dataset, verdicts):
    folder = dataset / "test"
    assert verdicts["Both Vocal Names"] == (
        f"{folder / 'Both Vocal Names'}: vocal.wav and vocals.wav could each hold vocals; rename "
        "all but one of them so that one file holds vocals"
    )
    assert "vocals.flac and vocals.wav could each hold vocals" in verdicts["Two Codecs"]


def test_one_validity_rule_for_both_tools(dataset, verdicts):
    folder = dataset / "test"
    assert verdicts["One Sample"] == (
        f"{folder / 'One Sample'}: too short: 0.000 s is less than one STFT frame (4096 samples"
        " at 44100 Hz)"
    )
    assert verdicts["Short Stem"] == (
        f"{folder / 'Short Stem'}: stems of unequal lengths (mixture.wav 44100, vocals.wav 44099,"
        " accompaniment.wav 44100 samples)"
    )
