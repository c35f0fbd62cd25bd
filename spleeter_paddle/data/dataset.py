"""``paddle.io`` datasets over a ``process_data`` cache: items ``(mix [C, T, F], targets
[N, C, T, F])`` float32 magnitudes (``instrument_list`` order), synchronised T-frame crops drawn
from ``(seed, epoch, index)``, so that they do not depend on the worker that loads them."""

from __future__ import annotations

import itertools
import logging
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import numpy as np

from ..errors import DataError
from ..runtime import paddle
from ..vocab import AUGMENTATIONS
from .cache_files import SpectrogramCache

GAIN_RANGE = (0.25, 1.25)  # Open-Unmix's random gain range

logger = logging.getLogger(__name__)


class CacheDataset(paddle.io.Dataset):
    """T-frame items of the chunks of ``cache`` checked against ``params``: the mix, then the
    instruments of ``params`` (a chunk shorter than T is zero-padded at its end)."""

    def __init__(self, cache: SpectrogramCache, params: Dict[str, Any]):
        super().__init__()
        cache.check(params)
        self.cache, self.T, self.F = cache, params["T"], params["F"]
        names = [params["mix_name"], *params["instrument_list"]]
        self.columns = [cache.instruments.index(name) for name in names]
        short = sum(chunk.n_frames < self.T for chunk in cache.chunks)
        if short:
            logger.info(
                "%s: %d of %d chunks are shorter than T = %d frames: zero-padded",
                cache.directory, short, len(cache.chunks), self.T,
            )  # fmt: skip

    def __len__(self) -> int:
        return len(self.cache.chunks)


class TrainingDataset(CacheDataset):
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
        super().__init__(cache, params)
        self.seed, self.epoch = seed, 0
        unknown = [name for name in augmentation if name not in AUGMENTATIONS]
        if unknown:
            raise DataError(
                f"unknown augmentation {', '.join(unknown)}; use {', '.join(AUGMENTATIONS)}"
            )
        self.augmentation = tuple(augmentation)
        if not cache.chunks:
            raise DataError(f"{cache.directory}: the cache holds no chunk")

    def set_epoch(self, epoch: int) -> None:
        """Crops depend on the epoch: call before iterating a new epoch."""
        self.epoch = epoch

    def _crop(self, rng: np.random.Generator, chunk: int, columns: Sequence[int]) -> np.ndarray:
        start = int(rng.integers(0, max(self.cache.chunks[chunk].n_frames - self.T, 0) + 1))
        return self.cache.read(chunk, start, self.T, self.F, columns)

    def __getitem__(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if "remix" in self.augmentation:
            sources = [self._crop(rng, index, self.columns[1:2])[0]]
            for column in self.columns[2:]:
                other = int(rng.integers(0, len(self)))
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


class ValidationDataset(CacheDataset):
    """The central T frames of each cached validation chunk (Spleeter's validation set; shorter
    chunks are zero-padded)."""

    def __getitem__(self, chunk: int) -> Tuple[np.ndarray, np.ndarray]:
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
