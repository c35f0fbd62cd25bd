"""Evaluation outputs: ``results.csv``, ``summary.json``, ``sdr.png`` (each written atomically,
replacing only this tool's own) and the printed table."""

from __future__ import annotations

import json
import math
import os
from functools import partial
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import pandas as pd

from .. import ownership
from ..errors import ConfigurationError, DataError
from ..files import is_within
from ..logs import one_line
from ..ownership import write_file, write_text
from .aggregate import SONG_COLUMNS
from .layout import (
    AUDIO_DIRECTORY,
    METRICS_DIRECTORY,
    RESULTS_CSV,
    SDR_PLOT,
    SUMMARY_JSON,
    is_summary,
)
from .metrics import METRICS

# Written into sdr.png's PNG text chunks: how a later run knows the plot is its own.
PLOT_SOFTWARE = "spleeter-paddle evaluate"


def write_reports(output_dir: Path, songs: pd.DataFrame, summary: Dict[str, Any], model: str):
    """``results.csv`` (``songs``), ``summary.json`` (strict JSON) and ``sdr.png`` of ``model``."""
    csv = partial(songs.to_csv, index=False, float_format="%.5f")
    write_file(output_dir / RESULTS_CSV, csv)
    # Strict JSON: NaN and infinity become null (``infinite_frames`` tells them apart).
    strict = json.loads(json.dumps(summary), parse_constant=lambda _: None)
    write_text(output_dir / SUMMARY_JSON, json.dumps(strict, indent=2) + "\n")
    plot_sdr(output_dir / SDR_PLOT, songs, title=f"SDR per song: {model}" if model else "")


def plot_sdr(path: Union[str, Path], songs: pd.DataFrame, title: str = "") -> Path:
    """Box plot of the songs' SDR (median over frames) per target, as PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sdr = songs[songs["metric"] == "SDR"]
    targets = list(dict.fromkeys(sdr["target"]))
    values = [sdr[sdr["target"] == t]["score"].dropna().to_numpy() for t in targets]
    figure = Figure(figsize=(1.6 * max(2, len(targets)) + 1.5, 4.0))
    FigureCanvasAgg(figure)  # the Agg backend, without touching pyplot's global state
    axes = figure.add_subplot()
    if targets:
        axes.boxplot(values, showmeans=True)
        labels = [f"{t}\n({len(v)} songs)" for t, v in zip(targets, values)]
        axes.set_xticks(range(1, len(targets) + 1), labels)
    axes.set_ylabel("SDR (dB), median over frames")
    axes.set_title(title or "SDR per song")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    metadata = {"Software": PLOT_SOFTWARE}
    return write_file(
        path,
        lambda temporary: figure.savefig(temporary, format="png", dpi=100, metadata=metadata),
    )


def _foreign(path: Path) -> Optional[str]:
    """Why the report file ``path`` was not written by this tool (None if it was), by its own
    signature: a report file lies in a folder of the user's (``ownership``)."""
    try:
        if path.name == RESULTS_CSV:
            with open(path, encoding="utf-8") as stream:
                header = stream.readline(4096).rstrip("\r\n")
            problem = None if header == ",".join(SONG_COLUMNS) else "not our results.csv header"
        elif path.name == SUMMARY_JSON:
            summary = json.loads(path.read_text(encoding="utf-8"))
            problem = None if is_summary(summary) else "not an evaluation summary"
        else:
            from PIL import Image

            with Image.open(path) as image:
                software = image.info.get("Software")
            problem = None if software == PLOT_SOFTWARE else "not a plot made by an evaluation"
    except (OSError, ValueError, SyntaxError) as error:  # PIL's parsers raise SyntaxError too
        problem = f"unreadable as ours: {error.strerror if isinstance(error, OSError) else error}"
    return problem and f"exists and was not written by spleeter-paddle evaluate ({problem})"


