"""What a hostile probe found, one test per class: another input's stems, the working directory's
folders, names, option extremes, odd waveforms, and `models import` of things that are not files."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.errors import AudioError, ModelError
from spleeter_paddle.pretrained.provider import import_model
from spleeter_paddle.separation.batch import SeparationOptions, separate_files

RATE = 44100


def _song(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    return (0.2 * rng.standard_normal((int(seconds * RATE), 2))).astype(np.float32)


def _files(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())


def _cli(args, cwd, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "spleeter_paddle", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_same_names_from_other_folders_are_other_inputs(tmp_path, official_model_path, monkeypatch):
    for parent, seed in (("C", 1), ("D", 2)):
        (tmp_path / parent / "x").mkdir(parents=True)
        sf.write(tmp_path / parent / "x" / "song.wav", _song(seed=seed), RATE)
    options = SeparationOptions(output_path=str(tmp_path / "out"), backend="eager")
    assert separate_files([str(tmp_path / "C/x/song.wav")], options) == 0
    before = (tmp_path / "out/song/vocals.wav").read_bytes()
    assert separate_files([str(tmp_path / "D/x/song.wav")], options) == 1
    assert (tmp_path / "out/song/vocals.wav").read_bytes() == before
    # the same file spelled another way is the same input: re-running works
    monkeypatch.chdir(tmp_path / "C")
    assert separate_files(["x/song.wav"], options) == 0


def test_non_ascii_names_rerun_in_every_libsndfile_codec(tmp_path, official_model_path):
    name = tmp_path / "ü é 日本.wav"
    sf.write(name, _song(), RATE)
    for codec in ("mp3", "ogg", "flac", "wav"):
        options = SeparationOptions(output_path=str(tmp_path / "o"), codec=codec, backend="eager")
        assert separate_files([str(name)], options) == 0
        assert separate_files([str(name)], options) == 0, codec


def test_a_preset_never_means_a_folder_of_the_working_directory(tmp_path, official_model_path):
    decoy = tmp_path / "2stems"
    decoy.mkdir()
    (decoy / "model.safetensors").write_bytes(b"not the official weights")
    sf.write(tmp_path / "s.wav", _song(), RATE)
    result = _cli(
        ["separate", "-o", "out", "--backend", "eager", "s.wav"],
        tmp_path,
        {"MODEL_PATH": str(official_model_path)},
    )
    assert result.returncode == 0, result.stderr
    assert f"weights: {official_model_path / '2stems'}" in result.stderr


def test_all_stems_complete_before_any_earlier_stem_is_replaced(tmp_path, official_separator):
    sf.write(tmp_path / "s.wav", _song(3), RATE)
    official_separator.separate_to_file(tmp_path / "s.wav", tmp_path / "out")
    earlier = (tmp_path / "out/s/vocals.wav").read_bytes()
    sf.write(tmp_path / "s.wav", _song(3, seed=9), RATE)

    def block_accompaniment(n_samples):  # a directory appears where a stem must go
        blocker = tmp_path / "out/s/accompaniment.wav"
        if blocker.is_file():
            blocker.unlink()
            blocker.mkdir()
            (blocker / "keep").write_text("user data")

    with pytest.raises(AudioError, match="accompaniment.wav"):
        official_separator.separate_to_file(
            tmp_path / "s.wav", tmp_path / "out", progress=block_accompaniment
        )
    assert (tmp_path / "out/s/vocals.wav").read_bytes() == earlier
    assert _files(tmp_path / "out") == ["s/accompaniment.wav/keep", "s/vocals.wav"]


@pytest.mark.parametrize(
    "option",
    [
        ["-s", "1e308"],
        ["-d", "1e308"],
        ["--segment-frames", "6400000"],
        ["--batch-size", "1000000"],
        ["-f", "{filename[a]}/{instrument}.{codec}"],
        ["-f", "{0}/{instrument}"],
        ["-f", "{filename}.{codec}"],
        ["-c", "flac", "--bit-depth", "FLOAT"],
        ["-o", ""],
    ],
)
def test_whole_run_option_problems_are_usage_errors_before_loading(tmp_path, option):
    sf.write(tmp_path / "s.wav", _song(0.2), RATE)
    result = _cli(["separate", "--model-dir", "none", "s.wav", *option], tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "none" not in result.stderr.split("error:")[-1]
    assert len([line for line in result.stderr.splitlines() if "error" in line]) == 1


def test_no_input_files_is_a_usage_error(tmp_path):
    assert _cli(["separate", "-o", "out"], tmp_path).returncode == 2


def test_input_problems_are_named_before_output_problems(
    tmp_path, official_model_path, caplog, monkeypatch
):
    sf.write(tmp_path / "s.wav", _song(0.5), RATE)
    long_name = tmp_path / ("n" * 240 + ".wav")
    sf.write(long_name, _song(0.5), RATE)
    (tmp_path / "bad\nERROR fake.wav: injected.wav").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    files = [".", "", "s.wav", "./s.wav", str(long_name), "bad\nERROR fake.wav: injected.wav"]
    options = SeparationOptions(
        output_path="out", filename_format="{filename}_{instrument}.{codec}", backend="eager"
    )
    assert separate_files(files, options) == 5
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "is a directory" in errors[0] and "no such file" in errors[1]
    assert "is the same file as s.wav, given twice" in errors[2]
    assert "longer than 240 bytes" in errors[3]
    assert errors[4].startswith("bad\nERROR fake.wav")  # escaped when printed (next test)
    assert _files(tmp_path / "out") == ["s_accompaniment.wav", "s_vocals.wav"]


def test_printed_lines_escape_control_characters(tmp_path):
    (tmp_path / "a\nERROR fake.wav: injected.wav").write_bytes(b"")
    result = _cli(["separate", "-o", "out", "a\nERROR fake.wav: injected.wav"], tmp_path)
    lines = [line for line in result.stderr.splitlines() if "ERROR]" in line]
    assert len(lines) == 1 and "a\\nERROR fake.wav" in lines[0]
    assert not any(line.startswith("ERROR fake.wav") for line in result.stderr.splitlines())


def test_files_named_like_temporaries_stay(tmp_path, official_separator):
    """Only temporaries this tool recorded making are reclaimed (see test_separate_trust's killed
    run); a file merely named like one is someone else's."""
    sf.write(tmp_path / "s.wav", _song(0.5), RATE)
    folder = tmp_path / "out" / "s"
    folder.mkdir(parents=True)
    (folder / ".vocals.wav.0123abcd.part").write_bytes(b"not ours")
    (folder / ".vocals.wav.my-notes.part").write_text("user notes")
    official_separator.separate_to_file(tmp_path / "s.wav", tmp_path / "out", codec="flac")
    assert sorted(p.name for p in folder.iterdir()) == [
        ".vocals.wav.0123abcd.part",
        ".vocals.wav.my-notes.part",
        "accompaniment.flac",
        "vocals.flac",
    ]
    assert (folder / ".vocals.wav.0123abcd.part").read_bytes() == b"not ours"


