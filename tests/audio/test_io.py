"""Tests for spleeter_paddle.audio.io on small generated files (real libsndfile, soxr and ffmpeg)."""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.audio import io
from spleeter_paddle.audio import writer as audio_writer
from spleeter_paddle.errors import AudioError

SR = 44100
HAS_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
ffmpeg_only = pytest.mark.skipif(not HAS_FFMPEG, reason="ffmpeg not installed")
HAS_MP3 = "MP3" in sf.available_formats()
PCM16_STEP = 1.0 / 32768


def sines(n_samples, sample_rate=SR, freqs_hz=(440.0, 660.0), amplitude=0.5):
    """``(n_samples, len(freqs_hz))`` float32, one sine per channel."""
    t = np.arange(n_samples) / sample_rate
    return np.stack([amplitude * np.sin(2 * np.pi * f * t) for f in freqs_hz], 1).astype(np.float32)


def noise(n_samples, n_channels=2, seed=0, scale=0.3):
    rng = np.random.default_rng(seed)
    return np.clip(scale * rng.standard_normal((n_samples, n_channels)), -0.99, 0.99).astype(
        np.float32
    )


def write_float_wav(path, waveform, sample_rate=SR):
    sf.write(str(path), waveform, sample_rate, subtype="FLOAT")
    return str(path)


def snr_db(reference, estimate):
    return 10 * np.log10(np.sum(reference**2) / np.sum((reference - estimate) ** 2))


def leftovers(directory):
    return [name for name in os.listdir(directory) if name.endswith(".part")]


@pytest.fixture
def without_ffmpeg(monkeypatch):
    """PATH without the directories holding ffmpeg/ffprobe, as on a machine without ffmpeg."""
    kept = [
        directory
        for directory in os.environ.get("PATH", "").split(os.pathsep)
        if not any(os.path.exists(os.path.join(directory, tool)) for tool in ("ffmpeg", "ffprobe"))
    ]
    monkeypatch.setenv("PATH", os.pathsep.join(kept))
    assert shutil.which("ffmpeg") is None


def assert_audio_error(call, path, *fragments):
    with pytest.raises(AudioError) as caught:
        call()
    message = str(caught.value)
    assert str(path) in message and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


# ----------------------------------------------------------------------------- round trips


def test_codecs_match_spleeter():
    assert audio_writer.CODECS == ("wav", "mp3", "ogg", "m4a", "wma", "flac")


@pytest.mark.parametrize("codec", ["wav", "flac"])
def test_pcm16_round_trip_is_ffmpeg_rounding(tmp_path, codec):
    waveform = noise(5000, seed=1)
    waveform[:4] = [[1.0, -1.0], [0.5, -0.5], [PCM16_STEP / 2, -PCM16_STEP / 2], [0.0, 0.0]]
    path = tmp_path / f"out.{codec}"
    audio_writer.save(path, waveform, SR)
    expected = np.clip(np.round(waveform * 32768.0), -32768, 32767)
    np.testing.assert_array_equal(sf.read(str(path), dtype="int16")[0], expected)
    loaded, rate = io.load(path)
    assert rate == SR and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, expected / 32768)
    # tolerance: half a step, except +1.0 which lands one step below (32767 / 32768)
    assert np.abs(loaded[1:] - waveform[1:]).max() <= PCM16_STEP / 2
    assert loaded[0, 0] == 1.0 - PCM16_STEP


@pytest.mark.parametrize("codec", ["wav", "flac"])
def test_pcm24_round_trip(tmp_path, codec):
    waveform = noise(5000, seed=2)
    path = tmp_path / f"out.{codec}"
    audio_writer.save(path, waveform, SR, subtype="PCM_24")
    assert sf.info(str(path)).subtype == "PCM_24"
    loaded, _ = io.load(path)
    np.testing.assert_array_equal(loaded, np.round(waveform * 2.0**23) / 2.0**23)
    assert np.abs(loaded - waveform).max() <= 2.0**-24


def test_float_wav_is_exact_and_keeps_values_beyond_one(tmp_path, caplog):
    waveform = noise(3000, seed=3)
    waveform[10] = [1.5, -2.0]
    with caplog.at_level(logging.WARNING):
        audio_writer.save(tmp_path / "out.wav", waveform, SR, subtype="FLOAT")
    assert "clipped" not in caplog.text
    loaded, _ = io.load(tmp_path / "out.wav")
    np.testing.assert_array_equal(loaded, waveform)


