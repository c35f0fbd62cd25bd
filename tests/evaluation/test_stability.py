"""The stability check flags SIR/SAR that tiny reference noise moves, and both routes agree."""

from __future__ import annotations

import json

import museval
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy.signal import butter, sosfiltfilt

from spleeter_paddle.errors import DataError
from spleeter_paddle.evaluation import (
    OracleSeparator,
    evaluate,
    folder_tracks,
    format_table,
    json_path,
    musdb_tracks,
)
from spleeter_paddle.evaluation.stability import bss_v4, compare, perturb

RATE = 44100


def _band_limited(signal: np.ndarray) -> np.ndarray:
    """Nothing above 5 kHz, like a decoded lossy stem has nothing above ~16 kHz."""
    return sosfiltfilt(butter(8, 5000, fs=RATE, output="sos"), signal, axis=0)


def test_the_perturbation_is_one_16_bit_lsb_per_sample():
    rng = np.random.default_rng(0)
    references = np.round(rng.uniform(-0.5, 0.5, (2, RATE, 2)) * 32768) / 32768
    moved = perturb(references) - references
    np.testing.assert_array_equal(np.abs(moved), 2.0**-15)
    # both signs, about equally often, and the same every time (part of the result key)
    assert abs(np.mean(moved > 0) - 0.5) < 0.01
    np.testing.assert_array_equal(perturb(references), references + moved)


def test_windows_moved_and_the_song_value():
    before = np.tile(np.array([1.0, 2.0, 3.0, 4.0, np.inf]), (4, 1, 1))  # (4, 1 source, 5)
    after = before + np.array([0.0, 0.05, 0.2, -0.3, 0.0])
    after[2, 0, 0] = np.nan  # SIR: one window silent after the change
    report = compare(before, after)[0]
    assert report["SDR"] == {
        "windows_rescored": 4,
        "windows_moved": 2,
        "change_db": pytest.approx(0.125),  # median 2.5 -> 2.625
        "unstable": True,
    }
    assert report["SIR"]["windows_rescored"] == 3 and report["SIR"]["windows_moved"] == 2
    # over the windows with a value both times: median 3 -> 3.2
    assert report["SIR"]["change_db"] == pytest.approx(0.2)
    calm = compare(before, before + 0.09)[0]["SAR"]
    assert calm["windows_moved"] == 0 and calm["unstable"] is False
    assert calm["change_db"] == pytest.approx(0.09)


def test_the_fast_and_museval_routes_rescore_alike():
    rng = np.random.default_rng(1)
    references = np.round(rng.standard_normal((2, 3 * RATE, 2)) * 3000) / 32768
    estimates = references @ np.array([[0.9, 0.0], [0.0, 0.8]]) + 0.1 * references[::-1]
    estimates += 1e-3 * rng.standard_normal(estimates.shape)
    fast = bss_v4(references, estimates, RATE, RATE, "fast", perturbed=True)
    slow = bss_v4(references, estimates, RATE, RATE, "museval", perturbed=True)
    np.testing.assert_allclose(fast, slow, atol=1e-3)
    plain = np.stack(museval.evaluate(references, estimates, win=RATE, hop=RATE))
    # one LSB on well-conditioned references: every metric stays put
    assert not any(
        entry["unstable"] or entry["windows_moved"]
        for metrics in compare(plain, slow).values()
        for entry in metrics.values()
    )


@pytest.fixture(scope="module")
def float_and_16_bit(musdb_hq, tmp_path_factory):
    """One band-limited song, references stored as 64-bit float and as 16-bit PCM."""
    song = sorted((musdb_hq / "test").iterdir())[0]
    stems = {n: _band_limited(sf.read(song / f"{n}.wav")[0]) for n in ("vocals", "drums", "bass", "other")}  # fmt: skip
    accompaniment = stems["drums"] + stems["bass"] + stems["other"]
    roots = {}
    for subtype in ("DOUBLE", "PCM_16"):
        directory = tmp_path_factory.mktemp(subtype) / "song"
        directory.mkdir()
        sf.write(directory / "mixture.wav", stems["vocals"] + accompaniment, RATE, "DOUBLE")
        sf.write(directory / "vocals.wav", stems["vocals"], RATE, subtype)
        sf.write(directory / "accompaniment.wav", accompaniment, RATE, subtype)
        roots[subtype] = directory.parent
    oracle = OracleSeparator(folder_tracks(roots["DOUBLE"]), ratio_mask=True)
    return {
        subtype: evaluate(oracle, folder_tracks(root), root / "out", n_workers=0, progress=False)
        for subtype, root in roots.items()
    }


