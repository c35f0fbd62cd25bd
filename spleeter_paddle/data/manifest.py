"""Dataset folders -> Spleeter manifest CSVs (``mix_path``, ``<instrument>_path``, ``duration``).

Scans ``dataset/<split>/<song>/`` (or the seed's flat ``dataset/<song>/``), checks every song
with the rule of ``data.stems`` (one file per stem, readable, the mixture's sample rate and
length, at least one STFT frame; evaluate applies the same), reports bad ones, splits
train/validation and writes the CSVs the configuration names.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from .. import options
from ..errors import AudioError, ConfigurationError, DataError
from ..files import write_atomic
from .stems import AUDIO_EXTENSIONS, song_problem, stem_file, stem_names

logger = logging.getLogger(__name__)

SPLIT_NAMES = {"train": "train", "test": "test", "valid": "validation", "validation": "validation"}
# The 14 standard MUSDB18 validation tracks (musdb's mus.yaml, Spleeter's musdb_validation.csv).
MUSDB_VALIDATION_TRACKS = frozenset(
    [
        "Actions - One Minute Smile",
        "Clara Berry And Wooldog - Waltz For My Victims",
        "Johnny Lokke - Promises & Lies",
        "Patrick Talbot - A Reason To Leave",
        "Triviul - Angelsaint",
        "Alexander Ross - Goodbye Bolero",
        "Fergessen - Nos Palpitants",
        "Leaf - Summerghost",
        "Skelpolu - Human Mistakes",
        "Young Griffo - Pennies",
        "ANiMAL - Rockshow",
        "James May - On The Line",
        "Meaxic - Take A Step",
        "Traffic Experiment - Sirens",
    ]
)


@dataclass
class Song:
    """One song folder: ``name``, ``split`` (train/validation/test) and its directory."""

    name: str
    split: str
    directory: Path


@dataclass
class SongInfo:
    """A checked song: stem paths relative to the dataset root, common length and rate."""

    name: str
    split: str
    paths: Dict[str, str]
    n_samples: int
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate


@dataclass
class ManifestReport:
    """What :func:`build_manifests` wrote: rows per manifest, skipped songs with reasons."""

    manifests: Dict[str, List[SongInfo]] = field(default_factory=dict)
    paths: Dict[str, Path] = field(default_factory=dict)
    skipped: List[Tuple[str, str]] = field(default_factory=list)

    def summary_lines(self) -> List[str]:
        """Human-readable statistics like the seed README (count, min/max/mean length)."""
        lines = []
        for name, songs in self.manifests.items():
            where = f" -> {self.paths[name]}" if name in self.paths else ""
            if not songs:
                lines.append(f"{name}: 0 songs{where}")
                continue
            samples = np.array([song.n_samples for song in songs], dtype=np.float64)
            seconds = np.array([song.duration_s for song in songs])
            lines.append(
                f"{name}: {len(songs)} songs{where}; length in samples min {int(samples.min())}, "
                f"max {int(samples.max())}, mean {samples.mean():.3f}; in seconds min "
                f"{seconds.min():.2f}, max {seconds.max():.2f}, mean {seconds.mean():.2f}, "
                f"total {seconds.sum() / 60:.1f} min"
            )
        lines.append(f"skipped: {len(self.skipped)} songs")
        lines.extend(f"  skipped {song}: {reason}" for song, reason in self.skipped)
        return lines


def _has_audio(directory: Path) -> bool:
    return any(p.suffix.lower() in AUDIO_EXTENSIONS for p in directory.iterdir() if p.is_file())


def discover_songs(dataset_dir: Union[str, Path]) -> List[Song]:
    """Song folders of ``dataset/<split>/<song>/`` or, without split folders, ``dataset/<song>/``."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise DataError(f"{root}: dataset directory not found (run downloadMusdb.py first)")
    songs: List[Song] = []
    split_layout = False
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        split = SPLIT_NAMES.get(split_dir.name.lower())
        if split is None or _has_audio(split_dir):
            continue
        song_dirs = [p for p in sorted(split_dir.iterdir()) if p.is_dir() and _has_audio(p)]
        if song_dirs:
            split_layout = True
            songs.extend(Song(p.name, split, p) for p in song_dirs)
    if not split_layout:
        songs = [
            Song(p.name, "train", p) for p in sorted(root.iterdir()) if p.is_dir() and _has_audio(p)
        ]
    if not songs:
        raise DataError(f"{root}: no song folders with audio files found")
    return songs


