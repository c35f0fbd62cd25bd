"""Spleeter's Python API as Spleeter's users write it (only the import changed): the everyday
scripts of its README and wiki, asynchronous writes with ``join``, adapters, and the
``__main__`` functions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle import SpleeterError
from spleeter_paddle.audio import Codec
from spleeter_paddle.audio.adapter import AudioAdapter
from spleeter_paddle.errors import AudioError, ConfigurationError
from spleeter_paddle.separator import Separator

RATE = 44100
REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE = REPOSITORY / "audio_example.mp3"


def _song(path: Path, seconds: float = 3.0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    voice = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    noise = 0.05 * rng.standard_normal((len(t), 2))
    sf.write(path, (voice[:, None] + noise).astype(np.float32), RATE, subtype="FLOAT")
    return path


@pytest.fixture(scope="module")
def separator(official_model_path):
    return Separator("spleeter:2stems", multiprocess=False)


def test_separate_to_file_script(separator, tmp_path):
    separator.separate_to_file(str(EXAMPLE), str(tmp_path))
    for instrument in ("vocals", "accompaniment"):
        info = sf.info(tmp_path / "audio_example" / f"{instrument}.wav")
        assert (info.samplerate, info.channels, info.frames) == (RATE, 2, 479832)


def test_adapter_load_then_separate_script(separator):
    waveform, rate = AudioAdapter.default().load(str(EXAMPLE), sample_rate=44100)
    assert rate == 44100 and waveform.shape == (479832, 2) and waveform.dtype == np.float32
    stems = separator.separate(waveform)
    assert set(stems) == {"vocals", "accompaniment"}
    for name, stem in stems.items():
        assert stem.shape == waveform.shape and stem.dtype == np.float32
        assert np.isfinite(stem).all() and not np.allclose(stem, waveform, atol=1e-3), name
    assert not np.allclose(stems["vocals"], stems["accompaniment"], atol=1e-3)
    again = separator.separate(waveform, "audio_example.mp3")  # a descriptor is accepted, unused
    assert np.array_equal(again["vocals"], stems["vocals"])


def test_asynchronous_writes_without_multiprocess_are_synchronous(separator, tmp_path):
    song = _song(tmp_path / "song.wav")
    paths = separator.separate_to_file(str(song), str(tmp_path / "out"), synchronous=False)
    assert all(path.is_file() for path in paths.values())  # written before returning
    separator.join()


def test_mwf_and_save_to_file_script(official_model_path, tmp_path):
    song = _song(tmp_path / "song.wav")
    separator = Separator("spleeter:2stems", MWF=True, multiprocess=False)
    assert separator.mwf
    waveform, _ = AudioAdapter.default().load(str(song))
    stems = separator.separate(waveform)
    separator.save_to_file(stems, str(song), str(tmp_path / "out"), codec=Codec.FLAC)
    for name, stem in stems.items():
        written, rate = sf.read(tmp_path / "out" / "song" / f"{name}.flac", dtype="float32")
        assert rate == RATE and written.shape == stem.shape
        assert np.abs(written - np.clip(stem, -1, 1)).max() <= 1 / 32768 + 1e-6


def test_background_writes_finish_at_join_and_raise_their_errors(official_model_path, tmp_path):
    separator = Separator("spleeter:2stems")  # multiprocess=True: writes in the background
    first, second = _song(tmp_path / "a.wav"), _song(tmp_path / "b.wav", seed=1)
    mine = tmp_path / "out" / "b" / "vocals.wav"
    mine.parent.mkdir(parents=True)
    mine.write_text("my notes")  # not a stem of ours: the write of b must fail, a must not
    for song in (first, second):
        separator.separate_to_file(str(song), str(tmp_path / "out"), synchronous=False)
    with pytest.raises(AudioError, match="was not written by spleeter-paddle"):
        separator.join()
    assert mine.read_text() == "my notes"
    assert (tmp_path / "out" / "a" / "vocals.wav").is_file()
    assert not (tmp_path / "out" / "b" / "accompaniment.wav").exists()  # a song's stems together
    separator.join()  # nothing pending any more


class _ScaledAdapter(AudioAdapter):
    """A user's adapter: loads with soundfile at half level, saves as .npy-free raw float WAV."""

    def __init__(self):
        self.loaded, self.saved = [], []

    def load(
        self, audio_descriptor, offset=None, duration=None, sample_rate=None, dtype=np.float32
    ):
        self.loaded.append((audio_descriptor, offset, duration, sample_rate))
        data, rate = sf.read(audio_descriptor, dtype="float32", always_2d=True)
        return 0.5 * data, rate

    def save(self, path, data, sample_rate, codec=None, bitrate=None):
        self.saved.append((Path(path).name, codec, bitrate))
        sf.write(path, data, int(sample_rate), subtype="FLOAT")


