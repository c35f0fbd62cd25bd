"""The Paddle-version and device checks (``benchmarks/paddle_check.sh``, ``device_check.sh``):
their options are refused before anything is installed or run, and Paddle's version is read
the way ``runtime`` checks it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _script(name: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)}
    command = ["bash", str(REPO / "benchmarks" / name), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize(
    "name, args, message",
    [
        ("paddle_check.sh", ["--tests", "some"], "--tests must be exactness or all"),
        ("paddle_check.sh", ["--device", "tpu"], "--device must be cpu or gpu"),
        ("paddle_check.sh", ["--timeout", "soon"], "--timeout must be seconds"),
        ("paddle_check.sh", ["--venv"], "--venv needs a value"),
        ("paddle_check.sh", ["--fast"], "unknown option --fast"),
        ("device_check.sh", ["--budget", "30"], "--budget must be at least 60 seconds"),
        ("device_check.sh", ["--budget", "8m"], "--budget must be at least 60 seconds"),
        ("device_check.sh", ["--python", "/no/such/python"], "is not executable"),
        ("device_check.sh", ["--paddle"], "--paddle needs a value"),
        ("device_check.sh", ["--gpu"], "unknown option --gpu"),
    ],
)
def test_bad_options_are_usage_errors_and_nothing_is_made(tmp_path, name, args, message):
    result = _script(name, *args, tmp_path=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []  # no environment, no cache


def test_a_python_without_paddle_stops_the_check_with_one_line(tmp_path):
    """``--python`` with an interpreter that has no Paddle: named, exit 1, nothing run."""
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    result = _script("paddle_check.sh", "--python", str(bare / "bin" / "python"), tmp_path=tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr.strip() == f"paddle_check: {bare}/bin/python cannot import paddle and numpy"
    )
    assert "passed" not in result.stdout


@pytest.mark.parametrize(
    "version, release",
    [
        ("2.6.2", (2, 6)),
        ("3.3.1", (3, 3)),
        ("3.0.0rc1", (3, 0)),
        ("2.5", (2, 5)),
        ("0.0.0", (99, 0)),
    ],
)
def test_paddle_release_reads_major_and_minor(version, release):
    from spleeter_paddle.runtime import MINIMUM_PADDLE, paddle, paddle_release

    assert paddle_release(version) == release
    assert paddle_release(paddle.__version__) >= MINIMUM_PADDLE  # the Paddle running the suite
