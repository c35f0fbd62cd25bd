"""``eval.py -npn 2`` (two separating processes, gloo on CPU) gives the same stems and scores as
one process, with one summary; ``-npn`` counts processes (cards) as in the seed, and the metrics
processes are ``--metric-workers`` (``--workers``, its former name)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spleeter_paddle.commands.evaluate import main

REPO = Path(__file__).resolve().parents[2]


def test_npn_counts_processes_and_metric_workers_keep_the_old_meaning(seed_layout, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--data", str(seed_layout), "-npn", "0"])
    error = capsys.readouterr().err
    assert stopped.value.code == 2 and "-npn/--nproc_per_node" in error
    assert "metrics workers are --metric-workers" in error  # what it meant before
    assert main(["--data", str(seed_layout), "--workers", "-1"]) == 2
    assert "--metric-workers -1: must be >= 0" in capsys.readouterr().err


def _eval(cwd: Path, dataset: Path, out: Path, *flags: str) -> str:
    cwd.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(REPO / "eval.py"), "--data", str(dataset), "--fraction", "1"]
    command += ["-p", "spleeter:2stems", "-o", str(out), "--device", "cpu", "--no-progress"]
    environ = {**os.environ, "GLOG_minloglevel": "2", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*command, *flags], cwd=cwd, env=environ, capture_output=True, text=True, timeout=400
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return done.stdout


def _scores(out: Path) -> dict:
    """Each song's museval scores and stems, and the summary's table (no timings)."""
    songs = {
        str(path.relative_to(out)): json.loads(path.read_text())["targets"]
        for path in sorted((out / "metrics").rglob("*.json"))
    }
    stems = {
        str(path.relative_to(out)): path.read_bytes()
        for path in sorted((out / "audio").rglob("*"))
        if path.is_file()
    }
    return {
        "songs": songs,
        "stems": stems,
        "table": json.loads((out / "summary.json").read_text())["targets"],
    }


@pytest.mark.slow
def test_two_processes_score_as_one(official_model_path, seed_layout, tmp_path: Path):
    one = _eval(tmp_path / "cwd", seed_layout, tmp_path / "one", "--metric-workers", "0")
    two = _eval(
        tmp_path / "cwd", seed_layout, tmp_path / "two", "-npn", "2", "--metric-workers", "0"
    )
    assert "vocals" in one and "vocals" in two
    expected = _scores(tmp_path / "one")
    assert len(expected["songs"]) == 2 and len(expected["stems"]) == 4
    assert _scores(tmp_path / "two") == expected
    assert list((tmp_path / "cwd").iterdir()) == []  # no launcher log/ here
    stored = {path: path.stat().st_mtime_ns for path in (tmp_path / "two").rglob("*.json")}
    again = _eval(tmp_path / "cwd", seed_layout, tmp_path / "two", "-npn", "2")
    assert _scores(tmp_path / "two") == expected and "vocals" in again
    songs = [path for path in stored if path.parent.name == "test"]
    assert len(songs) == 2 and all(path.stat().st_mtime_ns == stored[path] for path in songs)