def test_flac_cannot_store_float(tmp_path):
    assert_audio_error(
        lambda: audio_writer.save(tmp_path / "out.flac", noise(100), SR, subtype="FLOAT"),
        "out.flac",
        "FLOAT",
    )
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["out.ogg", "out.mp3"])
def test_only_wav_stores_float_samples(tmp_path, name):
    assert_audio_error(
        lambda: audio_writer.save(tmp_path / name, noise(100), SR, subtype="FLOAT"),
        name,
        "cannot store FLOAT samples (only wav can)",
    )
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "codec, min_snr_db",
    [
        ("ogg", 30.0),
        pytest.param("mp3", 20.0, marks=pytest.mark.skipif(not HAS_MP3, reason="no mp3")),
    ],
)
def test_lossy_round_trip_keeps_length_and_alignment(tmp_path, codec, min_snr_db):
    waveform = sines(SR + 321)
    audio_writer.save(tmp_path / f"out.{codec}", waveform, SR)
    loaded, rate = io.load(tmp_path / f"out.{codec}")
    assert rate == SR and loaded.shape == waveform.shape  # gapless: no encoder delay left
    assert snr_db(waveform[2048:-2048], loaded[2048:-2048]) > min_snr_db


@pytest.mark.skipif(not HAS_MP3, reason="libsndfile without mp3")
@pytest.mark.parametrize("bitrate, kbps", [("64k", 64), ("192k", 192), (128000, 128)])
def test_mp3_bitrate(tmp_path, bitrate, kbps):
    audio_writer.save(tmp_path / "out.mp3", noise(2 * SR, seed=4), SR, bitrate=bitrate)
    measured_kbps = os.path.getsize(tmp_path / "out.mp3") * 8 / 2.0 / 1000
    assert abs(measured_kbps - kbps) / kbps < 0.1


@ffmpeg_only
def test_m4a_and_wma_round_trip(tmp_path):
    waveform = sines(SR)
    audio_writer.save(tmp_path / "out.m4a", waveform, SR)
    loaded, rate = io.load(tmp_path / "out.m4a")
    assert rate == SR and loaded.shape[1] == 2
    assert 0 <= len(loaded) - len(waveform) < 1024  # priming removed, the last frame is padded
    assert snr_db(waveform[2048:-2048], loaded[2048 : len(waveform) - 2048]) > 20.0
    info = io.audio_info(tmp_path / "out.m4a")
    assert (info.sample_rate, info.n_channels, info.n_samples, info.format) == (SR, 2, None, "aac")
    audio_writer.save(tmp_path / "out.wma", waveform, SR, bitrate="192k")
    loaded, rate = io.load(tmp_path / "out.wma")
    # ffmpeg's wmav2 round trip drops about 2048 leading samples: only rate and length checked
    assert rate == SR and loaded.shape[1] == 2 and abs(len(loaded) - len(waveform)) < 4096


def test_audio_info(tmp_path):
    path = write_float_wav(tmp_path / "in.wav", noise(12345, 3))
    info = io.audio_info(path)
    assert info == io.AudioInfo(SR, 3, 12345, 12345 / SR, "wav", 1)


# ----------------------------------------------------------------------------- selection, channels


INPUT = np.round(noise(2 * SR, seed=5) * 32768) / 32768  # exactly 16-bit, so ALAC is lossless


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """``INPUT`` as wav, flac, ogg, mp3 and ALAC m4a (read by ffmpeg), each where available."""
    directory = tmp_path_factory.mktemp("inputs")
    paths = {"wav": write_float_wav(directory / "in.wav", INPUT)}
    for codec in ("flac", "ogg") + (("mp3",) if HAS_MP3 else ()):
        paths[codec] = str(directory / f"in.{codec}")
        audio_writer.save(paths[codec], INPUT, SR)
    if HAS_FFMPEG:
        paths["alac"] = str(directory / "in.m4a")
        command = ["ffmpeg", "-v", "error", "-i", paths["wav"], "-c:a", "alac", paths["alac"]]
        subprocess.run(command, check=True)
    return paths


