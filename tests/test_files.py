"""Temporaries are reclaimed only when this tool made them (the journal of a held folder), and
every writer of a shared folder holds it: separate's stems, export's staging, the caches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spleeter_paddle.files import JOURNAL_NAME, FolderBusy, hold_folder, new_temporary

KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from spleeter_paddle.files import hold_folder, new_temporary

    folder = Path(sys.argv[1])
    with hold_folder(folder):
        part = new_temporary(folder / "song.bin", ".bin")
        part.write_bytes(b"half a song")
        staging = new_temporary(folder / "exported", ".export", directory=True)
        (staging / "model.onnx").write_bytes(b"half a model")
        replaced = new_temporary(folder / "other.bin", ".bin")
        print(part.name, staging.name, replaced.name, flush=True)
        time.sleep(120)
    """
)


def _killed_run(folder: Path) -> list:
    """What a SIGKILLed run of this tool left in ``folder``: the names of its temporaries."""
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(folder)], stdout=subprocess.PIPE, text=True
    )
    names = process.stdout.readline().split()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    assert len(names) == 3 and all((folder / name).exists() for name in names)
    return names


def test_a_killed_runs_temporaries_go_and_look_alikes_stay(tmp_path):
    part, staging, replaced = _killed_run(tmp_path)
    # Someone else's files under our names: a file put in place of a recorded one (that one
    # moved aside, so kept too: renamed, it is the user's now), and look-alikes.
    os.rename(tmp_path / replaced, tmp_path / "kept.bin")
    (tmp_path / replaced).write_bytes(b"the user's file, now under this name")
    (tmp_path / ".song.bin.0badc0de.bin").write_bytes(b"not ours")
    (tmp_path / ".exported.12345678.export").mkdir()
    with hold_folder(tmp_path):
        assert not (tmp_path / part).exists() and not (tmp_path / staging).exists()
    assert sorted(os.listdir(tmp_path)) == sorted(
        [replaced, "kept.bin", ".song.bin.0badc0de.bin", ".exported.12345678.export"]
    )
    assert (tmp_path / replaced).read_bytes() == b"the user's file, now under this name"


def test_a_file_named_like_the_journal_is_never_read_as_one(tmp_path):
    (tmp_path / JOURNAL_NAME).write_text('{"name": "notes.txt", "device": 0, "inode": 0}\n')
    (tmp_path / "notes.txt").write_text("mine")
    with hold_folder(tmp_path):
        new_temporary(tmp_path / "x", ".part")  # not journalled: the journal is not ours
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / JOURNAL_NAME).exists()


def test_a_held_folder_is_refused_to_a_second_holder(tmp_path):
    with hold_folder(tmp_path), pytest.raises(FolderBusy), hold_folder(tmp_path):
        pass
    with hold_folder(tmp_path):  # released
        pass
    assert os.listdir(tmp_path) == []  # the journal goes with the last holder


def test_cache_and_export_writers_hold_their_folders(tmp_path):
    """The cache build and the export reclaim through the same journal: both hold their folder,
    so a second run (or this test holding it) is refused before anything is written."""
    from spleeter_paddle.configuration import load_configuration
    from spleeter_paddle.data.cache_files import held_cache
    from spleeter_paddle.errors import ConfigurationError, DataError
    from spleeter_paddle.graph.export import export_network

    (tmp_path / "cache" / "songs").mkdir(parents=True)
    busy = pytest.raises(DataError, match="another spleeter-paddle run is building")
    with hold_folder(tmp_path / "cache"), busy, held_cache(tmp_path / "cache"):
        pass
    params = load_configuration("spleeter:2stems")
    (tmp_path / "exports").mkdir()
    busy = pytest.raises(ConfigurationError, match="another spleeter-paddle run")
    with hold_folder(tmp_path / "exports"), busy:
        export_network(None, params, tmp_path / "exports" / "model", fmt="paddle")
    assert os.listdir(tmp_path / "exports") == []


def test_a_journal_that_is_no_regular_file_is_left_alone_without_blocking(tmp_path):
    import json

    fifo, device, forged = (tmp_path / name for name in ("fifo", "device", "forged"))
    for folder in (fifo, device, forged):
        folder.mkdir()
    os.mkfifo(fifo / JOURNAL_NAME)  # opening it for reading would wait for a writer forever
    (device / JOURNAL_NAME).symlink_to("/dev/zero")  # reading it would never end
    mine = forged / "user.txt"
    mine.write_text("my notes")
    status = os.lstat(mine)
    entry = {"name": "user.txt", "device": status.st_dev, "inode": status.st_ino}
    header = "spleeter-paddle journal of temporaries, v1\n"
    (forged / JOURNAL_NAME).write_text(header + json.dumps(entry) + "\n")
    for folder in (fifo, device, forged):
        with hold_folder(folder):
            new_temporary(folder / "song.bin", ".bin").write_bytes(b"x")
    assert mine.read_text() == "my notes"  # a forged entry names no temporary of ours
    assert (fifo / JOURNAL_NAME).exists() and (device / JOURNAL_NAME).is_symlink()
