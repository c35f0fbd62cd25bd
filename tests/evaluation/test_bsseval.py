"""The fast BSSEval v4 against museval itself: every window's SDR/ISR/SIR/SAR within 1e-3 dB."""

from __future__ import annotations

import numpy as np
import pytest

from spleeter_paddle.data.synthetic import generate_song
from spleeter_paddle.evaluation import bsseval
from spleeter_paddle.sigsep import import_museval

RATE = 44100
TOLERANCE_DB = 1e-3
# Above this a score is an energy over rounding noise (e.g. the artefacts of an estimate lying
# exactly in the references' span): museval's own value moves by dB with the FFT/BLAS build, so
# only "both above" is asserted there.
NOISE_FLOOR_DB = 150.0
NAMES = ("SDR", "ISR", "SIR", "SAR")


def both(references: np.ndarray, estimates: np.ndarray, **kwargs):
    """(ours, museval's), each ``(SDR, ISR, SIR, SAR)`` of ``(n_sources, n_windows)``."""
    museval = import_museval()
    ours = bsseval.evaluate(references, estimates, workers=2, **kwargs)
    theirs = museval.evaluate(references, estimates, mode="v4", **kwargs)
    return ours, theirs


def assert_same(ours, theirs) -> float:
    """Same NaN and inf cells, finite cells within ``TOLERANCE_DB``; returns the largest gap."""
    worst = 0.0
    for name, mine, reference in zip(NAMES, ours, theirs):
        assert mine.shape == reference.shape, name
        np.testing.assert_array_equal(np.isnan(mine), np.isnan(reference), err_msg=name)
        np.testing.assert_array_equal(np.isposinf(mine), np.isposinf(reference), err_msg=name)
        finite = np.isfinite(reference)
        noise = finite & (reference > NOISE_FLOOR_DB)
        assert np.all(mine[noise] > NOISE_FLOOR_DB), name
        compared = finite & ~noise
        gap = np.abs(mine[compared] - reference[compared])
        assert np.all(gap <= TOLERANCE_DB), f"{name}: {gap.max():.2e} dB"
        worst = max(worst, float(gap.max(initial=0.0)))
    return worst


def noise(rng: np.random.Generator, n_sources: int, seconds: float, n_channels: int = 2):
    """``(n_sources, n_samples, n_channels)`` white noise with per-source, per-channel gains and
    offsets."""
    n = int(seconds * RATE)
    gains = rng.uniform(0.05, 3.0, (n_sources, 1, n_channels))
    offsets = rng.uniform(-1.0, 1.0, (n_sources, 1, n_channels))
    return rng.standard_normal((n_sources, n, n_channels)) * gains + offsets


def leaky(references: np.ndarray, rng: np.random.Generator, leak: float = 0.3) -> np.ndarray:
    """Estimates: each reference, a delayed share of the others, and noise."""
    others = np.roll(references[::-1], 7, axis=1)
    return 0.9 * references + leak * others + 0.05 * rng.standard_normal(references.shape)


def test_noise_with_different_gains():
    rng = np.random.default_rng(0)
    references = noise(rng, 2, 3.0)
    ours, theirs = both(references, leaky(references, rng))
    assert ours[0].shape == (2, 3)
    # well-conditioned signals agree to rounding: a much tighter bound catches small slips
    assert assert_same(ours, theirs) < 1e-6
    # the scores are not degenerate: they vary over windows and sources
    assert np.ptp(theirs[2]) > 0.01


def test_harmonic_mixtures():
    rng = np.random.default_rng(1)
    t = np.arange(3 * RATE) / RATE

    def tone(f0: float) -> np.ndarray:
        return sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6)) / h for h in range(1, 7))

    references = np.stack(
        [np.stack([tone(220), 0.5 * tone(220)], 1), np.stack([0.3 * tone(330), tone(331)], 1)]
    )
    noisy = references + 0.01 * rng.standard_normal(references.shape)
    assert_same(*both(references, noisy))
    # estimates exactly in the references' span: SAR is rounding noise in both (> 150 dB)
    ours, theirs = both(references, references + 0.5 * references[::-1])
    assert np.all(theirs[3] > NOISE_FLOOR_DB)
    assert_same(ours, theirs)


def real_shaped(seconds: float, seed: int):
    """A generated song's stems ``(4, n, 2)`` (vocals, drums, bass, other) and estimates of
    them with a delayed share of the mixture and a little noise."""
    song = generate_song(seconds, seed=seed)
    references = np.stack([song[name] for name in ("vocals", "drums", "bass", "other")])
    references = references.astype(np.float64)
    mixture = song["mixture"].astype(np.float64)
    estimates = 0.7 * references + 0.3 * np.roll(mixture, 5, axis=0)[None] / 4
    estimates += 1e-3 * np.random.default_rng(seed).standard_normal(estimates.shape)
    return references, estimates