def test_offset_and_duration_are_sample_exact(inputs):
    for codec, path in inputs.items():  # lossy codecs are compared with their own full decode
        full, _ = io.load(path)
        part, _ = io.load(path, offset_s=0.5, duration_s=0.25)
        np.testing.assert_array_equal(part, full[22050:33075], err_msg=codec)
        tail, _ = io.load(path, offset_s=1.5, duration_s=10.0)  # stops at the end
        np.testing.assert_array_equal(tail, full[66150:], err_msg=codec)


@ffmpeg_only
def test_alac_through_ffmpeg_equals_wav(inputs):
    loaded, rate = io.load(inputs["alac"], offset_s=0.1, duration_s=0.5)
    assert rate == SR
    np.testing.assert_array_equal(loaded, INPUT[4410 : 4410 + 22050])


def test_offset_beyond_end(tmp_path):
    path = write_float_wav(tmp_path / "short.wav", noise(int(12.3 * 8000), 1), 8000)
    assert_audio_error(
        lambda: io.load(path, offset_s=30.0), path, "offset 30.0 s is beyond the end (12.3 s)"
    )
    assert_audio_error(lambda: list(io.stream(path, 100, offset_s=30.0)), path, "beyond the end")


@pytest.mark.parametrize("input_rate", [8000, 96000])
def test_resampling_to_44k_keeps_length_and_frequency(tmp_path, input_rate):
    import librosa

    n_input = input_rate + 17
    path = write_float_wav(
        tmp_path / "in.wav", sines(n_input, input_rate, (1000.0, 3000.0)), input_rate
    )
    loaded, rate = io.load(path, sample_rate=SR)
    assert rate == SR and loaded.shape == (math.ceil(n_input * SR / input_rate), 2)
    spectrum = np.abs(np.fft.rfft(loaded[:SR], axis=0))
    np.testing.assert_array_equal(np.argmax(spectrum, axis=0), [1000, 3000])  # 1 Hz bins
    middle = loaded[2000:-2000]
    np.testing.assert_allclose(np.sqrt(np.mean(middle**2, axis=0)), 0.5 / np.sqrt(2), rtol=1e-3)
    native, _ = io.load(path)
    reference = librosa.resample(native.T, orig_sr=input_rate, target_sr=SR, res_type="soxr_hq").T
    np.testing.assert_array_equal(loaded, reference)


@pytest.mark.parametrize("rates", [(44100, 22050), (22050, 44100), (44100, 48000), (8000, 44100)])
def test_resample_takes_a_mono_vector_as_librosa_does(rates):
    """``spleeter_paddle.audio.resample`` of ``(n,)`` gives ``(m,)``: the samples of the ``(n, 1)``
    column, and of librosa's ``soxr_hq`` (padded to the same length)."""
    import librosa

    from spleeter_paddle.audio import resample

    rate, target = rates
    for n_samples in (7, 1000, 1001, 44100):
        mono = np.random.default_rng(n_samples).uniform(-0.5, 0.5, n_samples).astype(np.float32)
        resampled = resample(mono, rate, target)
        assert resampled.ndim == 1 and resampled.dtype == np.float32
        np.testing.assert_array_equal(resampled, resample(mono[:, None], rate, target)[:, 0])
        reference = librosa.resample(mono, orig_sr=rate, target_sr=target, res_type="soxr_hq")
        np.testing.assert_array_equal(resampled, reference)


def test_six_channels_and_to_stereo(tmp_path):
    waveform = noise(4000, 6, seed=7)
    loaded, _ = io.load(write_float_wav(tmp_path / "six.wav", waveform))
    np.testing.assert_array_equal(loaded, waveform)
    np.testing.assert_array_equal(io.to_stereo(loaded), waveform[:, :2])


def test_mono_and_to_stereo(tmp_path):
    waveform = noise(4000, 1, seed=8)
    loaded, _ = io.load(write_float_wav(tmp_path / "mono.wav", waveform))
    assert loaded.shape == (4000, 1)
    np.testing.assert_array_equal(io.to_stereo(loaded), np.repeat(waveform, 2, axis=1))
    np.testing.assert_array_equal(io.to_stereo(waveform[:, 0]), np.repeat(waveform, 2, axis=1))


# ----------------------------------------------------------------------------- streaming