def test_a_users_adapter_loads_and_saves(separator, tmp_path):
    song = _song(tmp_path / "song.wav")
    adapter = _ScaledAdapter()
    separator.separate_to_file(
        str(song), str(tmp_path / "out"), audio_adapter=adapter, duration=2.0
    )
    assert adapter.loaded == [(str(song), 0.0, 2.0, RATE)]
    # The adapter writes to temporary names (same extension), renamed when all stems are saved.
    saved = sorted(
        (name.split(".")[1], name.rsplit(".", 1)[1], c, b) for name, c, b in adapter.saved
    )
    assert saved == [("accompaniment", "wav", "wav", "128k"), ("vocals", "wav", "wav", "128k")]
    assert sorted(p.name for p in (tmp_path / "out" / "song").iterdir()) == [
        "accompaniment.wav",
        "vocals.wav",
    ]
    vocals, _ = sf.read(tmp_path / "out" / "song" / "vocals.wav", dtype="float32")
    expected = separator.separate(0.5 * sf.read(song, dtype="float32")[0])["vocals"]
    assert np.array_equal(vocals, expected)


def test_adapter_names_are_checked(tmp_path):
    from spleeter_paddle.audio.ffmpeg import FFMPEGProcessAudioAdapter

    assert isinstance(
        AudioAdapter.get("spleeter.audio.ffmpeg.FFMPEGProcessAudioAdapter"),
        FFMPEGProcessAudioAdapter,
    )
    for name, match in [
        ("nowhere.Adapter", "cannot be imported"),
        ("numpy.ndarray", "not a valid AudioAdapter class"),
        ("Adapter", "is not a 'package.module.Class' name"),
    ]:
        with pytest.raises(ConfigurationError, match=match):
            AudioAdapter.get(name)
    with pytest.raises(SpleeterError, match="no such file"):
        AudioAdapter.default().load(str(tmp_path / "Paris City Jazz"))
    with pytest.raises(ConfigurationError, match="sample_rate must be"):
        AudioAdapter.default().load(str(EXAMPLE), sample_rate=1)


