"""Fixtures for the data pipeline tests (helpers live in ``data_helpers.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from data_helpers import two_stem_song, write_song


@pytest.fixture
def song_writer(tmp_path: Path) -> Callable[..., Path]:
    """``song_writer(split, name, duration_s=5, seed=0)`` writes ``dataset/<split>/<name>/``."""

    def write(split: str, name: str, duration_s: float = 5.0, seed: int = 0) -> Path:
        return write_song(tmp_path / "dataset" / split / name, two_stem_song(duration_s, seed))

    return write
