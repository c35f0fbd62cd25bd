"""The spectrogram cache's files on disk: a song's entry and its checks (size, sha256), JSON
written atomically, and whether a folder's ``index.json`` is this tool's (only then replaced).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Union

from ..errors import DataError
from ..files import file_sha256
from ..ownership import check_replaceable, held_folders, write_file

PathLike = Union[str, Path]
# How every index.json this module writes begins (json.dumps of {"settings": {"format": ...}}):
# a damaged index is still recognised as ours by it, and may be rewritten.
INDEX_SIGNATURE = b'{"settings": {"format": '


def file_fingerprint(path: Path) -> Dict[str, Any]:
    """``{"size": bytes, "sha256": hex}`` of a cache file."""
    return {"size": path.stat().st_size, "sha256": file_sha256(path)}


def entry_problem(entry: Dict[str, Any], songs_dir: Path, checksum: bool = True) -> Optional[str]:
    """Why a song's cache file cannot be trusted (missing, wrong size or sha256), else None."""
    path = songs_dir / str(entry.get("file"))
    if not path.is_file():
        return f"{path.name} is missing"
    if path.stat().st_size != entry.get("size"):
        return f"{path.name} has {path.stat().st_size} bytes, the index says {entry.get('size')}"
    if checksum and file_fingerprint(path)["sha256"] != entry.get("sha256"):
        return f"{path.name} does not match its sha256"
    return None


def write_json(path: Path, document: Any) -> None:
    write_file(path, lambda temporary: temporary.write_text(json.dumps(document)))


def read_entry(path: Path) -> Optional[Dict[str, Any]]:
    """A song's entry (``songs/<id>.json``), or None when missing, unreadable or not an object."""
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None


def check_cache_folder(cache_dir: PathLike) -> None:
    """DataError unless ``cache_dir`` can hold a cache: a folder (or nothing yet) whose
    ``index.json`` is absent or this tool's own (parsed, or damaged but starting as ours do).
    Anything else there is never replaced."""
    cache_dir = Path(cache_dir)
    elsewhere = "set training_cache / validation_cache to another folder"
    for folder in (cache_dir, cache_dir / "songs"):
        if os.path.lexists(folder) and not folder.is_dir():
            raise DataError(f"{folder}: exists and is not a folder; {elsewhere}")
    index = cache_dir / "index.json"
    check_replaceable(index, False, _foreign_index, DataError, f"{index}:", elsewhere)


def _foreign_index(index: Path) -> Optional[str]:
    try:
        text = index.read_bytes()
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    try:
        document = json.loads(text)
        ours = (
            isinstance(document, dict)
            and isinstance(document.get("settings"), dict)
            and "format" in document["settings"]
            and isinstance(document.get("songs"), list)
        )
    except ValueError:
        ours = text.startswith(INDEX_SIGNATURE)
    return None if ours else "exists and is not a spleeter-paddle cache index"


@contextlib.contextmanager
def held_cache(cache_dir: Path) -> Iterator[Path]:
    """Make and hold ``cache_dir`` and its ``songs/`` folder (``ownership.held_folders``: a
    killed run's temporaries are reclaimed, another run building there is a DataError); yields
    the songs folder."""
    songs_dir = Path(cache_dir) / "songs"

    def busy(folder: Path) -> str:
        return f"{cache_dir}: another spleeter-paddle run is building this cache; wait for it"

    with held_folders((cache_dir, songs_dir), DataError, busy):
        yield songs_dir
