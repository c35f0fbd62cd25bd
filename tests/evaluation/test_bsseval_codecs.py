"""Decoded AAC/MP3 references (MUSDB18 ships AAC stems): the default scorer gives museval's
numbers on every frame, where the projection is ill-conditioned and any other arithmetic moves
SIR/SAR/ISR by up to dB."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.data.synthetic import codec_round_trip, generate_song
from spleeter_paddle.evaluation import (
    OracleSeparator,
    bsseval,
    evaluate,
    folder_tracks,
    json_path,
    museval_filters,
)
from spleeter_paddle.sigsep import import_museval

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")

RATE = 44100
TOLERANCE_DB = 1e-3
NAMES = ("SDR", "ISR", "SIR", "SAR")
BITRATES = {"aac": "128k", "mp3": "192k"}


@pytest.fixture(scope="module")
def stems():
    """``{codec: (4, n, 2)}`` decoded vocals, drums, bass, other of one generated 6 s song."""
    song = generate_song(6.0, seed=11)
    names = ("vocals", "drums", "bass", "other")
    return {
        codec: np.stack([codec_round_trip(song[n], codec, bitrate) for n in names])
        for codec, bitrate in BITRATES.items()
    }


def estimates_of(references: np.ndarray) -> np.ndarray:
    """Each reference, a delayed share of the mixture, a little noise; the last window of the
    first estimate silent (NaN there in every metric)."""
    mixture = references.sum(axis=0)
    estimates = 0.8 * references + 0.2 * np.roll(mixture, 5, axis=0)[None] / len(references)
    estimates += 1e-4 * np.random.default_rng(0).standard_normal(references.shape)
    estimates[0, -RATE:] = 0.0
    return estimates


def museval_scores(references: np.ndarray, estimates: np.ndarray):
    """museval's ``(SDR, ISR, SIR, SAR)``; one BLAS thread, as ``evaluate`` runs it (its LU
    rounds otherwise with the thread count, and these references make that visible)."""
    with bsseval.one_blas_thread():
        return import_museval().evaluate(references, estimates, mode="v4")


def largest_gap(ours, theirs) -> float:
    """Asserts equal NaN and inf cells; the largest difference of the finite ones (dB)."""
    worst = 0.0
    for name, mine, reference in zip(NAMES, ours, theirs):
        np.testing.assert_array_equal(np.isnan(mine), np.isnan(reference), err_msg=name)
        np.testing.assert_array_equal(np.isinf(mine), np.isinf(reference), err_msg=name)
        finite = np.isfinite(reference)
        worst = max(worst, float(np.abs(mine[finite] - reference[finite]).max(initial=0.0)))
    return worst


def ours(references: np.ndarray, estimates: np.ndarray, caplog):
    """``bsseval``'s ``(SDR, ISR, SIR, SAR)``, and whether it found these references
    ill-conditioned (Gram condition number too large) and took museval's arithmetic."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="spleeter_paddle.evaluation.bsseval"):
        scores = bsseval.evaluate(references, estimates, workers=2)
    return scores, "museval's arithmetic" in caplog.text


@pytest.mark.parametrize("codec", sorted(BITRATES))
def test_vocals_and_accompaniment_every_frame(stems, codec, caplog):
    references = np.stack([stems[codec][0], stems[codec][1:].sum(axis=0)])
    estimates = estimates_of(references)
    theirs = museval_scores(references, estimates)
    assert np.isnan(theirs[0][0, -1]) and np.isfinite(theirs[2][:, :-1]).all()
    scores, exact = ours(references, estimates, caplog)
    assert exact and largest_gap(scores, theirs) <= 1e-9
    # the fast arithmetic alone (Cholesky / LU on block-FFT correlations) is not museval's here
    if codec == "mp3":
        fast = bsseval.evaluate(references, estimates, workers=2, exact=False)
        assert largest_gap(fast, theirs) > TOLERANCE_DB


