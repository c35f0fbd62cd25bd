"""``training.run.train_model``, the library call behind ``train``: in-process runs, resume,
a conflicting ``-lm``, a cache that does not fit, and the launched path (launcher faked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spleeter_paddle.errors import ConfigurationError, DataError
from spleeter_paddle.training import LaunchOptions, TrainingOptions, train_model
from spleeter_paddle.training import run as training_run


def _options(run_dir: Path, **changes) -> TrainingOptions:
    defaults = dict(run_dir=str(run_dir), num_workers=0, log_every=1, device="cpu")
    defaults.update(load_model=False, validate_every=0)
    return TrainingOptions(**{**defaults, **changes})


def test_trains_resumes_and_refuses_a_conflict(workspace, tmp_path: Path):
    params, _ = workspace
    run = tmp_path / "run"
    first = train_model(params, _options(run, max_steps=2))
    assert (first.run_dir, first.step, first.start_step, first.exit_status) == (run, 2, 0, 0)
    assert len(first.losses) == 2 and first.initial_weights is None
    assert json.loads((run / "run.json").read_text())["identity"]["initial_weights"] == "scratch"
    second = train_model(params, _options(run, max_steps=3))  # same settings: continues
    assert (second.start_step, second.step) == (2, 3)
    with pytest.raises(ConfigurationError, match="--resume"):
        train_model(params, _options(run, max_steps=4, load_model=True))
    assert not (run / "checkpoints" / "step_00000004").exists()


def test_a_cache_that_does_not_fit_fails_before_the_run_starts(workspace, tmp_path: Path):
    params, _ = workspace
    with pytest.raises(DataError, match="-F 4096"):
        train_model({**params, "F": 4096}, _options(tmp_path / "run", max_steps=1))
    assert not (tmp_path / "run" / "run.json").exists()


def test_launched_runs_get_resolved_options_and_report_the_launcher_status(
    workspace, tmp_path: Path, monkeypatch
):
    params, _ = workspace
    calls = []

    def launcher(params, options, launch, keep_fds=(), plan=None):
        where = (launch.master, launch.nnodes, launch.ips, launch.devices, launch.log_dir)
        calls.append((options, launch.n_procs, where))
        # the run's locks (its folder and checkpoints/) stay held by the launcher too
        assert len(keep_fds) == 2
        # the run planned once, under the lock: every worker trains by this plan
        assert (
            plan["run_dir"] == options["run_dir"] and plan["resume"] is False and json.dumps(plan)
        )
        return 3

    monkeypatch.setattr(training_run, "launch_training", launcher)
    assert not LaunchOptions().launched and LaunchOptions(nnodes="2").launched
    launch = LaunchOptions(n_procs=2, devices="0,1", log_dir=str(tmp_path / "log"))
    result = train_model(params, _options(tmp_path / "run", max_steps=1), launch)
    assert (result.exit_status, result.step, result.losses) == (3, 0, [])
    ((options, n_procs, where),) = calls
    assert n_procs == 2 and where == (None, None, None, "0,1", str(tmp_path / "log"))
    assert options["run_dir"] == str(tmp_path / "run") and options["resume"] is False
    assert options["initial_weights"] is None and json.dumps(options)  # JSON for the job file
