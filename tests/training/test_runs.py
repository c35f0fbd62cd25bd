"""Explicit runs: a run folder records its settings; a command resumes it only when asked or when
its flags match; a conflict is a one-line usage error saying how to resume or where to go."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spleeter_paddle.commands.train import main_run_spleeter


@pytest.fixture
def command(workspace, tmp_path: Path, capsys):
    """``command(*flags) -> (exit status, stderr)`` of ``run_spleeter.py -m fast_train`` on the
    workspace's cache, with the run in ``tmp_path/run``."""
    params, _ = workspace
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**params, "model_dir": str(tmp_path / "run")}))
    base = ["-m", "fast_train", "-p", str(config), "--device", "cpu", "--num-workers", "0"]
    base += ["--validate-every", "0", "--log-every", "1", "--quiet"]

    def run(*flags: str):
        capsys.readouterr()
        status = main_run_spleeter([*base, *flags])
        return status, capsys.readouterr().err

    return run


def test_a_conflicting_lm_is_refused_and_resume_is_explicit(command, tmp_path: Path):
    run = tmp_path / "run"
    assert command("-lm", "False", "--steps", "1")[0] == 0
    recorded = json.loads((run / "run.json").read_text())
    assert recorded["identity"]["initial_weights"] == "scratch"
    assert recorded["identity"]["T"] == 64 and recorded["identity"]["F"] == 128
    # The same flags continue the run.
    assert command("-lm", "False", "--steps", "2")[0] == 0
    assert (run / "checkpoints" / "step_00000002").is_dir()
    # The README's sequence the other way round: -lm True (the default) on a scratch run used
    # to resume it silently; it is a usage error naming both ways out.
    status, error = command("--steps", "3")
    assert status == 2, error
    lines = [line for line in error.splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0]
    assert '-lm "scratch"' in lines[0] and '-lm "pretrained"' in lines[0]
    assert "--resume" in lines[0] and f"-o {run}-2" in lines[0]
    assert not (run / "checkpoints" / "step_00000003").exists()
    # --resume continues it whatever -lm says; --new-run refuses the occupied folder.
    assert command("--resume", "--steps", "3")[0] == 0
    assert (run / "checkpoints" / "step_00000003").is_dir()
    status, error = command("-lm", "False", "--new-run", "--steps", "4")
    assert status == 2 and "already holds a run" in error and f"-o {run}-2" in error
    # A changed shape is refused even with --resume (it would be another model).
    status, error = command("-lm", "False", "--resume", "-T", "128", "--steps", "4")
    assert status == 2 and "-T 64" in error and "-T 128" in error
    # A new run goes where it is told.
    assert command("-lm", "False", "-o", str(tmp_path / "other"), "--steps", "1")[0] == 0
    assert (tmp_path / "other" / "run.json").is_file()


def test_resume_without_a_run_and_a_run_without_settings(command, tmp_path: Path):
    status, error = command("-lm", "False", "--resume", "--steps", "1")
    assert status == 2 and "holds no checkpoint" in error
    assert command("-lm", "False", "--steps", "1")[0] == 0
    (tmp_path / "run" / "run.json").unlink()
    status, error = command("-lm", "False", "--steps", "2")
    assert status == 2 and "no run.json" in error and "--resume" in error
    assert command("-lm", "False", "--resume", "--steps", "2")[0] == 0
    assert (tmp_path / "run" / "run.json").is_file()  # recorded again


HOLD_RUN = """
import sys
from pathlib import Path
from spleeter_paddle.training.folder import run_lock
with run_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.mark.parametrize("place", ["song", "dataset"])
def test_a_cache_inside_an_input_is_refused_before_work(workspace, tmp_path: Path, place):
    """``training_cache`` naming a song folder, or the dataset folder itself, would write the
    cache among the songs: a usage error, nothing written. (A folder of its own inside the
    dataset is allowed: Spleeter's test suite keeps its caches there.)"""
    params, root = workspace
    song = root / "dataset" / "train" / "Song 0"
    listings = {
        folder: sorted(path.name for path in folder.iterdir())
        for folder in (song, root / "dataset")
    }
    cache = song if place == "song" else root / "dataset"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**params, "training_cache": str(cache)}))
    status = main_run_spleeter(
        ["-m", "process_data", "-p", str(config), "-d", str(root / "dataset")]
    )
    assert status == 2
    for folder, before in listings.items():
        assert sorted(path.name for path in folder.iterdir()) == before


def test_a_busy_run_folder_is_refused_before_the_caches_are_built(
    workspace, tmp_path: Path, capsys
):
    """``-m train`` builds the caches, then trains: a run folder another training holds is
    refused first, before any cache is read or written."""
    params, root = workspace
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_RUN, str(run)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        caches = {key: str(tmp_path / key) for key in ("training_cache", "validation_cache")}
        config = tmp_path / "config.json"
        config.write_text(json.dumps({**params, **caches, "model_dir": str(run)}))
        capsys.readouterr()
        status = main_run_spleeter(
            ["-m", "train", "-p", str(config), "-d", str(root / "dataset"), "--device", "cpu",
             "--num-workers", "0", "--steps", "1", "--quiet"]
        )  # fmt: skip
        error = capsys.readouterr().err
    finally:
        holder.communicate("", timeout=60)
    assert status == 2 and "another training process is using this run folder" in error
    assert not any(Path(folder).exists() for folder in caches.values())