def check_output_folder(
    output_dir: Union[str, Path],
    subsets: Iterable[str] = (),
    overwrite: bool = False,
    songs: Iterable[Union[str, Path]] = (),
) -> None:
    """Before anything is loaded or separated: ``output_dir`` must be a folder or creatable,
    and neither lie in one of the ``songs``' folders nor hold one (ConfigurationError
    otherwise: the report would be written among the songs); its ``metrics/<subset>`` and
    ``audio/<subset>`` folders inside it, and ``results.csv``, ``summary.json`` and ``sdr.png``
    there files this tool wrote, unless ``overwrite`` (DataError otherwise: nothing of the
    user's is replaced)."""
    if not str(output_dir):
        raise ConfigurationError("output folder is empty: give a folder name")
    output_dir = Path(output_dir)
    for song in songs:
        if Path(song).is_dir() and is_within(output_dir, song):
            raise ConfigurationError(
                f"output folder {output_dir} is inside (or is) the song folder {song}: the "
                "report would be written among its stems; choose a folder outside the songs"
            )
        if is_within(song, output_dir):  # a split or data folder: its report among the songs
            raise ConfigurationError(
                f"output folder {output_dir} holds the song {song}: the report would be written "
                "among the songs; choose a folder outside them"
            )
    blocker = ownership.non_folder(output_dir)
    if blocker is not None:
        raise ConfigurationError(
            f"output folder {output_dir} exists and is not a directory; give another folder"
            if blocker == output_dir
            else f"output folder {output_dir}: cannot create it ({blocker} is not a directory)"
        )
    if not output_dir.is_dir():
        return
    for folder in (
        output_dir / base / subset
        for subset in sorted(set(subsets))
        for base in ("", METRICS_DIRECTORY, AUDIO_DIRECTORY)
    ):
        if folder.exists() and not folder.is_dir():
            raise DataError(f"{folder}: exists and is not a directory; cannot write scores there")
        ownership.check_inside(folder, output_dir, DataError, str(folder))
    for name in (RESULTS_CSV, SUMMARY_JSON, SDR_PLOT):
        ownership.check_replaceable(
            output_dir / name, overwrite, _foreign, DataError, str(output_dir / name),
            "use --overwrite to replace it, or another -o folder",
        )  # fmt: skip


def other_json_files(output_dir: Path, ours: Iterable[Path]) -> List[str]:
    """``metrics/<subset>/.../*.json`` under ``output_dir`` other than ``ours`` (this run's
    songs), as paths relative to it: an earlier run's songs, which museval's
    ``EvalStore.add_eval_dir`` would count. They are the user's to keep or move, so they are
    only listed."""
    metrics_dir = output_dir / METRICS_DIRECTORY
    if not metrics_dir.is_dir() or metrics_dir.is_symlink():
        return []
    keep = {os.path.normpath(path) for path in ours}
    folders = sorted(p for p in metrics_dir.iterdir() if p.is_dir() and not p.is_symlink())
    return [
        path.relative_to(output_dir).as_posix()
        for folder in folders
        for path in sorted(folder.rglob("*.json"))
        if os.path.normpath(path) not in keep
    ]


def _cell(metrics: Dict[str, Any], metric: str, statistic: str) -> str:
    """``metric``'s ``statistic``, ``*`` when unstable (the song's flag, or some song's)."""
    if metric not in metrics:
        return "n/a "
    entry = metrics[metric]
    value = entry[statistic]
    if value is None or value != value:  # NaN
        text = "n/a"
    else:
        text = "inf" if math.isinf(value) else f"{value:.3f}"
    unstable = entry.get("unstable", False) or entry.get("unstable_songs", 0) > 0
    return text + ("*" if unstable else " ")


def _section(
    title: str, header: str, width: int, rows: List[Tuple[str, Dict[str, Any]]], statistic: str
) -> List[str]:
    """A block of the table: ``title``, ``header`` over the metrics, then a line of each
    ``(label, {metric: entry})``'s ``statistic``."""
    lines = [(header, [f"{m} " for m in METRICS])]
    lines += [(label, [_cell(metrics, m, statistic) for m in METRICS]) for label, metrics in rows]
    return ["", title] + [
        label.ljust(width) + "".join(c.rjust(10) for c in cells) for label, cells in lines
    ]


def _song_rows(per_song: Dict[str, Any]) -> List[str]:
    """Per song and target: the median over frames of each metric (names escaped, so that a
    song name cannot break the table or forge a line)."""
    rows = [
        (one_line(f"{song}  {target}"), metrics)
        for song, targets in per_song.items()
        for target, metrics in targets.items()
    ]
    if not rows:
        return []
    width = max(len(label) for label, _ in rows) + 2
    return _section("per song (median over frames)", "song  target", width, rows, "score")


