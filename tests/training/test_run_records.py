"""What a run records: ``run.json`` holds the seed actually used (``--seed``), a resume keeps it
or warns, and a data-parallel run logs the global batch's loss (two gloo processes on CPU)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from spleeter_paddle.training import LaunchOptions, TrainingOptions, train_model

LOSS = re.compile(r"\[Train\] epoch: \d+, step: 1/1, loss: ([0-9.]+)")


def _options(run_dir: Path, **changes) -> TrainingOptions:
    defaults = dict(run_dir=str(run_dir), num_workers=0, log_every=1, device="cpu")
    defaults.update(load_model=False, validate_every=0)
    return TrainingOptions(**{**defaults, **changes})


def _state(run: Path, step: int) -> dict:
    return json.loads((run / "checkpoints" / f"step_{step:08d}" / "state.json").read_text())


def test_the_seed_used_is_recorded_and_kept_on_resume(workspace, tmp_path: Path, caplog):
    params, _ = workspace
    assert params["random_seed"] != 42
    run = tmp_path / "run"
    train_model(params, _options(run, max_steps=1, seed=42))
    assert json.loads((run / "run.json").read_text())["recorded"]["random_seed"] == 42
    with caplog.at_level(logging.WARNING, logger="spleeter_paddle"):
        train_model(params, _options(run, max_steps=2))  # no --seed: the run's own
    assert _state(run, 2)["seed"] == 42 and "random_seed" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="spleeter_paddle"):
        train_model(params, _options(run, max_steps=3, seed=7))
    assert "resuming with random_seed = 7 (the run started with 42)" in caplog.text
    assert _state(run, 3)["seed"] == 7


@pytest.mark.slow  # two launched gloo processes (25-40 s on 2 loaded cores; rendezvous may wait)
def test_two_processes_log_the_global_batch_loss(workspace, tmp_path: Path):
    params, _ = workspace
    # the same initial weights for every run below
    start = train_model(params, _options(tmp_path / "start", max_steps=1)).run_dir

    def first_loss(name: str, batch_size: int) -> float:
        options = _options(tmp_path / name, max_steps=1, load_model=str(start), seed=5)
        return train_model({**params, "batch_size": batch_size}, options).losses[0]

    whole, half = first_loss("whole", 2), first_loss("half", 1)
    launched = train_model(
        {**params, "batch_size": 1},
        _options(tmp_path / "two", max_steps=1, load_model=str(start), seed=5),
        LaunchOptions(n_procs=2, log_dir=str(tmp_path / "log")),
    )
    assert launched.exit_status == 0
    logged = LOSS.findall((tmp_path / "log" / "workerlog.0").read_text())
    assert len(logged) == 1
    # rank 0 sees the first half of the shuffled global batch, one process with batch 2 all of
    # it: the logged loss is the whole batch's, not rank 0's half. Relative 1e-5: each side is
    # a float32 mean over 16384 values per example (here ~9.6, 5e-6 apart; 1e-5 absolute for
    # a trained model's ~0.3)
    assert float(logged[0]) == pytest.approx(whole, rel=1e-5)
    assert abs(half - whole) > 1e-3 * whole
