"""Seed-compatible flags, training configurations and the multi-card launch command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from spleeter_paddle.commands.train import add_run_spleeter_arguments, load_model_choice, str2bool
from spleeter_paddle.configuration import load_configuration
from spleeter_paddle.launch import (
    WORKER_SCRIPT,
    LaunchOptions,
    launch_command,
    launch_environment,
)
from spleeter_paddle.training.config import default_training_params, training_configuration

REPO = Path(__file__).resolve().parents[2]


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_run_spleeter_arguments(parser)
    return parser.parse_args(argv)


def test_seed_flags_and_booleans():
    args = _parse("-m", "fast_train", "-bs", "20", "-npn", "4", "-lm", "False", "-amp", "True")
    assert (args.mode, args.batch_size, args.nproc_per_node) == ("fast_train", 20, 4)
    assert args.load_model is False and args.amp is True
    defaults = _parse()
    assert defaults.mode == "fast_train" and defaults.load_model is True and defaults.amp is False
    assert (
        _parse("-lm", "true").load_model is True and _parse("-lm", "latest").load_model == "latest"
    )
    assert _parse("-lm", "model/run").load_model == "model/run"
    assert _parse("-amp").amp is True and _parse("-amp", "False").amp is False
    args = _parse("-e", "3", "-lr", "0.001", "-cd", "12", "-ncps", "4", "-T", "256", "-F", "512")
    assert (args.epochs, args.learning_rate, args.chunk_duration) == (3, 0.001, 12.0)
    assert (args.n_chunks_per_song, args.T, args.F) == (4, 256, 512)
    assert _parse("-p", "configs/musdb_config.json", "--device", "cpu").config.endswith(
        "musdb_config.json"
    )
    for word, value in (("False", False), ("no", False), ("1", True), ("TRUE", True)):
        assert str2bool(word) is value and load_model_choice(word) is value
    with pytest.raises(argparse.ArgumentTypeError):
        str2bool("maybe")
    with pytest.raises(SystemExit):
        _parse("-amp", "maybe")


def test_config_files_match_the_code():
    shipped = load_configuration(str(REPO / "configs" / "2stems_config.json"))
    assert shipped == load_configuration(default_training_params())
    musdb = load_configuration(str(REPO / "configs" / "musdb_config.json"))
    assert musdb["instrument_list"] == ["vocals", "drums", "bass", "other"]
    assert (musdb["train_csv"], musdb["validation_csv"]) == (
        "configs/musdb_train.csv",
        "configs/musdb_validation.csv",
    )
    assert (musdb["n_chunks_per_song"], musdb["random_seed"], musdb["model_dir"]) == (
        40,
        3,
        "musdb_model",
    )
    assert musdb["model"]["params"] == {"conv_activation": "ELU", "deconv_activation": "ELU"}


def test_overrides(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here: the built-in 2-stem training config
    params = training_configuration(None, T=64, F=128, batch_size=20, learning_rate=None)
    assert (params["T"], params["F"], params["batch_size"], params["learning_rate"]) == (
        64,
        128,
        20,
        1e-4,
    )
    (tmp_path / "mine.json").write_text(json.dumps({**params, "model_dir": "mine"}))
    assert training_configuration("mine.json")["model_dir"] == "mine"
    from spleeter_paddle.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="'T'"):
        training_configuration(None, T=100)


def test_launch_command_and_environment(tmp_path: Path):
    launch = LaunchOptions(4, master="10.0.0.1:8090", nnodes="2")
    command = launch_command(4, tmp_path / "job.json", launch)
    assert command[1:5] == ["-m", "paddle.distributed.launch", "--nproc_per_node", "4"]
    assert command[command.index("--master") + 1] == "10.0.0.1:8090"
    assert command[command.index("--nnodes") + 1] == "2"
    assert command[-3:] == [str(WORKER_SCRIPT), "--job", str(tmp_path / "job.json")]
    environ = launch_environment("cpu", base={"PADDLE_XCCL_BACKEND": "mine"})
    assert environ["GLOG_minloglevel"] == "2" and environ["PADDLE_XCCL_BACKEND"] == "mine"
