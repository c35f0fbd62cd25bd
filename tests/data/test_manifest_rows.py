"""Every field of a manifest is checked when it is read: a bad line is one ERROR for its song
(naming the file and line), the other songs are cached; never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from data_helpers import small_params

from spleeter_paddle.cli import main
from spleeter_paddle.data.manifest import build_manifests
from spleeter_paddle.data.manifest_csv import manifest_rows
from spleeter_paddle.errors import DataError

HEADER = "mix_path,vocals_path,accompaniment_path,duration,sample_rate,n_samples\n"


def _row(song: str, duration: str = "1.000000", rate: str = "44100", n: str = "44100") -> str:
    paths = ",".join(f"train/{song}/{stem}.wav" for stem in ("mixture", "vocals", "accompaniment"))
    return f"{paths},{duration},{rate},{n}\n"


def test_every_field_is_checked(tmp_path: Path):
    params = small_params(tmp_path)
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        HEADER
        + _row("Good")
        + _row("Word", duration="abc")
        + _row("Nan", duration="nan")
        + _row("Negative", duration="-1")
        + _row("Rate", rate="0")
        + _row("Count", n="4.5")
        + _row("Disagree", n="88200")
        + ",train/x/vocals.wav,train/x/accompaniment.wav,1.0,44100,44100\n"
        + _row("Good")
        + "train/Long/mixture.wav,train/Long/vocals.wav,train/Long/accompaniment.wav,1,1,1,9\n"
    )
    rows, problems = manifest_rows(manifest, params)
    assert [(row.song, row.line, row.duration_s) for row in rows] == [("Good", 2, 1.0)]
    found = dict(problems)
    where = f"manifest {manifest} line"
    assert found["Word"] == f"{where} 3: duration 'abc' is not a number"
    assert found["Nan"] == f"{where} 4: duration 'nan' must be finite and > 0"
    assert found["Negative"] == f"{where} 5: duration '-1' must be finite and > 0"
    assert found["Rate"] == f"{where} 6: sample_rate '0' must be finite and > 0"
    assert found["Count"] == f"{where} 7: n_samples '4.5' is not a whole number"
    assert found["Disagree"].startswith(f"{where} 8: duration 1.0 s disagrees with n_samples")
    assert found["line 9"] == f"{where} 9: mix_path is empty"
    assert found["Good"] == f"{where} 10: the same song as line 2"
    assert found["Long"] == f"{where} 11: more fields than the header names"
    manifest.write_text("mix_path,vocals_path,duration\n")
    with pytest.raises(DataError, match="lacks column.*accompaniment_path"):
        manifest_rows(manifest, params)
    manifest.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="unreadable manifest"):
        manifest_rows(manifest, params)


def test_process_data_with_a_non_numeric_duration(tmp_path: Path, song_writer, capsys):
    for index in range(2):
        song_writer("train", f"Song {index}", 5.0, index)
    params = small_params(tmp_path, n_chunks_per_song=1)
    build_manifests(params, tmp_path / "dataset", validation_fraction=0.0, show_progress=False)
    manifest = Path(params["train_csv"])
    lines = manifest.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace(",5.000000,", ",abc,")
    manifest.write_text("".join(lines))
    (tmp_path / "config.json").write_text(json.dumps(params))
    flags = ["-p", str(tmp_path / "config.json"), "-d", str(tmp_path / "dataset"), "--quiet"]
    assert main(["process-data", *flags, "--workers", "1"]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    errors = [line for line in captured.err.splitlines() if "] - ERROR " in line]
    assert len(errors) == 1
    assert errors[0].endswith(
        f"ERROR Song 0: manifest {manifest} line 2: duration 'abc' is not a number"
    )
    assert "1 songs" in captured.out and "1 skipped" in captured.out
