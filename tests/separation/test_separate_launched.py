"""``separate -npn N`` and ``--nnodes M``: the songs shared between launched processes (gloo on
CPU) give the same files, bit for bit, as one process; a worker killed midway is one error line
and the next run finishes without redoing the finished songs. No ``log/`` in the working folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.launch import share_by_duration

REPO = Path(__file__).resolve().parents[2]


def _songs(folder: Path, seconds: List[float]) -> List[str]:
    """Stereo 44.1 kHz noise-and-tone songs of ``seconds`` each (PCM_16 wav)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index, length in enumerate(seconds):
        rng = np.random.default_rng(index)
        t = np.arange(int(length * 44100)) / 44100
        tone = 0.3 * np.sin(2 * np.pi * (220 + 110 * index) * t)
        audio = np.stack([tone, np.roll(tone, 50)], axis=1) + rng.normal(0, 0.05, (len(t), 2))
        path = folder / f"song{index}.wav"
        sf.write(path, audio.astype(np.float32), 44100, subtype="PCM_16")
        names.append(str(path))
    return names


def _separate(cwd: Path, files: List[str], out: Path, *flags: str, **popen) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "spleeter_paddle", "separate", *files, "-o", str(out)]
    command += ["--device", "cpu", "--backend", "eager", *flags]
    environ = {**os.environ, "GLOG_minloglevel": "2", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        command, cwd=cwd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, **popen,
    )  # fmt: skip


def _finished(process: subprocess.Popen, timeout: float = 300) -> str:
    _, error = process.communicate(timeout=timeout)
    assert process.returncode == 0, error[-3000:]
    assert "Traceback" not in error
    return error


def _files(folder: Path) -> Dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def songs(tmp_path_factory, official_model_path) -> List[str]:
    return _songs(tmp_path_factory.mktemp("songs"), [2.0, 1.0, 3.0])


@pytest.fixture(scope="module")
def one_process(songs, tmp_path_factory) -> Dict[str, bytes]:
    """What one process writes for ``songs``."""
    work = tmp_path_factory.mktemp("one")
    _finished(_separate(work / "cwd", songs, work / "out"))
    written = _files(work / "out")
    assert len(written) == 2 * len(songs)  # vocals and accompaniment of each
    return written


def test_the_split_is_longest_first_by_duration_and_keeps_shared_folders_together():
    items = [{"seconds": s, "folders": [f]} for s, f in [(3, "a"), (5, "b"), (1, "c"), (4, "d")]]
    assert share_by_duration(items, 2) == [[1, 2], [3, 0]]  # 5+1 and 4+3
    items.append({"seconds": 2, "folders": ["a"]})  # with song 0: one process writes "a"
    assert share_by_duration(items, 2) == [[3, 0, 4], [1, 2]]  # 4+3+2 and 5+1
    assert share_by_duration(items, 2) == share_by_duration(list(items), 2)  # the same anywhere
    assert share_by_duration(items[:1], 3) == [[0], [], []]


@pytest.mark.slow  # a launched run of two processes, each loading Paddle and the model, twice
def test_two_processes_write_the_same_files_as_one(songs, one_process, tmp_path: Path):
    cwd, out = tmp_path / "cwd", tmp_path / "out"
    error = _finished(_separate(cwd, songs, out, "-npn", "2"))
    assert _files(out) == one_process
    assert "separated 3 of 3 files" in error
    assert list(cwd.iterdir()) == []  # the launcher's log/ is not in the working folder
    again = _finished(_separate(cwd, songs, out, "-npn", "2"))
    assert "3 of 3 files already separated" in again and "launching" not in again
    assert _files(out) == one_process


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_of_one_process_write_the_same_files_as_one(songs, one_process, tmp_path):
    out = tmp_path / "out"
    master = ["--nnodes", "2", "--master", f"127.0.0.1:{_free_port()}"]
    nodes = [_separate(tmp_path / f"node{n}", songs, out, *master) for n in range(2)]
    reports = [_finished(node, timeout=400) for node in nodes]
    assert _files(out) == one_process
    for report in reports:  # each node reports every song: the outcomes are gathered
        assert "separated 3 of 3 files" in report, report[-2000:]
        assert all(f"{name} -> " in report for name in songs)


def _descendants(pid: int) -> List[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _rank(pid: int) -> int:
    try:
        environ = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return -1
    ranks = [entry for entry in environ if entry.startswith(b"PADDLE_TRAINER_ID=")]
    return int(ranks[0].split(b"=")[1]) if ranks else -1


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists processes through /proc")
def test_a_killed_worker_is_one_error_line_and_the_next_run_finishes(
    tmp_path: Path, songs, monkeypatch
):
    files = _songs(tmp_path / "songs", [4.0] * 6)
    reference = tmp_path / "reference"
    _finished(_separate(tmp_path / "cwd", files, reference))
    out = tmp_path / "out"
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # where the job folder goes
    (tmp_path / "tmp").mkdir()
    run = _separate(tmp_path / "cwd", files, out, "-npn", "2", "--log-dir", str(tmp_path / "log"))
    deadline = time.monotonic() + 300
    while not list(out.glob("*/vocals.wav")) and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = [pid for pid in _descendants(run.pid) if _rank(pid) == 1]
    assert workers, "no rank 1 worker found"
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, error = run.communicate(timeout=200)
    assert run.returncode == 1, error[-3000:]
    lines = [line for line in error.splitlines() if "error:" in line or "ERROR" in line]
    assert len(lines) == 1 and "a worker process died" in lines[0], error[-3000:]
    assert str(tmp_path / "log") in lines[0] and "Traceback" not in error
    # The logs are kept in --log-dir; the job folder holding the rest goes as always.
    assert not list((tmp_path / "tmp").glob("spleeter-paddle-*"))
    kept = {path: path.stat().st_mtime_ns for path in out.rglob("*.wav")}
    assert 0 < len(kept) < 2 * len(files)
    again = _finished(_separate(tmp_path / "cwd", files, out, "-npn", "2"))
    assert f"{len(kept) // 2} of 6 files already separated" in again
    assert {path: path.stat().st_mtime_ns for path in kept} == kept  # not redone
    assert _files(out) == _files(reference)  # and the killed worker's temporaries are gone
