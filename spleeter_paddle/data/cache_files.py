"""The spectrogram cache's format: settings, uint8 dB coding, the files on disk (a song's entry
and its checks: size, sha256), and the read side (:class:`SpectrogramCache`). No Paddle here:
``process_data`` (``cache.py``) writes this format, the datasets (``dataset.py``) read it.

Layout::

    <cache>/index.json          settings + every song's chunks, file size and sha256 (written last)
    <cache>/songs/<id>.bin      chunk blocks, each (I, C, n_frames, F), I = mix + instruments
    <cache>/songs/<id>.json     the song's entry; reused while its key, its file's size and sha256
                                and its source files (``data.sources``) all match
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import DataError
from ..files import PathLike, file_sha256
from ..options import checked, choice
from ..ownership import check_replaceable, held_folders
from .sources import stale_source

CACHE_FORMAT = 2  # 2: K chunk entries per song, file size + sha256
CACHE_DTYPES = ("uint8", "float16")
VALIDATION_CHUNK_DURATION_S = 12.0  # Spleeter's validation set: the central 12 s of each song
DB_RANGE = 100.0
UINT8_SCALE = 255.9999
MAGNITUDE_FLOOR = 1e-9
# How every index.json this module writes begins (json.dumps of {"settings": {"format": ...}}):
# a damaged index is still recognised as ours by it, and may be rewritten.
INDEX_SIGNATURE = b'{"settings": {"format": '


def file_fingerprint(path: Path) -> Dict[str, Any]:
    """``{"size": bytes, "sha256": hex}`` of a cache file."""
    return {"size": path.stat().st_size, "sha256": file_sha256(path)}


def entry_problem(entry: Dict[str, Any], songs_dir: Path, checksum: bool = True) -> Optional[str]:
    """Why a song's cache file cannot be trusted (missing, wrong size or sha256), else None."""
    path = songs_dir / str(entry.get("file"))
    if not path.is_file():
        return f"{path.name} is missing"
    if path.stat().st_size != entry.get("size"):
        return f"{path.name} has {path.stat().st_size} bytes, the index says {entry.get('size')}"
    if checksum and file_fingerprint(path)["sha256"] != entry.get("sha256"):
        return f"{path.name} does not match its sha256"
    return None


