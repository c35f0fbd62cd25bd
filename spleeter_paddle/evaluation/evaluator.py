"""Evaluate a separator on songs: separate in this process, score in workers, write the reports.

The separator is anything with ``instruments``, ``sample_rate`` and ``separate(waveform)``
(``Separator``, ``OracleSeparator``). A song whose JSON exists is resumed only when it was made
with the same setting (weights, config, options, metrics, data files); otherwise the run is
refused before separating anything. A broken song, or one the separator fails on, is reported
as failed; the others run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import pandas as pd
from tqdm import tqdm

from ..errors import DataError, SpleeterError
from ..separation.protocol import Separating
from .aggregate import song_scores, summarize
from .contract import check_arguments, check_separator, separate_track
from .layout import json_path, write_estimates
from .metrics import MetricsPool, TrackResult, parse_scores, read_extra, target_groups
from .report import (
    RESULTS_CSV,
    SDR_PLOT,
    SUMMARY_JSON,
    check_output_folder,
    other_json_files,
    plot_sdr,
    write_results_csv,
    write_summary_json,
    write_text,
)
from .setting import (
    differences,
    metric_setting,
    separator_setting,
    track_source,
    undescribed_setting,
)
from .tracks import Track

logger = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """The outcome: ``songs`` is ``results.csv``, ``summary`` is ``summary.json``."""

    output_dir: Path
    songs: pd.DataFrame
    summary: Dict[str, Any]
    evaluated: List[str]
    resumed: List[str]
    skipped: Dict[str, str]
    failed: Dict[str, str]
    # JSON files under output_dir that are not this run's songs (left there, and listed).
    other_json_files: List[str] = field(default_factory=list)


def scored_targets(instruments: Sequence[str], track: Track) -> List[str]:
    """The model's instruments that have a reference in ``track`` (DataError if museval can't
    score them: it needs two)."""
    targets = [name for name in instruments if name in track.targets]
    try:
        target_groups(targets)
    except DataError:
        raise DataError(
            f"{track.location}: references for {', '.join(targets) or 'none'} of the model's"
            f" {', '.join(instruments)}; museval needs at least two (e.g. vocals and accompaniment)"
        ) from None
    return targets


def _read_json(path: Path) -> Dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from error
    return parse_scores(text, str(path))


def _fail(failed: Dict[str, str], track: Track, problem: str) -> None:
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
            _fail(failed, track, str(error))
            continue
        twice = _given_twice(source, track.key, seen)
        if twice:
            _fail(failed, track, twice)
            continue
        try:
            plan[track.key] = scored_targets(instruments, track)
            sources[track.key] = source
        except DataError as error:
            mismatch = mismatch or error
            _fail(failed, track, str(error))
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


def _resume(
    tracks: Sequence[Track],
    plan: Dict[str, List[str]],
    sources: Dict[str, Dict[str, Any]],
    output_dir: Path,
    setting: Dict,
) -> Tuple[List[Track], List[str]]:
    """``(songs to score, keys of songs resumed)``; DataError if any stored song was made with
    another setting (never relabelled)."""
    todo, resumed, conflicts = [], [], []
    for track in tracks:
        path = json_path(output_dir, track)
        if not path.is_file():
            todo.append(track)
            continue
        scores = _read_json(path)
        conflict = _stored_conflict(path, scores, setting, sources[track.key])
        if conflict:
            conflicts.append(conflict)
        elif not set(plan[track.key]) <= {t.get("name") for t in scores["targets"]}:
            logger.info("%s: lacks some of %s, evaluating again", path, ", ".join(plan[track.key]))
            todo.append(track)
        else:
            resumed.append(track.key)
    if conflicts:
        more = f" (and {len(conflicts) - 1} more songs)" if len(conflicts) > 1 else ""
        raise DataError(
            f"{conflicts[0]}{more}; refusing to mix scores: pass --overwrite to score again"
            " here, or -o a new folder"
        )
    return todo, resumed


def _score_songs(
    separator,
    instruments: Sequence[str],
    todo: Sequence[Track],
    plan: Dict[str, List[str]],
    output_dir: Path,
    n_workers: int,
    progress: Dict[str, Any],
    extra: Dict[str, Any],
    windows: Dict[str, float],
    keep_audio: Optional[Callable[[Track, Dict[str, Any]], Any]] = None,
    record: Optional[Callable[[str, str, Optional[str]], None]] = None,
) -> Tuple[Dict[str, str], Dict[str, str]]:
    """Separate ``todo`` one by one here while workers score them; write each song's JSON
    (and its separated stems through ``keep_audio``); ``record(song key, "scored" | "skipped" |
    "failed", reason)`` is told each song's outcome.

    Returns ``({song key: reason} museval could not score, {song key: problem} failed)``.
    """
    by_key = {track.key: track for track in todo}
    skipped: Dict[str, str] = {}
    failed: Dict[str, str] = {}
    bar = tqdm(unit="song", desc="evaluate", **progress)
    record = record or (lambda key, outcome, reason: None)

    def save(result: TrackResult) -> None:
        bar.update()
        track = by_key[result.key]
        if result.failed:
            _fail(failed, track, result.failed)
            record(track.key, "failed", result.failed)
        elif result.json_text is None:
            logger.warning("%s: not scored: %s", track.location, result.skipped)
            skipped[result.key] = result.skipped
            record(track.key, "skipped", result.skipped)
        else:
            write_text(json_path(output_dir, track), result.json_text)
            record(track.key, "scored", None)

    # No more workers than songs: on a resumed run with nothing left, none are started.
    with bar, MetricsPool(min(n_workers, len(todo))) as pool:
        for track in todo:
            try:
                # Recorded as read now: the files may have changed since the plan was made.
                source = track_source(track)
                began, started_at = time.perf_counter(), time.time()
                estimates = separate_track(separator, instruments, track)
                if keep_audio is not None:
                    keep_audio(track, estimates)
            except (SpleeterError, OSError, ValueError) as error:
                bar.update()
                _fail(failed, track, str(error))
                record(track.key, "failed", str(error))
                continue
            separation_s = time.perf_counter() - began
            scored = {name: estimates[name] for name in plan[track.key]}
            song_extra = dict(extra, source=source)
            song_extra["separation_started_at"] = round(started_at, 3)
            finished = pool.submit(
                track, scored, separation_s=separation_s, extra=song_extra, **windows
            )
            for result in finished:
                save(result)
        for result in pool.drain():
            save(result)
    return skipped, failed


def evaluate(
    separator: Separating,
    tracks: Sequence[Track],
    output_dir: Union[str, Path],
    n_workers: int = 1,
    overwrite: bool = False,
    model: str = "",
    win_s: float = 1.0,
    hop_s: float = 1.0,
    progress: bool = True,
    setting: Optional[Dict[str, Any]] = None,
    sample: Optional[Dict[str, Any]] = None,
    check_stability: bool = True,
    metrics: str = "fast",
    audio: bool = True,
) -> Evaluation:
    """Separate and score ``tracks``; write per-song JSON, results.csv, summary.json, sdr.png.

    Args:
        separator: ``instruments``, ``sample_rate`` and ``separate((n, 2) float32) ->
            {instrument: (n, 2) float}``; called once per song, in this process. A song whose
            estimates are missing, of another length or not finite fails (named as the
            separator's fault). Without ``evaluation_setting()`` (and ``setting``) its scores
            are never resumed: such a separator needs a folder without its songs' JSON, or
            ``overwrite``.
        n_workers: metrics processes (0: score in this process, for debugging).
        overwrite: score songs again even when their JSON exists (whatever made it).
        model: label stored in the JSON and summary.
        setting: what defines the separator's output (default: ``separator_setting``); the
            key under which its scores are stored and resumed.
        sample: how ``tracks`` were drawn (fraction, seed, ...), stated in the summary.
        check_stability: flag SIR/SAR/ISR that tiny reference noise moves (see ``stability``;
            about 40 % more metrics time).
        metrics: BSSEval v4 by ``"fast"`` (``bsseval``, museval's scores within 1e-3 dB, about
            10x faster) or ``"museval"`` (the reference); part of the stored setting.
        audio: also keep each song's separated stems, as Spleeter does (see ``layout``).

    Raises ValueError naming the argument when one is of the wrong kind, and DataError before
    separating anything when stored scores in ``output_dir`` were made
    with another setting, or when its report files were not written by this tool (unless
    ``overwrite``); ConfigurationError when ``output_dir`` is not a folder. With
    ``n_workers > 0`` the workers are spawned processes: call this from a script under
    ``if __name__ == "__main__":``.
    """
    instruments = check_separator(separator)
    check_arguments(
        tracks,
        output_dir,
        n_workers,
        {
            "overwrite": overwrite,
            "progress": progress,
            "check_stability": check_stability,
            "audio": audio,
        },
        {"win_s": win_s, "hop_s": hop_s},
        metrics,
        {"model": model},
        {"setting": setting, "sample": sample},
    )
    described = setting if setting is not None else separator_setting(separator)
    run = prepare_run(
        instruments, tracks, output_dir, described, overwrite,
        metric_setting(win_s, hop_s, check_stability, metrics), separator,
    )  # fmt: skip
    start = time.perf_counter()
    skipped, broken = score_songs(
        separator, run, run.todo, n_workers, model, (win_s, hop_s, check_stability, metrics),
        audio, overwrite, {"total": len(run.usable), "initial": len(run.resumed),
                           "disable": not progress},
    )  # fmt: skip
    return finish_run(run, skipped, broken, time.perf_counter() - start, model, n_workers, sample)


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
    check_output_folder(output_dir, {track.subset for track in tracks}, overwrite)
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
    if described is None and not overwrite:
        _refuse_undescribed_resume(separator, usable, output_dir)
    todo, resumed = (usable, []) if overwrite else _resume(usable, plan, sources, output_dir, key)
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


def score_songs(
    separator: Any,
    run: EvaluationRun,
    todo: Sequence[Track],
    n_workers: int,
    model: str,
    metrics: Tuple[float, float, bool, str],
    audio: bool,
    overwrite: bool,
    progress: Dict[str, Any],
    record: Optional[Callable[[str, str, Optional[str]], None]] = None,
) -> Tuple[Dict[str, str], Dict[str, str]]:
    """Separate and score ``todo`` (songs of ``run``); ``metrics``: ``(win_s, hop_s,
    check_stability, implementation)``. Returns ``({key: reason} skipped, {key: problem}
    failed)``; see :func:`_score_songs`."""
    win_s, hop_s, check_stability, implementation = metrics
    output_dir = run.output_dir
    return _score_songs(
        separator, run.instruments, todo, run.plan, output_dir, n_workers, progress,
        {"model": model, "setting": run.key},
        {"win_s": win_s, "hop_s": hop_s, "check_stability": check_stability,
         "implementation": implementation},
        (lambda track, estimates: write_estimates(output_dir, track, estimates, overwrite))
        if audio
        else None,
        record,
    )  # fmt: skip


def finish_run(
    run: EvaluationRun,
    skipped: Dict[str, str],
    broken: Dict[str, str],
    wall_s: float,
    model: str,
    n_workers: int,
    sample: Optional[Dict[str, Any]] = None,
) -> Evaluation:
    """Read every scored song's JSON; write results.csv, summary.json and sdr.png."""
    output_dir, tracks, usable, todo = run.output_dir, run.tracks, run.usable, run.todo
    failed = dict(run.failed, **broken)
    metrics_key = run.key["metrics"]
    scored = [t for t in usable if t.key not in skipped and t.key not in failed]
    if not scored and not failed:
        raise DataError(f"{output_dir}: no song could be scored ({next(iter(skipped.values()))})")
    scores = {track.key: _read_json(json_path(output_dir, track)) for track in scored}
    others = other_json_files(output_dir, [json_path(output_dir, t) for t in scored])
    if others:
        logger.warning(
            "%s: %d JSON file(s) not of this run's songs (%s%s); summary.json and the table leave"
            " them out, museval's EvalStore.add_eval_dir would count them",
            output_dir,
            len(others),
            ", ".join(others[:3]),
            ", ..." if len(others) > 3 else "",
        )
    summary_run = {
        "model": model,
        "workers": n_workers,
        "evaluated": len(todo) - len(skipped) - len(broken),
        "skipped": skipped,
        "failed": {t.key: failed[t.key] for t in tracks if t.key in failed},
        "resumed": len(run.resumed),
        "wall_s": round(wall_s, 3),
        "win_s": metrics_key["win_s"],
        "hop_s": metrics_key["hop_s"],
        "sample": dict(sample or {}),
        "setting": run.key,
        "other_json_files": others,
    }
    summary = summarize(scores, run.instruments, summary_run)
    songs = song_scores(scores)
    write_results_csv(output_dir / RESULTS_CSV, songs)
    write_summary_json(output_dir / SUMMARY_JSON, summary)
    plot_sdr(output_dir / SDR_PLOT, songs, title=f"SDR per song: {model}" if model else "")
    evaluated = [t.key for t in todo if t.key in scores]
    return Evaluation(
        output_dir, songs, summary, evaluated, run.resumed, skipped, summary_run["failed"], others
    )


def _refuse_undescribed_resume(separator, tracks: Sequence[Track], output_dir: Path) -> None:
    """DataError if a song of ``tracks`` already has scores in ``output_dir``: a separator that
    cannot say what defines its output can never tell that stored scores are its own."""
    stored = [json_path(output_dir, t) for t in tracks if json_path(output_dir, t).is_file()]
    if stored:
        more = f" (and {len(stored) - 1} more songs)" if len(stored) > 1 else ""
        raise DataError(
            f"{stored[0]}{more}: holds scores, and separator {type(separator).__name__} cannot"
            " tell what defines its output (no evaluation_setting()), so they cannot be resumed:"
            " pass overwrite=True to score again here, a new output_dir, or give the separator"
            " an evaluation_setting() method (or pass setting=)"
        )