def _notes(summary: Dict[str, Any]) -> List[str]:
    notes = []
    for target, metrics in summary["targets"].items():
        for metric in METRICS:
            entry = metrics[metric]
            if entry["infinite_frames"]:
                notes.append(
                    f"{target} {metric}: {entry['infinite_frames']} frame(s) infinite (estimate"
                    " equals reference); museval stores them as NaN and leaves them out"
                )
    for target, metrics in summary["targets"].items() if summary.get("stability") else {}:
        # windows re-scored with the references moved by one LSB, and those that moved
        counts = [f"{m} {metrics[m].get('windows_moved', 0)}" for m in METRICS if m in metrics]
        rescored = max(metrics[m].get("windows_rescored", 0) for m in METRICS if m in metrics)
        notes.append(
            f"stability check, {target}: {rescored} windows re-scored; moved by more than"
            f" the threshold: {', '.join(counts)}"
        )
    if any(m.get("unstable_songs") for t in summary["targets"].values() for m in t.values()):
        check = summary.get("stability") or {}
        notes.append(
            "* numerically unstable: the song's value moves by more than"
            f" {check.get('threshold_db', 0.1):g} dB when every reference sample moves by one"
            " 16-bit LSB; not a property of the separation, do not compare it"
        )
    for name, reason in summary.get("unscored", {}).items():
        notes.append(f"{name}: not scored ({reason})")
    for song, reason in summary.get("run", {}).get("skipped", {}).items():
        notes.append(f"song {song}: not scored ({reason})")
    for song, problem in summary.get("failed", {}).items():
        notes.append(f"song {song}: FAILED, not scored ({problem})")
    others = summary.get("other_json_files", [])
    if others:
        listed = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        notes.append(
            f"{len(others)} JSON file(s) in the output folder are not of these songs ({listed};"
            ' all in summary.json "other_json_files"): left out here, but museval\'s'
            " EvalStore.add_eval_dir would count them"
        )
    return notes


def _sample_line(sample: Dict[str, Any]) -> List[str]:
    if not sample or sample.get("selected") == sample.get("of"):
        return []
    return [
        f"sample: {sample['selected']} of {sample['of']} songs drawn at random (fraction"
        f" {sample['fraction']:g}, seed {sample['seed']}): {', '.join(sample['songs'])}"
    ]


def _timing_lines(summary: Dict[str, Any]) -> List[str]:
    lines = []
    seconds = summary.get("seconds_per_song", {})
    run = summary.get("run", {})
    if "total" in seconds:
        total = seconds["total"]
        lines.append(
            f"seconds per song: min {total['min']:.3f}  mean {total['mean']:.3f}"
            f"  max {total['max']:.3f}  (separation {seconds['separation']['mean']:.3f}"
            f" + metrics {seconds['metrics']['mean']:.3f} on average)"
        )
    if run.get("wall_s") is not None and run.get("evaluated"):
        lines.append(
            f"this run: {run['evaluated']} song(s) in {run['wall_s']:.1f} s wall with"
            f" {run['workers']} metrics worker(s) ({run['wall_s'] / run['evaluated']:.3f} s per"
            f" song); {run.get('resumed', 0)} resumed from earlier runs"
        )
    return lines


def format_table(summary: Dict[str, Any]) -> str:
    """The console table: per target SDR/SIR/SAR/ISR (median and mean over songs), per song,
    the sample drawn, failed songs, unstable metrics (``*``) and seconds. Names are printed
    escaped (``logs.one_line``), as in the log lines. ValueError if ``summary`` is not an
    evaluation summary."""
    if not isinstance(summary, dict) or not {"targets", "songs"} <= set(summary):
        what = (
            f"a dict with keys {sorted(summary)[:6]}"
            if isinstance(summary, dict)
            else repr(summary)
        )
        raise ValueError(
            "summary must be an evaluation summary (Evaluation.summary, or summary.json read"
            f" back), got {what[:200]}"
        )
    targets = summary["targets"]
    n_songs = len(summary["songs"])
    width = max([len("target")] + [len(t) for t in targets]) + 2
    run = summary.get("run", {})
    lines = [
        f"museval BSSEval v4, {run.get('win_s', 1.0):g} s windows, {run.get('hop_s', 1.0):g} s hop:"
        f" median over frames, then over {n_songs} song" + ("s" if n_songs != 1 else "")
    ]
    lines += _sample_line(summary.get("sample", {}))
    for statistic in ("median", "mean"):
        rows = list(targets.items())
        lines += _section(f"{statistic} over songs", "target", width, rows, statistic)
    lines += _song_rows(summary.get("per_song", {}))
    timing = _timing_lines(summary)
    lines += [""] + timing if timing else []
    notes = _notes(summary)
    lines += [""] + [f"note: {note}" for note in notes] if notes else []
    # Song names and problems come from file names: every line stays one line.
    return "\n".join(one_line(line) for line in lines)
