"""Fixtures for the data pipeline tests (helpers live in ``data_helpers.py``)."""

from __future__ import annotations

import logging
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


@pytest.fixture(autouse=True)
def restore_logging():
    """The CLI re-configures the root logger onto the test's captured stderr: put it back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    ours = logging.getLogger("spleeter_paddle").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("spleeter_paddle").setLevel(ours)
