"""``paddle.io`` datasets over a ``process_data`` cache: synchronised random T-frame crops.

Every item is ``(mix [C, T, F], targets [N, C, T, F])`` float32 magnitudes, N instruments in
``instrument_list`` order. Crops are drawn from ``(seed, epoch, index)``, so they do not depend
on the worker that loads them. Augmentation is off by default, as in Spleeter.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import DataError
from ..runtime import paddle
from .cache import CACHE_FORMAT, dequantise_table
from .cache_files import entry_problem
from .sources import stale_source

AUGMENTATIONS = ("gain", "swap", "remix")
GAIN_RANGE = (0.25, 1.25)  # Open-Unmix's random gain range

logger = logging.getLogger(__name__)


@dataclass
class Chunk:
    """One cached chunk: its song, element offset in the song file, frame count, uint8 tables."""

    song: int
    offset: int
    n_frames: int
    tables: Optional[np.ndarray]  # (I, 256) float32 magnitudes per code, uint8 caches only


class SpectrogramCache:
    """Read side of a cache directory written by :func:`spleeter_paddle.data.cache.build_cache`."""

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

    def _check_file(self, song: Dict[str, Any]) -> None:
        """The song's file exists with its recorded size (sha256: :meth:`verify`)."""
        problem = entry_problem(song, self.directory / "songs", checksum=False)
        if problem is not None:
            raise DataError(
                f"{self.directory}: cache of song '{song['song']}' is damaged ({problem}); "
                "run `-m process_data` to rebuild it"
            )

    def verify(self) -> None:
        """Check every song file against its recorded sha256 (reads the whole cache), and the
        song's source audio, where it still exists, against the files it was computed from."""
        for song in self.songs:
            problem = entry_problem(song, self.directory / "songs", checksum=True)
            if problem is not None:
                raise DataError(
                    f"{self.directory}: cache of song '{song['song']}' is damaged ({problem}); "
                    "run `-m process_data` to rebuild it"
                )
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
        """Magnitudes of frames ``[start, start + n_frames)``, bins ``[0, n_bins)``; frames past
        the chunk's end are zeros (short chunks are padded, not dropped).

        Returns ``(len(instruments), C, n_frames, n_bins)`` float32 (all instruments by default,
        mix first).
        """
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
            if chunk.tables is None:
                out[position, :, :available] = coded
            else:
                out[position, :, :available] = chunk.tables[instrument][coded]
        return out


def _check_augmentation(augmentation: Sequence[str]) -> Tuple[str, ...]:
    unknown = [name for name in augmentation if name not in AUGMENTATIONS]
    if unknown:
        raise DataError(
            f"unknown augmentation {', '.join(unknown)}; use {', '.join(AUGMENTATIONS)}"
        )
    return tuple(augmentation)


def _log_padding(cache: SpectrogramCache, T: int) -> None:
    short = sum(chunk.n_frames < T for chunk in cache.chunks)
    if short:
        logger.info(
            "%s: %d of %d chunks are shorter than T = %d frames: zero-padded",
            cache.directory,
            short,
            len(cache.chunks),
            T,
        )


