"""Counts and amounts of every command are checked by argparse: a usage error (exit 2) that
names the flag, before any file, cache or model is looked at. The checks are those of
``spleeter_paddle.options``, which the library uses too."""

import argparse

import pytest

from spleeter_paddle import options
from spleeter_paddle.cli import main
from spleeter_paddle.commands import argument_type
from spleeter_paddle.commands.evaluate import main as evaluate_main
from spleeter_paddle.errors import ConfigurationError, DataError
from spleeter_paddle.separation.batch import SeparationOptions

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
    ["train", "--num-workers", "65"],
    ["train", "-amp", "maybe"],
    ["process-data", "-cd", "0"],
    ["process-data", "-ncps", "0"],
    ["process-data", "--workers", "0"],
    ["preprocess", "--validation-fraction", "1.5"],
    ["preprocess", "-T", "0"],
    ["separate", "--batch-size", "0", "x.wav"],
    ["separate", "-s", "-1", "x.wav"],
    ["separate", "-d", "0", "x.wav"],
    ["separate", "-b", "1x", "x.wav"],
    ["separate", "--segment-frames", "8193", "x.wav"],
    ["serve", "--port", "70000"],
    ["serve", "--max-upload-mb", "0"],
    ["export", "-o", "out", "--tolerance", "nan"],
]
# Name-like values (a folder name, a subset, a preset) are checked the same way: a bad one is a
# usage error when parsed, before any file is read or anything is loaded.
CASES += [
    ["separate", "-d", "1e-9", "x.wav"],  # a 1-sample excerpt: not a plausible duration
    ["models", "import", "x.tar.gz", "-n", ".."],
    ["models", "import", "x.tar.gz", "-n", "a/b"],
    ["models", "import", "x.tar.gz", "-p", "spleeter:6stems"],
    ["models", "download", "-p", "spleeter:bogus"],
    ["separate", "-p", "spleeter:bogus", "x.wav"],
    ["train", "-p", "spleeter:bogus"],
    ["export", "-o", "out", "-p", "spleeter:bogus"],
    ["evaluate", "--data", "songs", "--subset", ".."],
    ["evaluate", "--data", "songs", "-p", "spleeter:bogus"],
    ["download-musdb", "--subsets", "train", "tets"],  # misspelt beside a good one
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


@pytest.mark.parametrize("text", ["0.00", "-0", " 0 "])
def test_every_spelling_of_zero_is_no_validation_split(text):
    assert options.validation_fraction(text) == 0.0  # only "0" and "0.0" were accepted before
    assert str(options.validation_fraction(text)) == "0.0"  # not -0.0


@pytest.mark.parametrize(
    "check, value, message",
    [
        (options.whole_number, "0", "must be positive, got '0'"),
        (options.whole_number, "2.0", "must be a positive whole number, got '2.0'"),
        (options.whole_number, True, "must be a positive whole number, got True"),
        (options.batch_size, "65", "must be at most 64, got '65'"),
        (options.batch_size, "x", "must be a whole number from 1 to 64, got 'x'"),
        (options.positive_number, "nan", "must be a finite number > 0, got 'nan'"),
        (options.positive_number, "0", "must be > 0, got '0'"),
        (options.offset_seconds, "-1", "must be in [0, 1e+09], got '-1'"),
        (options.duration_seconds, 0.0, "must be in [0.01, 1e+09], got 0.0"),
        (options.duration_seconds, 1e-9, "must be in [0.01, 1e+09], got 1e-09"),
        (options.network_seconds, "1e-300", "must be in [0.1, 86400], got '1e-300'"),
        (options.thread_count, "0", "must be positive, got '0'"),
        (
            options.folder_name,
            "..",
            "must be a plain folder name (like 2stems), not a path, got '..'",
        ),
        (options.fraction, "1.5", "must be in (0, 1], got '1.5'"),
        (options.validation_fraction, "1", "must be in [0, 1), got '1'"),
        (options.port, "0", "must be positive, got '0'"),
        (options.bitrate_text, "7k", "must look like 128k (8k to 2000k), got '7k'"),
        (options.truth_value, "maybe", "must be True or False (yes/no, 1/0), got 'maybe'"),
    ],
)
def test_checks_say_what_the_value_must_be(check, value, message):
    with pytest.raises(ValueError) as error:
        check(value)
    assert str(error.value) == message


def test_one_of_is_one_check_and_checked_names_the_value_with_its_error_class():
    assert options.choice("wav", ("wav", "mp3")) == "wav"
    for value in ("aac", None, ["wav"]):
        with pytest.raises(ValueError, match=r"^must be one of wav, mp3, got "):
            options.choice(value, ("wav", "mp3"))
    with pytest.raises(DataError, match=r"^stems must be one of 2, 4, got '3'$"):
        options.checked("stems", options.choice, "3", ("2", "4"), error=DataError)


def test_checks_convert_text_and_library_values_alike():
    assert options.whole_number("7") == options.whole_number(7) == 7
    assert options.whole_number("-3", None) == -3
    assert options.whole_number("0", 0, 64) == 0
    assert options.number("-5") == -5.0 and options.duration_seconds("1e9") == 1e9
    assert options.bitrate_text(" 1.5M ") == "1.5M" and options.segment_frames(8192) == 8192
    assert options.truth_value(" Yes ") is True and options.truth_value(False) is False
    assert options.load_model_choice("LATEST") == "latest"
    assert options.load_model_choice("Off") is False and options.load_model_choice("run") == "run"


def test_argument_type_turns_the_value_error_into_a_usage_error():
    parse = argument_type(options.whole_number, 0, 64)
    assert parse("64") == 64 and parse.__name__ == "whole_number"
    with pytest.raises(argparse.ArgumentTypeError, match="^must be at most 64, got '65'$"):
        parse("65")
    named = argument_type(options.number, 0.0, 1.0, exclusive_minimum=True, subject="share")
    with pytest.raises(argparse.ArgumentTypeError, match=r"^share must be in \(0, 1\], got '0'$"):
        named("0")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("offset", -1.0, "offset must be in [0, 1e+09], got -1.0"),
        ("duration", 0, "duration must be in [0.01, 1e+09], got 0"),
        ("bitrate", "fast", "bitrate must look like 128k (8k to 2000k), got 'fast'"),
        ("batch_size", 0, "batch_size must be positive, got 0"),
        ("segment_frames", 9000, "segment_frames must be at most 8192, got 9000"),
    ],
)
def test_library_options_use_the_same_checks(field, value, message):
    with pytest.raises(ConfigurationError) as error:
        SeparationOptions(**{field: value}).check()
    assert str(error.value) == message


def test_evaluate_segment_frames_has_the_separate_bound(capsys, tmp_path):
    argv = ["--data", str(tmp_path / "none"), "-o", str(tmp_path / "out")]
    assert evaluate_main([*argv, "--segment-frames", "8256"]) == 2  # a multiple of 64
    assert "--segment-frames 8256: must be at most 8192" in capsys.readouterr().err


def test_library_entry_points_refuse_bad_amounts(tmp_path):
    from spleeter_paddle.data.manifest import build_manifests
    from spleeter_paddle.evaluation.metrics import MetricsPool

    with pytest.raises(ConfigurationError, match=r"validation_fraction must be in \[0, 1\)"):
        build_manifests({"instrument_list": ["vocals"]}, tmp_path, validation_fraction=1.0)
    with pytest.raises(DataError, match="workers must be >= 0, got -1"):
        MetricsPool(-1)
    pytest.importorskip("fastapi")
    from spleeter_paddle.web.app import create_app

    with pytest.raises(ConfigurationError, match="max_upload_mb must be > 0, got 0"):
        create_app(tmp_path / "work", max_upload_mb=0)
    assert not (tmp_path / "work").exists()
