"""Which audio a cached song was computed from: each source file's size, mtime, ctime, device,
inode and sha256, recorded in the song's cache entry. A cached song is reused only while every
source is still that file (same stat identity) or holds the same bytes (same sha256).
"""

from __future__ import annotations

import os
import stat
from typing import Any, Dict, List, Optional, Sequence

from ..files import file_identity, file_sha256

# The ctime is in the quick check because every write (also one that restores the mtime, as
# ``cp -p`` or ``touch -d`` do, on a file of the same size and inode) moves it, and no user call
# can set it back; without it, stems of equal size swapped with ``cp -p`` would pass unhashed.
IDENTITY_FIELDS = ("size", "mtime_ns", "ctime_ns", "dev", "ino")


def source_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be a song's source (missing, not a regular file), else None."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"{path}: no such file"
    except (OSError, ValueError) as error:  # ValueError: a NUL in the path
        return f"{path}: cannot read ({getattr(error, 'strerror', None) or error})"
    if not stat.S_ISREG(mode):
        return f"{path}: not a regular file"
    return None


def stat_identity(path: str) -> Dict[str, int]:
    """``{"size", "mtime_ns", "ctime_ns", "dev", "ino"}`` of a file (OSError as is)."""
    found = file_identity(path)
    values = (found.size, found.mtime_ns, found.ctime_ns, found.device, found.inode)
    return dict(zip(IDENTITY_FIELDS, values))


def fingerprint_sources(paths: Sequence[str]) -> List[Dict[str, Any]]:
    """``[{"path", <IDENTITY_FIELDS>, "sha256"}]`` of a song's source files; the stat identity
    is taken before hashing, so that a file changed meanwhile fails the next check."""
    return [{"path": path, **stat_identity(path), "sha256": file_sha256(path)} for path in paths]


def changed_source(recorded: Any, paths: Sequence[str]) -> Optional[str]:
    """Why a cache entry's ``sources`` no longer describe ``paths`` (a file replaced, rewritten
    or missing; no record), else None. A source whose stat changed but whose sha256 did not
    (``touch``, a copy of the same bytes) still matches; its record is updated in place."""
    if not isinstance(recorded, list) or [
        source.get("path") if isinstance(source, dict) else None for source in recorded
    ] != list(paths):
        return "the cache does not record its source files (made by an older version)"
    return _first_change(recorded, missing=True)


def stale_source(recorded: Any) -> Optional[str]:
    """Why a cached song no longer matches a source file that is still there (other bytes),
    else None. Sources that are gone are not checked: the cache holds what they were."""
    listed = recorded if isinstance(recorded, list) else []
    present = [s for s in listed if isinstance(s, dict) and isinstance(s.get("path"), str)]
    present = [source for source in present if os.path.isfile(source["path"])]
    return _first_change(present, missing=False)


def _first_change(sources: List[Dict[str, Any]], missing: bool) -> Optional[str]:
    """Why the first of ``sources`` may not hold the bytes recorded in it, else None: a file
    with the same stat identity (every field of :data:`IDENTITY_FIELDS`; a record without one is
    hashed) or the same size and sha256 matches, and its record takes its new stat. A file gone
    is a change with ``missing``, else skipped. The one rule of :func:`changed_source` and
    :func:`stale_source`."""
    for source in sources:
        path = source["path"]
        try:
            identity = stat_identity(path)
        except OSError:
            if missing:
                return f"{path} is missing"
            continue
        if any(source.get(name) != identity[name] for name in IDENTITY_FIELDS):
            try:
                size, digest = source.get("size"), source.get("sha256")
                same = identity["size"] == size and file_sha256(path) == digest
            except OSError as error:
                return f"{path} cannot be read ({error.strerror or error})"
            if not same:
                return f"{path} changed since it was cached"
        source.update(identity)
    return None
