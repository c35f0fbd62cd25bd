"""A read that fails (EIO: a failing disk or network share) under separate and the data commands:
one ``ERROR <file>: cannot read ...`` line, the rest of the batch runs, the exit status says it;
never a traceback, and never stems cut short as if the file had ended there. The fault is a
real ``read()`` failing with EIO, injected into the command's system calls on that one file
by ``strace`` (no root device, no change to the code under test)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))

from data_helpers import small_params, two_stem_song, write_song  # noqa: E402


def _injection_works() -> bool:
    if shutil.which("strace") is None:
        return False
    probe = ["strace", "-f", "-qq", "--seccomp-bpf", "-o", "/dev/null", "-e", "trace=getpid"]
    probe += ["-e", "inject=getpid:error=EIO", "true"]
    return subprocess.run(probe, capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _injection_works(), reason="needs strace (ptrace allowed)")


def _reads_fail(path: Path, from_read: int, command: list, cwd: Path, env=None):
    """``spleeter-paddle <command>`` in ``cwd`` with every read of ``path``, from its
    ``from_read``-th on (in each process), failing with EIO (only those calls stop the process:
    seccomp-bpf, 3x faster than stopping it at every call)."""
    calls = "read,pread64,readv,preadv"
    strace = ["strace", "-f", "-qq", "--seccomp-bpf", "-o", "/dev/null", "-P", str(path)]
    strace += ["-e", f"trace={calls}"]
    strace += ["-e", f"inject={calls}:error=EIO:when={from_read}+"]
    return subprocess.run(
        [*strace, sys.executable, "-m", "spleeter_paddle", *map(str, command)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("from_read", [1, 4, 40])
def test_separate_never_takes_a_failing_read_for_the_end_of_the_file(
    official_model_path, tmp_path, from_read
):
    """From the 4th read on, ffmpeg (which decodes the file once libsndfile's header read fails)
    ended the stream as if the file were over and exited 0: 2 s of input gave 0.19 s of stems
    and exit status 0."""
    rng = np.random.default_rng(3)
    for name in ("bad", "good"):
        sf.write(tmp_path / f"{name}.wav", 0.1 * rng.standard_normal((88_200, 2)), 44_100)
    result = _reads_fail(
        tmp_path / "bad.wav", from_read, ["separate", "-o", "out", "bad.wav", "good.wav"], tmp_path
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "bad.wav: cannot" in errors[0], result.stderr
    if from_read <= 4:
        assert "bad.wav: cannot read" in errors[0]
    assert not (tmp_path / "out" / "bad").exists() or not any((tmp_path / "out" / "bad").iterdir())
    for stem in ("vocals", "accompaniment"):
        assert sf.info(str(tmp_path / "out" / "good" / f"{stem}.wav")).frames == 88_200


def test_process_data_names_the_song_whose_file_cannot_be_read(tmp_path):
    for index in range(3):
        write_song(tmp_path / "dataset" / "train" / f"Song {index}", two_stem_song(6.0, index))
    params = small_params(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(params))
    subprocess.run(
        [sys.executable, "-m", "spleeter_paddle", "preprocess", "-p", "config.json", "-d",
         "dataset", "--quiet"],
        cwd=tmp_path, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    failing = tmp_path / "dataset" / "train" / "Song 1" / "vocals.wav"
    command = ["process-data", "-p", "config.json", "-d", "dataset", "--workers", "1", "--quiet"]
    result = _reads_fail(failing, 1, command, tmp_path)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "Song 1" in errors[0], result.stderr
    assert "input/output error" in errors[0].lower(), result.stderr
    assert result.returncode == 1, result.stderr
    index = json.loads((tmp_path / "cache" / "training" / "index.json").read_text())
    assert "Song 1" not in [song["song"] for song in index["songs"]]
