"""MUSDB18 -> the dataset layout ``dataset/<split>/<song>/{mixture,vocals,accompaniment}.wav``.

Reads MUSDB18 (``.stem.mp4``, decoded by ffmpeg through musdb/stempeg) or MUSDB18-HQ (WAV
folders), or downloads musdb's 7-second previews first. Writes 2 stems (vocals +
accompaniment), the 4 MUSDB stems, or both; each file atomically, finished songs are skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..audio.io import load
from ..audio.writer import save
from ..errors import AudioError, DataError
from ..sigsep import import_musdb
from .manifest import find_stem_file

logger = logging.getLogger(__name__)

# Index of each source in a MUSDB18 .stem.mp4 file (musdb's stem_ids).
STEM_IDS = {"mixture": 0, "drums": 1, "bass": 2, "other": 3, "vocals": 4}
OUTPUT_STEMS = {
    "2": ("mixture", "vocals", "accompaniment"),
    "4": ("mixture", "vocals", "drums", "bass", "other"),
    "all": ("mixture", "vocals", "accompaniment", "drums", "bass", "other"),
}
SUBSETS = ("train", "test")
PREVIEW_ROOT = Path("~/MUSDB18/MUSDB18-7").expanduser()


@dataclass
class ConversionReport:
    """Songs written, songs already complete (skipped), songs that failed with a reason."""

    written: List[str] = field(default_factory=list)
    existing: List[str] = field(default_factory=list)
    failed: List[Tuple[str, str]] = field(default_factory=list)

    def summary_lines(self) -> List[str]:
        lines = [
            f"converted {len(self.written)} songs, {len(self.existing)} already present, "
            f"{len(self.failed)} failed"
        ]
        lines.extend(f"  failed {song}: {reason}" for song, reason in self.failed)
        return lines


def download_previews(root: Union[str, Path, None] = None) -> Path:
    """Download musdb's 7-second MUSDB18 previews (``musdb.DB(download=True)``); returns the root."""
    musdb = import_musdb()

    root = Path(root).expanduser() if root else PREVIEW_ROOT
    try:
        musdb.DB(root=str(root), download=True)
    except Exception as error:  # urllib/zip errors: report one line with the way out
        raise DataError(
            f"could not download the MUSDB18 previews into {root} ({error}); "
            "without internet pass --musdb-root with an existing MUSDB18 or MUSDB18-HQ folder"
        ) from None
    return root


def detect_is_wav(musdb_root: Path) -> bool:
    """True for MUSDB18-HQ (song folders with WAV files), False for ``.stem.mp4`` files."""
    for subset in SUBSETS:
        folder = musdb_root / subset
        if folder.is_dir() and any(folder.glob("*.stem.mp4")):
            return False
    return True


def _wav_songs(musdb_root: Path, subset: str) -> List[Tuple[str, Path]]:
    folder = musdb_root / subset
    return [(p.name, p) for p in sorted(folder.iterdir()) if p.is_dir()] if folder.is_dir() else []


def _read_wav_song(directory: Path, needed: Sequence[str]) -> Tuple[Dict[str, np.ndarray], int]:
    """Sources of a MUSDB18-HQ song folder: ``{name: (n, 2) float32}`` and the sample rate."""
    sources, rates = {}, {}
    for name in needed:
        path = find_stem_file(directory, name)
        if path is None:
            raise DataError(f"missing stem '{name}' ({directory / (name + '.wav')})")
        try:
            sources[name], rates[name] = load(path)
        except AudioError as error:
            raise DataError(str(error)) from None
    if len(set(rates.values())) > 1:
        raise DataError(f"mismatched sample rates {rates}")
    lengths = {name: s.shape[0] for name, s in sources.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"mismatched lengths in samples {lengths}")
    return sources, next(iter(rates.values()))


