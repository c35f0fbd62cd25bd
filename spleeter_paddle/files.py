"""Atomic file writing (a temporary name beside the target, renamed over it when complete; every
exit path removes the temporary) and file digests.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Union

PathLike = Union[str, Path]


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
