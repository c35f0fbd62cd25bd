"""What a person using the page needs beyond upload and results: cancel a running job, retry a
failed one, see which models are installed, and see a run's warnings (clipping) on its card."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from web_helpers import OCTET, RATE, all_files, wait_for_job, write_song

from spleeter_paddle.web.app import create_app


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("controls") / "work"


@pytest.fixture(scope="module")
def client(official_model_path, work_dir):
    with TestClient(create_app(work_dir, max_upload_mb=20), base_url="http://127.0.0.1") as test:
        yield test


def _post(client, path, **params):
    response = client.post(
        "/api/jobs", params={"name": path.name, **params}, content=path.read_bytes(), headers=OCTET
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_installed_presets_are_listed(client):
    options = client.get("/api/options").json()
    # The test model home holds the 2stems weights only (the 16 kHz preset uses them too).
    assert options["installed"] == ["spleeter:2stems", "spleeter:2stems-16kHz"]
    assert "spleeter:4stems" in options["presets"]


def test_a_running_job_is_cancelled_then_retried(client, work_dir, tmp_path):
    job_id = _post(client, write_song(tmp_path / "long song.wav", duration_s=25.0))
    deadline = time.monotonic() + 120
    while True:  # running, with a first segment written: mid-song
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] == "running" and job["progress"]:
            break
        assert job["state"] in ("queued", "running") and time.monotonic() < deadline, job
        time.sleep(0.05)
    response = client.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 200, response.text
    job = wait_for_job(client, job_id)
    assert job["state"] == "failed" and job["message"] == "long song.wav: cancelled"
    assert not [f for f in all_files(work_dir) if f.startswith(f"outputs/{job_id}")]
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 409  # not running now

    response = client.post(f"/api/jobs/{job_id}/retry")
    assert response.status_code == 200 and response.json()["state"] == "queued", response.text
    job = wait_for_job(client, job_id)
    assert job["state"] == "done" and [s["instrument"] for s in job["stems"]] == [
        "vocals",
        "accompaniment",
    ]
    assert client.post(f"/api/jobs/{job_id}/retry").status_code == 409  # done: nothing to retry


def test_a_queued_job_is_cancelled_at_once_and_unknown_jobs_are_404(client, tmp_path):
    first = _post(client, write_song(tmp_path / "first.wav", duration_s=8.0))
    second = _post(client, write_song(tmp_path / "second.wav", duration_s=1.0, seed=1))
    assert client.post(f"/api/jobs/{second}/cancel").status_code == 200
    job = client.get(f"/api/jobs/{second}").json()
    assert job["state"] == "failed" and job["message"] == "second.wav: cancelled"
    assert wait_for_job(client, first)["state"] == "done"
    assert client.get(f"/api/jobs/{second}").json()["state"] == "failed"  # never ran
    for action in ("cancel", "retry"):
        assert client.post(f"/api/jobs/{'0' * 32}/{action}").status_code == 404


def test_clipping_is_shown_on_the_card(client, tmp_path):
    loud = tmp_path / "loud.wav"
    t = np.arange(2 * RATE) / RATE
    tone = 3.0 * np.sin(2 * np.pi * 220 * t)
    sf.write(loud, np.stack([tone, tone], axis=1).astype(np.float32), RATE, subtype="FLOAT")
    job = wait_for_job(client, _post(client, loud))
    assert job["state"] == "done"
    assert job["warnings"] and all("clipped" in text for text in job["warnings"])
    assert not any(str(tmp_path) in text or "/" in text.split(":")[0] for text in job["warnings"])
