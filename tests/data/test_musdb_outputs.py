"""download-musdb never writes over its inputs (the whole run is refused, exit 2) nor over files
it did not write from the same song (an ERROR for that song unless --overwrite)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.cli import main
from spleeter_paddle.data.synthetic import generate_musdb_tree

STEMS = ("mixture", "vocals", "drums", "bass", "other")


def _digests(folder: Path) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.wav"))}


def _download(root: Path, output: Path, *extra: str) -> int:
    argv = ["download-musdb", "--musdb-root", str(root), "--is-wav", "-o", str(output)]
    return main([*argv, "--quiet", *extra])


@pytest.fixture(scope="module")
def musdb(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("musdb")
    generate_musdb_tree(root, n_songs=2, duration_s=1.0, seed=5)
    return root


def test_output_equal_to_the_musdb_root_is_refused(tmp_path: Path, capsys):
    song = tmp_path / "hq/train/song"
    song.mkdir(parents=True)
    noise = np.random.default_rng(0).standard_normal((8820, 2)).astype(np.float32) * 0.01
    for stem in STEMS:
        sf.write(song / f"{stem}.wav", noise, 44100, subtype="FLOAT")
    before = _digests(tmp_path / "hq")
    for stems in ("2", "all"):
        assert _download(tmp_path / "hq", tmp_path / "hq", "--stems", stems) == 2
        assert _download(tmp_path / "hq", tmp_path / "hq", "--stems", stems, "--overwrite") == 2
    err = capsys.readouterr().err
    assert "is inside the MUSDB18 root" in err and "choose an -o/--output outside it" in err
    assert _digests(tmp_path / "hq") == before
    assert sf.info(song / "mixture.wav").subtype == "FLOAT"


def test_foreign_files_are_kept_unless_overwrite(musdb: Path, tmp_path: Path, capsys):
    song = sorted((musdb / "test").iterdir())[0]
    foreign = tmp_path / "ds/test" / song.name / "mixture.wav"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("my own mixture")
    assert _download(musdb, tmp_path / "ds") == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if "] - ERROR " in line]
    assert (
        len(errors) == 1
        and f"ERROR test/{song.name}: output {foreign} exists and was not" in errors[0]
    )
    assert foreign.read_text() == "my own mixture"
    assert "converted 3 songs" in captured.out
    # Its own outputs from the same song are recognised: a re-run skips them.
    assert _download(musdb, tmp_path / "ds") == 1
    assert "converted 0 songs, 3 already present, 1 failed" in capsys.readouterr().out
    assert _download(musdb, tmp_path / "ds", "--overwrite") == 0
    assert sf.info(foreign).frames == sf.info(song / "mixture.wav").frames
    assert "converted 1 songs, 3 already present" in capsys.readouterr().out


def test_outputs_of_another_source_are_kept(musdb: Path, tmp_path: Path, capsys):
    other = tmp_path / "other"
    shutil.copytree(musdb, other)
    assert _download(musdb, tmp_path / "ds") == 0
    before = _digests(tmp_path / "ds")
    assert _download(other, tmp_path / "ds") == 1
    assert "holds mixture of " in capsys.readouterr().err
    assert _digests(tmp_path / "ds") == before


@pytest.mark.parametrize("inside", ["train", "train/new", "."])
def test_an_output_inside_the_musdb_root_is_refused_before_work(musdb: Path, capsys, inside):
    """Songs written into the root would be read back as MUSDB songs by the next run."""
    before = _digests(musdb)
    assert _download(musdb, musdb / inside) == 2
    assert "is inside the MUSDB18 root" in capsys.readouterr().err
    assert _digests(musdb) == before


def test_a_misspelt_subset_beside_a_good_one_is_refused(musdb: Path, tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as stop:  # a usage error, when the flags are parsed
        _download(musdb, tmp_path / "out", "--subsets", "train", "tset")
    assert stop.value.code == 2
    assert "'tset'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_output_that_is_a_file_is_a_usage_error_before_any_song(
    musdb: Path, tmp_path: Path, capsys
):
    (tmp_path / "a.wav").write_bytes(b"mine")
    assert _download(musdb, tmp_path / "a.wav") == 2
    assert "exists and is not a directory" in capsys.readouterr().err
    assert (tmp_path / "a.wav").read_bytes() == b"mine"
