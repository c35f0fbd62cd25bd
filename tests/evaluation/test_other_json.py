"""``evaluate -o`` holding per-song JSON of songs that are not in this run (renamed, removed, or
drawn by another sample): summary.json and the table describe exactly this run's songs, and the
other files are listed (log, table, summary.json), never deleted or moved."""

from __future__ import annotations

import logging
import shutil

from spleeter_paddle.evaluation import OracleSeparator, evaluate, folder_tracks, format_table
from spleeter_paddle.sigsep import import_museval


def _run(tracks, out):
    oracle = OracleSeparator(tracks, ratio_mask=True)
    return evaluate(oracle, tracks, out, n_workers=0, progress=False, check_stability=False)


def test_json_of_songs_not_in_this_run_are_listed_and_kept(musdb_hq, tmp_path, caplog):
    data = tmp_path / "data"
    shutil.copytree(musdb_hq / "test", data / "test")
    out = tmp_path / "out"
    first, second = folder_tracks(data)
    assert not _run([first, second], out).other_json_files
    (out / "metrics" / "test" / "notes").mkdir()
    (out / "metrics" / "test" / "notes" / "mine.json").write_text("{}")  # a user's file: listed too
    shutil.move(data / "test" / second.name, data / "test" / "renamed")
    tracks = folder_tracks(data)
    with caplog.at_level(logging.WARNING, logger="spleeter_paddle"):
        result = _run(tracks, out)
    stale = [f"metrics/test/{second.name}.json", "metrics/test/notes/mine.json"]
    assert result.other_json_files == stale
    assert result.summary["other_json_files"] == stale
    assert result.summary["songs"] == [t.key for t in tracks]
    assert "2 JSON file(s) not of this run's songs" in caplog.text
    table = format_table(result.summary)
    assert (
        f"note: 2 JSON file(s) in the output folder are not of these songs (metrics/test/{second.name}"
        in table
    )
    assert all((out / name).is_file() for name in stale)  # nothing of the user's removed
    # Why it matters: museval's reader of the folder counts every JSON under metrics/test/.
    store = import_museval().EvalStore()
    (out / "metrics" / "test" / "notes" / "mine.json").unlink()
    store.add_eval_dir(str(out / "metrics"))
    assert len(set(store.df["track"])) == len(tracks) + 1
