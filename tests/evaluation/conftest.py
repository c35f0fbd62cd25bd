"""Generated MUSDB18-HQ songs for the evaluation tests (2 s each, written once per session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.data.synthetic import generate_musdb_tree

DURATION_S = 2.0


@pytest.fixture(scope="session")
def musdb_hq(tmp_path_factory) -> Path:
    """``root/{train,test}/<song>/{mixture,vocals,drums,bass,other}.wav``, 2 songs per split."""
    root = tmp_path_factory.mktemp("musdb_hq")
    generate_musdb_tree(root, n_songs=2, duration_s=DURATION_S, seed=7)
    return root


def write_seed_layout(musdb_root: Path, target: Path, subset: str = "test") -> Path:
    """The seed's layout ``target/<song>/{mixture,vocal,instrumental}.wav`` from a MUSDB tree."""
    for song in sorted((musdb_root / subset).iterdir()):
        directory = target / song.name
        directory.mkdir(parents=True)
        stems = {
            name: sf.read(song / f"{name}.wav")[0] for name in ("vocals", "drums", "bass", "other")
        }
        sf.write(
            directory / "mixture.wav", sf.read(song / "mixture.wav")[0], 44100, subtype="PCM_16"
        )
        sf.write(directory / "vocal.wav", stems["vocals"], 44100, subtype="PCM_16")
        instrumental = np.sum([stems[n] for n in ("drums", "bass", "other")], axis=0)
        sf.write(directory / "instrumental.wav", instrumental, 44100, subtype="PCM_16")
    return target


@pytest.fixture(scope="session")
def seed_layout(musdb_hq, tmp_path_factory) -> Path:
    return write_seed_layout(musdb_hq, tmp_path_factory.mktemp("seed") / "dataset")