def test_links_inside_the_output_folder_do_not_lead_out(tmp_path, official_separator):
    sf.write(tmp_path / "s.wav", _song(0.5), RATE)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / "s")
    with pytest.raises(AudioError, match="leads outside the output folder"):
        official_separator.separate_to_file(tmp_path / "s.wav", tmp_path / "out")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_text_file_with_a_forged_tag_is_not_a_stem(tmp_path, official_separator):
    sf.write(tmp_path / "s.wav", _song(0.5), RATE)
    (tmp_path / "out" / "s").mkdir(parents=True)
    forged = tmp_path / "out" / "s" / "vocals.wav"
    forged.write_text(";FFMETADATA1\ncomment=spleeter-paddle stem vocals of s.wav\n")
    with pytest.raises(AudioError, match="not written by spleeter-paddle"):
        official_separator.separate_to_file(tmp_path / "s.wav", tmp_path / "out")
    assert forged.read_text().startswith(";FFMETADATA1")


def test_absurd_float_samples_are_named_against_the_input(tmp_path, official_separator):
    waveform = _song(1) * 1e20
    sf.write(tmp_path / "big.wav", waveform, RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"big.wav: contains samples beyond \+-1e\+06"):
        official_separator.separate_to_file(tmp_path / "big.wav", tmp_path / "out")
    with pytest.raises(ValueError, match="beyond"):
        official_separator.separate(waveform)


def test_python_api_refuses_what_it_cannot_mean(official_separator):
    from spleeter_paddle.separation.separator import Separator

    with pytest.raises(ValueError, match="pass waveform.T"):
        official_separator.separate(_song(1).T)
    with pytest.raises(ValueError, match="int16"):
        official_separator.separate((_song(1) * 32767).astype(np.int16))
    with pytest.raises(ValueError, match="batch_size"):
        Separator("spleeter:2stems", batch_size=0, backend="eager")


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_models_import_refuses_what_is_not_a_file(tmp_path, kind):
    source = Path("/dev/zero")
    if kind == "fifo":
        source = tmp_path / "2stems.fifo"
        os.mkfifo(source)
    with pytest.raises(ModelError, match="not a regular file or folder"):
        import_model(source, "2stems", tmp_path / "home")
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").iterdir())