def test_offset_and_duration_follow_spleeter(tmp_path):
    song = _song(tmp_path / "song.wav", seconds=2.0)
    whole, _ = AudioAdapter.default().load(str(song))
    part, rate = AudioAdapter.default().load(str(song), offset=0.5, duration=1.0, sample_rate=RATE)
    assert rate == RATE and part.shape == (RATE, 2)
    assert np.array_equal(part, whole[RATE // 2 : RATE // 2 + RATE])


def test_wiener_switches_must_agree(official_model_path):
    with pytest.raises(ConfigurationError, match="contradict"):
        Separator("spleeter:2stems", MWF=True, mwf=False)
    with pytest.raises(ConfigurationError, match="stft_backend must be one of"):
        Separator("spleeter:2stems", stft_backend="fft")


def test_main_module_imports_without_running_and_its_functions_raise(official_model_path, tmp_path):
    from spleeter_paddle.__main__ import evaluate, separate

    song = _song(tmp_path / "song.wav")
    separate(files=[str(song)], output_path=str(tmp_path / "out"), codec="flac", duration=1.0)
    assert sf.info(tmp_path / "out" / "song" / "vocals.flac").frames == RATE
    with pytest.raises(SpleeterError):
        separate(files=[str(tmp_path / "missing.wav")], output_path=str(tmp_path / "out"))
    with pytest.raises(ConfigurationError, match="-i option is not supported"):
        separate(deprecated_files="x.wav", files=[str(song)])
    with pytest.raises(ConfigurationError):
        separate(files=[str(song)], adapter="nowhere.Adapter", output_path=str(tmp_path / "o2"))
    assert not (tmp_path / "o2").exists()
    with pytest.raises(ConfigurationError, match="only the default adapter"):
        evaluate(
            adapter=f"{__name__}._ScaledAdapter",
            output_path=str(tmp_path / "e"),
            mus_dir=str(tmp_path),
        )
    probe = "import spleeter_paddle.__main__ as m; print(callable(m.separate), type(m.spleeter).__name__)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["True", "Typer"]


class _Garbage(AudioAdapter):
    """A user's adapter gone wrong in every way a batch must survive."""

    def load(self, audio_descriptor, offset=None, duration=None, sample_rate=None, dtype=None):
        kind = Path(audio_descriptor).stem
        data, rate = sf.read(audio_descriptor, dtype="float32", always_2d=True)
        if kind == "raises":
            raise ZeroDivisionError("the adapter's own bug")
        return {
            "int16": ((data * 32767).astype(np.int16), rate),
            "nan": (np.full_like(data, np.nan), rate),
            "rate": (data, 22050),
            "empty": (data[:0], rate),
            "none": None,
        }.get(kind, (data, rate))

    def save(self, path, data, sample_rate, codec=None, bitrate=None):
        if "accompaniment" in Path(path).name:
            raise OSError("disk on fire")
        sf.write(path, data, int(sample_rate))


PROBLEMS = {
    "int16": "must be float audio",
    "nan": "NaN",
    "rate": "returned audio at 22050 Hz",
    "empty": "returned no audio samples",
    "none": "did not return (waveform, sample_rate)",
    "raises": "ZeroDivisionError",
}


def test_a_users_adapter_fails_each_file_with_one_line(official_model_path, tmp_path):
    bad = [_song(tmp_path / f"{kind}.wav", seconds=1.0) for kind in PROBLEMS]
    command = [sys.executable, "-m", "spleeter_paddle", "separate", "-o", str(tmp_path / "out")]
    command += ["-a", "test_spleeter_api._Garbage", *map(str, bad)]
    command.append(str(_song(tmp_path / "good.wav", seconds=1.0)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), *sys.path]))
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == len(PROBLEMS) + 1, errors
    for line, path, problem in zip(errors, bad, PROBLEMS.values()):
        assert str(path) in line and problem in line, line
    # good.wav was loaded (its vocals saved), but the adapter's save of the accompaniment
    # failed: nothing of it is left, not even the saved vocals (a song's stems stay together).
    assert "could not save" in errors[-1] and "disk on fire" in errors[-1]
    good = tmp_path / "out" / "good"
    assert not good.exists() or not any(good.iterdir())


def test_file_names_given_to_the_separate_function_are_never_options(
    official_model_path, tmp_path, monkeypatch
):
    from spleeter_paddle.__main__ import separate

    monkeypatch.chdir(tmp_path)
    _song(tmp_path / "-weird.wav")
    separate(files=["-weird.wav"], output_path="-out", duration=1.0)
    assert (tmp_path / "-out" / "-weird" / "vocals.wav").is_file()
    with pytest.raises(SpleeterError):
        separate(files=["--overwrite"], output_path="-out")  # a missing file, not a flag


