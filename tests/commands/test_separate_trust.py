"""``separate`` never destroys data nor lies: inputs and foreign files are kept, signals leave no
temporaries, bad options fail before loading anything, problems are named as they are."""

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.errors import AudioError, ConfigurationError
from spleeter_paddle.files import JOURNAL_NAME
from spleeter_paddle.separation.batch import SeparationOptions, separate_files

RATE = 44100


def _song(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)
    return np.stack([tone, 0.8 * tone], axis=1).astype(np.float32)


def _cli(args, cwd, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "spleeter_paddle", "separate", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _all_files(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())


def _musdb_song(root, name="song"):
    """A MUSDB-style song folder: mixture + reference stems (not written by us)."""
    folder = root / name
    folder.mkdir(parents=True)
    sf.write(folder / "mixture.wav", _song(2), RATE)
    for stem in ("vocals", "accompaniment"):
        sf.write(folder / f"{stem}.wav", _song(2, seed=len(stem)), RATE)
    return folder


# --- never write over an input, never outside the output folder -------------------------------


def test_output_that_is_the_input_refuses_the_run_before_loading(tmp_path):
    folder = _musdb_song(tmp_path / "d")
    before = (folder / "vocals.wav").read_bytes()
    result = _cli(
        [
            "-o",
            "d",
            "-f",
            "{foldername}/{instrument}.{codec}",
            "d/song/vocals.wav",
            "--model-dir",
            "no-such-model",
        ],
        tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "is the input" in result.stderr and "d/song/vocals.wav" in result.stderr
    assert "no-such-model" not in result.stderr  # refused before the model was looked at
    assert (folder / "vocals.wav").read_bytes() == before


def test_hard_link_to_an_input_is_an_input(tmp_path):
    folder = _musdb_song(tmp_path)
    (tmp_path / "out" / "mixture").mkdir(parents=True)
    os.link(folder / "mixture.wav", tmp_path / "out" / "mixture" / "vocals.wav")
    with pytest.raises(ConfigurationError, match="is the input"):
        separate_files(
            [str(folder / "mixture.wav")],
            SeparationOptions(output_path=str(tmp_path / "out"), model_dir="no-such-model"),
        )


@pytest.mark.parametrize(
    "filename_format, source",
    [
        ("../{filename}/{instrument}.{codec}", "a/s.wav"),
        ("/tmp/{instrument}.{codec}", "a/s.wav"),
        ("{foldername}/../../{instrument}.{codec}", "a/s.wav"),
    ],
)
def test_outputs_never_leave_the_output_folder(tmp_path, filename_format, source):
    work = tmp_path / "work"
    (work / "a").mkdir(parents=True)
    sf.write(work / "a" / "s.wav", _song(1), RATE)
    sf.write(tmp_path / "s.wav", _song(1), RATE)
    failed = separate_files(
        [str(work / source)],
        SeparationOptions(
            output_path=str(work / "out"),
            filename_format=filename_format,
            model_dir="no-such-model",
        ),
    )
    assert failed == 1
    assert _all_files(tmp_path) == ["s.wav", "work/a/s.wav"]


def test_reference_stems_are_kept_unless_overwrite(tmp_path, official_model_path, caplog):
    root = tmp_path / "musdb"
    folder = _musdb_song(root)
    references = {
        stem: (folder / f"{stem}.wav").read_bytes() for stem in ("vocals", "accompaniment")
    }
    args = dict(output_path=str(root), filename_format="{foldername}/{instrument}.{codec}")
    assert (
        separate_files([str(folder / "mixture.wav")], SeparationOptions(backend="eager", **args))
        == 1
    )
    assert "not written by spleeter-paddle" in caplog.text and "--overwrite" in caplog.text
    for stem, data in references.items():
        assert (folder / f"{stem}.wav").read_bytes() == data
    assert sorted(p.name for p in folder.iterdir()) == [
        "accompaniment.wav",
        "mixture.wav",
        "vocals.wav",
    ]
    separate_files(
        [str(folder / "mixture.wav")], SeparationOptions(backend="eager", overwrite=True, **args)
    )
    assert (folder / "vocals.wav").read_bytes() != references["vocals"]


def test_rerunning_the_same_command_replaces_its_own_stems(tmp_path, official_model_path):
    sf.write(tmp_path / "song.wav", _song(2), RATE)
    out = tmp_path / "out"
    assert (
        separate_files(
            [str(tmp_path / "song.wav")], SeparationOptions(output_path=str(out), backend="eager")
        )
        == 0
    )
    first = (out / "song" / "vocals.wav").stat().st_mtime_ns
    time.sleep(0.01)
    sf.write(tmp_path / "song.wav", _song(2, seed=5), RATE)
    assert (
        separate_files(
            [str(tmp_path / "song.wav")], SeparationOptions(output_path=str(out), backend="eager")
        )
        == 0
    )
    assert (out / "song" / "vocals.wav").stat().st_mtime_ns != first
    # a stem of another input at the same path is not ours to replace
    (tmp_path / "other").mkdir()
    sf.write(tmp_path / "other" / "song.wav", _song(2), RATE)
    assert (
        separate_files(
            [str(tmp_path / "other" / "song.wav")], SeparationOptions(output_path=str(out))
        )
        == 1
    )
    assert _all_files(out) == ["song/accompaniment.wav", "song/vocals.wav"]


# --- every exit path removes temporaries --------------------------------------------------------


def _wait_until_separating(process, folder, n_stems=2, timeout_s=240):
    """Until ``process`` is in the separation loop: every stem's temporary made and recorded
    (the state a signal test needs; a signal sent earlier would test the start-up instead)."""
    journal = folder / JOURNAL_NAME
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and (
        not journal.exists() or journal.read_text().count(".part") < n_stems
    ):
        assert time.monotonic() < deadline, "the run never started writing its stems"
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before the signal"


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_mid_file_leaves_no_temporary(tmp_path, official_model_path, signal_number):
    sf.write(tmp_path / "long.wav", _song(90), RATE, subtype="PCM_16")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "spleeter_paddle",
            "separate",
            "-o",
            "out",
            "--backend",
            "eager",
            "long.wav",
        ],
        cwd=tmp_path,
        env={**os.environ, "MODEL_PATH": str(official_model_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_until_separating(process, tmp_path / "out" / "long")
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal_number or (
        signal_number == signal.SIGINT and process.returncode == 130
    ), stderr
    assert "Traceback" not in stderr
    assert _all_files(tmp_path) == ["long.wav"]


def test_temporaries_of_a_killed_run_are_removed_by_the_next(tmp_path, official_model_path):
    """What a SIGKILLed run left is reclaimed by the next run; files merely named like our
    temporaries (the user's, whoever wrote them) are never touched."""
    sf.write(tmp_path / "s.wav", _song(30), RATE)
    process = subprocess.Popen(
        [sys.executable, "-m", "spleeter_paddle", "separate", "-o", "out", "s.wav"],
        cwd=tmp_path,
        env={**os.environ, "MODEL_PATH": str(official_model_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_until_separating(process, tmp_path / "out" / "s")
    process.kill()
    process.wait(timeout=60)
    left = sorted(path.name for path in (tmp_path / "out" / "s").glob(".*.part"))
    assert left, "the killed run left no temporary to reclaim"
    foreign = {
        ".vocals.flac.0badc0de.part": b"the user's own notes",
        ".accompaniment.wav.12345678.part": b"another tool's download",
    }
    for name, data in foreign.items():
        (tmp_path / "out" / "s" / name).write_bytes(data)
    assert (
        separate_files(
            [str(tmp_path / "s.wav")], SeparationOptions(output_path=str(tmp_path / "out"))
        )
        == 0
    )
    names = sorted(path.name for path in (tmp_path / "out" / "s").iterdir())
    assert names == sorted([*foreign, "accompaniment.wav", "vocals.wav"])
    for name, data in foreign.items():
        assert (tmp_path / "out" / "s" / name).read_bytes() == data


def test_an_implausible_sample_rate_is_one_error_line_and_the_rest_runs(
    tmp_path, official_model_path
):
    """A 200-frame WAV whose header says 1 Hz would give 200 s of stems: refused by name."""
    sf.write(tmp_path / "one_hertz.wav", _song(0.01)[:200], 1)
    sf.write(tmp_path / "good.wav", _song(1), RATE)
    result = _cli(["-o", "out", "one_hertz.wav", "good.wav"], tmp_path)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "one_hertz.wav" in errors[0] and "1 Hz" in errors[0]
    assert "Traceback" not in result.stderr
    assert _all_files(tmp_path / "out") == ["good/accompaniment.wav", "good/vocals.wav"]


# --- two runs, one folder -------------------------------------------------------------------


def test_a_folder_another_run_writes_into_is_refused(tmp_path, official_separator):
    sf.write(tmp_path / "s.wav", _song(1), RATE)
    folder = tmp_path / "out" / "s"
    folder.mkdir(parents=True)
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running separate holds
        with pytest.raises(AudioError, match="another spleeter-paddle run"):
            official_separator.separate_to_file(tmp_path / "s.wav", tmp_path / "out")
    finally:
        os.close(descriptor)
    assert _all_files(tmp_path / "out") == []
    official_separator.separate_to_file(tmp_path / "s.wav", tmp_path / "out")
    assert _all_files(tmp_path / "out") == ["s/accompaniment.wav", "s/vocals.wav"]


# --- bad options: usage error before anything loads --------------------------------------------


@pytest.mark.parametrize(
    "option",
    [
        ["-d", "0"],
        ["-d", "-2"],
        ["-d", "inf"],
        ["-s", "-1"],
        ["-s", "nan"],
        ["-b", "garbage"],
        ["-b", "0k"],
        ["--batch-size", "0"],
        ["--segment-frames", "-64"],
    ],
)
def test_bad_option_values_are_usage_errors(tmp_path, option):
    sf.write(tmp_path / "s.wav", _song(0.5), RATE)
    result = _cli(["-o", "out", "s.wav", *option], tmp_path, timeout=120)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "Traceback" not in result.stderr
    assert option[0] in result.stderr
    assert not (tmp_path / "out").exists()


def test_segment_frames_not_a_multiple_of_64_is_refused_before_loading(tmp_path):
    sf.write(tmp_path / "s.wav", _song(0.5), RATE)
    result = _cli(
        ["-o", "out", "s.wav", "--segment-frames", "100", "--model-dir", "none"], tmp_path
    )
    assert result.returncode == 2 and "multiple of 64" in result.stderr


# --- messages say what is really wrong ----------------------------------------------------------


def test_inputs_that_are_not_regular_files_are_named_as_such(tmp_path):
    os.mkfifo(tmp_path / "pipe.wav")
    os.symlink("loop-b.wav", tmp_path / "loop-a.wav")
    os.symlink("loop-a.wav", tmp_path / "loop-b.wav")
    os.symlink("gone.wav", tmp_path / "dangling.wav")
    expected = {
        str(tmp_path / "pipe.wav"): "named pipe",
        "/dev/zero": "character device",
        str(tmp_path / "loop-a.wav"): "symbolic link loop",
        str(tmp_path / "dangling.wav"): "broken symbolic link",
    }
    from spleeter_paddle.audio.io import audio_info

    for name, problem in expected.items():
        with pytest.raises(AudioError) as error:
            audio_info(name)
        assert str(error.value).startswith(f"{name}: ") and problem in str(error.value)


def test_nan_in_the_input_is_reported_against_the_input(tmp_path, official_separator):
    waveform = _song(2)
    waveform[RATE, 0] = np.nan
    sf.write(tmp_path / "nan.wav", waveform, RATE, subtype="FLOAT")
    with pytest.raises(AudioError) as error:
        official_separator.separate_to_file(tmp_path / "nan.wav", tmp_path / "out")
    message = str(error.value)
    assert message.startswith(str(tmp_path / "nan.wav")) and "NaN" in message and "1.0 s" in message
    assert _all_files(tmp_path / "out") == [] if (tmp_path / "out").exists() else True


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare")
def test_full_disk_is_reported_as_such(tmp_path, official_model_path):
    sf.write(tmp_path / "s.wav", _song(4), RATE)  # 4 s stems are 700 kB each: 256 kB is full
    (tmp_path / "small").mkdir()
    script = (
        "mount -t tmpfs -o size=256k tmpfs small && "
        f"{sys.executable} -m spleeter_paddle separate --backend eager -o small s.wav"
    )
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("user namespaces are not available here")
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "MODEL_PATH": str(official_model_path)},
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert "no space left on the device" in result.stderr and "small/s/" in result.stderr
    assert "Traceback" not in result.stderr


def test_nan_in_an_in_memory_waveform_is_refused(official_separator):
    waveform = _song(1)
    waveform[100, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        official_separator.separate(waveform)
