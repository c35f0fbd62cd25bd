"""What an evaluation run does, decided before separating anything: the songs that can be
scored (broken ones and songs given twice fail), and those whose stored scores are resumed
under the same key (scores made with another setting refuse the run, never relabelled).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ..errors import DataError, SpleeterError
from .layout import json_path
from .metrics import parse_scores, read_extra, target_groups
from .report import check_output_folder
from .setting import differences, track_source, undescribed_setting
from .tracks import Track

logger = logging.getLogger(__name__)


def read_scores(path: Path) -> Dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from error
    return parse_scores(text, str(path))


def fail_song(failed: Dict[str, str], track: Track, problem: str) -> None:
    logger.error("ERROR %s: %s", track.key, problem)
    failed[track.key] = problem


def _plan(
    instruments: Sequence[str], tracks: Sequence[Track], failed: Dict[str, str]
) -> Tuple[Dict[str, List[str]], Dict[str, Dict[str, Any]]]:
    """``({song key: targets to score}, {song key: its files' record})`` for the songs that can
    be scored; the others (broken, or the same song given twice) go to ``failed``. DataError
    when no song has references for the model's instruments."""
    plan: Dict[str, List[str]] = {}
    sources: Dict[str, Dict[str, Any]] = {}
    seen: Dict[Tuple[str, Any], str] = {}
    mismatch: Optional[DataError] = None
    for track in tracks:
        try:
            track.check()
            source = track_source(track)
        except SpleeterError as error:
            fail_song(failed, track, str(error))
            continue
        twice = _given_twice(source, track.key, seen)
        if twice:
            fail_song(failed, track, twice)
            continue
        targets = [name for name in instruments if name in track.targets]
        try:
            target_groups(targets)  # museval needs two
        except DataError:
            problem = (
                f"{track.location}: references for {', '.join(targets) or 'none'} of the model's"
                f" {', '.join(instruments)}; museval needs at least two (e.g. vocals and"
                " accompaniment)"
            )
            mismatch = mismatch or DataError(problem)
            fail_song(failed, track, problem)
            continue
        plan[track.key], sources[track.key] = targets, source
    if not plan and mismatch is not None:
        raise mismatch
    return plan, sources


def _given_twice(source: Dict[str, Any], key: str, seen: Dict[Tuple[str, Any], str]) -> str:
    """Why the song of ``source`` was already listed (its folder again through a link, or a copy
    of another song's files), else "": scoring it twice would weigh it twice in the medians."""
    files = sorted(source["files"].items())
    same_files = ("files", tuple((role, path) for role, (path, _, _) in files))
    same_bytes = ("bytes", tuple((role, digest) for role, (_, _, digest) in files))
    if same_files in seen:
        return f"is the same song as {seen[same_files]}, given twice"
    if same_bytes in seen:
        return f"has the same files as {seen[same_bytes]} (a copy), given twice"
    seen[same_files] = seen[same_bytes] = key
    return ""


def _stored_conflict(
    path: Path, scores: Dict[str, Any], setting: Dict[str, Any], source: Dict[str, Any]
) -> Optional[str]:
    """Why the stored scores at ``path`` are not this run's (None if they are)."""
    extra = read_extra(scores)
    if "setting" not in extra:
        return f"{path}: no record of the model and options that made these scores (older run)"
    changed = differences(extra["setting"], setting)
    changed += [f"data {name}" for name in differences(extra.get("source") or {}, source)]
    if changed:
        return f"{path}: made with another setting ({', '.join(changed[:4])} differ)"
    return None


def _more(items: Sequence[Any]) -> str:
    return f" (and {len(items) - 1} more songs)" if len(items) > 1 else ""


def _resume(
    tracks: Sequence[Track],
    plan: Dict[str, List[str]],
    sources: Dict[str, Dict[str, Any]],
    output_dir: Path,
    setting: Dict,
    undescribed: Any = None,
) -> Tuple[List[Track], List[str]]:
    """``(songs to score, keys of songs resumed)``; DataError if any stored song was made with
    another setting (never relabelled), or if any song is stored at all when ``undescribed``
    (the separator, when it cannot say what defines its output: it can never tell that stored
    scores are its own)."""
    stored = [json_path(output_dir, t) for t in tracks if json_path(output_dir, t).is_file()]
    if stored and undescribed is not None:
        raise DataError(
            f"{stored[0]}{_more(stored)}: holds scores, and separator"
            f" {type(undescribed).__name__} cannot tell what defines its output (no"
            " evaluation_setting()), so they cannot be resumed: pass overwrite=True to score"
            " again here, a new output_dir, or give the separator an evaluation_setting() method"
            " (or pass setting=)"
        )
    todo, resumed, conflicts = [], [], []
    for track in tracks:
        path = json_path(output_dir, track)
        if path not in stored:
            todo.append(track)
            continue
        scores = read_scores(path)
        conflict = _stored_conflict(path, scores, setting, sources[track.key])
        if conflict:
            conflicts.append(conflict)
        elif not set(plan[track.key]) <= {t.get("name") for t in scores["targets"]}:
            logger.info("%s: lacks some of %s, evaluating again", path, ", ".join(plan[track.key]))
            todo.append(track)
        else:
            resumed.append(track.key)
    if conflicts:
        raise DataError(
            f"{conflicts[0]}{_more(conflicts)}; refusing to mix scores: pass --overwrite to score"
            " again here, or -o a new folder"
        )
    return todo, resumed


@dataclass
class EvaluationRun:
    """What a run does, decided before separating anything (:func:`prepare_run`)."""

    output_dir: Path
    instruments: List[str]
    tracks: Sequence[Track]
    key: Dict[str, Any]  # the setting the scores are stored under
    plan: Dict[str, List[str]]  # song key -> targets to score
    usable: List[Track]
    todo: List[Track]
    resumed: List[str]
    failed: Dict[str, str]


def prepare_run(
    instruments: Sequence[str],
    tracks: Sequence[Track],
    output_dir: Union[str, Path],
    described: Optional[Dict[str, Any]],
    overwrite: bool,
    metrics_key: Dict[str, Any],
    separator: Any = None,
) -> EvaluationRun:
    """The songs to score and those resumed, under the key ``described`` (the separator's
    setting; None: undescribed, never resumed) + ``metrics_key``; DataError before separating
    anything when stored scores were made with another setting, or when the report files there
    were not written by this tool (unless ``overwrite``). Broken songs go to ``failed``."""
    if not tracks:
        raise DataError(f"{output_dir}: no songs to evaluate")
    subsets, songs = {track.subset for track in tracks}, [track.location for track in tracks]
    check_output_folder(output_dir, subsets, overwrite, songs)
    output_dir = Path(output_dir)
    key = {
        "separator": described if described is not None else undescribed_setting(separator),
        "metrics": metrics_key,
    }
    failed: Dict[str, str] = {}
    plan, sources = _plan(instruments, tracks, failed)
    usable = [t for t in tracks if t.key in plan]
    for track in usable:
        path = json_path(output_dir, track)
        if path.exists() and not path.is_file():
            raise DataError(f"{path}: exists and is not a regular file; cannot write scores there")
    undescribed = separator if described is None else None
    todo, resumed = (
        (usable, []) if overwrite else _resume(usable, plan, sources, output_dir, key, undescribed)
    )
    if resumed:
        logger.info(
            "%d of %d songs already scored in %s with this setting (resuming)",
            len(resumed),
            len(tracks),
            output_dir,
        )
    return EvaluationRun(
        output_dir, list(instruments), tracks, key, plan, usable, todo, resumed, failed
    )
