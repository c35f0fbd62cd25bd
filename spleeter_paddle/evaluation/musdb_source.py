"""MUSDB18 songs (a broken ``.stem.mp4`` or wav folder fails alone), and
:func:`folder_tracks`, the songs of a dataset root in any layout."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from ..audio.io import audio_info
from ..data.musdb import STEM_FILE, STEM_IDS, detect_is_wav, read_stem_file
from ..errors import DataError
from ..sigsep import import_musdb
from .tracks import (
    DEFAULT_SUBSET,
    MIXTURE_NAME,
    FolderTrack,
    Track,
    folder_track,
    nested_hint,
    songs_below,
    stereo64,
    sub_folders,
)

logger = logging.getLogger(__name__)


# musdb's setup (its ``mus.yaml``): a MUSDB18-HQ song's source files, in musdb's order, and
# the sources each target sums (``linear_mixture``, the mixture again, is not scored).
MUSDB_SOURCES = ("vocals", "drums", "bass", "other")
MUSDB_TARGETS = {source: (source,) for source in MUSDB_SOURCES}
MUSDB_TARGETS["accompaniment"] = ("bass", "drums", "other")


class MusdbTrack(FolderTrack):
    """A MUSDB18 song with musdb's files and targets: a MUSDB18-HQ folder ``<song>/mixture.wav``
    read like any song folder (every source must be there: musdb would leave a missing one out
    of its targets without a word, accompaniment becoming drums + other), or a ``.stem.mp4``
    whose streams ffmpeg decodes as musdb does (``data.musdb.read_stem_file``)."""

    def __init__(self, path: Path, subset: str):
        self.is_stem_file = path.name.endswith(STEM_FILE) and not path.is_dir()
        if self.is_stem_file:
            name, mixture, files = path.name[: -len(STEM_FILE)], path, {}
        else:
            files = {source: path / f"{source}.wav" for source in MUSDB_SOURCES}
            name, mixture = path.name, path / f"{MIXTURE_NAME}.wav"
        references = {
            target: tuple(files.get(source, path) for source in sources)
            for target, sources in MUSDB_TARGETS.items()
        }
        super().__init__(name, subset, mixture, references)
        if self.is_stem_file and self.problem:
            self.problem = f"{path}: unreadable stem file ({self.problem})"
        missing = [p.name for p in (mixture, *files.values()) if not p.is_file()]
        if missing and (self.problem is None or not mixture.is_file()):
            self.problem = f"{path}: missing {', '.join(missing)}"
            if not mixture.is_file():
                self.problem += nested_hint(path)

    def check(self) -> None:
        super().check()
        if self.is_stem_file:
            found = audio_info(self.location).n_streams
            if found != len(STEM_IDS):
                raise DataError(f"{self.location}: {found} audio streams, expected {len(STEM_IDS)}")

    def files(self) -> Dict[str, Path]:
        return {MIXTURE_NAME: self.mixture_file} if self.is_stem_file else super().files()

    @property
    def location(self) -> str:
        return str(self.mixture_file)

    def load_mixture(self) -> np.ndarray:
        if not self.is_stem_file:
            return super().load_mixture()
        sources, _ = read_stem_file(self.mixture_file, mixture_only=True)
        return stereo64(sources[MIXTURE_NAME], self.location).astype(np.float32)

    def load_references(self, targets: Sequence[str]) -> Dict[str, np.ndarray]:
        if not self.is_stem_file:
            return super().load_references(targets)
        sources, _ = read_stem_file(self.mixture_file)
        stereo = {name: stereo64(audio, self.location) for name, audio in sources.items()}
        return {target: sum(stereo[s] for s in MUSDB_TARGETS[target]) for target in targets}


def musdb_tracks(
    root: Union[str, Path], subsets: Sequence[str] = ("test",), is_wav: Optional[bool] = None
) -> List[Track]:
    """MUSDB18 tracks: ``root/<subset>/*.stem.mp4`` (needs ffmpeg and musdb) or, with ``is_wav``,
    MUSDB18-HQ ``root/<subset>/<song>/{mixture,vocals,...}.wav`` (None: detected); each song
    opened by itself, so that a broken one fails alone."""
    root = Path(root)
    subsets = list(dict.fromkeys(subsets))  # a subset named twice would list its songs twice
    missing = [s for s in subsets if not (root / s).is_dir()]
    if not root.is_dir() or missing:
        where = root if not root.is_dir() else root / missing[0]
        raise DataError(f"{where}: MUSDB18 directory not found (expected <mus_dir>/<subset>/...)")
    if is_wav is None:
        is_wav = detect_is_wav(root, subsets)
        logger.info("%s: reading MUSDB18 %s", root, "wav folders" if is_wav else "stems")
    if not is_wav:
        import_musdb()  # a clear error now when musdb is missing
    tracks: List[Track] = [
        MusdbTrack(path, subset)
        for subset in subsets
        for path in (
            sub_folders(root / subset) if is_wav else sorted((root / subset).glob(f"*{STEM_FILE}"))
        )
    ]
    if not tracks:
        kind = "<song>/mixture.wav folders" if is_wav else "*.stem.mp4 files (or pass --is-wav)"
        raise DataError(f"{root}: no MUSDB18 tracks in {', '.join(subsets)} (expected {kind})")
    return sorted(tracks, key=lambda t: (t.subset, t.name))


def folder_tracks(root: Union[str, Path], subsets: Optional[Sequence[str]] = None) -> List[Track]:
    """Songs under ``root`` in any folder layout, sorted by (subset, name).

    Layouts: ``root/<song>/mixture.wav`` (the seed's, subset ``test``),
    ``root/<split>/<song>/mixture.wav`` (MUSDB18-HQ, training data tools; subset = split), or
    ``root/mixture.wav`` (one song). Falls back to MUSDB18 stems (``root/<split>/*.stem.mp4``).
    ``subsets`` keeps only those splits. As for MUSDB18-HQ, every folder in a split (and, in
    the seed's layout, every folder without sub-folders beside the songs) is a song: one
    without song files (empty, or its song one level deeper) is listed with its problem, to
    fail, never left out.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset directory not found")
    single = folder_track(root, DEFAULT_SUBSET)
    tracks = [single] if single is not None else []
    tracks += songs_below(root, strict=single is None)
    if not tracks and any(root.glob("*/*.stem.mp4")):
        stem_subsets = sorted({p.parent.name for p in root.glob("*/*.stem.mp4")})
        return musdb_tracks(root, subsets or stem_subsets, is_wav=False)
    if subsets:
        found = sorted({t.subset for t in tracks})
        unknown = [subset for subset in subsets if subset not in found]
        if unknown and tracks:  # a misspelt split beside a good one would be left out silently
            raise DataError(
                f"{root}: no subset {unknown[0]!r} (its splits: {', '.join(found)}); check --subset"
            )
        tracks = [t for t in tracks if t.subset in subsets]
    if not tracks:
        raise DataError(
            f"{root}: no songs found (expected <song>/mixture.wav with vocal(s)/instrumental or"
            " MUSDB stems, <split>/<song>/mixture.wav, or <split>/*.stem.mp4)"
            + (f" in subsets {', '.join(subsets)}" if subsets else "")
        )
    return sorted(tracks, key=lambda t: (t.subset, t.name))
