"""Atomic file writing (a temporary sibling renamed over the target), the journal of temporaries
in a held folder (a killed run's are reclaimed by the next), file identities and digests."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import stat
import threading
from pathlib import Path
from typing import Callable, Dict, Iterator, NamedTuple, Optional, Tuple, Union

try:  # advisory locks: POSIX only
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None

PathLike = Union[str, "os.PathLike[str]"]  # every path argument of the package
logger = logging.getLogger(__name__)

JOURNAL_NAME = ".spleeter-paddle-temporaries"
_JOURNAL_HEADER = "spleeter-paddle journal of temporaries, v1\n"
# A journal line is ~100 bytes: 16 MiB is 160,000 temporaries, far more than one run makes.
MAX_JOURNAL_BYTES = 16 << 20
# What new_temporary names: ".<name>.<8 hex><suffix>".
_TEMPORARY_NAME = re.compile(r"^\..+\.[0-9a-f]{8}")
_journals: Dict[str, Optional[Path]] = {}  # folder (real path) -> journal, while held
_journals_lock = threading.Lock()


class FileIdentity(NamedTuple):
    """Which file a path names, and which version: a rewrite moves mtime and ctime, a
    replacement the inode."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int


def file_identity(path: PathLike) -> FileIdentity:
    """The :class:`FileIdentity` of ``path`` (links followed); ``OSError`` as is."""
    status = os.stat(path)
    return FileIdentity(
        status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns
    )


def same_file_key(path: PathLike) -> Optional[Tuple[int, int]]:
    """``(device, inode)``: equal for two names of one file (links); None when it cannot be read."""
    try:
        identity = file_identity(path)
    except (OSError, ValueError):  # ValueError: a NUL in the path
        return None
    return identity.device, identity.inode


def is_within(path: PathLike, folder: PathLike) -> bool:
    """Whether ``path`` is ``folder`` or lies below it, links resolved (both need not exist)."""
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([root, real]) == root


def change_while_read(path: PathLike, before: Optional[FileIdentity]) -> Optional[str]:
    """Why ``path`` is no longer the file whose identity was ``before`` (taken before reading it),
    else None: what was read may mix two versions of it, and nothing may be made from it."""
    if before is None:
        return None
    try:
        now = file_identity(path)
    except OSError as error:
        return f"was removed or became unreadable while it was read ({error.strerror or error})"
    if (now.device, now.inode) != (before.device, before.inode):
        return "was replaced by another file while it was read"
    if now != before:
        return "was rewritten while it was read (its size or times changed)"
    return None


# A write that fails with less than this free on the device failed for lack of space.
_FULL_DISK_BYTES = 1 << 20
_OS_ERROR_CODE = re.compile(r"os error (\d+)")  # how Rust libraries (safetensors) name errno


def write_problem(error: BaseException, folder: Optional[PathLike] = None) -> Optional[str]:
    """What stopped a write, in words, from an OSError, a message holding "os error <errno>", or
    (Paddle and libsndfile say nothing useful) the free space left under ``folder``; else None."""
    code = error.errno if isinstance(error, OSError) else None
    match = _OS_ERROR_CODE.search(str(error)) if code is None else None
    code = int(match.group(1)) if match else code
    if code == errno.ENOSPC or (code is None and folder is not None and _nearly_full(folder)):
        return "no space left on the device"
    if code is not None:
        return os.strerror(code).lower()
    return None


def _nearly_full(folder: PathLike) -> bool:
    try:
        usage = os.statvfs(os.path.abspath(folder))
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        return False
    return usage.f_bavail * usage.f_frsize < _FULL_DISK_BYTES


@contextlib.contextmanager
def write_errors(
    subject: str, error_class: type, folder: Optional[PathLike] = None
) -> Iterator[None]:
    """Inside: a failed write (see :func:`write_problem`) becomes one ``error_class`` line,
    ``"<subject>: <problem>"``, whatever library raised it; other errors pass as they are."""
    try:
        yield
    except Exception as error:
        problem = write_problem(error, folder)
        if problem is None:
            raise
        raise error_class(f"{subject}: {problem}") from None


def file_sha256(path: PathLike) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shareable_mode() -> int:
    """The mode a plain ``open`` would give a new file (``0o666`` less the umask)."""
    umask = os.umask(0o22)
    os.umask(umask)
    return 0o666 & ~umask


def new_temporary(path: PathLike, suffix: str, directory: bool = False) -> Path:
    """Create the empty file (or folder) ``.<name>.<8 random hex><suffix>`` beside ``path``,
    recorded in the folder's journal when this process holds it (:func:`hold_folder`)."""
    parent, name = os.path.split(os.path.abspath(path))
    while True:
        temporary = os.path.join(parent, f".{name}.{secrets.token_hex(4)}{suffix}")
        try:
            if directory:
                os.mkdir(temporary, 0o777)
            else:
                os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        break
    status = os.lstat(temporary)
    with _journals_lock:
        journal = _journals.get(os.path.realpath(parent))
    if journal is not None:
        entry = {"name": os.path.basename(temporary), "device": status.st_dev}
        entry["inode"] = status.st_ino
        try:
            with open(journal, "a", encoding="utf-8") as stream:
                stream.write(json.dumps(entry) + "\n")
        except OSError:
            _remove(temporary)
            raise
    return Path(temporary)


