"""Jobs survive a server restart: clean stops re-queue, crashes are retried once, temporaries go."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from web_helpers import OCTET, all_files, hidden_files, wait_for_job, write_song

from spleeter_paddle.errors import ConfigurationError
from spleeter_paddle.web.app import create_app
from spleeter_paddle.web.jobs import JobStore


def _job(store: JobStore, name: str, state: str = "queued", upload: bool = True, **changes):
    job_id, temporary, final = store.new_upload("wav")
    temporary.unlink()  # as the app does once the upload is in place
    if upload:
        final.write_bytes(b"RIFF")
    store.create(job_id, name, final, "spleeter:2stems", False, "wav")
    store.update(job_id, state=state, **changes)
    return job_id


def _record(store: JobStore, job_id: str) -> dict:
    return json.loads((store.jobs_dir / f"{job_id}.json").read_text())


KILLED_SERVER = """
import sys, time
from spleeter_paddle.web.jobs import JobStore
store = JobStore(sys.argv[1])
store.hold()
_, temporary, _ = store.new_upload("wav")
temporary.write_bytes(b"half an upload")
print(temporary.name, flush=True)
time.sleep(120)
"""


def _killed_server_upload(work: Path) -> str:
    """The name of the upload temporary a server killed mid-upload left in ``work``."""
    server = subprocess.Popen(
        [sys.executable, "-c", KILLED_SERVER, str(work)], stdout=subprocess.PIPE, text=True
    )
    name = server.stdout.readline().strip()
    server.kill()
    server.wait(timeout=30)
    server.stdout.close()
    assert name and (work / "uploads" / name).exists()
    return name


def test_recovery_after_a_crash(tmp_path):
    """What a server finds after ``kill -9``: records in every state, temporaries, bad records."""
    old = JobStore(tmp_path)
    queued = _job(old, "queued.wav")
    cut = _job(old, "cut.wav", state="running")
    cut_twice = _job(old, "cut-twice.wav", state="running", interruptions=1)
    no_upload = _job(old, "no-upload.wav", upload=False)
    done = _job(old, "done.wav", state="done", stems=[{"audio": "v.wav", "picture": "v.png"}])
    gone = _job(old, "gone.wav", state="done", stems=[{"audio": "v.wav", "picture": "v.png"}])
    for name in ("v.wav", "v.png", ".v.wav.1234abcd.part"):
        (old.output_dir(done) / name).parent.mkdir(parents=True, exist_ok=True)
        (old.output_dir(done) / name).write_bytes(b"x")
    (old.uploads_dir / f".{queued}.0000.part").write_bytes(b"half an upload")
    (old.jobs_dir / f".{queued}.abc.json").write_text("{")
    garbage = old.jobs_dir / f"{'f' * 32}.json"
    garbage.write_text("{not json")
    climbing = old.jobs_dir / f"{'e' * 32}.json"
    climbing.write_text(json.dumps(dict(_record(old, queued), id="e" * 32, upload="../../x.wav")))
    time.sleep(0.01)

    killed = _killed_server_upload(tmp_path)
    store = JobStore(tmp_path)
    store.hold()  # the killed server's half upload is reclaimed; the look-alikes are not ours
    assert not (store.uploads_dir / killed).exists()
    assert store.recover() == [queued, cut]  # oldest first
    assert _record(store, cut)["state"] == "queued" and _record(store, cut)["interruptions"] == 1
    failed = {job_id: _record(store, job_id) for job_id in (cut_twice, no_upload, gone)}
    assert {job_id: job["state"] for job_id, job in failed.items()} == dict.fromkeys(
        failed, "failed"
    )
    assert failed[cut_twice]["message"] == (
        "cut-twice.wav: separation was cut off twice (the server stopped); not retried"
    )
    assert failed[no_upload]["message"].startswith("no-upload.wav: its uploaded file is gone")
    assert failed[gone]["message"] == "gone.wav: its output files are gone from the work folder"
    assert _record(store, done)["state"] == "done"
    assert store.served_path(done, "v.wav") == store.output_dir(done) / "v.wav"
    assert store.served_path(done, "../jobs/" + done + ".json") is None
    assert hidden_files(tmp_path) == [
        f"jobs/.{queued}.abc.json",
        f"outputs/{done}/.v.wav.1234abcd.part",
        f"uploads/.{queued}.0000.part",
    ]
    store.release()
    # Records that are not ours are neither loaded nor deleted.
    assert garbage.exists() and climbing.exists()
    assert {job["id"] for job in store.list()} == {queued, cut, cut_twice, no_upload, done, gone}


def test_a_server_stopped_mid_song_leaves_nothing_and_finishes_it_at_the_next_start(
    official_model_path, tmp_path
):
    work = tmp_path / "work"
    song = write_song(tmp_path / "long.wav", duration_s=30.0)
    with TestClient(create_app(work), base_url="http://127.0.0.1") as client:
        job_id = client.post(
            "/api/jobs", params={"name": "long.wav"}, content=song.read_bytes(), headers=OCTET
        ).json()["id"]
        deadline = time.monotonic() + 120
        while not (client.get(f"/api/jobs/{job_id}").json()["progress"] or 0) > 0:
            assert time.monotonic() < deadline, "the separation never started"
            time.sleep(0.01)
    # Shut down while separating: the stems in progress are removed, the job waits for the next
    # start, its upload kept.
    record = json.loads((work / "jobs" / f"{job_id}.json").read_text())
    assert (record["state"], record["interruptions"]) == ("queued", 0)
    assert all_files(work) == [f"jobs/{job_id}.json", f"uploads/{job_id}.wav"]

    with TestClient(create_app(work), base_url="http://127.0.0.1") as client:
        job = wait_for_job(client, job_id)
        assert job["state"] == "done", job
        vocals = client.get(f"/api/jobs/{job_id}/files/vocals.wav")
        assert vocals.status_code == 200
        assert sf.info(io.BytesIO(vocals.content)).frames == 30 * 44100
    with TestClient(create_app(work), base_url="http://127.0.0.1") as client:
        assert [job["state"] for job in client.get("/api/jobs").json()["jobs"]] == ["done"]
    assert not hidden_files(work)
    assert not (work / "uploads" / f"{job_id}.wav").exists()


def test_an_unusable_work_folder_is_one_clear_error(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(
        ConfigurationError,
        match=r"a-file/work: cannot use it as the work folder \(Not a directory\)",
    ):
        JobStore(tmp_path / "a-file" / "work")


def test_a_second_server_on_the_work_folder_is_refused_naming_the_first(tmp_path):
    """Two servers on one work folder would take each other's running jobs and temporaries for
    a crashed server's: the second refuses to start, saying which process holds the folder."""
    import os

    work = tmp_path / "work"
    with TestClient(create_app(work), base_url="http://127.0.0.1") as client:
        (work / "uploads" / "notes.txt").write_text("mine")
        with pytest.raises(
            ConfigurationError, match=f"another spleeter-paddle serve \\(process {os.getpid()}\\)"
        ):
            create_app(work)
        assert client.get("/api/jobs").status_code == 200  # the first one serves on
    with TestClient(create_app(work), base_url="http://127.0.0.1") as client:  # released
        assert client.get("/api/jobs").json() == {"jobs": []}
    assert (work / "uploads" / "notes.txt").read_text() == "mine"


def test_job_messages_never_show_server_paths(tmp_path):
    store = JobStore(tmp_path / "work")
    upload = store.uploads_dir / f"{'a' * 32}.wav"
    stem = store.output_dir("a" * 32) / "vocals.wav"
    message = (
        f"{upload}: file is truncated; {stem}: cannot write, no space left on the device; "
        f"another spleeter-paddle run is writing into {stem.parent} (see {store.work_dir})"
    )
    shown = store.public(message, upload, "My Song.wav")
    assert str(tmp_path) not in shown and "/" not in shown
    assert shown.startswith("My Song.wav: file is truncated; vocals.wav: cannot write")
