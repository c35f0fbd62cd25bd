"""``eval.py`` / ``spleeter-paddle evaluate``: flags, model choice, errors, and a real 2stems run."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.commands.evaluate import add_arguments, main, run
from spleeter_paddle.errors import ModelError
from spleeter_paddle.evaluation import resolve_model
from spleeter_paddle.pretrained.store import find_latest_model

REPO = Path(__file__).resolve().parents[2]


def _save_model(directory: Path, source: str, config) -> None:
    from spleeter_paddle.pretrained.store import save_weights

    save_weights(
        {"weight": np.zeros(3, np.float32)}, directory, {"config": config, "source": source}
    )


def test_latest_is_the_newest_trained_model_not_a_pretrained_one(tmp_path):
    config = {"instrument_list": ["vocals", "accompaniment"]}
    _save_model(tmp_path / "old_run", "training", config)
    _save_model(tmp_path / "new_run", "training", dict(config, note="new"))
    _save_model(tmp_path / "2stems", "https://github.com/deezer/spleeter/...", "spleeter:2stems")
    for age, name in ((300, "old_run"), (200, "new_run"), (0, "2stems")):
        stamp = 1_700_000_000 - age
        os.utime(tmp_path / name / "model.safetensors", (stamp, stamp))
    assert find_latest_model(tmp_path) == tmp_path / "new_run"
    params, directory, label = resolve_model("latest", tmp_path)
    assert params["note"] == "new" and directory == tmp_path / "new_run" and label == str(directory)
    assert resolve_model(str(tmp_path / "2stems"))[0] == "spleeter:2stems"
    assert resolve_model("spleeter:4stems") == ("spleeter:4stems", None, "spleeter:4stems")


def test_no_trained_model_says_so_and_suggests_the_pretrained_one(
    seed_layout, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "model"))
    with pytest.raises(ModelError, match="no trained model"):
        find_latest_model()
    status = main(
        ["--data", str(seed_layout), "-o", str(tmp_path / "out"), "--metric-workers", "1"]
    )
    stderr = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in stderr if "error:" in line]
    assert status == ModelError.exit_code and errors == stderr[-1:]  # one line, the last
    assert "model/: no trained model" in errors[0] and "--model spleeter:2stems" in errors[0]


def test_missing_data_is_one_line_and_exit_code(tmp_path, capsys):
    status = main(["--data", str(tmp_path / "nowhere"), "-o", str(tmp_path / "out")])
    error = capsys.readouterr().err.strip()
    expected = f"eval.py: error: {tmp_path / 'nowhere'}: dataset directory not found"
    assert status == 5 and error == expected


def test_spleeter_flags_parse_like_spleeter_evaluate():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--mus_dir", "MUSDB", "-p", "spleeter:4stems", "--mwf", "-o", "out"])
    assert (args.mus_dir, args.model, args.mwf, args.output) == (
        "MUSDB",
        "spleeter:4stems",
        True,
        "out",
    )
    assert (args.fraction, args.is_wav, args.overwrite, args.data) == (1.0, None, False, None)
    with pytest.raises(SystemExit):
        parser.parse_args(["-p", "spleeter:4stems"])  # --mus_dir or --data is required


def test_eval_py_shim_prints_help():
    completed = subprocess.run(
        [sys.executable, str(REPO / "eval.py"), "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert completed.returncode == 0
    flags = ("-npn", "--metric-workers", "-seed", "--fraction", "--model", "--data", "--mus_dir")
    for flag in (*flags, "--is-wav"):
        assert flag in completed.stdout


@pytest.fixture
def model_path(pretrained_model_home, monkeypatch):
    monkeypatch.setenv("MODEL_PATH", str(pretrained_model_home))
    return pretrained_model_home


def test_official_2stems_on_musdb_wav_end_to_end(model_path, musdb_hq, tmp_path, capsys):
    """``spleeter-paddle evaluate --mus_dir ROOT --is-wav -p spleeter:2stems`` on one 2 s song."""
    mus_dir = tmp_path / "musdb"
    song = sorted((musdb_hq / "test").iterdir())[0]
    shutil.copytree(song, mus_dir / "test" / song.name)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "out"
    args = parser.parse_args(
        [
            "--mus_dir",
            str(mus_dir),
            "--is-wav",
            "-p",
            "spleeter:2stems",
            "-o",
            str(out),
            "--metric-workers",
            "1",
            "--no-progress",
        ]
    )
    assert run(args) == 0
    printed = capsys.readouterr().out
    assert "vocals" in printed and "accompaniment" in printed and "seconds per song" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["targets"]) == {"vocals", "accompaniment"}
    for target in ("vocals", "accompaniment"):
        sdr = summary["targets"][target]["SDR"]["median"]
        assert sdr is not None and math.isfinite(sdr), (target, sdr)
    document = json.loads((out / "metrics" / "test" / f"{song.name}.json").read_text())
    assert [t["name"] for t in document["targets"]] == ["vocals", "accompaniment"]
    # Spleeter's layout: the separated stems beside the metrics, where museval's eval_mus_dir
    # reads estimates (<audio>/<subset>/<song>/<target>.wav), as 16-bit WAV of the song's length.
    mixture = sf.info(mus_dir / "test" / song.name / "mixture.wav")
    for target in ("vocals", "accompaniment"):
        stem = sf.info(out / "audio" / "test" / song.name / f"{target}.wav")
        assert (stem.frames, stem.samplerate, stem.subtype) == (mixture.frames, 44100, "PCM_16")


def test_model_trained_with_crop_64_evaluates_with_512_frame_segments(
    official_model_path, seed_layout, tmp_path, capsys
):
    """Separation T is a separation setting (512), not the training crop; the summary states the
    sample drawn and prints per-song values."""
    from spleeter_paddle.configuration import load_configuration
    from spleeter_paddle.evaluation import load_separator
    from spleeter_paddle.evaluation.setting import separator_setting
    from spleeter_paddle.pretrained.store import read_weights, save_weights

    params = dict(load_configuration("spleeter:2stems"), T=64)
    run_dir = tmp_path / "run"
    weights = read_weights(official_model_path / "2stems")
    save_weights(weights, run_dir, {"config": params, "source": "training"})
    separator, _ = load_separator(str(run_dir), device="cpu")
    assert separator.chain.T == 512
    out = tmp_path / "out"
    argv = [
        "--data",
        str(seed_layout),
        "--model",
        str(run_dir),
        "-o",
        str(out),
        "--metric-workers",
        "0",
    ]
    status = main(argv + ["--fraction", "0.5", "-seed", "1", "--device", "cpu", "--no-progress"])
    printed = capsys.readouterr().out
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    (song,) = summary["songs"]
    assert summary["sample"] == {
        "fraction": 0.5, "seed": 1, "of": 2, "selected": 1, "songs": [song],
    }  # fmt: skip
    assert f"sample: 1 of 2 songs drawn at random (fraction 0.5, seed 1): {song}" in printed
    assert f"{song}  vocals" in printed and f"{song}  accompaniment" in printed
    key = json.loads((out / "metrics" / f"{song}.json").read_text())["spleeter_paddle"]["setting"]
    assert key["separator"]["segment_frames"] == 512
    assert key["separator"]["weights_sha256"] == separator_setting(separator)["weights_sha256"]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--segment-frames", "100"], "segment_frames must be a multiple of 64"),
        (["--segment-frames", "0"], "--segment-frames 0: must be positive"),
        (["--fraction", "0"], "--fraction 0.0: must be in (0, 1]"),
        (["--metric-workers", "-1"], "--metric-workers -1: must be >= 0"),
        (["--workers", "-1"], "--metric-workers -1: must be >= 0"),  # its former name
    ],
)
def test_bad_options_are_usage_errors_before_anything_runs(
    seed_layout, tmp_path, capsys, flags, message
):
    out = tmp_path / "out"
    argv = ["--data", str(seed_layout), "-p", "spleeter:2stems", "-o", str(out)]
    status = main(argv + flags)
    error = capsys.readouterr().err.strip()
    assert status == 2 and message in error and "\n" not in error
    assert not out.exists()