class FolderBusy(Exception):
    """Another process holds the folder (:func:`hold_folder`)."""


@contextlib.contextmanager
def hold_folder(folder: PathLike, wait: bool = False) -> Iterator[int]:
    """Hold ``folder`` (an advisory lock on it), yielding the locked descriptor. Held by another
    process: FolderBusy, or with ``wait`` wait (a hold of this very process is FolderBusy either
    way: waiting for itself would never end).

    While held, every temporary this process (and its forked workers) makes in ``folder`` is
    recorded in its journal (one line each: name, device, inode). On entry an interrupted run's
    are removed, on exit this run's: only what is still the very file recorded."""
    key = os.path.realpath(folder)
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        if fcntl is None:  # no lock (Windows): no journal either, it would not be the run's own
            yield descriptor
            return
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with _journals_lock:
                held_here = key in _journals
            if not wait or held_here:
                raise FolderBusy(os.fspath(folder)) from None
            logger.info("%s: waiting for another spleeter-paddle run to release it", key)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        journal: Optional[Path] = Path(key) / JOURNAL_NAME
        if not _reclaim(journal, "left by an interrupted run"):
            journal = None
        else:
            try:
                with open(journal, "x", encoding="utf-8") as stream:
                    stream.write(_JOURNAL_HEADER)
            except OSError as error:
                logger.warning("%s: cannot keep a journal of temporaries (%s)", key, error)
                journal = None
        with _journals_lock:
            _journals[key] = journal
        try:
            yield descriptor
        finally:
            with _journals_lock:
                _journals.pop(key, None)
            if journal is not None:
                _reclaim(journal, "left by this run")
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def joined_journal(folder: PathLike) -> Iterator[None]:
    """In a process started by the holder of ``folder`` (a launched training worker): record the
    temporaries made here in the holder's journal, which the holder reclaims."""
    key = os.path.realpath(folder)
    journal = Path(key) / JOURNAL_NAME
    try:
        ours = _journal_text(journal).startswith(_JOURNAL_HEADER)
    except OSError:
        ours = False
    with _journals_lock:
        joined = key not in _journals
        if joined:
            _journals[key] = journal if ours else None
    try:
        yield
    finally:
        if joined:
            with _journals_lock:
                _journals.pop(key, None)


def _reclaim(journal: Path, why: str) -> bool:
    """Remove the temporaries ``journal`` records that are still those files, then the journal;
    False (nothing touched) when a file there is not such a journal."""
    try:
        text = _journal_text(journal)
    except FileNotFoundError:
        return True
    except OSError as error:
        logger.warning("%s: not a journal of temporaries, left as it is (%s)", journal, error)
        return False
    lines = text.splitlines(keepends=True)
    if not lines or lines[0] != _JOURNAL_HEADER:
        logger.warning("%s: not a journal of temporaries (not written by spleeter-paddle)", journal)
        return False
    for line in lines[1:]:
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError, OSError):
            entry = json.loads(line)
            name = entry["name"]
            path = journal.parent / name
            if os.path.basename(name) != name or not _TEMPORARY_NAME.match(name):
                continue  # only names new_temporary gives: a forged entry cannot name your file
            status = os.lstat(path)
            if (status.st_dev, status.st_ino) == (entry["device"], entry["inode"]):
                logger.info("removing %s, %s", path, why)
                _remove(path)
    with contextlib.suppress(OSError):
        os.remove(journal)
    return True


def _journal_text(journal: Path) -> str:
    """The journal's text: a regular file (opened without following links or blocking) of at
    most ``MAX_JOURNAL_BYTES``; OSError otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    descriptor = os.open(journal, flags)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if status.st_size > MAX_JOURNAL_BYTES:
            raise OSError(errno.EFBIG, f"{status.st_size} bytes, more than a journal holds")
        with os.fdopen(descriptor, "rb", closefd=False) as stream:
            return stream.read(MAX_JOURNAL_BYTES + 1).decode("utf-8", errors="replace")
    finally:
        os.close(descriptor)


def _remove(path: PathLike) -> None:
    """Remove a temporary file, or a temporary folder with what it holds (not a link's target)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.remove(path)


def write_atomic(path: PathLike, write: Callable[[Path], None], suffix: str = ".tmp") -> Path:
    """Call ``write(temporary)`` on a :func:`new_temporary` beside ``path``, then rename it onto
    ``path`` with the umask's permissions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = new_temporary(path, suffix)
    try:
        write(temporary)
        os.chmod(temporary, shareable_mode())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: PathLike, text: str) -> Path:
    """``text`` (UTF-8) into ``path`` through :func:`write_atomic`."""
    return write_atomic(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