def test_stream_equals_load(inputs):
    for codec, path in inputs.items():
        full, _ = io.load(path)
        blocks = list(io.stream(path, 1000))
        assert {len(block) for block in blocks[:-1]} == {1000}, codec
        assert all(block.dtype == np.float32 for block in blocks)
        np.testing.assert_array_equal(np.concatenate(blocks), full, err_msg=codec)
        part = np.concatenate(list(io.stream(path, 777, offset_s=0.2, duration_s=0.3)))
        np.testing.assert_array_equal(part, full[8820 : 8820 + 13230], err_msg=codec)


@pytest.mark.parametrize("input_rate, output_rate", [(8000, SR), (96000, SR), (SR, 16000)])
@pytest.mark.parametrize("block_frames", [1000, 4096])
def test_resampled_stream_equals_resampled_load(tmp_path, input_rate, output_rate, block_frames):
    path = write_float_wav(tmp_path / "in.wav", noise(input_rate + 123, seed=10), input_rate)
    whole, _ = io.load(path, sample_rate=output_rate, offset_s=0.1)
    blocks = list(io.stream(path, block_frames, sample_rate=output_rate, offset_s=0.1))
    assert {len(block) for block in blocks[:-1]} == {block_frames}
    streamed = np.concatenate(blocks)
    assert streamed.shape == whole.shape
    assert np.abs(streamed - whole).max() <= 1e-6  # bit-exact in practice


def test_stream_probes_at_call_time(tmp_path):
    assert_audio_error(
        lambda: io.stream(tmp_path / "missing.wav", 100), "missing.wav", "no such file"
    )


