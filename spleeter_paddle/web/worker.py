"""One thread that separates the queued jobs in order, loading each (preset, MWF) model once.

A failed job never stops the queue. Stopping the server cancels the running job at its next
block: its temporary stems are removed and it goes back to the queue for the next start.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
import zipfile
from pathlib import Path
from typing import Dict, Optional, Tuple

from ..audio import io as audio_io
from ..errors import SpleeterError
from ..ownership import write_file

# Paddle loads here, on the importing (main) thread: its dygraph mode is per thread and set up
# where it is first imported, and its C signal handlers are replaced only on the main thread.
from ..runtime import paddle  # noqa: F401
from ..separation.outputs import output_lock
from .jobs import JobStore, safe_stem
from .pictures import render_stem_picture

logger = logging.getLogger(__name__)

ARCHIVE_NAME = "stems.zip"


class Cancelled(Exception):
    """The server is stopping: the running job unwinds (removing its temporaries)."""


class JobCancelled(Exception):
    """The user cancelled the running job: it unwinds, and fails as cancelled."""


class _JobWarnings(logging.Handler):
    """The warnings (clipping, ...) logged on the worker thread while one job runs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(" ".join(record.getMessage().split()))


class Worker:
    """Runs jobs of ``store`` one at a time on a background thread."""

    def __init__(self, store: JobStore, device: str = "auto", backend: str = "auto"):
        self.store = store
        self.device = device
        self.backend = backend
        self._queue: queue.Queue[Optional[str]] = queue.Queue()
        self._stop = threading.Event()
        self._separators: Dict[Tuple[str, bool], object] = {}
        self._warnings = _JobWarnings()  # those of the running job
        self._thread = threading.Thread(target=self._run, name="spleeter-web-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def enqueue(self, job_id: str) -> None:
        self._queue.put(job_id)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Cancel the running job at its next block and wait for the thread to end."""
        self._stop.set()
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning("the separation thread did not stop within %.0f s", timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            job_id = self._queue.get()
            if job_id is None or self._stop.is_set():
                break
            try:
                self._process(job_id)
            except Exception:  # e.g. the work folder became unwritable: keep serving the rest
                logger.exception("%s: cannot record the job's state", job_id)

    def _separator(self, preset: str, mwf: bool):
        key = (preset, mwf)
        if key not in self._separators:
            from ..separation.separator import Separator

            logger.info("loading %s%s", preset, " with MWF" if mwf else "")
            self._separators[key] = Separator(
                preset, mwf=mwf, device=self.device, backend=self.backend
            )
        return self._separators[key]

    def _finish(self, job: dict, state: str, **changes) -> None:
        """The job's final state, with the warnings its run logged (clipping, ...)."""
        upload, name = self.store.upload_path(job), job["name"]
        shown = [self.store.public(text, upload, name) for text in self._warnings.messages]
        self.store.update(job["id"], state=state, finished=time.time(), warnings=shown, **changes)
        self.store.progress.pop(job["id"], None)

    def _process(self, job_id: str) -> None:
        if not self.store.update(job_id, expected_state="queued", state="running"):
            return  # removed (or already handled) while it waited
        job = self.store.get(job_id)
        upload = self.store.upload_path(job)
        logger.info("%s: separating %s (%s, %s)", job_id, job["name"], job["preset"], job["codec"])
        started = time.monotonic()
        self._warnings = warnings = _JobWarnings()
        logging.getLogger("spleeter_paddle").addHandler(warnings)
        try:
            self._separate(job, upload)
        except JobCancelled:
            self._failed(job, f"{job['name']}: cancelled")
        except Cancelled:
            self.store.update(job_id, state="queued")
            self.store.progress.pop(job_id, None)
            logger.info("%s: stopped with the server; it runs again at the next start", job_id)
        except SpleeterError as error:
            # Messages name the stored upload: show the name the user knows instead.
            self._failed(job, self.store.public(str(error), upload, job["name"]))
        except Exception as error:  # a bug must not end the queue: report it on the job
            logger.exception("%s: unexpected error", job_id)
            text = " ".join(str(error).split()) or type(error).__name__
            text = self.store.public(text, upload, job["name"])
            self._failed(job, f"{job['name']}: internal error ({text}); see the server log")
        else:
            logger.info("%s: done in %.1f s", job_id, time.monotonic() - started)
            upload.unlink(missing_ok=True)
        finally:
            logging.getLogger("spleeter_paddle").removeHandler(warnings)
            self.store.cancelled.discard(job_id)

    def _failed(self, job: dict, message: str) -> None:
        """Fail the job, its outputs removed; its upload is kept for a retry (removing the job
        removes it)."""
        logger.warning("%s: %s", job["id"], message)
        self._finish(job, "failed", message=message)
        shutil.rmtree(self.store.output_dir(job["id"]), ignore_errors=True)

    def _check_stop(self, job_id: str) -> None:
        if self._stop.is_set():
            raise Cancelled()
        if job_id in self.store.cancelled:
            raise JobCancelled()

    def _separate(self, job: dict, upload: Path) -> None:
        job_id = job["id"]
        separator = self._separator(job["preset"], job["mwf"])
        info = audio_io.audio_info(upload)
        total = info.duration_s * separator.sample_rate if info.duration_s else None
        done = [0]
        self.store.progress[job_id] = 0.0 if total else None

        # With the Wiener filter the song is read twice (statistics, then filtering): each
        # pass is half of the bar, and a cancel is seen in either.
        passes = 2 if separator.mwf else 1

        def progress(n_samples: int) -> None:
            self._check_stop(job_id)
            done[0] += n_samples
            if total:
                self.store.progress[job_id] = min(1.0, done[0] / (passes * total))

        paths = separator.separate_to_file(
            upload,
            self.store.outputs_dir,
            codec=job["codec"],
            progress=progress,
            analysis_progress=progress if separator.mwf else None,
        )
        stems = []
        # Held like the stems were: a kill here leaves journalled temporaries, reclaimed when the
        # job runs again.
        with output_lock(paths.values(), upload):
            for instrument, path in paths.items():
                self._check_stop(job_id)
                picture = path.with_name(f"{instrument}.png")
                render_stem_picture(path, picture, instrument, separator.sample_rate)
                stems.append(
                    {"instrument": instrument, "audio": path.name, "picture": picture.name}
                )
            archive = self.store.output_dir(job_id) / ARCHIVE_NAME
            folder = safe_stem(job["name"])
            write_file(archive, lambda temporary: _zip(temporary, paths, folder))
        self._finish(job, "done", stems=stems, archive=ARCHIVE_NAME)


def _zip(target: Path, paths: Dict[str, Path], folder: str) -> None:
    """The song's stems in one zip, as ``<song>/<instrument>.<codec>`` (stored: audio codecs
    compress better than deflate would)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in paths.values():
            archive.write(path, f"{folder}/{path.name}")