def test_panned_mono_sources():
    # proportional channels make the Gram matrix singular: museval solves it by LU, we by a
    # Cholesky with a ridge at rounding level; the projections, hence the scores, agree
    rng = np.random.default_rng(8)
    mono = rng.standard_normal((2, 3 * RATE))
    references = np.stack([np.stack([m, 0.5 * m], axis=1) for m in mono])
    references[1] += 0.3 * noise(rng, 1, 3.0)[0] * np.array([1.0, 0.0])  # left-only part
    estimates = leaky(references, rng)
    assert_same(*both(references, estimates))


def test_real_shaped_stereo_song_vocals_and_accompaniment():
    references, estimates = real_shaped(4.0, seed=3)
    pair = lambda x: np.stack([x[0], x[1:].sum(axis=0)])  # noqa: E731
    ours, theirs = both(pair(references), pair(estimates))
    assert ours[0].shape == (2, 4)
    assert_same(ours, theirs)


def test_four_sources():
    # mono: museval's cost grows with (sources x channels) cubed; 4 stereo sources take a minute
    references, estimates = real_shaped(3.0, seed=4)
    ours, theirs = both(references[..., :1], estimates[..., :1])
    assert ours[0].shape == (4, 3)
    assert_same(ours, theirs)


def test_silent_windows_in_references_and_estimates():
    rng = np.random.default_rng(3)
    references = noise(rng, 2, 5.0)
    estimates = leaky(references, rng)
    references[0, RATE : 2 * RATE] = 0  # second window: a silent reference
    estimates[1, 3 * RATE : 4 * RATE] = 0  # fourth window: a silent estimate
    references[1, 4 * RATE : 5 * RATE, 1] = -references[1, 4 * RATE : 5 * RATE, 0]  # L + R = 0
    ours, theirs = both(references, estimates)
    assert np.isnan(theirs[0][:, [1, 3, 4]]).all()
    assert not np.isnan(theirs[0][:, [0, 2]]).any()
    assert_same(ours, theirs)


def test_perfect_and_zero_estimates():
    rng = np.random.default_rng(4)
    references = noise(rng, 2, 3.0)
    estimates = references.copy()
    estimates[1] += 0.1 * rng.standard_normal(estimates[1].shape)
    ours, theirs = both(references, estimates)
    assert np.isposinf(theirs[0][0]).all()
    assert_same(ours, theirs)
    silent = estimates.copy()
    silent[1] = 0
    with pytest.raises(ValueError):
        import_museval().evaluate(references, silent)
    with pytest.raises(ValueError, match="all 0s"):
        bsseval.evaluate(references, silent)


@pytest.mark.parametrize("estimate_samples", [-1234, 999])
def test_short_tail_and_padding(estimate_samples: int):
    rng = np.random.default_rng(5)
    references = noise(rng, 2, 2.3)
    estimates = leaky(references, rng)
    if estimate_samples < 0:
        estimates = estimates[:, :estimate_samples]
    else:
        extra = rng.standard_normal((2, estimate_samples, 2))
        estimates = np.concatenate([estimates, extra], axis=1)
    ours, theirs = both(references, estimates)
    assert ours[0].shape == (2, 2)  # the 0.3 s tail is no window of its own
    assert_same(ours, theirs)


def test_signal_shorter_than_a_window_and_overlapping_windows():
    rng = np.random.default_rng(6)
    references = noise(rng, 2, 0.6, n_channels=1)
    assert_same(*both(references, leaky(references, rng)))
    references = noise(rng, 2, 3.0, n_channels=1)
    ours, theirs = both(references, leaky(references, rng), win=RATE, hop=RATE // 2)
    assert ours[0].shape == (2, 5)
    assert_same(ours, theirs)


def test_threads_do_not_change_the_scores():
    rng = np.random.default_rng(7)
    references = noise(rng, 2, 3.0)
    estimates = leaky(references, rng)
    one = bsseval.evaluate(references, estimates, workers=1)
    two = bsseval.evaluate(references, estimates, workers=2)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def test_selected_windows_only():
    rng = np.random.default_rng(9)
    references = noise(rng, 2, 5.0)
    estimates = leaky(references, rng)
    estimates[0, 2 * RATE : 3 * RATE] = 0
    every = bsseval.evaluate(references, estimates)
    picked = bsseval.evaluate(references, estimates, windows=[4, 0, 2])
    for all_windows, some in zip(every, picked):
        np.testing.assert_allclose(some, all_windows[:, [4, 0, 2]], rtol=0, atol=1e-9)
    assert np.isnan(picked[0][:, 2]).all()


def test_mismatched_shapes_are_refused():
    references = np.ones((2, RATE, 2))
    with pytest.raises(ValueError, match="equal shapes"):
        bsseval.evaluate(references, np.ones((3, RATE, 2)))
