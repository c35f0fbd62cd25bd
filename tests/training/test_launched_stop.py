"""A signal to the command of a multi-process run (``-npn 2``) stops the launched workers too: the
command forwards it to the launcher, waits for the workers and keeps the run lock until then."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from spleeter_paddle.errors import ConfigurationError
from spleeter_paddle.training.folder import run_lock

REPO = Path(__file__).resolve().parents[2]

# Multi-process runs (two gloo workers each): their rendezvous can time out on a loaded 2-core
# machine, so they run with the other long checks: python -m pytest -q -m slow
pytestmark = pytest.mark.slow


def _processes_naming(text: str) -> List[int]:
    """Ids of the processes whose command line contains ``text`` (this test's run folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in command and int(entry.name) != os.getpid():
                found.append(int(entry.name))
    return found


def _checkpoints(run: Path) -> List[str]:
    folder = run / "checkpoints"
    return sorted(p.name for p in folder.glob("step_*")) if folder.is_dir() else []


def _start(params, tmp_path: Path) -> subprocess.Popen:
    """``run_spleeter.py -m fast_train -npn 2`` on the workspace's cache, in ``tmp_path/run``,
    once its workers have saved a checkpoint."""
    run = tmp_path / "run"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**params, "model_dir": str(run)}))
    command = [sys.executable, str(REPO / "run_scripts" / "run_spleeter.py"), "-m", "fast_train"]
    command += ["-p", str(config), "-bs", "1", "-npn", "2", "-lm", "False", "--device", "cpu"]
    command += ["--steps", "100000", "--save-every", "1", "--validate-every", "0"]
    command += ["--num-workers", "0", "--quiet", "--log-dir", str(tmp_path / "log")]
    environ = {**os.environ, "GLOG_minloglevel": "2", "OMP_NUM_THREADS": "1"}
    cli = subprocess.Popen(command, env=environ, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not _checkpoints(run) and time.monotonic() < deadline and cli.poll() is None:
        time.sleep(0.5)
    assert _checkpoints(run), "the workers never saved a checkpoint"
    return cli


def _end(cli: subprocess.Popen, run: Path) -> None:
    cli.kill()
    cli.wait()
    for pid in _processes_naming(str(run)):  # only this test's processes name its folder
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists processes through /proc")
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_launched_workers(workspace, tmp_path: Path, stop):
    run = tmp_path / "run"
    cli = _start(workspace[0], tmp_path)
    try:
        cli.send_signal(stop)  # the command only, as `kill <pid>` or a service manager does
        _, error = cli.communicate(timeout=120)
        assert cli.returncode == (130 if stop == signal.SIGINT else 143), error[-2000:]
        assert "Traceback" not in error.split("interrupted")[-1]
        assert _processes_naming(str(run)) == []  # no worker left training
        saved = _checkpoints(run)
        time.sleep(2)
        assert _checkpoints(run) == saved
        assert not list((run / "checkpoints").glob(".step_*"))  # no half-written save
        with run_lock(run):  # the lock is free once the command has returned
            pass
    finally:
        _end(cli, run)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists processes through /proc")
def test_the_lock_outlives_a_killed_command_while_workers_run(workspace, tmp_path: Path):
    run = tmp_path / "run"
    cli = _start(workspace[0], tmp_path)
    try:
        cli.kill()  # SIGKILL: no chance to stop the launcher
        cli.wait()
        assert _processes_naming(str(run))  # the launcher and its workers still train
        with pytest.raises(ConfigurationError, match="another training process"), run_lock(run):
            pass
    finally:
        _end(cli, run)


def _rank_of(pid: int) -> int:
    try:
        environ = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return -1
    ranks = [entry for entry in environ if entry.startswith(b"PADDLE_TRAINER_ID=")]
    return int(ranks[0].split(b"=")[1]) if ranks else -1


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists processes through /proc")
def test_a_killed_worker_is_one_error_line(workspace, tmp_path: Path):
    """A rank dies without a word (SIGKILL, as the OOM killer does): the command ends with one
    line naming the run and the worker logs, exit 4, the checkpoints kept, no worker left."""
    run = tmp_path / "run"
    cli = _start(workspace[0], tmp_path)
    try:
        workers = [pid for pid in _processes_naming(str(run)) if _rank_of(pid) == 1]
        assert workers, "no rank 1 worker found"
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        _, error = cli.communicate(timeout=120)
        assert cli.returncode == 4, error[-2000:]
        lines = [line for line in error.splitlines() if "error:" in line]
        assert len(lines) == 1 and "a worker process died" in lines[0], error[-2000:]
        assert str(run) in lines[0] and "workerlog" in lines[0]
        # The launcher's own lines and a surviving rank's C++ dump stay in the log folder;
        # rank 0's log records are relayed.
        assert "Traceback" not in error and "LAUNCH" not in error and "SIGABRT" not in error
        assert (tmp_path / "log" / "launcher.log").is_file()  # --log-dir
        assert _checkpoints(run) and _processes_naming(str(run)) == []
    finally:
        _end(cli, run)
