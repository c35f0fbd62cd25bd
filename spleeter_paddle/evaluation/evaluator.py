"""Evaluate a separator on songs: separate in this process, score in workers, write the reports
(:func:`evaluate`)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import pandas as pd
from tqdm import tqdm

from ..errors import DataError, SpleeterError
from ..ownership import write_text
from ..separation.protocol import Separating
from .aggregate import song_scores, summarize
from .contract import check_arguments, check_separator, separate_track
from .layout import json_path, write_estimates
from .metrics import MetricsPool, TrackResult
from .planning import EvaluationRun, fail_song, prepare_run, read_scores
from .report import other_json_files, write_reports
from .setting import metric_setting, separator_setting, track_source
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


def score_songs(
    separator: Any,
    run: EvaluationRun,
    n_workers: int,
    model: str,
    audio: bool,
    overwrite: bool,
    progress: Dict[str, Any],
    record: Optional[Callable[[Dict[str, Any]], None]] = None,
) -> Tuple[Dict[str, str], Dict[str, str]]:
    """Separate the songs ``run`` has to do one by one here while workers score them; write
    each song's JSON (and, with ``audio``, its separated stems) with the metrics of ``run.key``;
    ``record({"name": song key, "outcome": "scored" | "skipped" | "failed", "reason": ...})``
    is told each song's outcome.

    Returns ``({song key: reason} museval could not score, {song key: problem} failed)``.
    """
    key = run.key["metrics"]
    windows = {name: key[name] for name in ("win_s", "hop_s", "implementation")}
    windows["check_stability"] = key["stability"] is not None
    extra = {"model": model, "setting": run.key}
    by_key = {track.key: track for track in run.todo}
    skipped: Dict[str, str] = {}
    failed: Dict[str, str] = {}
    bar = tqdm(unit="song", desc="evaluate", **progress)
    record = record or (lambda outcome: None)

    def save(result: TrackResult) -> None:
        bar.update()
        track = by_key[result.key]
        if result.failed:
            fail_song(failed, track, result.failed)
        elif result.json_text is None:
            logger.warning("%s: not scored: %s", track.location, result.skipped)
            skipped[result.key] = result.skipped
        else:
            write_text(json_path(run.output_dir, track), result.json_text)
        outcome = "failed" if result.failed else "scored" if result.json_text else "skipped"
        reason = result.failed or result.skipped or None
        record({"name": track.key, "outcome": outcome, "reason": reason})

    # No more workers than songs: on a resumed run with nothing left, none are started.
    with bar, MetricsPool(min(n_workers, len(run.todo))) as pool:
        for track in run.todo:
            try:
                # Recorded as read now: the files may have changed since the plan was made.
                source = track_source(track)
                began, started_at = time.perf_counter(), time.time()
                estimates = separate_track(separator, run.instruments, track)
                if audio:
                    write_estimates(run.output_dir, track, estimates, overwrite)
            except (SpleeterError, OSError, ValueError) as error:
                save(TrackResult(track.key, None, failed=str(error)))
                continue
            separation_s = time.perf_counter() - began
            scored = {name: estimates[name] for name in run.plan[track.key]}
            song_extra = dict(extra, source=source, separation_started_at=round(started_at, 3))
            for result in pool.submit(
                track, scored, separation_s=separation_s, extra=song_extra, **windows
            ):
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
    separating anything when stored scores in ``output_dir`` were made with another setting, or
    when its report files were not written by this tool (unless ``overwrite``);
    ConfigurationError when ``output_dir`` is not a folder. With ``n_workers > 0`` the workers
    are spawned processes: call this from a script under ``if __name__ == "__main__":``.
    """
    instruments = check_separator(separator)
    check_arguments(
        tracks,
        output_dir,
        n_workers,
        overwrite=overwrite,
        progress=progress,
        check_stability=check_stability,
        audio=audio,
        win_s=win_s,
        hop_s=hop_s,
        metrics=metrics,
        model=model,
        setting=setting,
        sample=sample,
    )
    described = setting if setting is not None else separator_setting(separator)
    run = prepare_run(
        instruments, tracks, output_dir, described, overwrite,
        metric_setting(win_s, hop_s, check_stability, metrics), separator,
    )  # fmt: skip
    start = time.perf_counter()
    bar = {"total": len(run.usable), "initial": len(run.resumed), "disable": not progress}
    skipped, broken = score_songs(separator, run, n_workers, model, audio, overwrite, bar)
    return finish_run(run, skipped, broken, time.perf_counter() - start, model, n_workers, sample)


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
    scores = {track.key: read_scores(json_path(output_dir, track)) for track in scored}
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
    write_reports(output_dir, songs, summary, model)
    evaluated = [t.key for t in todo if t.key in scores]
    return Evaluation(
        output_dir, songs, summary, evaluated, run.resumed, skipped, summary_run["failed"], others
    )
