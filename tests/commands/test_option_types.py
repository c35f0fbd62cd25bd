"""Counts and amounts of every command are checked by argparse: a usage error (exit 2) that
names the flag, before any file, cache or model is looked at."""

import pytest

from spleeter_paddle.cli import main

CASES = [
    ["train", "--steps", "-1"],
    ["train", "-e", "0"],
    ["train", "-bs", "0"],
    ["train", "-lr", "nan"],
    ["train", "-lr", "0"],
    ["train", "--num-workers", "-1"],
    ["train", "--keep", "0"],
    ["train", "--validate-every", "-2"],
    ["train", "-npn", "0"],
    ["process-data", "-cd", "0"],
    ["process-data", "-ncps", "0"],
    ["process-data", "--workers", "0"],
    ["preprocess", "--validation-fraction", "1.5"],
    ["preprocess", "-T", "0"],
    ["separate", "--batch-size", "0", "x.wav"],
    ["serve", "--port", "70000"],
]


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(case) for case in CASES])
def test_bad_counts_and_amounts_are_usage_errors(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing here: any file access would fail differently
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert "usage:" in error and argv[-1 if argv[0] != "separate" else 2] in error
    assert "Traceback" not in error


def test_zero_validation_fraction_is_allowed(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["preprocess", "--validation-fraction", "0"]) == 5  # no dataset: a data error
    assert "dataset directory not found" in capsys.readouterr().err