def read_entry(path: Path) -> Optional[Dict[str, Any]]:
    """A JSON object file (a song's entry ``songs/<id>.json``, a song's conversion record), or
    None when missing, not a regular file, unreadable or not an object."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None


def check_cache_folder(cache_dir: PathLike) -> None:
    """DataError unless ``cache_dir`` can hold a cache: a folder (or nothing yet) whose
    ``index.json`` is absent or this tool's own (parsed, or damaged but starting as ours do).
    Anything else there is never replaced."""
    cache_dir = Path(cache_dir)
    elsewhere = "set training_cache / validation_cache to another folder"
    for folder in (cache_dir, cache_dir / "songs"):
        if os.path.lexists(folder) and not folder.is_dir():
            raise DataError(f"{folder}: exists and is not a folder; {elsewhere}")
    index = cache_dir / "index.json"
    check_replaceable(index, False, _foreign_index, DataError, f"{index}:", elsewhere)


def _foreign_index(index: Path) -> Optional[str]:
    text = index.read_bytes()
    try:
        document = json.loads(text)
        ours = (
            isinstance(document, dict)
            and isinstance(document.get("settings"), dict)
            and "format" in document["settings"]
            and isinstance(document.get("songs"), list)
        )
    except ValueError:
        ours = text.startswith(INDEX_SIGNATURE)
    return None if ours else "exists and is not a spleeter-paddle cache index"


@contextlib.contextmanager
def held_cache(cache_dir: Path) -> Iterator[Path]:
    """Make and hold ``cache_dir`` and its ``songs/`` folder (``ownership.held_folders``: a
    killed run's temporaries are reclaimed, another run building there is a DataError); yields
    the songs folder."""
    songs_dir = Path(cache_dir) / "songs"
    busy = f"{cache_dir}: another spleeter-paddle run is building this cache; wait for it"
    with held_folders((cache_dir, songs_dir), DataError, lambda folder: busy):
        yield songs_dir


def quantise(magnitude: np.ndarray) -> Tuple[np.ndarray, float, float]:
    """Magnitude -> (uint8 dB, min_dB, max_dB), Spleeter's ``spectrogram_to_db_uint``.

    dB = 20 log10(max(S, 1e-9)) clipped 100 dB below its max, mapped to 0..255 (truncation).
    """
    db = 20.0 * np.log10(np.maximum(magnitude, MAGNITUDE_FLOOR))
    db_max = float(db.max())
    db = np.maximum(db, db_max - DB_RANGE)
    db_min = float(db.min())
    scaled = (db - db_min) / (db_max - db_min + 1e-16) * UINT8_SCALE
    return scaled.astype(np.uint8), db_min, db_max


def dequantise_table(db_min: float, db_max: float) -> np.ndarray:
    """``(256,)`` float32 magnitudes of the 256 uint8 codes: ``10 ** ((q (max-min)/255.9999 + min)/20)``."""
    codes = np.arange(256, dtype=np.float64)
    return (10.0 ** ((codes * (db_max - db_min) / UINT8_SCALE + db_min) / 20.0)).astype(np.float32)


def cache_settings(params: Dict[str, Any], dtype: str, validation: bool) -> Dict[str, Any]:
    """Everything the stored numbers depend on (a different value means rebuilding)."""
    checked("cache dtype", choice, dtype, CACHE_DTYPES, error=DataError)
    chunk = VALIDATION_CHUNK_DURATION_S if validation else float(params["chunk_duration"])
    return {
        "format": CACHE_FORMAT,
        "instruments": [params["mix_name"], *params["instrument_list"]],
        "sample_rate": params["sample_rate"],
        "frame_length": params["frame_length"],
        "frame_step": params["frame_step"],
        "F": params["F"],
        "n_channels": params["n_channels"],
        "chunk_duration": chunk,
        "n_chunks_per_song": 1 if validation else int(params["n_chunks_per_song"]),
        "dtype": dtype,
    }


@dataclass
class Chunk:
    """One cached chunk: its song, element offset in the song file, frame count, uint8 tables."""

    song: int
    offset: int
    n_frames: int
    tables: Optional[np.ndarray]  # (I, 256) float32 magnitudes per code, uint8 caches only


class SpectrogramCache:
    """Read side of a cache directory (written by :func:`spleeter_paddle.data.cache.build_cache`)."""

    def __init__(self, directory: Union[str, Path]):
        self.directory = Path(directory)
        index = self._read_index(self.directory / "index.json")
        self.settings: Dict[str, Any] = index["settings"]
        self.songs: List[Dict[str, Any]] = index["songs"]
        self.instruments: List[str] = list(self.settings["instruments"])
        self.dtype = np.dtype(self.settings["dtype"])
        self.chunks: List[Chunk] = []
        for song_index, song in enumerate(self.songs):
            self._check_file(song)
            try:
                self.chunks += [self._chunk(song_index, chunk) for chunk in song["chunks"]]
            except (KeyError, TypeError, ValueError) as error:
                raise DataError(
                    f"{self.directory}: unreadable index entry of song {song_index} ({error}); "
                    "rebuild it with `-m process_data`"
                ) from None
        self._arrays: Dict[int, np.memmap] = {}

    def _chunk(self, song_index: int, chunk: Dict[str, Any]) -> Chunk:
        tables = None
        if self.dtype == np.uint8:
            pairs = zip(chunk["db_min"], chunk["db_max"])
            tables = np.stack([dequantise_table(lo, hi) for lo, hi in pairs])
        return Chunk(song_index, int(chunk["offset"]), int(chunk["n_frames"]), tables)

    @staticmethod
    def _read_index(path: Path) -> Dict[str, Any]:
        """``index.json``, checked: missing, unreadable or of another format -> DataError."""
        rebuild = "rebuild it with `-m process_data`"
        if not path.is_file():
            raise DataError(f"{path.parent}: no spectrogram cache (run `-m process_data` first)")
        try:
            index = json.loads(path.read_text())
            settings, songs = index["settings"], index["songs"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DataError(f"{path}: unreadable cache index ({error}); {rebuild}") from None
        if not isinstance(settings, dict) or settings.get("format") != CACHE_FORMAT:
            raise DataError(f"{path}: cache of an older format; {rebuild}")
        if not isinstance(songs, list) or not all(isinstance(song, dict) for song in songs):
            raise DataError(f"{path}: unreadable cache index (no song list); {rebuild}")
        return index

    def _check_file(self, song: Dict[str, Any], checksum: bool = False) -> None:
        """The song's file exists with its recorded size (and sha256: :meth:`verify`)."""
        problem = entry_problem(song, self.directory / "songs", checksum)
        if problem is not None:
            raise DataError(
                f"{self.directory}: cache of song '{song['song']}' is damaged ({problem}); "
                "run `-m process_data` to rebuild it"
            )

    def verify(self) -> None:
        """Check every song file against its recorded sha256 (reads the whole cache), and the
        song's source audio, where it still exists, against the files it was computed from."""
        for song in self.songs:
            self._check_file(song, checksum=True)
            stale = stale_source(song.get("sources"))
            if stale is not None:
                raise DataError(
                    f"{self.directory}: cache of song '{song['song']}' is stale ({stale}); "
                    "run `-m process_data` to compute it again"
                )

    def __getstate__(self):  # memmaps are reopened lazily in each DataLoader worker
        state = self.__dict__.copy()
        state["_arrays"] = {}
        return state

    def check(self, params: Dict[str, Any]) -> None:
        """Raise :class:`DataError` if the cache cannot serve ``params`` (names the key)."""
        for key in ("sample_rate", "frame_length", "frame_step", "n_channels"):
            if self.settings[key] != params[key]:
                raise DataError(
                    f"{self.directory}: cache built with {key} = {self.settings[key]}, the "
                    f"configuration has {params[key]}; run `-m process_data` again"
                )
        if self.settings["F"] < params["F"]:
            raise DataError(
                f"{self.directory}: cache holds F = {self.settings['F']} bins, training needs "
                f"F = {params['F']}; run `-m process_data` with -F {params['F']}"
            )
        needed = [params["mix_name"], *params["instrument_list"]]
        missing = [name for name in needed if name not in self.instruments]
        if missing:
            raise DataError(f"{self.directory}: cache has no {', '.join(missing)} spectrograms")

    def _song_array(self, song: int) -> np.memmap:
        array = self._arrays.get(song)
        if array is None:
            path = self.directory / "songs" / self.songs[song]["file"]
            try:
                array = np.memmap(path, dtype=self.dtype, mode="r")
            except (OSError, ValueError) as error:
                raise DataError(
                    f"{path}: unreadable cache file ({error}); run `-m process_data` to rebuild it"
                ) from None
            self._arrays[song] = array
        return array

    def read(
        self,
        chunk_index: int,
        start_frame: int,
        n_frames: int,
        n_bins: int,
        instruments: Optional[Sequence[int]] = None,
    ) -> np.ndarray:
        """``(len(instruments), C, n_frames, n_bins)`` float32 magnitudes (all instruments by
        default, mix first) of frames ``[start, start + n_frames)``, bins ``[0, n_bins)``; frames
        past the chunk's end are zeros (short chunks are padded, not dropped)."""
        chunk = self.chunks[chunk_index]
        shape = (
            len(self.instruments),
            self.settings["n_channels"],
            chunk.n_frames,
            self.settings["F"],
        )
        size = int(np.prod(shape))
        data = self._song_array(chunk.song)[chunk.offset : chunk.offset + size]
        if data.size != size:
            raise DataError(
                f"{self.directory}: cache of song '{self.songs[chunk.song]['song']}' is "
                "truncated; run `-m process_data` to rebuild it"
            )
        block = data.reshape(shape)
        selected = range(len(self.instruments)) if instruments is None else instruments
        stop = min(start_frame + n_frames, chunk.n_frames)
        available = max(stop - start_frame, 0)
        out = np.zeros((len(selected), shape[1], n_frames, n_bins), dtype=np.float32)
        for position, instrument in enumerate(selected):
            coded = block[instrument, :, start_frame:stop, :n_bins]
            out[position, :, :available] = (
                coded if chunk.tables is None else chunk.tables[instrument][coded]
            )
        return out
