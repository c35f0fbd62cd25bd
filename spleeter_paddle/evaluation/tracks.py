"""Songs to evaluate in folder layouts: a track knows where its mixture and references are and
reads them on demand, so that it is cheap to send to a metrics worker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..audio.io import audio_info, load, to_stereo
from ..data.stems import probe_song, stem_files
from ..errors import DataError, SpleeterError
from .layout import AUDIO_DIRECTORY, METRICS_DIRECTORY, SUMMARY_JSON, is_summary

MIXTURE_NAME = "mixture"
# MUSDB18's accompaniment (and musdb's ``accompaniment`` target): the sum of these sources.
ACCOMPANIMENT_SOURCES = ("drums", "bass", "other")
# Order of targets in reports: MUSDB's, then anything else alphabetically.
TARGET_ORDER = ("vocals", "drums", "bass", "other", "piano", "accompaniment")
# Folder layouts without a split are written under this subset: museval's EvalStore.add_eval_dir
# reads ``<dir>/test/**/*.json``.
DEFAULT_SUBSET = "test"


def target_sort_key(name: str) -> Tuple[int, str]:
    return (TARGET_ORDER.index(name) if name in TARGET_ORDER else len(TARGET_ORDER), name)


def stereo64(waveform: np.ndarray, source: str) -> np.ndarray:
    """``(n,)`` or ``(n, C)`` -> ``(n, 2)`` float64 (mono duplicated)."""
    waveform = np.asarray(waveform, dtype=np.float64)
    if waveform.ndim not in (1, 2) or waveform.size == 0:
        raise DataError(f"{source}: empty or malformed audio (shape {waveform.shape})")
    return np.ascontiguousarray(to_stereo(waveform))


class FolderTrack:
    """A song: a folder ``<song>/mixture.wav`` with one file per reference (any codec
    ``audio.io`` reads), read on demand.

    ``reference_files`` maps a target to the files summed into its reference (MUSDB's
    accompaniment is drums + bass + other when there is no accompaniment file).

    Attributes:
        name: song name (the JSON file stem).
        subset: ``train``/``test``/... (the JSON sub-directory).
        targets: target names that have a reference, in report order.
        rate: sample rate of the references in Hz.
        problem: why the song cannot be scored, found at discovery (missing stem, unreadable
            file), else None.
    """

    problem: Optional[str] = None

    def __init__(
        self,
        name: str,
        subset: str,
        mixture_file: Path,
        reference_files: Mapping[str, Sequence[Path]],
    ):
        self.name = name
        self.subset = subset
        self.mixture_file = Path(mixture_file)
        self.reference_files = {t: tuple(map(Path, f)) for t, f in reference_files.items()}
        self.targets = tuple(sorted(self.reference_files, key=target_sort_key))
        self.rate = 0
        try:
            self.rate = int(audio_info(str(self.mixture_file)).sample_rate)
        except SpleeterError as error:
            self.problem = str(error)

    @property
    def key(self) -> str:
        return f"{self.subset}/{self.name}"

    def check(self) -> None:
        """Raise DataError naming the problem if the song cannot be scored as it is on disk
        (a missing, unreadable or length-mismatched stem); reads file headers only."""
        if self.problem:
            raise DataError(self.problem)
        probe_song(self.files().values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r})"

    def files(self) -> Dict[str, Path]:
        """``{role: path}`` of the files the song is read from (for the result key)."""
        found = {MIXTURE_NAME: self.mixture_file}
        for paths in self.reference_files.values():
            found.update({path.stem.lower(): path for path in paths})
        return found

    @property
    def location(self) -> str:
        """Where the song is on disk, for messages."""
        return str(self.mixture_file.parent)

    def load_mixture(self) -> np.ndarray:
        """The mixture at :attr:`rate`, ``(n_samples, 2)`` float32."""
        waveform, rate = load(str(self.mixture_file))
        if rate != self.rate:
            raise DataError(f"{self.mixture_file}: {rate} Hz, expected {self.rate} Hz")
        return stereo64(waveform, str(self.mixture_file)).astype(np.float32)

    def load_references(self, targets: Sequence[str]) -> Dict[str, np.ndarray]:
        """``{target: (n_samples, 2) float64}`` at :attr:`rate`, all of one length."""
        references: Dict[str, np.ndarray] = {}
        first: Optional[Tuple[Path, int]] = None
        for target in targets:
            total = None
            for path in self.reference_files[target]:
                waveform, rate = load(str(path), dtype=np.float64)
                if rate != self.rate:
                    raise DataError(f"{path}: {rate} Hz, but the mixture is {self.rate} Hz")
                waveform = stereo64(waveform, str(path))
                if first is None:
                    first = (path, waveform.shape[0])
                elif waveform.shape[0] != first[1]:
                    raise DataError(
                        f"{path}: {waveform.shape[0]} samples, but {first[0].name} has {first[1]};"
                        " references must have equal lengths"
                    )
                total = waveform if total is None else total + waveform
            references[target] = total
        return references


Track = FolderTrack  # what evaluation reads (MusdbTrack, a FolderTrack, reads a .stem.mp4 too)


def _missing_references(references: Mapping[str, Sequence[Path]]) -> List[str]:
    """What a song folder lacks: vocals, and an accompaniment or all of drums/bass/other."""
    missing = [] if "vocals" in references else ["vocals (vocals.wav or vocal.wav)"]
    sources = [s for s in ACCOMPANIMENT_SOURCES if s in references]
    if sources and len(sources) < len(ACCOMPANIMENT_SOURCES):
        missing += [f"{s}.wav" for s in ACCOMPANIMENT_SOURCES if s not in references]
    elif not sources and "accompaniment" not in references:
        missing.append("accompaniment (accompaniment.wav or instrumental.wav)")
    return missing


def folder_track(directory: Path, subset: str, required: bool = False) -> Optional[FolderTrack]:
    """The song in ``directory`` (``mixture.*`` plus reference files), or None if it holds no
    song files (unless ``required``: a folder where a song must be). A song lacking a file is
    returned with its :attr:`~Track.problem` set."""
    try:  # which file holds which stem: the rule preprocess follows too (data.stems)
        found, ambiguous = stem_files(directory), None
    except DataError as error:
        found, ambiguous = {}, str(error)
    references = {t: (path,) for t, path in found.items() if t != MIXTURE_NAME}
    if MIXTURE_NAME not in found and not references and ambiguous is None and not required:
        return None
    missing = _missing_references(references)
    if "accompaniment" not in references and all(s in references for s in ACCOMPANIMENT_SOURCES):
        references["accompaniment"] = tuple(references[s][0] for s in ACCOMPANIMENT_SOURCES)
    if MIXTURE_NAME not in found:
        missing.insert(0, "mixture.wav")
    mixture = found.get(MIXTURE_NAME, directory / f"{MIXTURE_NAME}.wav")
    track = FolderTrack(directory.name, subset, mixture, references)
    if ambiguous or missing:
        track.problem = ambiguous or f"{directory}: missing {', '.join(missing)}"
        if MIXTURE_NAME not in found:
            track.problem += nested_hint(directory)
    return track


def sub_folders(directory: Path) -> List[Path]:
    """The folders directly in ``directory``, sorted, less evaluation reports (an earlier
    ``evaluate -o`` into the data is an output, not a song); DataError if it cannot be listed."""
    try:
        folders = sorted(path for path in directory.iterdir() if path.is_dir())
    except OSError as error:
        raise DataError(f"{directory}: cannot list ({error.strerror or error})") from None
    return [folder for folder in folders if not _report_only(folder)]


def _report_only(folder: Path) -> bool:
    """An evaluation report's folder (``evaluate -o <data>/test/x``: its ``summary.json``, written
    by this tool) holding no song: skipped when songs are listed. One that also holds a mixture,
    or folders other than the report's own (a split's songs), stays listed."""
    try:
        summary = json.loads((folder / SUMMARY_JSON).read_text(encoding="utf-8"))
        own = {METRICS_DIRECTORY, AUDIO_DIRECTORY}
        return (
            is_summary(summary)
            and MIXTURE_NAME not in stem_files(folder)
            and all(inner.name in own for inner in folder.iterdir() if inner.is_dir())
        )
    except (DataError, OSError, ValueError):  # unreadable: listed, as the song it may be
        return False


def nested_hint(folder: Path) -> str:
    """Why a song folder without a mixture may look empty: its song is one level deeper."""
    for inner in sub_folders(folder):
        try:
            holds_song = MIXTURE_NAME in stem_files(inner)
        except DataError:
            holds_song = True
        if holds_song:
            return (
                f" (its sub-folder {inner.name} holds a song: only <subset>/<song>/ folders are"
                " read, move the song's files up one level)"
            )
    return ""


def songs_below(root: Path, strict: bool) -> List[Track]:
    """The songs in ``root``'s folders: ``<song>/`` or ``<split>/<song>/``. With ``strict``,
    in a split layout every folder of a split is a song, and in the seed's layout every folder
    beside the songs without sub-folders is one (to fail when it lacks song files); folders of
    other things (an output folder, notes) are left alone."""
    children = {child: folder_track(child, DEFAULT_SUBSET) for child in sub_folders(root)}
    below = {child: sub_folders(child) for child, song in children.items() if song is None}
    found = {child: [folder_track(g, child.name) for g in below[child]] for child in below}
    split_layout = strict and any(song for songs in found.values() for song in songs)
    seed_layout = strict and any(song is not None for song in children.values())
    tracks: List[Optional[Track]] = []
    for child, song in children.items():
        if song is not None:
            tracks.append(song)
        elif split_layout:  # as in MUSDB18-HQ (musdb_tracks): never left out in silence
            tracks += [
                found_song or folder_track(folder, child.name, required=True)
                for folder, found_song in zip(below[child], found[child])
            ]
        elif seed_layout and not below[child]:
            tracks.append(folder_track(child, DEFAULT_SUBSET, required=True))
        else:
            tracks += found[child]
    return [track for track in tracks if track is not None]
