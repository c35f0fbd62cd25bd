"""MUSDB18 songs through ``musdb`` (a broken ``.stem.mp4`` or wav folder fails alone), and
:func:`folder_tracks`, the songs of a dataset root in any layout."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..audio.io import audio_info
from ..data.musdb import detect_is_wav
from ..errors import DataError, SpleeterError
from ..sigsep import import_musdb
from .tracks import (
    DEFAULT_SUBSET,
    MIXTURE_NAME,
    Track,
    folder_track,
    nested_hint,
    songs_below,
    stereo64,
    sub_folders,
    target_sort_key,
)

logger = logging.getLogger(__name__)


class MusdbTrack(Track):
    """A MUSDB18 track read through ``musdb`` (stems via ffmpeg, or MUSDB18-HQ wav folders)."""

    def __init__(self, musdb_track, expected_sources: Mapping[str, str] = {}, n_streams: int = 0):
        self._track = musdb_track
        self.n_streams = n_streams
        self.name = musdb_track.name
        self.subset = musdb_track.subset
        self.targets = tuple(
            sorted((t for t in musdb_track.targets if t != "linear_mixture"), key=target_sort_key)
        )
        # musdb gives no rate when the mixture file is missing.
        self.rate = int(musdb_track.rate or 0)
        # musdb leaves a missing wav source out of its targets without a word (accompaniment
        # would become drums + other): a song must have every source of musdb's setup.
        missing = [f for s, f in expected_sources.items() if s not in musdb_track.sources]
        if musdb_track.is_wav and not Path(musdb_track.path).is_file():
            missing.insert(0, Path(musdb_track.path).name)
        if missing:
            self.problem = f"{Path(musdb_track.path).parent}: missing {', '.join(missing)}"

    def check(self) -> None:
        super().check()
        if self.n_streams:
            found = audio_info(self.location).n_streams
            if found != self.n_streams:
                raise DataError(
                    f"{self.location}: {found} audio streams, expected {self.n_streams}"
                )

    def files(self) -> Dict[str, Path]:
        found = {MIXTURE_NAME: Path(self._track.path)}
        if self._track.is_wav:
            found.update({name: Path(s.path) for name, s in self._track.sources.items()})
        return found

    @property
    def location(self) -> str:
        return str(self._track.path)

    def load_mixture(self) -> np.ndarray:
        return stereo64(self._track.audio, self.location).astype(np.float32)

    def load_references(self, targets: Sequence[str]) -> Dict[str, np.ndarray]:
        if not self._track.is_wav:
            return {t: stereo64(self._track.targets[t].audio, self.location) for t in targets}
        return {
            target: sum(
                source.gain * _read_wav_source(source, self.rate)
                for source in self._track.targets[target].sources
            )
            for target in targets
        }


def _read_wav_source(source, rate: int) -> np.ndarray:
    """A MUSDB18-HQ source file as ``(n_samples, 2)`` float64, decoded as musdb decodes it
    (ffmpeg, 16-bit). musdb itself reads every source with the mixture's channel count, so a
    mono stem would come back as half as many "stereo" samples; read with its own, then
    duplicated like every mono reference."""
    import stempeg

    audio, _ = stempeg.read_stems(
        filename=source.path,
        stem_id=0,
        info=stempeg.Info(source.path),
        sample_rate=rate,
        ffmpeg_format="s16le",
    )
    return stereo64(audio, source.path)


class BrokenTrack(Track):
    """A song that cannot even be opened: listed, so that it is reported as failed."""

    def __init__(self, name: str, subset: str, location: str, problem: str):
        self.name, self.subset, self._location = name, subset, location
        self.targets, self.rate, self.problem = (), 0, problem

    @property
    def location(self) -> str:
        return self._location

    def files(self) -> Dict[str, Path]:
        return {MIXTURE_NAME: Path(self._location)}


def musdb_tracks(
    root: Union[str, Path], subsets: Sequence[str] = ("test",), is_wav: Optional[bool] = None
) -> List[Track]:
    """MUSDB18 tracks through ``musdb.DB``: ``root/<subset>/*.stem.mp4`` (needs ffmpeg) or, with
    ``is_wav``, MUSDB18-HQ ``root/<subset>/<song>/{mixture,vocals,...}.wav`` (None: detected)."""
    musdb = import_musdb()

    root = Path(root)
    subsets = list(dict.fromkeys(subsets))  # a subset named twice would list its songs twice
    missing = [s for s in subsets if not (root / s).is_dir()]
    if not root.is_dir() or missing:
        where = root if not root.is_dir() else root / missing[0]
        raise DataError(f"{where}: MUSDB18 directory not found (expected <mus_dir>/<subset>/...)")
    if is_wav is None:
        is_wav = detect_is_wav(root, subsets)
        logger.info("%s: reading MUSDB18 %s", root, "wav folders" if is_wav else "stems")
    try:
        # Songs are opened one by one below, so that a broken one fails alone.
        database = musdb.DB(root=str(root), subsets=[], is_wav=is_wav)
    except Exception as error:
        raise DataError(f"{root}: cannot read MUSDB18 ({error})") from error
    tracks = [
        _musdb_track(musdb, database, path, subset, is_wav)
        for subset in subsets
        for path in (
            sub_folders(root / subset) if is_wav else sorted((root / subset).glob("*.stem.mp4"))
        )
    ]
    if not tracks:
        kind = "<song>/mixture.wav folders" if is_wav else "*.stem.mp4 files (or pass --is-wav)"
        raise DataError(f"{root}: no MUSDB18 tracks in {', '.join(subsets)} (expected {kind})")
    return sorted(tracks, key=lambda t: (t.subset, t.name))


def _musdb_track(musdb, database, path: Path, subset: str, is_wav: bool) -> Track:
    """One song as ``musdb.DB`` builds it (a MUSDB18-HQ folder, only its direct sub-folders
    being songs, or a ``.stem.mp4``), or a BrokenTrack saying why it cannot be read."""
    setup, stem_ids = database.setup, database.setup["stem_ids"]
    name = path.name if is_wav else path.name[: -len(".stem.mp4")]
    mixture = path / setup["mixture"] if is_wav else path
    if is_wav:
        files = {source: path / file for source, file in setup["sources"].items()}
    else:
        files = dict.fromkeys(setup["sources"], path)
    try:
        track = musdb.MultiTrack(
            name=name, path=str(mixture), subset=subset, is_wav=is_wav, stem_id=stem_ids["mixture"]
        )
        track.sources = {
            source: musdb.Source(track, name=source, path=str(file), stem_id=stem_ids[source])
            for source, file in files.items()
            if not is_wav or file.is_file()
        }
        track.targets = database.create_targets(track)
        if not is_wav:
            return MusdbTrack(track, n_streams=len(stem_ids))
        found = MusdbTrack(track, setup["sources"])
        if found.problem and not mixture.is_file():
            found.problem += nested_hint(path)
        return found
    except Exception as error:
        problem = _why(mixture, error) if is_wav else f"{path}: unreadable stem file ({error})"
        return BrokenTrack(name, subset, str(path), problem)


def _why(path: Path, error: Exception) -> str:
    """What is wrong with ``path`` that musdb failed on: our reader's one-line diagnosis when it
    has one (corrupt, truncated, empty...), else musdb's error."""
    try:
        audio_info(str(path))
    except SpleeterError as diagnosis:
        return str(diagnosis)
    return f"{path}: cannot read ({type(error).__name__}: {error})"


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
    tracks: List[Track] = []
    single = folder_track(root, DEFAULT_SUBSET)
    if single is not None:
        tracks.append(single)
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
