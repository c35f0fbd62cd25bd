"""Per-song museval JSON -> per-song scores and per-target summaries, as museval's ``EvalStore``:
median over frames (NaN frames left out), then median (and mean) over songs."""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from .metrics import METRICS, read_extra
from .tracks import target_sort_key

SONG_COLUMNS = [
    "subset",
    "track",
    "target",
    "metric",
    "score",
    "frames",
    "infinite_frames",
    "unstable",
    "windows_rescored",
    "windows_moved",
]


def frame_scores(scores: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Long table (subset, track, target, metric, time, score; NaN kept) of the frame values of
    ``{"subset/name": museval JSON dict}``."""
    rows = []
    for key, song in scores.items():
        subset, _, name = key.partition("/")
        for target in song["targets"]:
            for frame in target["frames"]:
                for metric in METRICS:
                    value = frame["metrics"].get(metric)
                    score = math.nan if value is None else float(value)
                    rows.append((subset, name, target["name"], metric, frame["time"], score))
    return pd.DataFrame(rows, columns=["subset", "track", "target", "metric", "time", "score"])


def song_scores(scores: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per song, target and metric: the median over frames (``results.csv``).

    ``frames`` counts the frames with a value; ``infinite_frames`` those whose value was
    infinite (estimate equal to reference), which museval stores as NaN; ``unstable`` is the
    stability check's flag, ``windows_rescored``/``windows_moved`` its window counts (see
    ``stability``).
    """
    frames = frame_scores(scores)
    if frames.empty:
        return pd.DataFrame(columns=SONG_COLUMNS)
    grouped = frames.groupby(["subset", "track", "target", "metric"], sort=False)["score"]
    table = grouped.agg(score="median", frames="count").reset_index()
    columns: Dict[str, List[Any]] = {name: [] for name in SONG_COLUMNS[6:]}
    for row in table.itertuples(index=False):
        extra = read_extra(scores[f"{row.subset}/{row.track}"])
        infinite = extra.get("infinite_frames", {}).get(row.target, {}).get(row.metric, 0)
        check = extra.get("stability", {}).get(row.target, {}).get(row.metric, {})
        columns["infinite_frames"].append(int(infinite))
        columns["unstable"].append(bool(check.get("unstable", False)))
        for name in ("windows_rescored", "windows_moved"):
            columns[name].append(int(check.get(name, 0)))
    return _sorted(table.assign(**columns))[SONG_COLUMNS]


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    """Rows by subset, song, target (report order) and metric (SDR, SIR, SAR, ISR)."""
    order = table.assign(
        _target=table["target"].map(target_sort_key), _metric=table["metric"].map(METRICS.index)
    )
    order = order.sort_values(["subset", "track", "_target", "_metric"])
    return order.drop(columns=["_target", "_metric"]).reset_index(drop=True)


def target_summary(songs: pd.DataFrame) -> Dict[str, Dict[str, Dict[str, Any]]]:
    """``{target: {metric: {median, mean, songs, frames, infinite_frames, unstable_songs,
    windows_rescored, windows_moved}}}``.

    ``median``/``mean`` are over the songs' frame medians, NaN songs left out (None if no song
    has a value). When every frame was infinite, ``median``/``mean`` are ``inf``.
    """
    summary: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for target in sorted(songs["target"].unique(), key=target_sort_key):
        summary[target] = {}
        for metric in METRICS:
            rows = songs[(songs["target"] == target) & (songs["metric"] == metric)]
            values = rows["score"].astype(float)
            infinite = int(rows["infinite_frames"].sum())
            frames = int(rows["frames"].sum())
            if values.notna().any():
                median, mean = float(values.median()), float(values.mean())
            elif infinite > 0 and frames == 0:
                median = mean = math.inf
            else:
                median = mean = math.nan
            summary[target][metric] = {
                "median": median,
                "mean": mean,
                "songs": int(values.notna().sum()),
                "frames": frames,
                "infinite_frames": infinite,
                "unstable_songs": int(rows["unstable"].sum()),
                "windows_rescored": int(rows["windows_rescored"].sum()),
                "windows_moved": int(rows["windows_moved"].sum()),
            }
    return summary


def seconds_per_song(scores: Iterable[Mapping[str, Any]]) -> Dict[str, Dict[str, float]]:
    """min/mean/max of separation, metrics and total seconds over songs that recorded them."""
    timings: Dict[str, List[float]] = {"total": [], "separation": [], "metrics": []}
    for song in scores:
        extra = read_extra(song)
        if "separation_s" in extra and "metrics_s" in extra:
            separation, metrics = float(extra["separation_s"]), float(extra["metrics_s"])
            timings["separation"].append(separation)
            timings["metrics"].append(metrics)
            timings["total"].append(separation + metrics)
    return {
        name: {"min": min(v), "mean": float(np.mean(v)), "max": max(v), "songs": len(v)}
        for name, v in timings.items()
        if v
    }


def summarize(
    scores: Mapping[str, Mapping[str, Any]],
    instruments: Sequence[str] = (),
    run: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """The content of ``summary.json`` for ``{"subset/name": museval JSON dict}``.

    ``per_song`` holds each song's median over frames and its stability flag; ``failed`` the
    songs that could not be read (never scored); ``sample`` how the songs were drawn.
    """
    songs = song_scores(scores)
    targets = target_summary(songs) if not songs.empty else {}
    unscored = {name: "no reference in the dataset" for name in instruments if name not in targets}
    run = dict(run or {})
    return {
        "museval": {"mode": "v4", "frames": "median", "songs": "median and mean"},
        "songs": list(scores),
        "targets": targets,
        "per_song": per_song(songs),
        "unscored": unscored,
        "failed": dict(run.get("failed", {})),
        "sample": dict(run.get("sample", {})),
        "stability": run.get("setting", {}).get("metrics", {}).get("stability"),
        "seconds_per_song": seconds_per_song(scores.values()),
        "other_json_files": list(run.get("other_json_files", [])),
        "run": run,
    }


def per_song(songs: pd.DataFrame) -> Dict[str, Dict[str, Dict[str, Dict[str, Any]]]]:
    """``{"subset/song": {target: {metric: {score, unstable}}}}`` from :func:`song_scores`."""
    table: Dict[str, Dict[str, Dict[str, Dict[str, Any]]]] = {}
    for row in songs.itertuples(index=False):
        targets = table.setdefault(f"{row.subset}/{row.track}", {})
        entry = {"score": float(row.score), "unstable": bool(row.unstable)}
        targets.setdefault(row.target, {})[row.metric] = entry
    return table