@ffmpeg_only
def test_stem_file_streams(tmp_path):
    mixture, vocals = noise(SR // 2, seed=11), noise(SR // 2, seed=12)
    mixture, vocals = (np.round(w * 32768) / 32768 for w in (mixture, vocals))
    a, b = write_float_wav(tmp_path / "a.wav", mixture), write_float_wav(tmp_path / "b.wav", vocals)
    stems = str(tmp_path / "song.stem.mp4")
    command = ["ffmpeg", "-v", "error", "-i", a, "-i", b, "-map", "0", "-map", "1", "-c:a", "alac"]
    subprocess.run(command + [stems], check=True)
    assert io.audio_info(stems).n_streams == 2
    np.testing.assert_array_equal(io.load(stems, stream_index=1)[0], vocals)
    np.testing.assert_array_equal(
        np.concatenate(list(io.stream(stems, 999, stream_index=0))), mixture
    )
    assert_audio_error(lambda: io.load(stems, stream_index=2), stems, "no stream 2")


# ----------------------------------------------------------------------------- writing


@pytest.mark.parametrize(
    "name, subtype",
    [("o.wav", "PCM_16"), ("o.wav", "PCM_24"), ("o.wav", "FLOAT"), ("o.flac", "PCM_16")]
    + ([("o.mp3", "PCM_16")] if HAS_MP3 else [])
    + ([("o.m4a", "PCM_16")] if HAS_FFMPEG else []),
)
def test_stream_writer_equals_save(tmp_path, name, subtype):
    waveform = noise(SR + 5, seed=13)
    audio_writer.save(tmp_path / f"saved_{name}", waveform, SR, subtype=subtype)
    with audio_writer.StreamWriter(tmp_path / f"streamed_{name}", SR, 2, subtype=subtype) as writer:
        for begin in range(0, len(waveform), 4096):
            writer.write(waveform[begin : begin + 4096])
    saved, _ = io.load(tmp_path / f"saved_{name}")
    streamed, _ = io.load(tmp_path / f"streamed_{name}")
    np.testing.assert_array_equal(streamed, saved)


def test_stream_writer_removes_its_file_on_error(tmp_path):
    with (
        pytest.raises(RuntimeError),
        audio_writer.StreamWriter(tmp_path / "out.wav", SR, 2) as writer,
    ):
        writer.write(noise(1000))
        assert len(leftovers(tmp_path)) == 1 and not (tmp_path / "out.wav").exists()
        raise RuntimeError("separation failed")
    assert os.listdir(tmp_path) == []


def test_save_replaces_an_existing_file(tmp_path):
    audio_writer.save(tmp_path / "out.wav", noise(1000, seed=14), SR)
    audio_writer.save(tmp_path / "out.wav", noise(500, seed=15), SR)
    assert io.audio_info(tmp_path / "out.wav").n_samples == 500
    assert os.listdir(tmp_path) == ["out.wav"]


def test_save_creates_missing_directories(tmp_path):
    audio_writer.save(tmp_path / "a" / "b" / "out.flac", noise(100), SR)
    assert io.audio_info(tmp_path / "a" / "b" / "out.flac").n_samples == 100


def test_clipping_is_counted_and_logged(tmp_path, caplog):
    waveform = noise(1000, seed=16)
    waveform[[1, 2, 3], 0] = [1.2, -1.5, 7.0]
    waveform[[4, 5], 1] = [-1.01, 1.0001]
    with caplog.at_level(logging.WARNING, logger="spleeter_paddle.audio.io"):
        audio_writer.save(tmp_path / "out.wav", waveform, SR)
    assert "clipped 5 of 2000 sample values" in caplog.text and "out.wav" in caplog.text
    raw, _ = sf.read(str(tmp_path / "out.wav"), dtype="int16")
    assert list(raw[1:4, 0]) == [32767, -32768, 32767] and list(raw[4:6, 1]) == [-32768, 32767]
    with audio_writer.StreamWriter(tmp_path / "s.flac", SR, 2) as writer:
        writer.write(waveform[:3])
        writer.write(waveform[3:])
    assert writer.n_clipped == 5


def test_unwritable_destination(tmp_path):
    (tmp_path / "a_file").write_bytes(b"x")
    target = tmp_path / "a_file" / "out.wav"
    assert_audio_error(lambda: audio_writer.save(target, noise(100), SR), target, "cannot write")
    if os.geteuid() != 0:  # root ignores directory permissions
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        assert_audio_error(
            lambda: audio_writer.save(locked / "out.wav", noise(100), SR), locked / "out.wav"
        )
    assert_audio_error(lambda: audio_writer.save(tmp_path, noise(100), SR, codec="wav"), tmp_path)
    assert leftovers(tmp_path) == []


def test_failed_saves_leave_nothing_behind(tmp_path):
    bad = noise(100)
    bad[5, 1] = np.nan
    assert_audio_error(lambda: audio_writer.save(tmp_path / "nan.wav", bad, SR), "nan.wav", "NaN")
    assert_audio_error(
        lambda: audio_writer.save(tmp_path / "song.xyz", noise(100), SR), "song.xyz", "extension"
    )
    if HAS_MP3:  # MP3 has no 96 kHz mode
        assert_audio_error(
            lambda: audio_writer.save(tmp_path / "hi.mp3", noise(100), 96000), "hi.mp3"
        )
    assert os.listdir(tmp_path) == []


@ffmpeg_only
def test_failed_ffmpeg_write_leaves_nothing_behind(tmp_path):
    three_channels = noise(SR, 3)  # wmav2 takes one or two channels
    assert_audio_error(
        lambda: audio_writer.save(tmp_path / "x.wma", three_channels, SR), "x.wma", "ffmpeg"
    )
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- bad inputs


def test_missing_directory_and_empty_inputs(tmp_path):
    assert_audio_error(lambda: io.load(tmp_path / "nope.wav"), "nope.wav", "no such file")
    assert_audio_error(lambda: io.load(tmp_path), tmp_path, "directory")
    (tmp_path / "empty.wav").write_bytes(b"")
    assert_audio_error(lambda: io.load(tmp_path / "empty.wav"), "empty.wav", "empty (0 bytes)")
    sf.write(str(tmp_path / "zero.wav"), np.zeros((0, 2), np.float32), SR)
    assert_audio_error(lambda: io.load(tmp_path / "zero.wav"), "zero.wav", "no audio samples")


@pytest.mark.parametrize("name", ["junk.wav", "junk.mp3", "junk.m4a"])
def test_non_audio_bytes(tmp_path, name):
    (tmp_path / name).write_bytes(b"this is a text file, not audio\n" * 40)
    if name.endswith(".m4a") and not HAS_FFMPEG:
        assert_audio_error(lambda: io.load(tmp_path / name), name, "ffmpeg", "not installed")
    else:
        assert_audio_error(lambda: io.load(tmp_path / name), name, "cannot decode")


def truncated_copy(tmp_path, source, n_bytes):
    target = tmp_path / ("cut_" + os.path.basename(source))
    target.write_bytes(source.read_bytes()[:n_bytes])
    return target


def test_truncated_files(tmp_path):
    waveform = noise(SR, seed=17)
    for codec in ("wav", "flac") + (("mp3",) if HAS_MP3 else ()):
        audio_writer.save(tmp_path / f"full.{codec}", waveform, SR)
    wav = tmp_path / "full.wav"
    header_only = truncated_copy(tmp_path, wav, 30)
    assert_audio_error(lambda: io.load(header_only), header_only, "cannot decode")
    half = truncated_copy(tmp_path, wav, os.path.getsize(wav) // 2)
    assert_audio_error(lambda: io.load(half), half, "truncated")
    for codec in ("flac", "mp3") if HAS_MP3 else ("flac",):
        full = tmp_path / f"full.{codec}"
        cut = truncated_copy(tmp_path, full, os.path.getsize(full) // 2)
        assert_audio_error(lambda cut=cut: io.load(cut), cut)
        assert_audio_error(lambda cut=cut: list(io.stream(cut, 4096)), cut)


def test_without_ffmpeg(tmp_path, without_ffmpeg):
    song = tmp_path / "song.m4a"
    song.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))
    assert_audio_error(lambda: io.load(song), song, "needs ffmpeg, which is not installed")
    assert_audio_error(
        lambda: audio_writer.save(tmp_path / "out.m4a", noise(100), SR), "out.m4a", "ffmpeg"
    )
    assert_audio_error(
        lambda: audio_writer.save(tmp_path / "out.wma", noise(100), SR), "out.wma", "ffmpeg"
    )
    assert sorted(os.listdir(tmp_path)) == ["song.m4a"]
    audio_writer.save(
        tmp_path / "fine.flac", noise(100), SR
    )  # libsndfile formats do not need ffmpeg
    assert io.load(tmp_path / "fine.flac")[0].shape == (100, 2)


# --- a file read is the file probed -------------------------------------------------------------


@pytest.mark.parametrize("change", ["rewrite", "replace", "remove"])
def test_a_file_changed_while_streamed_is_an_error(tmp_path, change):
    path = tmp_path / "song.wav"
    sf.write(path, noise(SR * 3, seed=1), SR, subtype="PCM_16")
    blocks = io.stream(path, SR // 2)
    first = next(blocks)
    assert first.shape == (SR // 2, 2)
    other = noise(SR * 3, seed=2)  # same length, so the same size: another song
    if change == "rewrite":
        with sf.SoundFile(path, "r+") as audio_file:  # in place: same inode, same size
            audio_file.seek(SR)
            audio_file.write(other[SR:])
    elif change == "replace":
        sf.write(tmp_path / "other.wav", other, SR, subtype="PCM_16")
        os.replace(tmp_path / "other.wav", path)
    else:
        path.unlink()
    with pytest.raises(AudioError) as error:
        list(blocks)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and "while it was read" in message


def test_an_unchanged_file_streams_whole(tmp_path):
    path = tmp_path / "song.wav"
    waveform = noise(SR * 3, seed=1)
    sf.write(path, waveform, SR, subtype="FLOAT")
    os.utime(path)  # a touch before reading is not a change while reading
    blocks = list(io.stream(path, SR // 2))
    assert np.array_equal(np.concatenate(blocks), waveform)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg to write MP3 in WAV")
def test_mp3_data_in_a_wav_container_reads_like_an_mp3(tmp_path):
    """A RIFF WAV holding MPEG layer III (what ffmpeg -c:a libmp3lame out.wav writes): its
    length is an estimate, as for .mp3, not a truncation."""
    source = tmp_path / "source.wav"
    sf.write(source, sines(SR * 3), SR)
    target = tmp_path / "mp3inside.wav"
    command = ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c:a", "libmp3lame", str(target)]
    subprocess.run(command, check=True)
    assert io.audio_info(target).format == "mp3"
    waveform, rate = io.load(target)
    assert rate == SR and abs(len(waveform) - SR * 3) <= 2 * 1152
    assert np.abs(waveform).max() > 0.3


def test_a_file_name_that_is_not_utf8_is_one_clear_error(tmp_path):
    sf.write(tmp_path / "good.wav", np.zeros((4410, 2), np.float32), 44100)
    name = os.path.join(str(tmp_path), os.fsdecode(b"bad\xff.wav"))
    os.rename(tmp_path / "good.wav", name)
    with pytest.raises(AudioError, match=r"bad\\xff\.wav: the file name is not valid UTF-8"):
        io.probe(name)
