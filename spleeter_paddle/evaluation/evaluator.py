"""Evaluate a separator on songs: separate in this process, score in workers, write the reports.

The separator is anything with ``instruments``, ``sample_rate`` and ``separate(waveform)``
(``Separator``, ``OracleSeparator``). Songs whose JSON already exists are skipped (resume).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence, Union

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..errors import DataError
from .aggregate import song_scores, summarize
from .metrics import MetricsPool, TrackResult, parse_scores, read_extra, target_groups
from .report import plot_sdr, write_results_csv, write_summary_json, write_text
from .tracks import Track

logger = logging.getLogger(__name__)

RESULTS_CSV, SUMMARY_JSON, SDR_PLOT = "results.csv", "summary.json", "sdr.png"


@dataclass
class Evaluation:
    """The outcome: ``songs`` is ``results.csv``, ``summary`` is ``summary.json``."""

    output_dir: Path
    songs: pd.DataFrame
    summary: Dict[str, Any]
    evaluated: List[str]
    resumed: List[str]
    skipped: Dict[str, str]


def json_path(output_dir: Union[str, Path], track: Track) -> Path:
    """``<output_dir>/<subset>/<song>.json``, where ``museval.eval_mus_track`` writes it."""
    return Path(output_dir) / track.subset / f"{track.name}.json"


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


def _is_finished(path: Path, targets: Sequence[str], model: str) -> bool:
    if not path.is_file():
        return False
    scores = _read_json(path)
    if not set(targets) <= {target.get("name") for target in scores["targets"]}:
        logger.info("%s: lacks some of %s, evaluating again", path, ", ".join(targets))
        return False
    written_by = read_extra(scores).get("model")
    if model and written_by and written_by != model:
        logger.warning(
            "%s was written for model %s (pass --overwrite to redo it)", path, written_by
        )
    return True


def _separate(separator, track: Track) -> Dict[str, np.ndarray]:
    """Estimates ``{instrument: (n_samples, 2)}`` at ``track.rate``."""
    from ..audio.io import resample

    mixture = track.load_mixture()
    rate = int(getattr(separator, "sample_rate", track.rate))
    estimates = separator.separate(resample(mixture, track.rate, rate))
    if rate != track.rate:
        estimates = {
            name: resample(np.asarray(e), rate, track.rate) for name, e in estimates.items()
        }
    return estimates


def _score_songs(
    separator,
    todo: Sequence[Track],
    plan: Dict[str, List[str]],
    output_dir: Path,
    n_workers: int,
    n_songs: int,
    progress: bool,
    model: str,
    windows: Dict[str, float],
) -> Dict[str, str]:
    """Separate ``todo`` one by one here while workers score them; write each song's JSON.

    Returns ``{song key: reason}`` for the songs museval could not score.
    """
    by_key = {track.key: track for track in todo}
    skipped: Dict[str, str] = {}
    bar = tqdm(
        total=n_songs,
        initial=n_songs - len(todo),
        unit="song",
        desc="evaluate",
        disable=not progress,
    )

    def save(result: TrackResult) -> None:
        bar.update()
        if result.json_text is None:
            logger.warning("%s: not scored: %s", by_key[result.key].location, result.skipped)
            skipped[result.key] = result.skipped
            return
        write_text(json_path(output_dir, by_key[result.key]), result.json_text)
        logger.debug(
            "%s: separation %.2f s, metrics %.2f s",
            result.key,
            result.separation_s,
            result.metrics_s,
        )

    # No more workers than songs: on a resumed run with nothing left, none are started.
    with bar, MetricsPool(min(n_workers, len(todo))) as pool:
        for track in todo:
            began, started_at = time.perf_counter(), time.time()
            estimates = _separate(separator, track)
            separation_s = time.perf_counter() - began
            scored = {name: estimates[name] for name in plan[track.key]}
            extra = {"model": model, "separation_started_at": round(started_at, 3)}
            finished = pool.submit(track, scored, separation_s=separation_s, extra=extra, **windows)
            for result in finished:
                save(result)
        for result in pool.drain():
            save(result)
    return skipped


def evaluate(
    separator,
    tracks: Sequence[Track],
    output_dir: Union[str, Path],
    n_workers: int = 1,
    overwrite: bool = False,
    model: str = "",
    win_s: float = 1.0,
    hop_s: float = 1.0,
    progress: bool = True,
) -> Evaluation:
    """Separate and score ``tracks``; write per-song JSON, results.csv, summary.json, sdr.png.

    Args:
        separator: ``instruments``, ``sample_rate`` and ``separate((n, 2) float32) ->
            {instrument: (n, 2)}``; called once per song, in this process.
        n_workers: metrics processes (0: score in this process, for debugging).
        overwrite: score songs again even when their JSON exists.
        model: label stored in the JSON and summary.

    With ``n_workers > 0`` the workers are spawned processes: call this from a script under
    ``if __name__ == "__main__":``.
    """
    if not tracks:
        raise DataError(f"{output_dir}: no songs to evaluate")
    output_dir = Path(output_dir)
    instruments = list(separator.instruments)
    plan = {track.key: scored_targets(instruments, track) for track in tracks}
    todo = [
        t
        for t in tracks
        if overwrite or not _is_finished(json_path(output_dir, t), plan[t.key], model)
    ]
    resumed = [t.key for t in tracks if t not in todo]
    if resumed:
        logger.info(
            "%d of %d songs already scored in %s (resuming)", len(resumed), len(tracks), output_dir
        )
    start = time.perf_counter()
    windows = {"win_s": win_s, "hop_s": hop_s}
    skipped = _score_songs(
        separator, todo, plan, output_dir, n_workers, len(tracks), progress, model, windows
    )
    wall_s = time.perf_counter() - start

    scored = [track for track in tracks if track.key not in skipped]
    if not scored:
        raise DataError(f"{output_dir}: no song could be scored ({next(iter(skipped.values()))})")
    scores = {track.key: _read_json(json_path(output_dir, track)) for track in scored}
    run = {
        "model": model,
        "workers": n_workers,
        "evaluated": len(todo) - len(skipped),
        "skipped": skipped,
        "resumed": len(resumed),
        "wall_s": round(wall_s, 3),
        "win_s": win_s,
        "hop_s": hop_s,
    }
    summary = summarize(scores, instruments, run)
    songs = song_scores(scores)
    write_results_csv(output_dir / RESULTS_CSV, songs)
    write_summary_json(output_dir / SUMMARY_JSON, summary)
    plot_sdr(output_dir / SDR_PLOT, songs, title=f"SDR per song: {model}" if model else "")
    evaluated = [t.key for t in todo if t.key not in skipped]
    return Evaluation(output_dir, songs, summary, evaluated, resumed, skipped)
