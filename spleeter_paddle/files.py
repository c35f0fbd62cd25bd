"""Atomic file writing (a temporary name beside the target, renamed over it when complete; every
exit path removes the temporary), file identities (a file read is still the file probed) and digests.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Tuple, Union

PathLike = Union[str, Path]


class FileIdentity(NamedTuple):
    """Which file a path names, and which version of it: a rewrite in place moves the mtime and
    the ctime (no user call sets a ctime back), a replacement the inode."""

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


def write_atomic(path: PathLike, write: Callable[[Path], None], suffix: str = ".tmp") -> Path:
    """Call ``write(temporary)`` on ``.<name>.<random><suffix>`` beside ``path``, then rename it
    onto ``path`` with the umask's permissions (mkstemp's are 0600). Raises ``OSError`` as is."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        os.chmod(temporary, shareable_mode())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: PathLike, text: str, suffix: str = ".tmp") -> Path:
    """``text`` (UTF-8) into ``path`` through :func:`write_atomic`."""
    return write_atomic(
        path, lambda temporary: temporary.write_text(text, encoding="utf-8"), suffix
    )