def probe_audio(path: Path) -> Tuple[int, int]:
    """``(n_samples, sample_rate)`` of an audio file; raises :class:`AudioError` naming it."""
    from ..audio.io import audio_info, load

    info = audio_info(path)
    if info.n_samples is None:  # ffmpeg-only formats: only decoding tells the exact length
        waveform, _ = load(path)
        return int(waveform.shape[0]), int(info.sample_rate)
    if info.n_samples == 0:
        raise AudioError(f"{path}: contains no audio samples")
    return int(info.n_samples), int(info.sample_rate)


def check_song(
    song: Song, dataset_dir: Path, stems: Sequence[str], params: Dict
) -> Tuple[Optional[SongInfo], Optional[str]]:
    """Check one song against the configuration; returns ``(info, None)`` or ``(None, reason)``."""
    paths: Dict[str, Path] = {}
    for stem in ["mixture", *stems]:
        try:
            path = stem_file(song.directory, stem)
        except DataError as error:
            return None, str(error)
        if path is None:
            names = "/".join(name + ".wav" for name in stem_names(stem))
            return None, f"missing stem '{stem}' (no {names} in {song.directory})"
        paths[stem] = path
    probes = {}
    for path in paths.values():
        try:
            probes[path] = probe_audio(path)
        except AudioError as error:
            return None, str(error)
    # Songs shorter than T frames are kept: their chunks are zero-padded to T when loaded (the
    # loss is zero on the padding); a song without one full STFT frame has nothing to learn.
    problem = song_problem(probes, params["frame_length"], params["sample_rate"])
    if problem is not None:
        return None, problem
    n_samples, sample_rate = probes[paths["mixture"]]
    relative = {stem: os.path.relpath(path, dataset_dir) for stem, path in paths.items()}
    return SongInfo(song.name, song.split, relative, n_samples, sample_rate), None


def split_validation(
    songs: List[SongInfo], validation_fraction: float, seed: int
) -> Tuple[List[SongInfo], List[SongInfo]]:
    """Train songs -> (train, validation): MUSDB's 14 validation tracks if any name matches,
    else a seeded random ``validation_fraction`` (at least one song when there are two or more)."""
    by_name = [song for song in songs if song.name in MUSDB_VALIDATION_TRACKS]
    if by_name:
        chosen = {song.name for song in by_name}
    else:
        count = int(round(validation_fraction * len(songs)))
        count = max(count, 1 if len(songs) >= 2 and validation_fraction > 0 else 0)
        order = np.random.default_rng(seed).permutation(len(songs))
        chosen = {songs[i].name for i in order[:count]}
    return (
        [song for song in songs if song.name not in chosen],
        [song for song in songs if song.name in chosen],
    )


def write_manifest(
    songs: Sequence[SongInfo],
    path: Union[str, Path],
    instruments: Sequence[str],
    mix_name: str = "mix",
) -> Path:
    """Write a Spleeter CSV atomically: ``<mix_name>_path``, ``<instrument>_path``..., ``duration``
    (seconds, 6 decimals), plus ``sample_rate`` and ``n_samples`` (ignored by Spleeter)."""
    rows = []
    for song in songs:
        row = {f"{mix_name}_path": song.paths["mixture"]}
        row.update({f"{name}_path": song.paths[name] for name in instruments})
        row.update(
            duration=round(song.duration_s, 6),
            sample_rate=song.sample_rate,
            n_samples=song.n_samples,
        )
        rows.append(row)
    columns = [
        f"{mix_name}_path",
        *(f"{n}_path" for n in instruments),
        "duration",
        "sample_rate",
        "n_samples",
    ]
    table = pd.DataFrame(rows, columns=columns)
    return write_atomic(
        path, lambda temporary: table.to_csv(temporary, index=False, float_format="%.6f")
    )


