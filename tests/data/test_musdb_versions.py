"""download-musdb follows its source's content: a song is skipped only when every output was
made from the source as it is now; a changed source, or a partial song, is converted whole, so a
song folder never mixes stems of two versions of a song."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.cli import main
from spleeter_paddle.data.musdb import TAG_KIND, convert_musdb
from spleeter_paddle.data.musdb_record import RECORD_NAME
from spleeter_paddle.data.synthetic import generate_musdb_tree
from spleeter_paddle.ownership import stem_tag

SONG = "Synthetic Artist 00 - Train Song 00"
PCM16_STEP = 1.0 / 32768


def _convert(root: Path, output: Path, stems: str = "2"):
    return convert_musdb(root, output, is_wav=True, stems=stems, show_progress=False)


def _assert_made_from(song: Path, source: Path, stems) -> None:
    """Every stem of ``song`` holds the audio of ``source`` (accompaniment: the sum)."""
    read = {name: sf.read(source / f"{name}.wav", dtype="float32")[0] for name in
            ("mixture", "vocals", "drums", "bass", "other")}  # fmt: skip
    read["accompaniment"] = read["drums"] + read["bass"] + read["other"]
    for stem in stems:
        written = sf.read(song / f"{stem}.wav", dtype="float32")[0]
        assert written.shape == read[stem].shape, stem
        np.testing.assert_allclose(written, read[stem], atol=3 * PCM16_STEP, err_msg=stem)


@pytest.fixture
def converted(tmp_path: Path):
    root = tmp_path / "musdb"
    generate_musdb_tree(root, n_songs=2, duration_s=1.0, seed=0)
    report = _convert(root, tmp_path / "ds")
    assert len(report.written) == 4 and not report.failed
    return root, tmp_path / "ds"


def test_a_replaced_source_is_converted_again_whole(converted):
    root, ds = converted
    generate_musdb_tree(root, n_songs=2, duration_s=1.5, seed=1)  # same names, new audio
    song = ds / "train" / SONG
    (song / "vocals.wav").unlink()
    report = _convert(root, ds)
    assert len(report.written) == 4 and not report.existing and not report.failed
    _assert_made_from(song, root / "train" / SONG, ("mixture", "vocals", "accompaniment"))
    again = _convert(root, ds)
    assert len(again.existing) == 4 and not again.written


def test_a_missing_stem_rewrites_the_whole_song(converted):
    root, ds = converted
    song = ds / "train" / SONG
    before = {p.name: p.stat().st_ino for p in song.glob("*.wav")}
    (song / "vocals.wav").unlink()
    report = _convert(root, ds)
    assert report.written == [f"train/{SONG}"] and len(report.existing) == 3
    after = {p.name: p.stat().st_ino for p in song.glob("*.wav")}
    assert all(after[name] != inode for name, inode in before.items())  # each one rewritten
    _assert_made_from(song, root / "train" / SONG, ("mixture", "vocals", "accompaniment"))


def test_stems_of_a_wider_run_follow_the_source_too(converted):
    """``--stems all`` once, then the source changes and ``--stems 2`` runs: drums/bass/other
    there are rewritten with the rest, not left from the old version."""
    root, ds = converted
    assert len(_convert(root, ds, "all").written) == 4
    generate_musdb_tree(root, n_songs=2, duration_s=1.5, seed=1)
    assert len(_convert(root, ds, "2").written) == 4
    _assert_made_from(ds / "train" / SONG, root / "train" / SONG, ("drums", "bass", "other"))


def test_swapped_source_stems_keeping_size_mtime_and_inode_are_seen(converted):
    root, ds = converted
    source = root / "train" / SONG
    vocals, drums = source / "vocals.wav", source / "drums.wav"
    stamp = 1_700_000_000 * 10**9
    for path in source.glob("*.wav"):
        os.utime(path, ns=(stamp, stamp))
    assert len(_convert(root, ds).existing) == 4  # the new mtimes alone change nothing
    shutil.copy2(vocals, source.parent / "v.tmp")  # cp -p: content and mtime, same inode
    shutil.copy2(drums, vocals)
    shutil.copy2(source.parent / "v.tmp", drums)
    (source.parent / "v.tmp").unlink()
    assert vocals.stat().st_mtime_ns == drums.stat().st_mtime_ns == stamp
    report = _convert(root, ds)
    assert report.written == [f"train/{SONG}"]
    _assert_made_from(ds / "train" / SONG, source, ("vocals", "accompaniment"))


def test_same_source_bytes_with_new_stats_are_skipped(converted):
    root, ds = converted
    source = root / "train" / SONG
    copy = source.parent / "copy"
    shutil.copytree(source, copy)
    shutil.rmtree(source)
    copy.rename(source)  # new inodes and times, the same bytes
    report = _convert(root, ds)
    assert len(report.existing) == 4 and not report.written
    record = json.loads((ds / "train" / SONG / RECORD_NAME).read_text())
    assert record["sources"][0]["ino"] == (source / "mixture.wav").stat().st_ino


def test_the_same_root_named_another_way_is_skipped(converted, monkeypatch):
    root, ds = converted
    monkeypatch.chdir(root.parent)
    report = _convert(Path("musdb"), Path("ds"))
    assert len(report.existing) == 4 and not report.written


def test_an_output_rewritten_in_place_is_converted_again(converted):
    root, ds = converted
    song = ds / "train" / SONG
    data, rate = sf.read(song / "vocals.wav", dtype="float32")
    with sf.SoundFile(song / "vocals.wav") as written:
        comment = written.comment  # the tag is kept: only the bytes tell
    with sf.SoundFile(song / "vocals.wav", "w", rate, 2, "PCM_16") as damaged:
        damaged.comment = comment
        damaged.write(np.zeros_like(data))
    report = _convert(root, ds)
    assert report.written == [f"train/{SONG}"]
    _assert_made_from(song, root / "train" / SONG, ("vocals",))


def test_outputs_of_an_older_version_without_record_are_converted_again(converted, capsys):
    """Outputs tagged by a version that named only the source path (no record) are this
    tool's own: converted again, not an error."""
    root, ds = converted
    song = ds / "train" / SONG
    (song / RECORD_NAME).unlink()
    for path in song.glob("*.wav"):
        data, rate = sf.read(path, dtype="float32")
        old_tag = stem_tag(TAG_KIND, path.stem, root / "train" / SONG)
        with sf.SoundFile(path, "w", rate, 2, "PCM_16") as old:
            old.comment = old_tag
            old.write(data * 0.5)  # what an older source held
    argv = ["download-musdb", "--musdb-root", str(root), "--is-wav", "-o", str(ds), "--quiet"]
    assert main(argv) == 0
    assert "converted 1 songs, 3 already present, 0 failed" in capsys.readouterr().out
    _assert_made_from(song, root / "train" / SONG, ("mixture", "vocals", "accompaniment"))


def test_a_foreign_file_at_the_record_path_is_kept(converted, capsys):
    root, ds = converted
    record = ds / "train" / SONG / RECORD_NAME
    record.write_text("my notes")
    argv = ["download-musdb", "--musdb-root", str(root), "--is-wav", "-o", str(ds), "--quiet"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if "ERROR " in line]
    assert (
        len(errors) == 1 and f"ERROR train/{SONG}: output {record} exists and is not" in errors[0]
    )
    assert "Traceback" not in captured.err and record.read_text() == "my notes"
    assert main([*argv, "--overwrite"]) == 0
    assert json.loads(record.read_text())["tool"] == "spleeter-paddle download-musdb"
