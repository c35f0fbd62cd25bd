"""Which folders are songs, one rule for ``--data`` and ``--mus_dir``: every folder in a subset
(and in the seed's layout every folder beside the songs) is a song, so an empty one, or one whose
song is nested a level deeper, fails with an ERROR line instead of being left out in silence."""

from __future__ import annotations

import json
import shutil

import pytest

from spleeter_paddle.commands.evaluate import main
from spleeter_paddle.errors import DataError
from spleeter_paddle.evaluation import OracleSeparator, evaluate, folder_tracks, musdb_tracks


def _tree(musdb_hq, root):
    """``root/test/{good, empty, nested/inner}``: one song, an empty folder, a nested song."""
    song = sorted((musdb_hq / "test").iterdir())[0]
    shutil.copytree(song, root / "test" / "good")
    (root / "test" / "empty").mkdir()
    shutil.copytree(song, root / "test" / "nested" / "inner")
    return root


def _problems(tracks):
    return {track.key: track.problem for track in tracks}


def test_empty_and_nested_song_folders_are_failed_songs_on_both_routes(musdb_hq, tmp_path):
    root = _tree(musdb_hq, tmp_path / "data")
    folders = _problems(folder_tracks(root))
    musdb = _problems(musdb_tracks(root, ["test"], is_wav=True))
    for problems in (folders, musdb):
        assert sorted(problems) == ["test/empty", "test/good", "test/nested"]
        assert problems["test/good"] is None
        assert problems["test/empty"].startswith(f"{root}/test/empty: missing mixture.wav, vocals")
        assert problems["test/nested"].startswith(f"{root}/test/nested: missing mixture.wav")
        assert problems["test/nested"].endswith(
            "(its sub-folder inner holds a song: only <subset>/<song>/ folders are read, move"
            " the song's files up one level)"
        )
    tracks = folder_tracks(root)
    oracle = OracleSeparator([t for t in tracks if not t.problem], ratio_mask=True)
    result = evaluate(oracle, tracks, tmp_path / "out", n_workers=0, progress=False)
    assert result.evaluated == ["test/good"]
    assert sorted(result.failed) == ["test/empty", "test/nested"]


def test_seed_layout_an_empty_folder_beside_the_songs_fails(seed_layout, tmp_path):
    root = tmp_path / "dataset"
    shutil.copytree(seed_layout, root)
    (root / "Empty Song").mkdir()
    problems = _problems(folder_tracks(root))
    assert problems.pop("test/Empty Song").startswith(f"{root}/Empty Song: missing mixture.wav")
    assert len(problems) == 2 and not any(problems.values())


def test_an_empty_split_and_a_single_song_root_are_not_songs(musdb_hq, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(sorted((musdb_hq / "test").iterdir())[0], root / "test" / "good")
    (root / "validation").mkdir()  # a split without songs yet
    assert _problems(folder_tracks(root)) == {"test/good": None}
    song = root / "test" / "good"
    (song / "notes" / "old").mkdir(parents=True)  # a song folder's own sub-folders
    assert _problems(folder_tracks(song)) == {"test/good": None}


def test_data_route_reports_the_folders_and_exits_1(
    musdb_hq, official_model_path, tmp_path, capsys
):
    root = _tree(musdb_hq, tmp_path / "data")
    out = tmp_path / "out"
    argv = ["--data", str(root), "-p", "spleeter:2stems", "-o", str(out), "--metric-workers", "0"]
    status = main(argv + ["--fraction", "1", "--no-progress", "--no-stability-check"])
    captured = capsys.readouterr()
    assert status == 1
    assert "ERROR test/empty: " in captured.err and "ERROR test/nested: " in captured.err
    assert "Traceback" not in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["songs"] == ["test/good"]
    assert sorted(summary["failed"]) == ["test/empty", "test/nested"]


def test_a_report_written_into_the_data_is_not_read_back_as_a_song(musdb_hq, tmp_path):
    """``evaluate -o <data>/test/x``: the next run over the data does not take ``x`` (scores,
    summary, plot) for a song; a folder merely holding a foreign summary.json still is one."""
    root = tmp_path / "data"
    shutil.copytree(sorted((musdb_hq / "test").iterdir())[0], root / "test" / "good")
    tracks = folder_tracks(root)
    oracle = OracleSeparator(tracks, ratio_mask=True)
    evaluate(oracle, tracks, root / "test" / "x", n_workers=0, progress=False)
    assert (root / "test" / "x" / "summary.json").is_file()
    assert _problems(folder_tracks(root)) == {"test/good": None}
    (root / "test" / "notes").mkdir()
    (root / "test" / "notes" / "summary.json").write_text(json.dumps({"mine": 1}))
    assert sorted(_problems(folder_tracks(root))) == ["test/good", "test/notes"]


def test_a_report_is_never_written_into_a_song_and_a_song_holding_one_stays_a_song(
    musdb_hq, tmp_path, capsys
):
    """``evaluate -o <data>/test/<song>`` is refused before anything runs (the report would be
    written among the stems, and the song then left out of every later run); a song folder
    that holds a report anyway (an older version wrote it) is still a song."""
    root = tmp_path / "data"
    song = root / "test" / "good"
    shutil.copytree(sorted((musdb_hq / "test").iterdir())[0], song)
    before = sorted(path.name for path in song.iterdir())
    (tmp_path / "link").symlink_to(song, target_is_directory=True)
    for output, says in (
        (song, "inside (or is) the song folder"),
        (song / "report", "inside (or is) the song folder"),
        (tmp_path / "link", "inside (or is) the song folder"),
        (root / "test", "holds the song"),  # a split: its songs would sit beside the report
    ):
        argv = ["--data", str(root), "-p", "spleeter:2stems", "-o", str(output), "--fraction", "1"]
        assert main(argv) == 2
        assert says in capsys.readouterr().err
        assert sorted(path.name for path in song.iterdir()) == before
        assert sorted(path.name for path in (root / "test").iterdir()) == ["good"]
    tracks = folder_tracks(root)
    evaluate(OracleSeparator(tracks, ratio_mask=True), tracks, root / "test" / "x", n_workers=0,
             progress=False)  # fmt: skip
    shutil.copy(root / "test" / "x" / "summary.json", song / "summary.json")
    shutil.copy(root / "test" / "x" / "summary.json", root / "test" / "summary.json")
    assert _problems(folder_tracks(root)) == {"test/good": None}  # the split, and its song


def test_a_misspelt_subset_beside_a_good_one_is_named(musdb_hq, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(sorted((musdb_hq / "test").iterdir())[0], root / "test" / "good")
    with pytest.raises(DataError, match="no subset 'tset'"):
        folder_tracks(root, ["test", "tset"])
    assert _problems(folder_tracks(root, ["test"])) == {"test/good": None}
