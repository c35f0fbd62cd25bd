"""The key of stored scores: what made them (weights, config, options, metric, data files). A song
is resumed only when the run's ``setting`` and the song's ``source`` equal those it stored."""

from __future__ import annotations

import json
import uuid
from importlib import metadata
from typing import Any, Dict, List, Mapping, Optional

from ..errors import DataError
from ..files import file_sha256
from . import bsseval, stability
from .tracks import Track

# The kind of setting of a separator without evaluation_setting() (never resumed).
UNDESCRIBED = "undescribed"
# Which references museval is given, for both routes (folder layouts and musdb.DB).
REFERENCE_CONVENTION = (
    "museval.eval_mus_track: float64 stereo references at the file's rate; accompaniment ="
    " its own file, else drums + bass + other; vocals/accompaniment scored as their own pair"
)


def separator_setting(separator: Any) -> Optional[Dict[str, Any]]:
    """What defines ``separator``'s estimates: its ``evaluation_setting()`` (``Separator``'s:
    weights digest, output config fields, MWF, segment length); None when it has none (see
    :func:`undescribed_setting`)."""
    if not hasattr(separator, "evaluation_setting"):
        return None
    setting = separator.evaluation_setting()
    if not isinstance(setting, Mapping):
        raise ValueError(
            f"separator {type(separator).__name__}.evaluation_setting() must return a dict,"
            f" got {setting!r}"
        )
    return dict(setting)


def undescribed_setting(separator: Any) -> Dict[str, Any]:
    """The key of scores made by a separator that cannot say what defines its output: unique to
    this run, so that no later run ever resumes them as its own."""
    kind = type(separator)
    name = f"{kind.__module__}.{kind.__qualname__}"
    return {"kind": UNDESCRIBED, "class": name, "run": uuid.uuid4().hex}


def metric_setting(
    win_s: float, hop_s: float, check_stability: bool = True, implementation: str = "fast"
) -> Dict[str, Any]:
    try:
        version = metadata.version("museval")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "museval": version,
        "mode": "v4",
        # Scores agree to 1e-3 dB, not bit for bit: a run is never resumed with the other one.
        "implementation": implementation,
        # What changed the numbers of one implementation (older scores are never resumed).
        "revision": bsseval.REVISION,
        "win_s": win_s,
        "hop_s": hop_s,
        "references": REFERENCE_CONVENTION,
        "stability": stability.settings() if check_stability else None,
    }


def track_source(track: Track) -> Dict[str, Any]:
    """The song's files (absolute path, size and sha256 of the bytes) and how they are read.

    The content, not only the size, is the key: a stem replaced by other audio of the same
    length must never resume the old scores. Hashing reads about 1.5 GB/s (0.15 s for a
    4-minute MUSDB18-HQ song, next to seconds of separation and scoring). DataError naming the
    file when one cannot be read.
    """
    files = {}
    for role, path in sorted(track.files().items()):
        try:
            size = path.stat().st_size if path.is_file() else None
            digest = file_sha256(path) if size is not None else None
        except OSError as error:
            raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
        files[role] = [str(path.resolve()), size, digest]
    return {"reader": type(track).__name__, "files": files}


def normalized(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, ...)."""
    return json.loads(json.dumps(value))


def differences(
    stored: Mapping[str, Any], current: Mapping[str, Any], prefix: str = ""
) -> List[str]:
    """Dotted names of the fields that differ (``stored`` as read from JSON)."""
    names = []
    for key in sorted(set(stored) | set(current)):
        old, new = stored.get(key), normalized(current.get(key))
        if isinstance(old, dict) and isinstance(new, dict):
            names += differences(old, new, f"{prefix}{key}.")
        elif old != new:
            names.append(f"{prefix}{key}")
    return names
