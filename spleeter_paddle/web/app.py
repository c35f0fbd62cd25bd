"""The HTTP side of the web app (FastAPI): the page, uploads streamed into the work folder under
a size limit, the job list, and the files of finished jobs (nothing else is served).

``create_app(work_dir)`` returns the ASGI app; ``spleeter-paddle serve`` runs it with uvicorn.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Optional

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ..audio import io as audio_io
from ..audio.writer import CODECS, can_write
from ..configuration import load_configuration
from ..errors import ConfigurationError, SpleeterError
from ..files import write_problem
from ..options import checked, positive_number
from ..pretrained.store import is_complete, model_directory
from .jobs import AUDIO_EXTENSIONS, PRESETS, JobStore, display_name, safe_stem, upload_extension
from .worker import Worker

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
DEFAULT_MAX_UPLOAD_MB = 500
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
_MEDIA_TYPES = {
    "wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "ogg": "audio/ogg",
    "m4a": "audio/mp4", "wma": "audio/x-ms-wma", "png": "image/png", "zip": "application/zip",
}  # fmt: skip
OCTET_STREAM = "application/octet-stream"
_STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def create_app(
    work_dir: os.PathLike,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    device: str = "auto",
    backend: str = "auto",
    allowed_hosts: Optional[list] = None,
) -> FastAPI:
    """The web app over ``work_dir`` (created if missing). Jobs of an earlier server there are
    listed again and its unfinished jobs queued again when the app starts.

    ``allowed_hosts``: the ``Host`` headers accepted (default: the loopback names, which keeps web
    sites from reaching the app through DNS rebinding); ``["*"]`` for any.
    """
    checked("max_upload_mb", positive_number, max_upload_mb, error=ConfigurationError)
    store = JobStore(work_dir)
    store.hold()  # before anything is served: one server per work folder
    worker = Worker(store, device=device, backend=backend)
    max_bytes = int(max_upload_mb * 1024 * 1024)
    codecs = [codec for codec in CODECS if can_write(codec)]  # m4a/wma may need ffmpeg

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        for job_id in store.recover():
            worker.enqueue(job_id)
        worker.start()
        logger.info("work folder %s; uploads up to %g MB", store.work_dir, max_upload_mb)
        try:
            yield
        finally:
            await run_in_threadpool(worker.stop)
            store.release()

    app = FastAPI(title="spleeter-paddle", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.store, app.state.worker = store, worker
    hosts = list(allowed_hosts or LOOPBACK_HOSTS)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(_HEADERS)
        return response

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name not in _STATIC_FILES:
            raise HTTPException(404, "not found")
        return FileResponse(STATIC_DIR / name, media_type=_STATIC_FILES[name])

    @app.get("/api/options")
    def options():
        return {
            "presets": list(PRESETS),
            "installed": [  # weights in the model home; the others download on first use
                preset
                for preset in PRESETS
                if is_complete(model_directory(load_configuration(preset)["model_dir"]))
            ],
            "codecs": codecs,
            "extensions": list(AUDIO_EXTENSIONS),
            "max_upload_mb": max_upload_mb,
        }

    @app.get("/api/jobs")
    def list_jobs():
        return {"jobs": store.list()}

    @app.get("/api/jobs/{job_id}")
    def get_job(job_id: str):
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job")
        return dict(job, progress=store.progress.get(job_id))

    @app.delete("/api/jobs/{job_id}")
    def delete_job(job_id: str):
        _refused(store.delete(job_id))
        return {"deleted": job_id}

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel_job(job_id: str):
        _refused(store.cancel(job_id))
        return dict(store.get(job_id), progress=store.progress.get(job_id))

    @app.post("/api/jobs/{job_id}/retry")
    def retry_job(job_id: str):
        _refused(store.retry(job_id))
        worker.enqueue(job_id)
        return dict(store.get(job_id), progress=None)

    @app.get("/api/jobs/{job_id}/files/{file_name}")
    def job_file(job_id: str, file_name: str, download: bool = False):
        path = store.served_path(job_id, file_name)
        if path is None:
            raise HTTPException(404, "not found")
        kind = path.suffix.lstrip(".")
        name = None
        if download:
            song = safe_stem(store.get(job_id)["name"])
            name = f"{song}.zip" if kind == "zip" else f"{song}_{path.name}"
        return FileResponse(path, media_type=_MEDIA_TYPES.get(kind, OCTET_STREAM), filename=name)

    @app.post("/api/jobs", status_code=201)
    async def upload(
        request: Request, name: str, preset: str = PRESETS[0], mwf: bool = False, codec: str = "wav"
    ):
        """The request body is the file itself (``Content-Type: application/octet-stream``):
        streamed to disk and counted as it arrives, so an oversized upload stops at the limit."""
        shown = display_name(name)
        if preset not in PRESETS:
            raise HTTPException(400, f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
        if codec not in codecs:
            raise HTTPException(
                400, f"codec {codec!r} cannot be written here; use one of {', '.join(codecs)}"
            )
        # The content type also keeps other web sites from posting files here (no CORS
        # preflight passes).
        if request.headers.get("content-type", "").split(";")[0].strip() != OCTET_STREAM:
            raise HTTPException(
                415, "send the file as the body, Content-Type: application/octet-stream"
            )
        extension = upload_extension(shown)
        if extension is None:
            raise HTTPException(
                415, f"{shown}: not an audio file name (expected .{', .'.join(AUDIO_EXTENSIONS)})"
            )
        too_large = (
            f"{shown}: file is larger than the upload limit ({max_upload_mb:g} MB; see "
            "--max-upload-mb)"
        )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise HTTPException(413, too_large)
        try:
            job_id, temporary, final = store.new_upload(extension)
        except OSError as error:
            raise HTTPException(507, _not_stored(shown, error, store)) from None
        try:
            size = await _receive(request, temporary, max_bytes, too_large)
            if size == 0:
                raise HTTPException(400, f"{shown}: file is empty (0 bytes)")
            os.replace(temporary, final)
        except OSError as error:  # a full disk, a failing device: one line, nothing kept
            raise HTTPException(507, _not_stored(shown, error, store)) from None
        finally:
            temporary.unlink(missing_ok=True)
        try:  # fail early: a file that is not audio never reaches the queue
            await run_in_threadpool(audio_io.audio_info, final)
        except SpleeterError as error:
            final.unlink(missing_ok=True)
            raise HTTPException(422, store.public(str(error), final, shown)) from None
        try:
            job = store.create(job_id, shown, final, preset, mwf, codec)
        except OSError as error:
            final.unlink(missing_ok=True)
            raise HTTPException(507, _not_stored(shown, error, store)) from None
        worker.enqueue(job_id)
        logger.info("%s: queued %s (%s, %s bytes)", job_id, shown, preset, size)
        return JSONResponse(dict(job, progress=None), status_code=201)

    return app


def _refused(problem: Optional[str]) -> None:
    """A :class:`JobStore` refusal as HTTP: 404 when there is no such job, 409 for its state."""
    if problem:
        raise HTTPException(404 if problem == "no such job" else 409, problem)


def _not_stored(name: str, error: OSError, store: JobStore) -> str:
    """Why an upload could not be stored, in words and without a server path."""
    problem = write_problem(error, store.uploads_dir) or "the server could not store it"
    return f"{name}: cannot store the upload ({problem})"


async def _receive(request: Request, path: Path, max_bytes: int, too_large: str) -> int:
    """Write the request body to ``path``; a 413 (``too_large``) as soon as it passes
    ``max_bytes``."""
    size = 0
    with open(path, "wb") as handle:  # the empty temporary new_upload made
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise HTTPException(413, too_large)
            handle.write(chunk)
    return size
