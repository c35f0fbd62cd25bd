"""Dataset folders -> Spleeter manifest CSVs: the songs of ``dataset/<split>/<song>/`` (or the
seed's ``dataset/<song>/``), each checked by the rule of ``data.stems``, split train/validation
and written where the configuration says."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import options
from ..errors import ConfigurationError, DataError
from .manifest_csv import check_own_manifest, split_manifest_path, write_manifest
from .stems import audio_files, probe_song, stem_file, stem_names

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
        for name, songs in self.manifests.items():  # build_manifests sets both for each name
            lines.append(f"{name}: {len(songs)} songs -> {self.paths[name]}")
            if songs:
                samples = np.array([song.n_samples for song in songs], dtype=np.float64)
                seconds = np.array([song.duration_s for song in songs])
                lines[-1] += (
                    f"; length in samples min {int(samples.min())}, max {int(samples.max())}, "
                    f"mean {samples.mean():.3f}; in seconds min {seconds.min():.2f}, max "
                    f"{seconds.max():.2f}, mean {seconds.mean():.2f}, total "
                    f"{seconds.sum() / 60:.1f} min"
                )
        lines.append(f"skipped: {len(self.skipped)} songs")
        lines.extend(f"  skipped {song}: {reason}" for song, reason in self.skipped)
        return lines


def _has_audio(directory: Path) -> bool:
    """Whether ``directory`` holds audio files; True when it cannot be listed, so that the song
    is reported (one ERROR line) rather than silently left out."""
    try:
        return bool(audio_files(directory))
    except DataError:
        return True


def discover_songs(dataset_dir: Union[str, Path]) -> List[Song]:
    """Song folders of ``dataset/<split>/<song>/`` or, without split folders, ``dataset/<song>/``."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise DataError(f"{root}: dataset directory not found (run downloadMusdb.py first)")
    songs: List[Song] = []
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        split = SPLIT_NAMES.get(split_dir.name.lower())
        if split is not None and not _has_audio(split_dir):
            song_dirs = [p for p in sorted(split_dir.iterdir()) if p.is_dir() and _has_audio(p)]
            songs += [Song(p.name, split, p) for p in song_dirs]
    if not songs:  # no split folders
        songs = [
            Song(p.name, "train", p) for p in sorted(root.iterdir()) if p.is_dir() and _has_audio(p)
        ]
    if not songs:
        raise DataError(f"{root}: no song folders with audio files found")
    return songs


def check_song(song: Song, dataset_dir: Path, stems: Sequence[str], params: Dict) -> SongInfo:
    """One song checked against the configuration; DataError saying why it is not usable."""
    paths: Dict[str, Optional[Path]] = {}
    for stem in ["mixture", *stems]:
        paths[stem] = stem_file(song.directory, stem)
        if paths[stem] is None:
            names = "/".join(name + ".wav" for name in stem_names(stem))
            raise DataError(f"missing stem '{stem}' (no {names} in {song.directory})")
    # Songs shorter than T frames are kept: their chunks are zero-padded to T when loaded (the
    # loss is zero on the padding); a song without one full STFT frame has nothing to learn.
    n_samples, sample_rate = probe_song(
        paths.values(), params["frame_length"], params["sample_rate"], decode=True
    )
    relative = {stem: os.path.relpath(path, dataset_dir) for stem, path in paths.items()}
    return SongInfo(song.name, song.split, relative, n_samples, sample_rate)


def split_validation(
    songs: List[SongInfo], validation_fraction: float, seed: int
) -> Tuple[List[SongInfo], List[SongInfo]]:
    """Train songs -> (train, validation): MUSDB's 14 validation tracks if any name matches,
    else a seeded random ``validation_fraction`` (at least one song when there are two or more)."""
    chosen = {song.name for song in songs if song.name in MUSDB_VALIDATION_TRACKS}
    if not chosen:
        count = int(round(validation_fraction * len(songs)))
        count = max(count, 1 if len(songs) >= 2 and validation_fraction > 0 else 0)
        order = np.random.default_rng(seed).permutation(len(songs))
        chosen = {songs[i].name for i in order[:count]}
    return (
        [song for song in songs if song.name not in chosen],
        [song for song in songs if song.name in chosen],
    )


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

    validation_fraction = options.checked(
        "validation_fraction", options.validation_fraction, validation_fraction,
        error=ConfigurationError,
    )  # fmt: skip
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
        try:
            checked[song.split].append(check_song(song, dataset_dir, instruments, params))
        except DataError as error:
            label = f"{song.split}/{song.name}"
            logger.error("ERROR %s: %s", label, error)
            report.skipped.append((label, str(error)))
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
