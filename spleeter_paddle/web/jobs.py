"""The web app's work folder: one JSON record per job, uploads and outputs under opaque ids.

``<work>/jobs/<id>.json`` (written atomically), ``<work>/uploads/<id>.<ext>``,
``<work>/outputs/<id>/<instrument>.<codec>``. A name a user uploads is display text only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
import unicodedata
from pathlib import Path
from typing import Dict, List, Optional, Set

from ..audio.writer import CODECS
from ..errors import ConfigurationError
from ..files import new_temporary
from ..ownership import held_folders, write_text
from ..vocab import PRETRAINED_PRESETS

logger = logging.getLogger(__name__)

PRESETS = tuple(f"spleeter:{name}{rate}" for rate in ("", "-16kHz") for name in PRETRAINED_PRESETS)
# What the readers take (libsndfile natively, the rest through ffmpeg); the extension of a stored
# upload tells the reader which one to use, so it is kept, from this list only.
AUDIO_EXTENSIONS = (
    "wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff", "w64",
    "m4a", "aac", "mp4", "wma", "webm", "mka",
)  # fmt: skip
STATES = ("queued", "running", "done", "failed")
# A job found running at start-up was cut off by a crash or kill; this many such cuts fail it
# (a song that kills the server every time must not keep it from ever serving the rest).
MAX_INTERRUPTIONS = 2
_JOB_ID = re.compile(r"[0-9a-f]{32}")
SERVER_FILE = "server.pid"  # the process id of the server holding the work folder
_MAX_NAME_CHARS = 200


def is_job_id(text: str) -> bool:
    return bool(_JOB_ID.fullmatch(text))


def display_name(name: str) -> str:
    """The last path component of ``name`` with control characters removed: text to show, never
    a path (``../../etc/passwd.wav`` -> ``passwd.wav``)."""
    last = re.split(r"[\\/]", name or "")[-1]
    last = "".join(c for c in last if unicodedata.category(c)[0] != "C").strip()
    if last in ("", ".", ".."):
        return "upload"
    return last[-_MAX_NAME_CHARS:]


def safe_stem(name: str) -> str:
    """``name`` without its extension, reduced to characters safe in a file name (zip members,
    download names)."""
    stem = Path(display_name(name)).stem
    stem = re.sub(r"[^\w\-. ()\[\]]+", "_", stem).strip(" .")
    return stem or "song"


def upload_extension(name: str) -> Optional[str]:
    """The lower-case extension of ``name`` when it is one of :data:`AUDIO_EXTENSIONS`."""
    suffix = Path(display_name(name)).suffix.lower().lstrip(".")
    return suffix if suffix in AUDIO_EXTENSIONS else None


class JobStore:
    """Job records in memory, mirrored to ``<work>/jobs/<id>.json`` at each change of state.

    Progress (a fraction) is kept in memory only. All methods are thread-safe.
    """

    def __init__(self, work_dir: os.PathLike):
        self.work_dir = Path(work_dir).resolve()
        self.jobs_dir = self.work_dir / "jobs"
        self.uploads_dir = self.work_dir / "uploads"
        self.outputs_dir = self.work_dir / "outputs"
        try:
            for folder in (self.jobs_dir, self.uploads_dir, self.outputs_dir):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            problem = error.strerror or str(error)
            raise ConfigurationError(
                f"{work_dir}: cannot use it as the work folder ({problem})"
            ) from None
        self._lock = threading.RLock()
        self._jobs: Dict[str, dict] = {}
        self.progress: Dict[str, Optional[float]] = {}
        self.cancelled: Set[str] = set()  # running jobs to stop at their next block
        self._held = contextlib.ExitStack()

    # -- one server per work folder ----------------------------------------------------------
    def hold(self) -> None:
        """Hold the work folder for this server (``files.hold_folder``: the temporaries a killed
        server made are reclaimed, only those); another server holding it is a
        ConfigurationError naming its process."""

        def busy(folder: Path) -> str:
            try:
                holder = f"process {int((self.work_dir / SERVER_FILE).read_text().strip())}"
            except (OSError, ValueError):
                holder = "a process that has not said which"
            return (
                f"{self.work_dir}: another spleeter-paddle serve ({holder}) uses this work "
                "folder; stop it, or give this one another --work-dir"
            )

        folders = (self.work_dir, self.jobs_dir, self.uploads_dir)
        self._held.enter_context(held_folders(folders, ConfigurationError, busy))
        write_text(self.work_dir / SERVER_FILE, str(os.getpid()))
        self._held.callback((self.work_dir / SERVER_FILE).unlink, missing_ok=True)

    def release(self) -> None:
        """Let another server use the work folder (idempotent)."""
        self._held.close()

    # -- paths -------------------------------------------------------------------------------
    def upload_path(self, job: dict) -> Path:
        return self.uploads_dir / job["upload"]

    def output_dir(self, job_id: str) -> Path:
        return self.outputs_dir / job_id

    def served_path(self, job_id: str, file_name: str) -> Optional[Path]:
        """The path of ``file_name`` if it is one of the finished job's outputs, else None."""
        job = self.get(job_id) if is_job_id(job_id) else None
        if job is None or job["state"] != "done":
            return None
        names = {stem[key] for stem in job["stems"] for key in ("audio", "picture")}
        names.add(job["archive"])
        if file_name not in names:
            return None
        path = self.output_dir(job_id) / file_name
        return path if path.is_file() else None

    def public(self, message: str, upload: Path, name: str) -> str:
        """``message`` as a user may see it: the stored upload called by the name the user
        knows, any other path of the work folder by its last part (never a server path)."""
        message = message.replace(str(upload), name)
        folder = re.escape(str(self.work_dir))
        return re.sub(folder + r"(?:/[^\s:;,()'\"]*)?", lambda m: Path(m.group()).name, message)

    # -- records -----------------------------------------------------------------------------
    def new_upload(self, extension: str) -> tuple:
        """``(job id, temporary path, final path)`` for an upload about to be received."""
        job_id = secrets.token_hex(16)
        final = self.uploads_dir / f"{job_id}.{extension}"
        return job_id, new_temporary(final, ".part"), final

    def create(self, job_id: str, name: str, upload: Path, preset: str, mwf: bool, codec: str):
        job = {
            "id": job_id,
            "name": display_name(name),
            "preset": preset,
            "mwf": bool(mwf),
            "codec": codec,
            "upload": upload.name,
            "state": "queued",
            "message": "",
            "created": time.time(),
            "finished": None,
            "interruptions": 0,
            "stems": [],
            "archive": "",
            "warnings": [],
        }
        with self._lock:
            self._save(job)
            self._jobs[job_id] = job
        return dict(job)

    def get(self, job_id: str) -> Optional[dict]:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else dict(job)

    def list(self) -> List[dict]:
        """All jobs, newest first, each with its ``progress``."""
        with self._lock:
            jobs = [dict(job, progress=self.progress.get(job["id"])) for job in self._jobs.values()]
        return sorted(jobs, key=lambda job: job["created"], reverse=True)

    def queued(self) -> List[str]:
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda job: job["created"])
            return [job["id"] for job in jobs if job["state"] == "queued"]

    def update(self, job_id: str, expected_state: Optional[str] = None, **changes) -> bool:
        """Apply ``changes`` and save; False (nothing changed) when the job is gone or not in
        ``expected_state``."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or (expected_state and job["state"] != expected_state):
                return False
            updated = dict(job, **changes)
            self._save(updated)
            self._jobs[job_id] = updated
            return True

    def cancel(self, job_id: str) -> Optional[str]:
        """Stop a queued job now, a running one at its next block (the worker sees
        :attr:`cancelled`); the problem as text, or None."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return "no such job"
            if job["state"] == "queued":
                message = f"{job['name']}: cancelled"
                self.update(job_id, state="failed", message=message, finished=time.time())
            elif job["state"] == "running":
                self.cancelled.add(job_id)
            else:
                return f"the job is {job['state']}; only a queued or running job can be cancelled"
            return None

    def retry(self, job_id: str) -> Optional[str]:
        """Queue a failed job again (its upload is kept until it is removed); the problem as
        text, or None."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return "no such job"
            if job["state"] != "failed":
                return f"the job is {job['state']}; only a failed job can be retried"
            if not self.upload_path(job).is_file():
                return "its uploaded file is gone from the work folder; upload it again"
            self.cancelled.discard(job_id)
            self.update(job_id, state="queued", message="", warnings=[], interruptions=0)
            return None

    def delete(self, job_id: str) -> Optional[str]:
        """Remove a job that is not running and its files; the problem as text, or None."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return "no such job"
            if job["state"] == "running":
                return "the job is running; wait for it to finish"
            shutil.rmtree(self.output_dir(job_id), ignore_errors=True)
            self.upload_path(job).unlink(missing_ok=True)
            (self.jobs_dir / f"{job_id}.json").unlink(missing_ok=True)
            del self._jobs[job_id]
            self.progress.pop(job_id, None)
            return None

    def _save(self, job: dict) -> None:
        write_text(self.jobs_dir / f"{job['id']}.json", json.dumps(job, indent=1))

    # -- start-up ----------------------------------------------------------------------------
    def recover(self) -> List[str]:
        """Load the records of an earlier server; returns the ids to queue, oldest first.

        Queued jobs stay queued; a job cut off while running (crash, kill) is queued again, or
        failed after :data:`MAX_INTERRUPTIONS` such cuts; a finished job whose files are gone is
        marked failed. Unreadable records are left alone. (The temporaries it left are reclaimed
        by :meth:`hold`, a stem's when its job runs again.)
        """
        for path in sorted(self.jobs_dir.glob("*.json")):
            job = self._read(path)
            if job is not None:
                with self._lock:
                    self._jobs[job["id"]] = job
                self._recover_one(job)
        return self.queued()

    def _read(self, path: Path) -> Optional[dict]:
        try:
            job = json.loads(path.read_text())
            valid = (
                isinstance(job, dict)
                and job.get("id") == path.stem
                and is_job_id(path.stem)
                and job.get("state") in STATES
                and job.get("preset") in PRESETS
                and job.get("codec") in CODECS
                and job.get("upload") == f"{path.stem}.{upload_extension(job['upload'])}"
            )
        except (OSError, ValueError, TypeError, KeyError) as error:
            logger.warning("%s: unreadable job record, ignored (%s)", path, error)
            return None
        if not valid:
            logger.warning("%s: not a job record of this server, ignored", path)
            return None
        return job

    def _recover_one(self, job: dict) -> None:
        job_id, state = job["id"], job["state"]
        if state == "running":
            interruptions = int(job.get("interruptions", 0)) + 1
            if interruptions >= MAX_INTERRUPTIONS:
                self._fail(job_id, "separation was cut off twice (the server stopped); not retried")
                return
            logger.info(
                "%s (%s): was running when the server stopped; queued again", job_id, job["name"]
            )
            self.update(job_id, state="queued", interruptions=interruptions)
            state = "queued"
        if state == "queued" and not self.upload_path(job).is_file():
            self._fail(job_id, "its uploaded file is gone from the work folder; upload it again")
        elif state == "done" and any(
            not (self.output_dir(job_id) / name).is_file()
            for stem in job["stems"]
            for name in (stem["audio"], stem["picture"])
        ):
            self._fail(job_id, "its output files are gone from the work folder")

    def _fail(self, job_id: str, message: str) -> None:
        job = self.get(job_id)
        logger.warning("%s (%s): %s", job_id, job["name"], message)
        self.update(
            job_id, state="failed", message=f"{job['name']}: {message}", finished=time.time()
        )