def test_ill_conditioned_sir_is_flagged_in_table_json_and_csv(float_and_16_bit):
    result = float_and_16_bit["DOUBLE"]
    vocals = result.summary["targets"]["vocals"]
    assert vocals["SIR"]["unstable_songs"] == 1 and vocals["SDR"]["unstable_songs"] == 0
    assert result.summary["per_song"]["test/song"]["vocals"]["SIR"]["unstable"] is True
    (track,) = folder_tracks(result.output_dir.parent)
    stored = json.loads(json_path(result.output_dir, track).read_text())["spleeter_paddle"]
    assert stored["stability"]["vocals"]["SIR"]["change_db"] > 1.0
    assert stored["stability"]["vocals"]["SDR"]["change_db"] < 1e-3
    csv = pd.read_csv(result.output_dir / "results.csv")
    flagged = csv[csv["unstable"]]
    assert set(flagged["metric"]) <= {"SIR", "SAR"} and "SIR" in set(flagged["metric"])
    table = format_table(result.summary)
    sir = f"{vocals['SIR']['median']:.3f}*"
    assert sir in table and "numerically unstable" in table


def test_the_same_audio_in_float_or_16_bit_differs_only_where_flagged(float_and_16_bit):
    """Why two routes can disagree on SIR: 16-bit quantization noise alone regularizes the
    projection. SDR agrees; the SIR that moves is the one flagged."""
    exact, pcm = (float_and_16_bit[s].summary["targets"]["vocals"] for s in ("DOUBLE", "PCM_16"))
    assert exact["SDR"]["median"] == pytest.approx(pcm["SDR"]["median"], abs=0.01)
    assert abs(exact["SIR"]["median"] - pcm["SIR"]["median"]) > 10
    assert exact["SIR"]["unstable_songs"] == 1 and pcm["SIR"]["unstable_songs"] == 0


def test_mus_dir_and_data_routes_score_the_same_audio_identically(musdb_hq, tmp_path):
    routes = {
        "mus_dir": musdb_tracks(musdb_hq, ["test"], is_wav=True)[:1],
        "data": folder_tracks(musdb_hq, ["test"])[:1],
    }
    songs = {
        name: evaluate(
            OracleSeparator(tracks, ratio_mask=True),
            tracks,
            tmp_path / name,
            n_workers=0,
            progress=False,
        ).songs  # fmt: skip
        for name, tracks in routes.items()
    }
    pd.testing.assert_frame_equal(songs["mus_dir"], songs["data"])


def test_the_check_can_be_turned_off_and_is_part_of_the_key(float_and_16_bit, tmp_path):
    checked = float_and_16_bit["DOUBLE"]
    tracks = folder_tracks(checked.output_dir.parent)
    oracle = OracleSeparator(tracks, ratio_mask=True)
    with pytest.raises(DataError, match=r"metrics.stability differs|metrics.stability differ"):
        evaluate(oracle, tracks, checked.output_dir, n_workers=0, progress=False,
                 check_stability=False)  # fmt: skip
    result = evaluate(oracle, tracks, tmp_path, n_workers=0, progress=False, check_stability=False)
    assert result.summary["targets"]["vocals"]["SIR"]["unstable_songs"] == 0
    assert result.summary["stability"] is None and "numerically unstable" not in format_table(
        result.summary
    )
    assert (
        "stability" not in json.loads(json_path(tmp_path, tracks[0]).read_text())["spleeter_paddle"]
    )
