"""Helpers for the data and training tests: small 2-stem song folders and a matching config.

Songs come from ``spleeter_paddle.data.synthetic`` (deterministic); the configuration uses small
shapes (T = 64 frames, F = 128 bins, 4 s chunks) and absolute paths under the test's folder.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict

import numpy as np
import soundfile as sf

from spleeter_paddle.data.synthetic import generate_song
from spleeter_paddle.training.config import default_training_params

SAMPLE_RATE = 44100


def small_params(root: Path, **changes) -> Dict:
    """Training params with test shapes and every path under ``root``."""
    params = default_training_params()
    params.update(
        T=64,
        F=128,
        chunk_duration=4.0,
        n_chunks_per_song=2,
        batch_size=2,
        train_csv=str(root / "configs" / "train.csv"),
        validation_csv=str(root / "configs" / "validation.csv"),
        training_cache=str(root / "cache" / "training"),
        validation_cache=str(root / "cache" / "validation"),
        model_dir=str(root / "model" / "run"),
    )
    params.update(changes)
    return params


@lru_cache(maxsize=32)
def two_stem_song(duration_s: float, seed: int) -> Dict[str, np.ndarray]:
    """``{"mixture", "vocals", "accompaniment"}`` -> ``(n, 2)`` float32, mixture = exact sum.

    Cached: do not modify the arrays."""
    song = generate_song(duration_s, seed)
    accompaniment = song["drums"] + song["bass"] + song["other"]
    return {"mixture": song["mixture"], "vocals": song["vocals"], "accompaniment": accompaniment}


def write_song(
    directory: Path, stems: Dict[str, np.ndarray], sample_rate: int = SAMPLE_RATE
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, waveform in stems.items():
        sf.write(directory / f"{name}.wav", waveform, sample_rate, subtype="FLOAT")
    return directory
