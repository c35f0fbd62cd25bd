"""Song folders: which file holds which stem, and when stems make a usable song. One rule for
``preprocess``, ``download-musdb`` and ``evaluate``, so that training and scoring never read
different references from one folder."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..errors import DataError, SpleeterError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".m4a")
# File names (without extension, any case) accepted for each stem; the first is the canonical
# one (written by download-musdb); the seed's layout names its stems vocal / instrumental / mix.
STEM_ALIASES: Dict[str, Tuple[str, ...]] = {
    "mixture": ("mixture", "mix"),
    "vocals": ("vocals", "vocal"),
    "accompaniment": ("accompaniment", "instrumental", "instrumentals"),
}
# Stems looked for in any song folder; another instrument is found when asked for by name.
KNOWN_STEMS = ("mixture", "vocals", "accompaniment", "drums", "bass", "other", "piano")
# The shortest usable song: one STFT frame of Spleeter's models (4096 samples at 44.1 kHz).
FRAME_LENGTH = 4096
FRAME_RATE = 44100


def stem_names(stem: str) -> Tuple[str, ...]:
    """The file names (without extension) that may hold ``stem``."""
    return STEM_ALIASES.get(stem, (stem,))


def audio_files(directory: Path) -> List[Path]:
    """The audio files (by extension) directly in ``directory``, sorted by name (DataError
    naming the folder when it cannot be listed)."""
    try:
        entries = list(Path(directory).iterdir())
    except OSError as error:
        raise DataError(f"{directory}: cannot list ({error.strerror or error})") from None
    return sorted(p for p in entries if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())


def stem_file(directory: Path, stem: str, files: Optional[Sequence[Path]] = None) -> Optional[Path]:
    """The one file of ``directory`` holding ``stem`` (any alias, any audio extension), or None.

    DataError when several files could hold it (``vocals.wav`` and ``vocal.wav``, or
    ``vocals.wav`` and ``vocals.flac``): which one is meant cannot be guessed."""
    names = stem_names(stem)
    candidates = audio_files(directory) if files is None else files
    found = [p for p in candidates if p.name[: -len(p.suffix)].lower() in names]
    if len(found) > 1:
        listed = " and ".join(p.name for p in found)
        raise DataError(
            f"{directory}: {listed} could each hold {stem}; rename all but one of them so that "
            f"one file holds {stem}"
        )
    return found[0] if found else None


def stem_files(directory: Path, stems: Sequence[str] = KNOWN_STEMS) -> Dict[str, Path]:
    """``{stem: file}`` of the ``stems`` found in ``directory`` (DataError: see stem_file)."""
    files = audio_files(directory)
    found = {stem: stem_file(directory, stem, files) for stem in stems}
    return {stem: path for stem, path in found.items() if path is not None}


def song_problem(
    probes: Mapping[Path, Tuple[Optional[int], int]],
    frame_length: int = FRAME_LENGTH,
    frame_rate: int = FRAME_RATE,
) -> Optional[str]:
    """Why the stems of one song, probed as ``{path: (n_samples or None, sample_rate)}`` with
    the mixture first, do not make a usable song, else None.

    Every stem has the mixture's sample rate and exactly its length (scores and spectrograms
    compare stems sample by sample; an unknown length is checked when decoded), and the song
    holds at least one STFT frame (``frame_length`` samples at ``frame_rate`` Hz)."""
    mixture, (_, rate) = next(iter(probes.items()))
    for path, (n_samples, sample_rate) in probes.items():
        if sample_rate != rate:
            return f"{path}: {sample_rate} Hz, but the mixture is {rate} Hz"
        if n_samples == 0:
            return f"{path}: contains no audio samples"
    lengths = {path.name: n for path, (n, _) in probes.items() if n is not None}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} {n}" for name, n in lengths.items())
        return f"{mixture.parent}: stems of unequal lengths ({described} samples)"
    n_samples = next(iter(lengths.values()), None)
    if n_samples is not None and n_samples * frame_rate / rate < frame_length:
        return (
            f"{mixture.parent}: too short: {n_samples / rate:.3f} s is less than one STFT frame "
            f"({frame_length} samples at {frame_rate} Hz)"
        )
    return None


def probe_song(
    paths: Iterable[Path],
    frame_length: int = FRAME_LENGTH,
    frame_rate: int = FRAME_RATE,
    decode: bool = False,
) -> Tuple[Optional[int], int]:
    """``(n_samples, sample_rate)`` of a song's stem files (mixture first) from their headers
    (``decode``: a length the header does not tell is decoded): the one probe of ``preprocess``
    and ``evaluate``. DataError naming a missing or unreadable file, or :func:`song_problem`'s."""
    from ..audio.io import audio_info, load

    probes: Dict[Path, Tuple[Optional[int], int]] = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise DataError(f"{path}: missing")
        try:
            info = audio_info(path)
            n_samples = info.n_samples
            if n_samples is None and decode:  # ffmpeg-only formats: only decoding tells it
                n_samples = len(load(path)[0])
        except SpleeterError as error:
            raise DataError(str(error)) from None  # names the file
        probes[path] = (n_samples, int(info.sample_rate))
    problem = song_problem(probes, frame_length, frame_rate)
    if problem is not None:
        raise DataError(problem)
    return next(iter(probes.values()))
