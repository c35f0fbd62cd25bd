"""What a song folder written by ``download-musdb`` was made from: ``.spleeter-paddle-musdb.json``
beside its stems records the source files (stat identity and sha256, as ``data.sources`` does for
the spectrogram cache), the source version they give, and every output written from them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..errors import DataError
from ..files import write_text_atomic
from ..ownership import check_replaceable
from .cache_files import read_entry
from .sources import changed_source, fingerprint_sources

RECORD_NAME = ".spleeter-paddle-musdb.json"
RECORD_TOOL = "spleeter-paddle download-musdb"
# Bump when the conversion itself changes (what an output holds for the same source bytes).
CONVERSION_FORMAT = 1


def source_version(fingerprints: List[Dict[str, Any]], labels: List[str]) -> str:
    """16 hex digits naming the source content: the conversion format and each source file's
    sha256 under its label (the stem it holds, or the ``.stem.mp4``)."""
    content = [CONVERSION_FORMAT, [[label, f["sha256"]] for label, f in zip(labels, fingerprints)]]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()[:16]


def read_record(target: Path, overwrite: bool) -> Optional[Dict[str, Any]]:
    """The song folder's record, None when absent. DataError for a file there that is not a
    record of this tool (kept unless ``overwrite``, where it is ignored and replaced)."""
    path = target / RECORD_NAME
    record = read_entry(path)
    if record is not None and record.get("tool") == RECORD_TOOL:
        return record
    what = "exists and is not a record written by download-musdb"
    remedy = "use --overwrite to replace it, or another -o/--output"
    check_replaceable(path, overwrite, lambda _: what, DataError, f"output {path}", remedy)
    return None


def current_source(
    record: Optional[Dict[str, Any]], source: Path, files: Mapping[str, Path]
) -> Tuple[str, List[Dict[str, Any]], Optional[str]]:
    """``(version, fingerprints, change)`` of a song's source ``files`` (``{label: path}``).

    The record's fingerprints are reused while every file is still the one recorded (same
    stat identity, else same sha256: the rule of the spectrogram cache); otherwise every file
    is hashed, and ``change`` says how the source differs from the record (None when its bytes
    are the recorded ones, whose new stats are then put in the record, or without a record)."""
    labels, paths = list(files), [os.path.abspath(path) for path in files.values()]
    recorded = record.get("sources") if _of_source(record, source) else None
    change = None
    if recorded is not None and [entry.get("path") for entry in recorded] != paths:
        change = "its source files are not the ones recorded (renamed or added)"
    elif recorded is not None:
        change = changed_source(recorded, paths)
        if change is None and record.get("version") == source_version(recorded, labels):
            return record["version"], recorded, None
        change = (change or "its record does not match its source files").replace(
            "since it was cached", "since the song was converted"
        )
    fingerprints = fingerprint_sources(paths)
    version = source_version(fingerprints, labels)
    if recorded is not None and record.get("version") == version:  # the same bytes: record them
        record["sources"], change = fingerprints, None
    return version, fingerprints, change


def outputs_change(
    record: Optional[Dict[str, Any]], source: Path, outputs: Mapping[str, Path]
) -> Optional[str]:
    """Why the ``outputs`` (``{stem: path}``) of a current record (:func:`current_source`) are
    not all the bytes written (missing, rewritten, never recorded), else None. Outputs whose
    stat changed but whose bytes did not are updated in the record."""
    if not _of_source(record, source):
        return "it has no record of its source (converted by an older version, or never)"
    written = record.get("outputs")
    for stem, path in outputs.items():
        entry = written.get(stem) if isinstance(written, dict) else None
        if not isinstance(entry, dict):
            return f"{path} was not written with the other stems"
        entry["path"] = os.path.abspath(path)
        change = changed_source([entry], [entry["path"]])
        if change is not None:
            return change.replace("since it was cached", "since the song was converted")
    return None


def write_record(
    target: Path,
    source: Path,
    version: str,
    fingerprints: List[Dict[str, Any]],
    outputs: Mapping[str, Path],
) -> None:
    """Record the song's source and its ``outputs`` (``{stem: path}``, just written)."""
    paths = [os.path.abspath(path) for path in outputs.values()]
    written = dict(zip(outputs, fingerprint_sources(paths)))
    record = {
        "tool": RECORD_TOOL,
        "source": os.path.realpath(source),
        "version": version,
        "sources": fingerprints,
        "outputs": written,
    }
    write_text_atomic(target / RECORD_NAME, json.dumps(record, indent=1) + "\n")


def remove_record(target: Path) -> None:
    """Forget the song's record before its outputs are rewritten: an interrupted conversion
    leaves no record, so the song is converted whole again."""
    try:
        os.unlink(target / RECORD_NAME)
    except FileNotFoundError:
        pass
    except OSError as error:
        raise DataError(f"{target / RECORD_NAME}: cannot remove ({error.strerror})") from None


def _of_source(record: Optional[Dict[str, Any]], source: Path) -> bool:
    return (
        isinstance(record, dict)
        and record.get("source") == os.path.realpath(source)
        and isinstance(record.get("sources"), list)
        and all(isinstance(entry, dict) for entry in record["sources"])
    )