def test_four_mono_sources_every_frame(stems, caplog):
    # mono: museval's cost grows with (sources x channels) cubed
    references = stems["aac"][:, : 4 * RATE, :1]
    estimates = estimates_of(references)
    theirs = museval_scores(references, estimates)
    scores, exact = ours(references, estimates, caplog)
    assert exact and largest_gap(scores, theirs) <= 1e-9


@pytest.mark.parametrize("n_samples", [4410, 2 * RATE])
def test_gram_matrix_is_musevals_bit_for_bit(stems, n_samples):
    # the one part of the arithmetic that must be museval's own: its rounding sets the
    # near-null directions of the filters (our correlations, 4e-16 off, move a SAR by 1e-2 dB);
    # below 256 KiB per spectrum numpy computes museval's products in the written order
    references = stems["aac"][:, :n_samples]
    rows = references.transpose(0, 2, 1).reshape(8, -1)
    theirs, _ = import_museval().metrics._compute_reference_correlations(references, 512)
    lags = museval_filters.museval_correlations(rows, rows, 512, workers=2)[:, :8]
    ours = museval_filters.gram(lags)
    assert np.array_equal(ours, import_museval().metrics._reshape_G(theirs))
    fast = bsseval._correlations(rows, (rows,), 512, workers=2)
    assert not np.array_equal(museval_filters.gram(fast), ours)


@pytest.mark.parametrize("n_samples", [4410, 13230])
def test_museval_arithmetic_on_songs_shorter_than_a_window(stems, n_samples):
    # below 256 KiB per spectrum numpy computes museval's products in the written order
    cut = slice(RATE, RATE + n_samples)
    references, estimates = stems["mp3"][:2, cut], estimates_of(stems["mp3"][:2])[:, cut]
    ours = bsseval.evaluate(references, estimates, workers=2, exact=True)
    assert ours[0].shape == (2, 1)
    assert largest_gap(ours, museval_scores(references, estimates)) <= 1e-9


def test_lossless_references_stay_on_the_fast_path(caplog):
    song = generate_song(4.0, seed=11)
    references = np.stack([song["vocals"], song["drums"] + song["bass"] + song["other"]])
    references = references.astype(np.float64)
    estimates = estimates_of(references)
    scores, exact = ours(references, estimates, caplog)
    assert not exact and largest_gap(scores, museval_scores(references, estimates)) <= 1e-6


def test_evaluate_default_equals_metrics_museval_on_decoded_aac(stems, tmp_path):
    """Through ``evaluate``: ratio-mask estimates of a folder song whose stems are decoded AAC
    (float WAV, as musdb hands MUSDB18's stems over); every stored frame agrees, and the
    stability check counts every window."""
    song = tmp_path / "data" / "song"
    song.mkdir(parents=True)
    vocals, accompaniment = stems["aac"][0], stems["aac"][1:].sum(axis=0)
    for name, waveform in (("vocals", vocals), ("accompaniment", accompaniment)):
        sf.write(song / f"{name}.wav", waveform, RATE, subtype="DOUBLE")
    sf.write(song / "mixture.wav", vocals + accompaniment, RATE, subtype="DOUBLE")
    tracks = folder_tracks(song.parent)
    oracle = OracleSeparator(tracks, ratio_mask=True)
    stored = {}
    for metrics in ("fast", "museval"):
        result = evaluate(oracle, tracks, tmp_path / metrics, n_workers=0, progress=False,
                          metrics=metrics)  # fmt: skip
        stored[metrics] = json.loads(json_path(result.output_dir, tracks[0]).read_text())
    for fast, slow in zip(stored["fast"]["targets"], stored["museval"]["targets"]):
        assert fast["name"] == slow["name"]
        for ours, theirs in zip(fast["frames"], slow["frames"]):
            for name in NAMES:
                a, b = ours["metrics"][name], theirs["metrics"][name]
                assert (a is None) == (b is None) and (a is None or abs(a - b) <= TOLERANCE_DB)
    check = stored["fast"]["spleeter_paddle"]["stability"]["vocals"]
    assert all(check[m]["windows_rescored"] == 6 for m in NAMES)
    assert check["SDR"]["windows_moved"] == 0 and not check["SDR"]["unstable"]
