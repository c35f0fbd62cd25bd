"""``-f`` takes only the plain fields, and ``-b`` only what ``-c`` can write at the model's rate:
both refused as usage errors before the model loads (not a folder named after a method address,
not a bitrate clamped silently or a per-file ffmpeg failure after loading)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.audio.writer import StreamWriter, bitrate_range, check_bitrate
from spleeter_paddle.errors import ConfigurationError
from spleeter_paddle.separation.outputs import check_filename_format

RATE = 44100


def _cli(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "spleeter_paddle", "separate", *args],
        cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize(
    "option, message",
    [
        (["-f", "{filename.upper}/{instrument}.{codec}"], "{filename.upper} is not a plain field"),
        (["-f", "{filename[0]}/{instrument}.{codec}"], "{filename[0]} is not a plain field"),
        (["-f", "{filename}/{instrument!r}.{codec}"], "{instrument!r} is not a plain field"),
        (["-f", "{filename:>20}/{instrument}.{codec}"], "{filename:>20} is not a plain field"),
        (["-f", "{filename}/{instrument}.{codec"], "is invalid"),
        (["-f", "ü名\n{instrument}.{codec}"], "holds the control character '\\n'"),
        (["-f", "{filename}\t/{instrument}.{codec}"], "holds the control character '\\t'"),
        (["-c", "mp3", "-b", "8k"], "mp3 can write at 44100 Hz (32k to 320k)"),
        (["-c", "mp3", "-b", "2000k"], "mp3 can write at 44100 Hz (32k to 320k)"),
        (["-c", "wma", "-b", "8k"], "wma can write at 44100 Hz (24k to 2000k)"),
        (["-c", "m4a", "-b", "1000k"], "m4a can write at 44100 Hz (8k to 529k)"),
        (["-c", "ogg", "-b", "32k"], "ogg can write at 44100 Hz (64k to 500k)"),
        (
            ["-c", "mp3", "-f", "{filename}/{instrument}.wav"],
            "names .wav files, but the codec is mp3",
        ),
        (["-f", "{filename}/{instrument}.FLAC"], "names .flac files, but the codec is wav"),
    ],
)
def test_formats_and_bitrates_are_usage_errors_before_loading(tmp_path, option, message):
    sf.write(tmp_path / "s.wav", np.zeros((RATE // 5, 2), np.float32), RATE)
    result = _cli(["--model-dir", "none", "-o", "out", "s.wav", *option], tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "none" not in result.stderr.split("error:")[-1]  # refused before looking for weights
    assert not (tmp_path / "out").exists()


def test_plain_fields_and_literal_braces_are_still_accepted():
    check_filename_format("{foldername}/{filename}_{instrument}.{codec}", ["vocals", "drums"])
    check_filename_format("{{x}}/{filename}/{instrument}.{codec}", ["vocals", "drums"])
    check_filename_format("{filename}/{instrument}.wav", ["vocals"], "wav")
    check_filename_format("{filename}/{instrument}", ["vocals"], "mp3")  # no extension: no lie
    with pytest.raises(ConfigurationError, match="not a plain field"):
        check_filename_format("{filename}/{}.{codec}", ["vocals"])


def test_bitrate_ranges_follow_the_sample_rate():
    assert bitrate_range("mp3", 44100) == (32, 320)
    assert bitrate_range("mp3", 22050) == (8, 160)
    assert bitrate_range("mp3", 8000) == (8, 64)
    assert bitrate_range("wav", 44100) is None
    assert check_bitrate("mp3", "8k", 16000) == 8.0
    assert check_bitrate("wav", "1k", 44100) == 1.0  # lossless codecs take no bitrate


def test_stream_writer_refuses_a_bitrate_instead_of_clamping(tmp_path):
    with pytest.raises(ValueError, match="outside what mp3 can write"):
        StreamWriter(tmp_path / "x.mp3", RATE, 2, "mp3", "8k")
    assert list(tmp_path.iterdir()) == []  # its temporary is gone too
