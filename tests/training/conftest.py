"""Fixtures for the training tests: a small cached 2-stem dataset (T = 64, F = 128)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))

from data_helpers import small_params, two_stem_song, write_song  # noqa: E402


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """``(params, root)``: 2 training songs x 2 chunks cached, 1 validation song."""
    from spleeter_paddle.data.cache import process_data
    from spleeter_paddle.data.manifest import build_manifests

    root = tmp_path_factory.mktemp("training")
    for index in range(3):
        write_song(root / "dataset" / "train" / f"Song {index}", two_stem_song(6.0, index))
    params = small_params(root)
    build_manifests(params, root / "dataset", validation_fraction=0.34, show_progress=False)
    process_data(params, root / "dataset", workers=1, show_progress=False)
    return params, root