def check_own_manifest(path: Union[str, Path]) -> None:
    """DataError unless ``path`` is absent or a manifest this module wrote (its header:
    ``*_path`` columns, then ``duration,sample_rate,n_samples``): nothing else is replaced."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    header = ""
    if path.is_file():
        try:
            with open(path, encoding="utf-8", errors="replace") as stream:
                header = stream.readline().strip()
        except OSError as error:
            raise DataError(f"{path}: cannot read ({error.strerror or error})") from None
    *paths, duration, rate, count = (
        header.split(",") if header.count(",") >= 3 else ["", "", "", ""]
    )
    ours = [duration, rate, count] == ["duration", "sample_rate", "n_samples"] and all(
        column.endswith("_path") for column in paths
    )
    if not ours:
        raise DataError(
            f"{path}: exists and was not written by preprocess; not replacing it (set train_csv "
            "/ validation_csv in the configuration to other paths)"
        )


def split_manifest_path(train_csv: Union[str, Path], split: str = "test") -> Path:
    """Where another split's manifest goes: ``train`` in the CSV name replaced by ``split``."""
    path = Path(train_csv)
    if "train" in path.name:
        return path.with_name(path.name.replace("train", split))
    return path.with_name(f"{path.stem}_{split}.csv")


def build_manifests(
    params: Dict,
    dataset_dir: Union[str, Path] = "dataset",
    validation_fraction: float = 0.14,
    seed: Optional[int] = None,
    show_progress: bool = True,
) -> ManifestReport:
    """Scan ``dataset_dir`` and write ``params['train_csv']`` / ``params['validation_csv']``
    (and a test CSV next to them when a ``test`` split exists). A bad song gets one
    ``ERROR <split>/<song>: <problem>`` line and is left out (``report.skipped``).
    """
    from tqdm import tqdm

    try:
        validation_fraction = options.validation_fraction(validation_fraction)
    except ValueError as error:
        raise ConfigurationError(f"validation_fraction {error}") from None
    dataset_dir = Path(dataset_dir)
    instruments = list(params["instrument_list"])
    seed = params.get("random_seed", 0) if seed is None else seed
    targets = {"train": params["train_csv"], "validation": params["validation_csv"]}
    targets["test"] = split_manifest_path(params["train_csv"], "test")
    for csv_path in targets.values():
        check_own_manifest(csv_path)  # before any song is read
    report = ManifestReport()
    checked: Dict[str, List[SongInfo]] = {"train": [], "validation": [], "test": []}
    songs = discover_songs(dataset_dir)
    for song in tqdm(songs, desc="checking songs", unit="song", disable=not show_progress):
        info, reason = check_song(song, dataset_dir, instruments, params)
        if info is None:
            label = f"{song.split}/{song.name}"
            logger.error("ERROR %s: %s", label, reason)
            report.skipped.append((label, reason))
        else:
            checked[song.split].append(info)
    if not checked["validation"]:
        checked["train"], checked["validation"] = split_validation(
            checked["train"], validation_fraction, seed
        )
    if not checked["train"]:
        raise DataError(f"{dataset_dir}: no usable training songs ({len(report.skipped)} skipped)")
    if not checked["test"]:
        del targets["test"]
    for name, csv_path in targets.items():
        report.manifests[name] = checked[name]
        report.paths[name] = write_manifest(
            checked[name], csv_path, instruments, params["mix_name"]
        )
    for line in report.summary_lines():
        logger.debug(line)
    return report


def read_manifest(path: Union[str, Path], params: Dict) -> pd.DataFrame:
    """Read a manifest CSV and check it has the columns ``params`` needs (names the missing one)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: manifest not found (run preprocess.py first)")
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: unreadable manifest ({error})") from None
    needed = [
        f"{params['mix_name']}_path",
        *(f"{n}_path" for n in params["instrument_list"]),
        "duration",
    ]
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise DataError(f"{path}: manifest lacks column(s) {', '.join(missing)}")
    return frame


@dataclass
class ManifestRow:
    """One checked manifest line: the song's name, its line, stem paths (mix first), duration."""

    song: str
    line: int
    paths: List[str]
    duration_s: float


