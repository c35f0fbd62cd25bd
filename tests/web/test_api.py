"""The web app's HTTP API with FastAPI's test client and real separations (official 2stems)."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from offline import offline_pip_environment  # tests/offline.py
from web_helpers import OCTET, all_files, hidden_files, wait_for_job, write_nan_song, write_song

from spleeter_paddle.cli import main as cli_main
from spleeter_paddle.web.app import create_app

MAX_UPLOAD_MB = 1


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("web") / "work"


@pytest.fixture(scope="module")
def client(official_model_path, work_dir):
    app = create_app(work_dir, max_upload_mb=MAX_UPLOAD_MB)
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    return write_song(tmp_path_factory.mktemp("songs") / "song.wav")


def post(client, path, name=None, **params):
    data = path.read_bytes() if hasattr(path, "read_bytes") else path
    params = {"name": name or path.name, **params}
    return client.post("/api/jobs", params=params, content=data, headers=OCTET)


@pytest.fixture(scope="module")
def done_job(client, song):
    """A finished job of ``song`` uploaded under a name that tries to climb out of the folder."""
    response = post(client, song, name="../../evil/My Song.wav")
    assert response.status_code == 201, response.text
    job = wait_for_job(client, response.json()["id"])
    assert job["state"] == "done", job
    return job


def test_stems_equal_the_cli_and_only_job_files_are_written(
    client, done_job, song, work_dir, tmp_path
):
    job_id = done_job["id"]
    assert done_job["name"] == "My Song.wav"  # display text only: never a path
    assert [s["instrument"] for s in done_job["stems"]] == ["vocals", "accompaniment"]

    assert cli_main(["separate", "-o", str(tmp_path / "cli"), str(song)]) == 0
    served = {}
    for stem in done_job["stems"]:
        response = client.get(f"/api/jobs/{job_id}/files/{stem['audio']}")
        assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
        served[stem["audio"]] = response.content
        web_audio, rate = sf.read(io.BytesIO(response.content), dtype="int16")
        cli_audio, _ = sf.read(tmp_path / "cli" / "song" / stem["audio"], dtype="int16")
        assert rate == 44100 and web_audio.shape == (88200, 2)
        np.testing.assert_array_equal(web_audio, cli_audio)  # the same numbers as the CLI

        picture = client.get(f"/api/jobs/{job_id}/files/{stem['picture']}")
        assert picture.headers["content-type"] == "image/png"
        assert picture.content[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = (int.from_bytes(picture.content[i : i + 4], "big") for i in (16, 20))
        assert (width, height) == (800, 220)

    download = client.get(f"/api/jobs/{job_id}/files/vocals.wav", params={"download": 1})
    assert download.headers["content-disposition"].startswith("attachment;")
    assert "My%20Song_vocals.wav" in download.headers["content-disposition"]
    archive = client.get(f"/api/jobs/{job_id}/files/stems.zip", params={"download": 1})
    assert archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        assert sorted(bundle.namelist()) == ["My Song/accompaniment.wav", "My Song/vocals.wav"]
        for name, content in served.items():
            assert bundle.read(f"My Song/{name}") == content

    # Only the record and the outputs remain; the upload is gone once separated.
    files = all_files(work_dir)
    assert f"jobs/{job_id}.json" in files
    assert [f for f in files if f.startswith(("uploads/", f"outputs/{job_id}/"))] == [
        f"outputs/{job_id}/{name}"
        for name in (
            "accompaniment.png",
            "accompaniment.wav",
            "stems.zip",
            "vocals.png",
            "vocals.wav",
        )
    ]
    assert not hidden_files(work_dir)
    assert not list(work_dir.parent.rglob("evil"))


def test_only_outputs_of_finished_jobs_are_served(client, done_job):
    job_id = done_job["id"]
    for url in (
        f"/api/jobs/{job_id}/files/..%2F..%2Fjobs%2F{job_id}.json",
        f"/api/jobs/{job_id}/files/%2E%2E%2F{job_id}.json",
        f"/api/jobs/{job_id}/files/{job_id}.json",
        f"/api/jobs/{job_id}/files/{job_id}.wav",
        f"/api/jobs/..%2Fjobs/files/{job_id}.json",
        f"/api/jobs/{'0' * 32}/files/vocals.wav",
        "/static/..%2Fapp.py",
        "/static/index.html",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"spleeter" not in response.content.lower(), url
    assert client.get("/", headers={"host": "attacker.example"}).status_code == 400  # DNS rebinding
    page = client.get("/")
    assert "text/html" in page.headers["content-type"]
    assert page.headers["content-security-policy"].startswith("default-src 'self'")


def test_bad_uploads_get_one_line_and_never_stop_the_queue(client, song, tmp_path, work_dir):
    noise = tmp_path / "noise.mp3"
    noise.write_bytes(np.random.default_rng(0).bytes(20000))
    refused = {
        (noise, None, 422): "noise.mp3: cannot decode, the file is corrupt, truncated or not audio",
        (b"", "empty.wav", 400): "empty.wav: file is empty (0 bytes)",
        (b"hello", "notes.txt", 415): "notes.txt: not an audio file name",
        (
            b"x" * (MAX_UPLOAD_MB * 2**20 + 1),
            "big.wav",
            413,
        ): "big.wav: file is larger than the upload limit (1 MB",
    }
    for (data, name, status), message in refused.items():
        response = post(client, data, name=name)
        assert response.status_code == status, response.text
        assert response.json()["detail"].startswith(message)
        assert "\n" not in response.json()["detail"]
    # The limit holds without a declared length too (the body is counted as it arrives).
    chunks = (b"y" * 65536 for _ in range(MAX_UPLOAD_MB * 16 + 1))
    response = client.post(
        "/api/jobs", params={"name": "chunked.wav"}, content=chunks, headers=OCTET
    )
    assert response.status_code == 413 and "upload limit" in response.json()["detail"]
    # Other sites' forms cannot post here (text/plain needs no CORS preflight).
    response = client.post("/api/jobs", params={"name": "s.wav"}, content=song.read_bytes())
    assert response.status_code == 415
    assert post(client, song, preset="spleeter:9stems").status_code == 400
    assert post(client, song, codec="exe").status_code == 400
    assert not [f for f in all_files(work_dir) if f.startswith("uploads/")]

    # Readable header, NaN inside: accepted, then fails in the worker with one clear line.
    nan_job = post(client, write_nan_song(tmp_path / "nan.wav")).json()
    good_job = post(client, song, name="after.wav").json()
    nan_job = wait_for_job(client, nan_job["id"])
    assert nan_job["state"] == "failed"
    assert nan_job["message"].startswith("nan.wav: contains NaN or infinite samples (first at 1")
    assert str(work_dir) not in nan_job["message"]
    assert wait_for_job(client, good_job["id"])["state"] == "done"
    assert not (work_dir / "outputs" / nan_job["id"]).exists()
    assert client.get(f"/api/jobs/{nan_job['id']}/files/vocals.wav").status_code == 404


def test_a_preset_whose_weights_cannot_be_fetched_fails_its_job_only(
    client, song, tmp_path, monkeypatch, official_2stems_wheelhouse
):
    for key, value in offline_pip_environment(official_2stems_wheelhouse).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "empty-model-home"))
    job = wait_for_job(client, post(client, song, preset="spleeter:4stems").json()["id"])
    assert job["state"] == "failed"
    assert job["message"].startswith("pretrained model '4stems' is not installed")
    assert "could not be fetched" in job["message"] and "models import" in job["message"]
    monkeypatch.undo()
    job = wait_for_job(client, post(client, song, name="again.wav").json()["id"])
    assert job["state"] == "done"  # the 2stems model stays loaded


def test_jobs_listed_newest_first_and_removed_with_their_files(client, song, work_dir):
    job = wait_for_job(client, post(client, song, name="to-remove.wav").json()["id"])
    listed = client.get("/api/jobs").json()["jobs"]
    assert listed[0]["id"] == job["id"]
    assert [j["created"] for j in listed] == sorted((j["created"] for j in listed), reverse=True)
    assert client.delete(f"/api/jobs/{job['id']}").json() == {"deleted": job["id"]}
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 404
    assert not [f for f in all_files(work_dir) if job["id"] in f]
    # MWF and another codec reach the separator: flac stems, the job records both.
    job = wait_for_job(client, post(client, song, mwf="true", codec="flac").json()["id"])
    assert (job["state"], job["mwf"], job["codec"]) == ("done", True, "flac")
    flac = client.get(f"/api/jobs/{job['id']}/files/vocals.flac")
    assert flac.headers["content-type"] == "audio/flac"
    assert sf.info(io.BytesIO(flac.content)).format == "FLAC"
    options = client.get("/api/options").json()
    assert options["presets"][0] == "spleeter:2stems" and "wav" in options["codecs"]
    assert options["max_upload_mb"] == MAX_UPLOAD_MB


@pytest.fixture(autouse=True)
def _no_stray_model_path_changes():
    before = os.environ.get("MODEL_PATH")
    yield
    assert os.environ.get("MODEL_PATH") == before