def test_stems_given_to_save_to_file_are_checked_and_copied(separator, tmp_path):
    song = _song(tmp_path / "song.wav")
    waveform, _ = AudioAdapter.default().load(str(song))
    for sources, match in [
        ({1: waveform, "1": waveform}, "must be a non-empty list of names"),
        ({"": waveform}, "must be a non-empty list of names"),
        ({"../x": waveform}, "not usable as a file name"),
        ({"vocals": (waveform * 32767).astype(np.int16)}, "must be float audio"),
    ]:
        with pytest.raises(ValueError, match=match):
            separator.save_to_file(sources, str(song), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigurationError, match="must be float audio"):
        AudioAdapter.default().save(
            str(tmp_path / "pcm.wav"), (waveform * 4000).astype(np.int16), RATE
        )


def test_logging_still_reaches_the_user_after_paddle_loads():
    script = (
        "from spleeter_paddle.separator import Separator\n"
        "import logging\n"
        "logging.getLogger('spleeter_paddle.files').error('library error without set-up')\n"
        "logging.basicConfig()\n"
        "logging.error('my script error')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert "library error without set-up" in result.stderr
    assert "ERROR:root:my script error" in result.stderr


def test_a_bad_sample_in_a_stream_is_placed_in_the_stream(separator):
    blocks = [np.zeros((1000, 2), np.float32), np.zeros((1000, 2), np.float32)]
    blocks[1][10, 0] = np.nan
    with pytest.raises(ValueError, match=r"block 1: waveform contains NaN .*first at sample 1010 "):
        list(separator.stream(iter(blocks)))


def test_the_wiener_filters_first_pass_reports_progress(official_model_path, tmp_path):
    song = _song(tmp_path / "song.wav", seconds=13.0)  # two 512-frame segments
    separator = Separator("spleeter:2stems", MWF=True, multiprocess=False)
    calls = []
    separator.separate_to_file(
        str(song),
        str(tmp_path / "out"),
        progress=lambda n: calls.append(("written", n)),
        analysis_progress=lambda n: calls.append(("analysed", n)),
    )
    analysed = [n for kind, n in calls if kind == "analysed"]
    assert analysed == [512 * 1024, 512 * 1024]  # one call per segment of the first pass
    assert calls[: len(analysed)] == [("analysed", n) for n in analysed]  # before any output
    assert sum(n for kind, n in calls if kind == "written") == 13 * RATE


def test_a_switched_mwf_keys_the_stems_tag_and_the_scores(official_model_path, tmp_path, caplog):
    """``separator.mwf`` switched after loading (a script, or ``stream``'s own test, does it):
    the stems' tag and the key of stored scores say what made the estimates, so a later run
    without the Wiener filter separates again instead of keeping the filtered stems."""
    from spleeter_paddle.separation.batch import SeparationOptions, separate_files

    song = _song(tmp_path / "song.wav")
    separator = Separator("spleeter:2stems", multiprocess=False)
    plain = separator.evaluation_setting()
    separator.mwf = True
    assert separator.evaluation_setting() == dict(plain, mwf=True)
    filtered = separator.separate_to_file(str(song), str(tmp_path / "out"))["vocals"]
    made_with_mwf = sf.read(filtered, dtype="float32")[0]
    caplog.set_level("INFO", logger="spleeter_paddle")
    options = SeparationOptions(output_path=str(tmp_path / "out"), mwf=False)
    assert separate_files([str(song)], options) == 0
    assert "already separated" not in caplog.text
    made_without = sf.read(filtered, dtype="float32")[0]
    separator.mwf = False
    expected = separator.separate(sf.read(song, dtype="float32")[0])["vocals"]
    assert np.abs(made_without - np.clip(expected, -1, 1)).max() <= 1 / 32768 + 1e-6
    assert np.abs(made_without - made_with_mwf).max() > 1e-3
