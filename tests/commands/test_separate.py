"""``separate``: files in, stems out; every kind of bad input is one line, exit != 0, no debris."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.errors import AudioError, ConfigurationError
from spleeter_paddle.separation.batch import SeparationOptions, separate_files

REPO = Path(__file__).resolve().parents[2]
RATE = 44100


def _song(n_samples, rate=RATE, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n_samples)
    return np.repeat(tone[:, None], channels, axis=1).astype(np.float32)


def _files(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())


def test_seed_script_writes_vocals_and_accompaniment(tmp_path, official_model_path):
    sf.write(tmp_path / "song.wav", _song(3 * RATE), RATE, subtype="PCM_16")
    env = {**os.environ, "MODEL_PATH": str(official_model_path)}
    result = subprocess.run(
        [sys.executable, str(REPO / "separator.py"), "-i", "song.wav", "-o", "out/"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("vocals", "accompaniment"):
        data, rate = sf.read(tmp_path / "out" / "song" / f"{name}.wav")
        assert rate == RATE and data.shape == (3 * RATE, 2)
    assert _files(tmp_path / "out") == ["song/accompaniment.wav", "song/vocals.wav"]


def test_file_output_equals_in_memory_separation(tmp_path, official_separator):
    waveform = _song(5 * RATE, seed=1)
    sf.write(tmp_path / "a.wav", waveform, RATE, subtype="FLOAT")
    paths = official_separator.separate_to_file(
        tmp_path / "a.wav", tmp_path / "out", subtype="FLOAT"
    )
    expected = official_separator.separate(waveform)
    for name, path in paths.items():
        written, _ = sf.read(path, dtype="float32")
        np.testing.assert_array_equal(written, expected[name])


def test_offset_duration_and_formats(tmp_path, official_separator):
    waveform = _song(4 * RATE, seed=2)
    sf.write(tmp_path / "b.flac", waveform, RATE)
    paths = official_separator.separate_to_file(
        tmp_path / "b.flac", tmp_path / "o", codec="flac", offset=1.0, duration=2.0,
        filename_format="{foldername}-{filename}_{instrument}.{codec}",
    )  # fmt: skip
    assert paths["vocals"].name == f"{tmp_path.name}-b_vocals.flac"
    data, _ = sf.read(paths["vocals"])
    assert data.shape == (2 * RATE, 2)


@pytest.mark.parametrize("rate, channels", [(8000, 1), (96000, 2), (RATE, 6)])
def test_other_rates_and_channel_counts(tmp_path, official_separator, rate, channels):
    sf.write(tmp_path / "x.wav", _song(rate, rate, channels), rate, subtype="PCM_16")
    paths = official_separator.separate_to_file(tmp_path / "x.wav", tmp_path / "o")
    data, out_rate = sf.read(paths["vocals"])
    assert out_rate == RATE and data.shape == (RATE, 2)


def test_silence_and_tiny_inputs_give_finite_output(tmp_path, official_separator):
    sf.write(tmp_path / "silence.wav", np.zeros((RATE, 2), np.float32), RATE)
    sf.write(tmp_path / "tiny.wav", _song(100), RATE)  # shorter than one STFT frame
    for name in ("silence", "tiny"):
        paths = official_separator.separate_to_file(
            tmp_path / f"{name}.wav", tmp_path / "o", subtype="FLOAT"
        )
        data, _ = sf.read(paths["vocals"])
        assert np.all(np.isfinite(data))
    assert sf.info(str(tmp_path / "o" / "tiny" / "vocals.wav")).frames == 100
    silent, _ = sf.read(tmp_path / "o" / "silence" / "accompaniment.wav")
    assert np.abs(silent).max() == 0


def _bad_inputs(root):
    (root / "empty.wav").write_bytes(b"")
    (root / "noise.mp3").write_bytes(os.urandom(4000))
    (root / "adir").mkdir()
    sf.write(root / "zero.wav", np.zeros((0, 2), np.float32), RATE)
    sf.write(root / "good.wav", _song(RATE), RATE)
    data = (root / "good.wav").read_bytes()
    (root / "truncated.wav").write_bytes(data[: len(data) // 3])
    sf.write(root / "full.mp3", _song(3 * RATE), RATE, format="MP3")
    mp3 = (root / "full.mp3").read_bytes()
    (root / "cut.mp3").write_bytes(mp3[: len(mp3) // 2])  # own name: no output clash
    names = ["missing.wav", "empty.wav", "noise.mp3", "adir", "zero.wav", "truncated.wav"]
    return names + ["cut.mp3", "good.wav"]


def test_bad_inputs_each_fail_alone(tmp_path, official_model_path, caplog):
    names = _bad_inputs(tmp_path)
    files = [str(tmp_path / name) for name in names]
    failed = separate_files(
        files, SeparationOptions(output_path=str(tmp_path / "out"), backend="eager")
    )
    assert failed == len(names) - 1
    assert _files(tmp_path / "out") == ["good/accompaniment.wav", "good/vocals.wav"]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == len(names) - 1
    for name, message in zip([n for n in names if n != "good.wav"], errors):
        assert name in message and "\n" not in message


def test_cli_exit_code_and_one_line_errors(tmp_path, official_model_path):
    sf.write(tmp_path / "good.wav", _song(RATE), RATE)
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    env = {**os.environ, "MODEL_PATH": str(official_model_path)}
    result = subprocess.run(
        [sys.executable, "-m", "spleeter_paddle", "separate", "-o", "out", "--backend", "eager",
         "bad.wav", "good.wav", "-s", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    error_lines = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(error_lines) == 1 and "bad.wav" in error_lines[0]
    assert (tmp_path / "out" / "good" / "vocals.wav").is_file()
    assert not (tmp_path / "out" / "bad").exists()


def test_offset_beyond_end(tmp_path, official_separator):
    sf.write(tmp_path / "short.wav", _song(RATE), RATE)
    with pytest.raises(AudioError, match="short.wav"):
        official_separator.separate_to_file(tmp_path / "short.wav", tmp_path / "o", offset=30.0)
    assert not (tmp_path / "o").exists() or _files(tmp_path / "o") == []


def test_colliding_filename_format_is_refused_before_work(tmp_path, official_separator):
    sf.write(tmp_path / "s.wav", _song(RATE), RATE)
    with pytest.raises(ConfigurationError, match="instrument"):  # an option error: exit 2
        official_separator.separate_to_file(
            tmp_path / "s.wav", tmp_path / "o", filename_format="{filename}.{codec}"
        )
    assert not (tmp_path / "o").exists()


def test_unwritable_output_directory(tmp_path, official_separator):
    sf.write(tmp_path / "s.wav", _song(RATE), RATE)
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    with pytest.raises(AudioError, match="file-not-dir"):
        official_separator.separate_to_file(tmp_path / "s.wav", blocker / "out")


def test_failure_mid_write_leaves_no_partial_file(tmp_path, official_separator):
    sf.write(tmp_path / "s.wav", _song(2 * RATE), RATE)
    out = tmp_path / "o"
    (out / "s").mkdir(parents=True)
    (out / "s" / "accompaniment.wav").mkdir()  # the rename of this stem must fail
    with pytest.raises(AudioError):
        official_separator.separate_to_file(tmp_path / "s.wav", out)
    leftovers = [p.name for p in (out / "s").iterdir()]
    assert all(not name.endswith(".part") for name in leftovers)


@pytest.mark.slow
def test_longer_than_600_s_is_not_cut(tmp_path, official_model_path):
    """Official Spleeter silently stops at 600 s; we separate the whole file."""
    n_samples = 610 * RATE
    with sf.SoundFile(tmp_path / "long.wav", "w", RATE, 2, subtype="PCM_16") as out:
        for start in range(0, n_samples, 30 * RATE):
            out.write(_song(min(30 * RATE, n_samples - start), seed=start))
    failed = separate_files(
        [str(tmp_path / "long.wav")], SeparationOptions(output_path=str(tmp_path / "out"))
    )
    assert failed == 0
    vocals, _ = sf.read(
        tmp_path / "out" / "long" / "vocals.wav", frames=RATE, start=n_samples - RATE
    )
    assert sf.info(str(tmp_path / "out" / "long" / "vocals.wav")).frames == n_samples
    assert np.abs(vocals).max() > 0  # the last second was separated, not padded


def test_two_inputs_on_one_output_path_keep_the_first(tmp_path, official_model_path, caplog):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        sf.write(tmp_path / folder / "mixture.wav", _song(RATE, seed=len(folder)), RATE)
    files = [str(tmp_path / "a" / "mixture.wav"), str(tmp_path / "b" / "mixture.wav")]
    failed = separate_files(
        files, SeparationOptions(output_path=str(tmp_path / "out"), backend="eager")
    )
    assert failed == 1
    assert any(
        "{foldername}" in r.getMessage() and "b/mixture.wav" in r.getMessage()
        for r in caplog.records
    )
    failed = separate_files(
        files, SeparationOptions(output_path=str(tmp_path / "out2"), backend="eager",
        filename_format="{foldername}/{instrument}.{codec}"))  # fmt: skip
    assert failed == 0 and _files(tmp_path / "out2") == [
        "a/accompaniment.wav", "a/vocals.wav", "b/accompaniment.wav", "b/vocals.wav",
    ]  # fmt: skip