class TrainingDataset(paddle.io.Dataset):
    """Random synchronised T-frame crops of every cached chunk (a chunk shorter than T is
    zero-padded at its end, where Spleeter drops it).

    ``augmentation`` (any of ``gain``, ``swap``, ``remix``): random gain in [0.25, 1.25]; swap
    stereo channels with probability 1/2; ``remix`` draws each target from a random chunk of
    any song and rebuilds the mix as ``sqrt(sum |target|^2)`` (the expected magnitude of a sum
    with independent phases, since only magnitudes are cached).
    """

    def __init__(
        self,
        cache: SpectrogramCache,
        params: Dict[str, Any],
        seed: int = 0,
        augmentation: Sequence[str] = (),
    ):
        super().__init__()
        cache.check(params)
        self.cache, self.seed, self.epoch = cache, seed, 0
        self.T, self.F = params["T"], params["F"]
        self.augmentation = _check_augmentation(augmentation)
        self.columns = [cache.instruments.index(params["mix_name"])] + [
            cache.instruments.index(name) for name in params["instrument_list"]
        ]
        self.items = list(range(len(cache.chunks)))
        if not self.items:
            raise DataError(f"{cache.directory}: the cache holds no chunk")
        _log_padding(cache, self.T)

    def set_epoch(self, epoch: int) -> None:
        """Crops depend on the epoch: call before iterating a new epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def _crop(self, rng: np.random.Generator, item: int, columns: Sequence[int]) -> np.ndarray:
        chunk = self.items[item]
        start = int(rng.integers(0, max(self.cache.chunks[chunk].n_frames - self.T, 0) + 1))
        return self.cache.read(chunk, start, self.T, self.F, columns)

    def __getitem__(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if "remix" in self.augmentation:
            sources = [self._crop(rng, index, self.columns[1:2])[0]]
            for column in self.columns[2:]:
                other = int(rng.integers(0, len(self.items)))
                sources.append(self._crop(rng, other, [column])[0])
            targets = np.stack(sources)
            if "gain" in self.augmentation:
                targets *= rng.uniform(*GAIN_RANGE, size=(len(targets), 1, 1, 1)).astype(np.float32)
            mix = np.sqrt(np.sum(np.square(targets), axis=0))
        else:
            spectra = self._crop(rng, index, self.columns)
            if "gain" in self.augmentation:
                spectra *= np.float32(rng.uniform(*GAIN_RANGE))
            mix, targets = spectra[0], spectra[1:]
        if "swap" in self.augmentation and rng.random() < 0.5:
            mix, targets = mix[::-1], targets[:, ::-1]
        return np.ascontiguousarray(mix), np.ascontiguousarray(targets)


class ValidationDataset(paddle.io.Dataset):
    """The central T frames of each cached validation chunk (Spleeter's validation set; shorter
    chunks are zero-padded)."""

    def __init__(self, cache: SpectrogramCache, params: Dict[str, Any]):
        super().__init__()
        cache.check(params)
        self.cache, self.T, self.F = cache, params["T"], params["F"]
        self.columns = [cache.instruments.index(params["mix_name"])] + [
            cache.instruments.index(name) for name in params["instrument_list"]
        ]
        self.items = list(range(len(cache.chunks)))
        _log_padding(cache, self.T)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        chunk = self.items[index]
        start = int(max(self.cache.chunks[chunk].n_frames / 2 - self.T / 2, 0))
        spectra = self.cache.read(chunk, start, self.T, self.F, self.columns)
        return spectra[0], spectra[1:]


class ResumableBatchSampler(paddle.io.DistributedBatchSampler):
    """``DistributedBatchSampler`` seeded by ``(seed, epoch)`` that can start mid-epoch.

    With one process it is a seeded shuffling batch sampler; with N it gives each rank its
    share. ``skip_batches`` (set before iterating) drops that many batches once, for resume.
    """

    def __init__(
        self,
        dataset: paddle.io.Dataset,
        batch_size: int,
        seed: int = 0,
        drop_last: bool = True,
        **kwargs,
    ):
        super().__init__(dataset, batch_size, shuffle=True, drop_last=drop_last, **kwargs)
        self.seed, self.skip_batches = seed, 0

    def set_epoch(self, epoch: int) -> None:
        # The parent shuffles with RandomState(self.epoch): fold the seed in.
        super().set_epoch(self.seed * 1_000_003 + epoch)

    def __iter__(self) -> Iterator[List[int]]:
        skip, self.skip_batches = self.skip_batches, 0
        return itertools.islice(super().__iter__(), skip, None)


def batches_per_epoch(
    n_items: int, batch_size: int, world_size: int = 1, drop_last: bool = True
) -> int:
    """Batches one rank sees per epoch with :class:`ResumableBatchSampler`."""
    per_rank = math.ceil(n_items / world_size)
    return per_rank // batch_size if drop_last else math.ceil(per_rank / batch_size)