# A manifest's duration may be rounded (6 decimals here, any in a hand-made file): this much is
# tolerated between it and n_samples / sample_rate.
DURATION_TOLERANCE_S = 1e-3


class _RowError(ValueError):
    def __init__(self, song: str, problem: str):
        super().__init__(problem)
        self.song = song


def _positive(text: Optional[str], name: str, whole: bool, fail) -> float:
    try:
        value = float(text) if not whole else int(text)
    except (TypeError, ValueError):
        kind = "a whole number" if whole else "a number"
        fail(f"{name} {text!r} is not {kind}")
    if not math.isfinite(value) or value <= 0:
        fail(f"{name} {text!r} must be finite and > 0")
    return value


def _check_row(
    record: Mapping[Optional[str], Optional[str]], columns: Sequence[str], path: Path, line: int
) -> ManifestRow:
    """One CSV record -> :class:`ManifestRow`; :class:`_RowError` naming the bad field."""
    mix = record.get(columns[0]) or ""
    song = Path(mix).parent.name or mix or f"line {line}"

    def fail(problem: str):
        raise _RowError(song, f"manifest {path} line {line}: {problem}")

    if record.get(None):
        fail("more fields than the header names")
    paths = []
    for column in columns:
        value = record.get(column)
        if not value or not value.strip():
            fail(f"{column} is empty")
        if "\0" in value:
            fail(f"{column} holds a NUL character")
        paths.append(value)
    duration = _positive(record.get("duration"), "duration", False, fail)
    whole = {}
    for name in ("sample_rate", "n_samples"):
        if name in record:
            whole[name] = _positive(record[name], name, True, fail)
    if len(whole) == 2 and abs(whole["n_samples"] / whole["sample_rate"] - duration) > (
        DURATION_TOLERANCE_S
    ):
        fail(
            f"duration {duration} s disagrees with n_samples / sample_rate "
            f"({whole['n_samples']} / {whole['sample_rate']})"
        )
    return ManifestRow(song, line, paths, duration)


def manifest_rows(
    path: Union[str, Path], params: Dict
) -> Tuple[List[ManifestRow], List[Tuple[str, str]]]:
    """The songs of a manifest CSV, every field checked: ``(rows, [(song, problem)])``.

    A path column must be non-empty, ``duration`` a finite number > 0, ``sample_rate`` and
    ``n_samples`` (when present) whole numbers > 0 agreeing with it; a song listed twice is a
    problem of the second line. Each problem names the file and line. :class:`DataError` when
    the file is missing, unreadable, or lacks a column ``params`` needs.
    """
    path = Path(path)
    columns = [f"{params['mix_name']}_path", *(f"{n}_path" for n in params["instrument_list"])]
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            header = reader.fieldnames or []
            records = [(reader.line_num, record) for record in reader]
    except FileNotFoundError:
        raise DataError(f"{path}: manifest not found (run preprocess.py first)") from None
    except (OSError, ValueError, csv.Error) as error:
        raise DataError(f"{path}: unreadable manifest ({error})") from None
    missing = [column for column in [*columns, "duration"] if column not in header]
    if missing:
        raise DataError(f"{path}: manifest lacks column(s) {', '.join(missing)}")
    rows: List[ManifestRow] = []
    problems: List[Tuple[str, str]] = []
    seen: Dict[Tuple[str, ...], int] = {}
    for line, record in records:
        try:
            row = _check_row(record, columns, path, line)
        except _RowError as error:
            problems.append((error.song, str(error)))
            continue
        first = seen.setdefault(tuple(row.paths), line)
        if first != line:
            problems.append(
                (row.song, f"manifest {path} line {line}: the same song as line {first}")
            )
            continue
        rows.append(row)
    return rows, problems
