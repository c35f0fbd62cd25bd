"""Helpers of the web app's tests: generated songs and waiting for a job to finish."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.data.synthetic import generate_song
from spleeter_paddle.files import JOURNAL_NAME

RATE = 44100
OCTET = {"content-type": "application/octet-stream"}


def write_song(path: Path, duration_s: float = 2.0, seed: int = 0) -> Path:
    """A generated song (voice, drums, bass, pad) as 16-bit WAV at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, generate_song(duration_s, seed)["mixture"], RATE, subtype="PCM_16")
    return path


def write_nan_song(path: Path) -> Path:
    """A float WAV with a NaN one second in: readable header, refused while separating."""
    audio = np.full((2 * RATE, 2), 0.1, np.float32)
    audio[RATE, 0] = np.nan
    sf.write(path, audio, RATE, subtype="FLOAT")
    return path


def wait_for_job(client, job_id: str, timeout_s: float = 120.0) -> dict:
    """Poll ``GET /api/jobs/<id>`` until the job is done or failed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    pytest.fail(f"job {job_id} did not finish within {timeout_s} s: {job}")


def all_files(root: Path) -> list:
    """Every file under ``root`` but the journals of temporaries a running server keeps in the
    folders it holds (``files.hold_folder``)."""
    return sorted(
        str(p.relative_to(root))
        for p in Path(root).rglob("*")
        if p.is_file() and p.name != JOURNAL_NAME
    )


def hidden_files(root: Path) -> list:
    """Temporaries (hidden names) anywhere under ``root``."""
    return [
        name for name in all_files(root) if any(part.startswith(".") for part in Path(name).parts)
    ]
