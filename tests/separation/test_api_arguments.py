"""The Python API checks every argument at the boundary: a wrong type or value is our own error
(ConfigurationError or a ValueError naming the parameter) before any work, never a builtin
TypeError, and never a truthy string taken for True (``overwrite="False"`` must not overwrite)."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.errors import SpleeterError
from spleeter_paddle.separation.batch import SeparationOptions, separate_files
from spleeter_paddle.separation.separator import Separator

RATE = 44100


def _tone(path: Path, seconds: float = 1.0) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(path, np.stack([np.sin(2 * np.pi * 440 * t)] * 2, axis=1) * 0.3, RATE)
    return path


def _ours(call, match):
    with pytest.raises((SpleeterError, ValueError), match=match) as caught:
        call()
    assert type(caught.value) is not TypeError


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mwf": "False"}, "mwf must be True or False"),
        ({"mwf": 0}, "mwf must be True or False"),
        ({"model_dir": 123}, "model_dir must be a path"),
        ({"params_descriptor": 5}, "params must be"),
        ({"params_descriptor": None}, "params must be"),
        ({"device": 5}, "device must be one of"),
        ({"backend": "fast"}, "backend must be one of"),
        ({"batch_size": "x"}, "batch_size must be"),
    ],
)
def test_separator_arguments_are_refused_before_loading(tmp_path, monkeypatch, kwargs, match):
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "home"))  # nothing may be fetched into it
    _ours(lambda: Separator(**kwargs), match)
    assert not (tmp_path / "home").exists()


def test_separate_to_file_checks_arguments_before_writing(tmp_path, official_separator):
    song = _tone(tmp_path / "song.wav")
    out = tmp_path / "out"
    for kwargs, match in [
        ({"audio_descriptor": None}, "audio_descriptor must be a path"),
        ({"destination": None}, "destination must be a path"),
        ({"duration": "x"}, "duration must be"),
        ({"offset": None}, "offset must be"),
        ({"progress": 5}, "progress must be a callable"),
        ({"overwrite": "False"}, "overwrite must be True or False"),
        ({"codec": None}, "codec must be one of"),
        ({"subtype": 16}, "subtype must be one of"),
        ({"bitrate": None}, "bitrate must"),
        ({"filename_format": None}, "filename format must be"),
        ({"source": "song.wav"}, "source must be"),
    ]:
        arguments = {"audio_descriptor": song, "destination": out, **kwargs}
        _ours(lambda arguments=arguments: official_separator.separate_to_file(**arguments), match)
    assert not out.exists()


def test_overwrite_false_as_text_never_replaces_a_users_file(tmp_path, official_separator):
    song = _tone(tmp_path / "song.wav")
    mine = tmp_path / "out" / "song" / "vocals.wav"
    mine.parent.mkdir(parents=True)
    mine.write_text("my notes")
    for text in ("False", "no", "0"):
        with pytest.raises(ValueError, match="overwrite must be True or False"):
            official_separator.separate_to_file(song, tmp_path / "out", overwrite=text)
    assert mine.read_text() == "my notes"


def test_a_duration_given_as_text_is_converted_like_the_offset(tmp_path, official_separator):
    song = _tone(tmp_path / "song.wav", 2.0)
    paths = official_separator.separate_to_file(song, tmp_path / "out", duration="1")
    assert sf.info(paths["vocals"]).frames == RATE


def test_stream_refuses_what_is_not_an_iterable_of_blocks(official_separator):
    for blocks, match in [
        (None, "blocks must be an iterable"),
        (5, "blocks must be an iterable"),
        (np.zeros((RATE, 2), np.float32), "use separate"),  # rows would be taken for blocks
    ]:
        _ours(lambda blocks=blocks: official_separator.stream(blocks), match)


def test_separate_blocks_checks_its_callables(official_separator):
    _ours(lambda: official_separator.separate_blocks(None, print), "must be callables")
    _ours(lambda: official_separator.separate_blocks(list, print, progress=5), "progress must")


@pytest.mark.parametrize(
    "files, kwargs, match",
    [
        ("song.wav", {}, "files must be a list of paths"),  # a str would be split into letters
        ([None], {}, "files must be paths"),
        (["song.wav"], {"mwf": "no"}, "mwf must be True or False"),
        (["song.wav"], {"overwrite": "False"}, "overwrite must be True or False"),
        (["song.wav"], {"model_dir": 5}, "model_dir must be a path"),
        (["song.wav"], {"output_path": None}, "output path is empty or not a path"),
        (["song.wav"], {"duration": "x"}, "duration must be"),
        (["song.wav"], {"filename_format": 5}, "filename_format must be a str"),
        (["song.wav"], {"params_filename": 5}, "params_filename must be"),
        (["song.wav"], {"device": None}, "device must be one of"),
    ],
)
def test_separate_files_checks_options_before_loading(tmp_path, monkeypatch, files, kwargs, match):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "home"))
    _tone(tmp_path / "song.wav")
    options = SeparationOptions(**{"output_path": "out", **kwargs})
    _ours(lambda: separate_files(files, options), match)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["song.wav"]


def test_the_configurations_mwf_key_is_the_default_and_an_explicit_switch_wins(
    tmp_path, monkeypatch
):
    from spleeter_paddle.cli import build_parser
    from spleeter_paddle.configuration import load_configuration
    from spleeter_paddle.separation.arguments import separator_settings

    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "home"))  # settings load no weights
    with_mwf = {**load_configuration("spleeter:2stems"), "MWF": True}
    assert separator_settings(with_mwf).mwf is True
    assert separator_settings(with_mwf, MWF=False).mwf is False
    assert separator_settings(with_mwf, mwf=False).mwf is False
    assert separator_settings("spleeter:2stems").mwf is False  # no key: off, as Spleeter
    assert separator_settings("spleeter:2stems", mwf=True).mwf is True
    config = tmp_path / "mwf.json"
    config.write_text(json.dumps(with_mwf))
    for flags, expected in (([], True), (["--mwf"], True), (["--no-mwf"], False)):
        args = build_parser().parse_args(["separate", "-p", str(config), *flags, "song.wav"])
        options = SeparationOptions(params_filename=args.params_filename, mwf=args.mwf)
        assert options.check().separator.mwf is expected, flags
    assert not (tmp_path / "home").exists()


def test_the_output_format_is_checked_once_against_the_models_rate():
    from spleeter_paddle.errors import ConfigurationError
    from spleeter_paddle.separation.outputs import OutputFormat

    names = ["vocals", "accompaniment"]
    fmt = OutputFormat.checked(
        "mp3", "8k", "PCM_16", "{filename}/{instrument}.{codec}", 16000, names
    )
    assert fmt == OutputFormat("mp3", "8k", "PCM_16", "{filename}/{instrument}.{codec}")
    for arguments, match in [
        (("mp3", "8k", "PCM_16", "{instrument}.{codec}", 44100), "mp3 can write at 44100 Hz"),
        (("flac", "128k", "FLOAT", "{instrument}.{codec}", 44100), "flac cannot store FLOAT"),
        (("wav", "128k", "PCM_32", "{instrument}.{codec}", 44100), "subtype must be one of"),
        (("aac", "128k", "PCM_16", "{instrument}.{codec}", 44100), "codec must be one of"),
        (("wav", "128k", "PCM_16", "{filename}.{codec}", 44100), "include {instrument}"),
    ]:
        with pytest.raises(ConfigurationError, match=match):
            OutputFormat.checked(*arguments, names)
    with pytest.raises(AttributeError):
        fmt.codec = "wav"  # checked once: the value cannot change afterwards
