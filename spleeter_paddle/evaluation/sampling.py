"""Seeded choice of the songs to evaluate (the seed's ``eval.py`` scores a random tenth)."""

from __future__ import annotations

import random
from typing import List, Sequence, TypeVar

from .. import options
from ..errors import DataError

T = TypeVar("T")


def sample_count(n_tracks: int, fraction: float) -> int:
    """Songs to keep: ``round(fraction * n_tracks)``, at least one, at most all."""
    options.checked("--fraction", options.fraction, fraction, error=DataError)
    return min(n_tracks, max(1, round(fraction * n_tracks)))


def sample_tracks(tracks: Sequence[T], fraction: float = 1.0, seed: int = 0) -> List[T]:
    """A reproducible subset of ``tracks``, in their original order: the same ``(tracks,
    fraction, seed)`` always gives the same songs, whatever the machine."""
    count = sample_count(len(tracks), fraction)
    if count == len(tracks):
        return list(tracks)
    chosen = sorted(random.Random(seed).sample(range(len(tracks)), count))
    return [tracks[index] for index in chosen]
