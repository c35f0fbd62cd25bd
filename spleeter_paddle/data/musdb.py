"""MUSDB18 (``.stem.mp4``), MUSDB18-HQ or musdb's 7-second previews -> the dataset layout
``dataset/<split>/<song>/<stem>.wav``; a song is converted whole unless its record
(``data.musdb_record``) shows every output made from the source's current content."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import ownership
from ..audio.io import load
from ..audio.writer import StreamWriter
from ..errors import AudioError, ConfigurationError, DataError
from ..files import change_while_read, file_identity, is_within
from ..options import checked, choice
from ..sigsep import import_musdb
from ..vocab import MUSDB_SUBSETS
from .musdb_record import current_source, outputs_change, read_record, remove_record, write_record
from .stems import song_problem, stem_file

logger = logging.getLogger(__name__)

# Index of each source in a MUSDB18 .stem.mp4 file (musdb's stem_ids).
STEM_IDS = {"mixture": 0, "drums": 1, "bass": 2, "other": 3, "vocals": 4}
OUTPUT_STEMS = {
    "2": ("mixture", "vocals", "accompaniment"),
    "4": ("mixture", "vocals", "drums", "bass", "other"),
    "all": ("mixture", "vocals", "accompaniment", "drums", "bass", "other"),
}
STEM_FILE = ".stem.mp4"
PREVIEW_ROOT = Path("~/MUSDB18/MUSDB18-7").expanduser()
TAG_KIND = "musdb"  # outputs are tagged (``ownership``): "spleeter-paddle musdb vocals of ..."


@dataclass
class SongPlan:
    """One MUSDB song: its name and its source, a MUSDB18-HQ folder (``is_wav``) or a
    ``.stem.mp4``."""

    name: str
    source: Path
    is_wav: bool

    def files(self) -> List[Path]:
        """Every file of the source (the output-is-input check)."""
        return [p for p in self.source.iterdir() if p.is_file()] if self.is_wav else [self.source]

    def source_files(self) -> Dict[str, Path]:
        """``{label: file}`` the outputs are made from."""
        return _wav_song_files(self.source) if self.is_wav else {self.source.name: self.source}

    def read(self) -> Tuple[Dict[str, np.ndarray], int]:
        """``({source: (n, 2) float32}, sample_rate)``."""
        return _read_wav_song(self.source) if self.is_wav else read_stem_file(self.source)


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


def detect_is_wav(musdb_root: Path, subsets: Sequence[str] = MUSDB_SUBSETS) -> bool:
    """True for MUSDB18-HQ (song folders with WAV files), False for ``.stem.mp4`` files."""
    return not any(
        (musdb_root / s).is_dir() and any((musdb_root / s).glob("*.stem.mp4")) for s in subsets
    )


def _wav_song_files(directory: Path) -> Dict[str, Path]:
    """``{source: file}`` of a MUSDB18-HQ song folder (DataError for a missing stem)."""
    files = {}
    for name in STEM_IDS:
        path = stem_file(directory, name)
        if path is None:
            raise DataError(f"missing stem '{name}' ({directory / (name + '.wav')})")
        files[name] = path
    return files


def _read_wav_song(directory: Path) -> Tuple[Dict[str, np.ndarray], int]:
    """Sources of a MUSDB18-HQ song folder: ``{name: (n, 2) float32}`` and the sample rate."""
    sources, probes = {}, {}
    for name, path in _wav_song_files(directory).items():
        try:
            sources[name], rate = load(path)
        except AudioError as error:
            raise DataError(str(error)) from None
        probes[path] = (sources[name].shape[0], rate)
    problem = song_problem(probes)
    if problem is not None:
        raise DataError(problem)
    return sources, next(iter(probes.values()))[1]


def _song_plans(musdb_root: Path, subset: str, is_wav: bool) -> List[SongPlan]:
    """The songs of a subset: its MUSDB18-HQ song folders, or its ``.stem.mp4`` files in
    musdb's order, each opened by its own song's ``read()`` (musdb's ``DB`` probes every file
    when it lists them: one malformed file would stop the whole run)."""
    folder = musdb_root / subset
    if is_wav:
        return [SongPlan(p.name, p, True) for p in sorted(folder.iterdir()) if p.is_dir()]
    import_musdb()  # a clear error now when musdb is missing
    names = sorted(name for name in os.listdir(folder) if name.endswith(STEM_FILE))
    return [SongPlan(name[: -len(STEM_FILE)], folder / name, False) for name in names]


def read_stem_file(path: Path, mixture_only: bool = False) -> Tuple[Dict[str, np.ndarray], int]:
    """``({source: (n, channels) float32}, sample_rate)`` of a MUSDB18 ``.stem.mp4``, every
    stream (only the mixture's with ``mixture_only``) decoded by ffmpeg as musdb decodes it
    (16-bit): the one reader of ``download-musdb`` and ``evaluate``. DataError naming the file
    when it cannot be decoded, changed while read or holds too few streams."""
    musdb = import_musdb()
    try:
        before = file_identity(path)
        track = musdb.MultiTrack(name=path.name[: -len(STEM_FILE)], path=str(path), stem_id=0)
        stems = np.asarray(track.audio if mixture_only else track.stems, dtype=np.float32)
    except Exception as error:  # stempeg/ffmpeg failures, of this file only
        raise DataError(f"{path}: cannot decode stems ({error})") from None
    change = change_while_read(path, before)
    if change is not None:
        raise DataError(f"{path}: {change}; nothing was made from it")
    if mixture_only:
        return {"mixture": stems}, int(track.rate)
    n_streams = stems.shape[0] if stems.ndim == 3 else 1  # one stream: (n, channels)
    if n_streams < len(STEM_IDS):
        raise DataError(
            f"{path}: holds {n_streams} audio streams; a MUSDB stem file holds "
            f"{len(STEM_IDS)} ({', '.join(STEM_IDS)})"
        )
    return {name: stems[index] for name, index in STEM_IDS.items()}, int(track.rate)


def _write_wav(path: Path, waveform: np.ndarray, sample_rate: int, tag: str) -> None:
    """16-bit PCM WAV (float WAV if it would clip) with ``tag``, written atomically."""
    peak = float(np.max(np.abs(waveform))) if waveform.size else 0.0
    subtype = "PCM_16" if peak <= 1.0 else "FLOAT"
    with StreamWriter(
        path, sample_rate, waveform.shape[1], "wav", subtype=subtype, comment=tag
    ) as w:
        w.write(waveform)


def _check_not_inputs(output_dir: Path, planned: Dict[str, List[SongPlan]], outputs) -> None:
    """ConfigurationError when an output path is (or links to) a file the run reads."""

    def refuse(path: Path, song, read: str) -> Exception:
        return ConfigurationError(
            f"output {path} is the input {read}: refusing to write over an input; choose an "
            "-o/--output folder other than the MUSDB root"
        )

    songs = [(subset, song) for subset, listed in planned.items() for song in listed]
    paths = {
        f"{subset}/{song.name}": [output_dir / subset / song.name / f"{s}.wav" for s in outputs]
        for subset, song in songs
    }
    ownership.check_not_inputs(paths, [path for _, song in songs for path in song.files()], refuse)


def _song_stems(target: Path, outputs: Sequence[str], source: Path, overwrite: bool):
    """``{stem: path}`` a conversion of the song writes: ``outputs``, and any other stem there
    that is this tool's own from the same source (kept of the same version as the rest).
    DataError naming a file there that may not be replaced (not this tool's output of the same
    stem and source), unless ``overwrite``."""
    paths = {stem: target / f"{stem}.wav" for stem in OUTPUT_STEMS["all"]}
    foreign = {
        stem: ownership.foreign_stem(TAG_KIND, stem, source, "download-musdb") for stem in paths
    }
    paths = {s: p for s, p in paths.items() if s in outputs or p.is_file() and not foreign[s](p)}
    remedy = "use --overwrite to replace it, or another -o/--output"
    for stem, path in paths.items():
        subject = f"output {path}"
        ownership.check_replaceable(path, overwrite, foreign[stem], DataError, subject, remedy)
    return paths


def _convert_song(song: SongPlan, target: Path, outputs: Sequence[str], overwrite: bool) -> bool:
    """Convert one song whole unless every output is already the one made from the source's
    current content; False when it was complete (skipped)."""
    ownership.check_inside(target, target.parent.parent, DataError, f"output folder {target}")
    record = read_record(target, overwrite)
    paths = _song_stems(target, outputs, song.source, overwrite)
    recorded = json.dumps(record)  # the checks below update stats of unchanged files in it
    try:
        version, fingerprints, change = current_source(record, song.source, song.source_files())
    except OSError as error:
        raise DataError(f"{song.source}: cannot read ({error.strerror or error})") from None
    # Not made from the source's current version: an output missing, or not the bytes recorded.
    missing = [path for path in paths.values() if not os.path.isfile(path)]
    absent = f"{missing[0]} is missing" if missing else None
    reason = change or absent or outputs_change(record, song.source, paths)
    if reason is None:
        if json.dumps(record) != recorded:  # same bytes with a new stat: record it
            write_record(target, song.source, version, fingerprints, paths)
        return False
    if record is not None or any(os.path.lexists(path) for path in paths.values()):
        logger.info("%s: %s; converting the whole song again", target, reason)
    remove_record(target)
    sources, sample_rate = song.read()
    sources["accompaniment"] = sources["drums"] + sources["bass"] + sources["other"]
    try:
        for stem, path in paths.items():
            tag = ownership.stem_tag(TAG_KIND, stem, song.source)
            _write_wav(path, sources[stem], sample_rate, tag)
        write_record(target, song.source, version, fingerprints, paths)
    except (AudioError, OSError) as error:
        raise DataError(str(error)) from None
    return True


def convert_musdb(
    musdb_root: Union[str, Path],
    output_dir: Union[str, Path] = "dataset",
    is_wav: Optional[bool] = None,
    stems: str = "2",
    subsets: Sequence[str] = MUSDB_SUBSETS,
    show_progress: bool = True,
    overwrite: bool = False,
) -> ConversionReport:
    """Convert a MUSDB18 / MUSDB18-HQ root into ``output_dir/<subset>/<song>/<stem>.wav``.

    ``stems``: ``"2"`` (mixture, vocals, accompaniment), ``"4"`` (mixture + MUSDB's four) or
    ``"all"``. ``is_wav`` None detects the format. A bad song (or one whose output path holds
    a file this function did not write from it, unless ``overwrite``) gets one
    ``ERROR <song>: <problem>`` line and is skipped (``report.failed``); the others are
    converted. ConfigurationError, before anything is written, when an output is an input.
    """
    from tqdm import tqdm

    checked("stems", choice, stems, OUTPUT_STEMS, error=DataError)
    musdb_root, output_dir = Path(musdb_root).expanduser(), Path(output_dir)
    unknown = [subset for subset in subsets if subset not in MUSDB_SUBSETS]
    if unknown:
        raise ConfigurationError(f"subsets: no MUSDB18 subset {unknown[0]!r}; use train, test")
    if not any((musdb_root / subset).is_dir() for subset in subsets):
        raise DataError(f"{musdb_root}: not a MUSDB18 root (no {'/'.join(subsets)} folder)")
    if is_within(output_dir, musdb_root):  # the next run would read the outputs as songs
        raise ConfigurationError(
            f"output {output_dir} is inside the MUSDB18 root {musdb_root}: its songs would be "
            "read as MUSDB songs by the next run; choose an -o/--output outside it"
        )
    blocker = ownership.non_folder(output_dir)
    if blocker is not None:
        raise ConfigurationError(
            f"output {output_dir}: cannot be a folder ({blocker} exists and is not a directory); "
            "choose another -o/--output"
        )
    is_wav = detect_is_wav(musdb_root) if is_wav is None else is_wav
    outputs = OUTPUT_STEMS[stems]
    planned = {s: _song_plans(musdb_root, s, is_wav) for s in subsets if (musdb_root / s).is_dir()}
    _check_not_inputs(output_dir, planned, outputs)
    report = ConversionReport()
    for subset, songs in planned.items():
        for song in tqdm(
            songs, desc=f"converting {subset}", unit="song", disable=not show_progress
        ):
            label = f"{subset}/{song.name}"
            try:
                done = _convert_song(song, output_dir / subset / song.name, outputs, overwrite)
            except DataError as error:
                logger.error("ERROR %s: %s", label, error)
                report.failed.append((label, str(error)))
                continue
            (report.written if done else report.existing).append(label)
    for line in report.summary_lines():
        logger.debug(line)
    return report
