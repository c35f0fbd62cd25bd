"""Spleeter manifest CSVs: writing them, recognising one this tool wrote, reading one back with
every field checked (a bad line is a problem of its song, never a traceback).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import pandas as pd

from ..errors import DataError
from ..ownership import check_replaceable, write_file

if TYPE_CHECKING:
    from .manifest import SongInfo


def write_manifest(
    songs: Sequence[SongInfo],
    path: Union[str, Path],
    instruments: Sequence[str],
    mix_name: str = "mix",
) -> Path:
    """Write a Spleeter CSV atomically: ``<mix_name>_path``, ``<instrument>_path``..., ``duration``
    (seconds, 6 decimals), plus ``sample_rate`` and ``n_samples`` (ignored by Spleeter)."""
    columns = [f"{name}_path" for name in (mix_name, *instruments)]
    columns += ["duration", "sample_rate", "n_samples"]
    rows = [
        [song.paths[name] for name in ("mixture", *instruments)]
        + [round(song.duration_s, 6), song.sample_rate, song.n_samples]
        for song in songs
    ]
    table = pd.DataFrame(rows, columns=columns)
    return write_file(
        path, lambda temporary: table.to_csv(temporary, index=False, float_format="%.6f")
    )


def check_own_manifest(path: Union[str, Path]) -> None:
    """DataError unless ``path`` is absent or a manifest this module wrote (its header:
    ``*_path`` columns, then ``duration,sample_rate,n_samples``): nothing else is replaced."""
    remedy = "set train_csv / validation_csv in the configuration to other paths"
    check_replaceable(path, False, _foreign_manifest, DataError, f"{path}:", remedy)


def _foreign_manifest(path: Path) -> Optional[str]:
    with open(path, encoding="utf-8", errors="replace") as stream:
        header = stream.readline().strip()
    columns = header.split(",")
    ours = len(columns) > 3 and columns[-3:] == ["duration", "sample_rate", "n_samples"]
    ours = ours and all(column.endswith("_path") for column in columns[:-3])
    return None if ours else "exists and was not written by preprocess"


def split_manifest_path(train_csv: Union[str, Path], split: str = "test") -> Path:
    """Where another split's manifest goes: ``train`` in the CSV name replaced by ``split``."""
    path = Path(train_csv)
    if "train" in path.name:
        return path.with_name(path.name.replace("train", split))
    return path.with_name(f"{path.stem}_{split}.csv")


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


def _positive(text: Optional[str], name: str, whole: bool) -> float:
    try:
        value = float(text) if not whole else int(text)
    except (TypeError, ValueError):
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"{name} {text!r} is not {kind}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} {text!r} must be finite and > 0")
    return value


def _check_row(
    record: Mapping[Optional[str], Optional[str]], columns: Sequence[str], song: str, line: int
) -> ManifestRow:
    """One CSV record of ``song`` -> :class:`ManifestRow`; ValueError naming the bad field."""
    if record.get(None):
        raise ValueError("more fields than the header names")
    for column in columns:
        value = record.get(column)
        if not value or not value.strip():
            raise ValueError(f"{column} is empty")
        if "\0" in value:
            raise ValueError(f"{column} holds a NUL character")
    duration = _positive(record.get("duration"), "duration", False)
    rate, count = (
        _positive(record[name], name, True) if name in record else None
        for name in ("sample_rate", "n_samples")
    )
    if rate and count and abs(count / rate - duration) > DURATION_TOLERANCE_S:
        raise ValueError(
            f"duration {duration} s disagrees with n_samples / sample_rate ({count} / {rate})"
        )
    return ManifestRow(song, line, [record[column] for column in columns], duration)


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
        mix = record.get(columns[0]) or ""
        song = Path(mix).parent.name or mix or f"line {line}"
        try:
            row = _check_row(record, columns, song, line)
            first = seen.setdefault(tuple(row.paths), line)
            if first != line:
                raise ValueError(f"the same song as line {first}")
        except ValueError as error:
            problems.append((song, f"manifest {path} line {line}: {error}"))
            continue
        rows.append(row)
    return rows, problems