def _stem_song_reader(musdb_root: Path, subset: str):
    """``(name, read)`` pairs for ``.stem.mp4`` files; ``read()`` decodes all sources with ffmpeg."""
    musdb = import_musdb()

    database = musdb.DB(root=str(musdb_root), is_wav=False, subsets=[subset])

    def reader(track):
        def read() -> Tuple[Dict[str, np.ndarray], int]:
            try:
                stems = np.asarray(track.stems, dtype=np.float32)
            except Exception as error:  # stempeg/ffmpeg failures
                raise DataError(f"{track.path}: cannot decode stems ({error})") from None
            return {name: stems[index] for name, index in STEM_IDS.items()}, int(track.rate)

        return read

    return [(track.name, reader(track)) for track in database.tracks]


def _write_wav(path: Path, waveform: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM WAV (float WAV if it would clip), written atomically by ``audio.writer.save``."""
    peak = float(np.max(np.abs(waveform))) if waveform.size else 0.0
    save(path, waveform, sample_rate, subtype="PCM_16" if peak <= 1.0 else "FLOAT")


def _derive_outputs(
    sources: Dict[str, np.ndarray], outputs: Sequence[str]
) -> Dict[str, np.ndarray]:
    """Output stems from MUSDB sources; accompaniment = drums + bass + other (MUSDB's target)."""
    derived = {}
    for name in outputs:
        if name == "accompaniment":
            derived[name] = sources["drums"] + sources["bass"] + sources["other"]
        else:
            derived[name] = sources[name]
    return derived


def convert_musdb(
    musdb_root: Union[str, Path],
    output_dir: Union[str, Path] = "dataset",
    is_wav: Optional[bool] = None,
    stems: str = "2",
    subsets: Sequence[str] = SUBSETS,
    show_progress: bool = True,
) -> ConversionReport:
    """Convert a MUSDB18 / MUSDB18-HQ root into ``output_dir/<subset>/<song>/<stem>.wav``.

    ``stems``: ``"2"`` (mixture, vocals, accompaniment), ``"4"`` (mixture + MUSDB's four) or
    ``"all"``. ``is_wav`` None detects the format. A bad song gets one ``ERROR <song>: <problem>`` line
    and is skipped (``report.failed``); the others are converted.
    """
    from tqdm import tqdm

    if stems not in OUTPUT_STEMS:
        raise DataError(f"stems must be one of {', '.join(OUTPUT_STEMS)}, got {stems!r}")
    musdb_root, output_dir = Path(musdb_root).expanduser(), Path(output_dir)
    if not any((musdb_root / subset).is_dir() for subset in subsets):
        raise DataError(f"{musdb_root}: not a MUSDB18 root (no {'/'.join(subsets)} folder)")
    is_wav = detect_is_wav(musdb_root) if is_wav is None else is_wav
    outputs = OUTPUT_STEMS[stems]
    needed = ["mixture", "vocals"]
    if any(name not in ("mixture", "vocals") for name in outputs):
        needed += ["drums", "bass", "other"]
    report = ConversionReport()
    for subset in subsets:
        if not (musdb_root / subset).is_dir():
            continue
        if is_wav:
            songs = [
                (name, lambda d=directory: _read_wav_song(d, needed))
                for name, directory in _wav_songs(musdb_root, subset)
            ]
        else:
            songs = _stem_song_reader(musdb_root, subset)
        for name, read in tqdm(
            songs, desc=f"converting {subset}", unit="song", disable=not show_progress
        ):
            label = f"{subset}/{name}"
            target = output_dir / subset / name
            if all((target / f"{stem}.wav").is_file() for stem in outputs):
                report.existing.append(label)
                continue
            try:
                sources, sample_rate = read()
                target.mkdir(parents=True, exist_ok=True)
                for stem, waveform in _derive_outputs(sources, outputs).items():
                    _write_wav(target / f"{stem}.wav", waveform, sample_rate)
            except DataError as error:
                logger.error("ERROR %s: %s", label, error)
                report.failed.append((label, str(error)))
                continue
            report.written.append(label)
    for line in report.summary_lines():
        logger.debug(line)
    return report
