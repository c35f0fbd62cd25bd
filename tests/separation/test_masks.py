"""Ratio masks, mask extension, and the segment-wise Wiener filter against norbert."""

import norbert
import numpy as np
import pytest

from spleeter_paddle.separation.masks import WienerFilter, extend_masks, ratio_masks


def test_ratio_masks_formula_and_sum():
    rng = np.random.default_rng(0)
    estimates = np.abs(rng.standard_normal((3, 4, 5))).astype(np.float32)
    masks = ratio_masks(estimates, 2.0, axis=0)
    expected = (estimates**2 + 1e-10 / 3) / (np.sum(estimates**2, axis=0) + 1e-10)
    np.testing.assert_allclose(masks, expected, rtol=1e-6)
    np.testing.assert_allclose(masks.sum(axis=0), 1.0, rtol=1e-6)


def test_silence_gives_equal_masks_not_nan():
    masks = ratio_masks(np.zeros((2, 3, 3), np.float32), 2.0, axis=0)
    assert np.all(np.isfinite(masks))
    np.testing.assert_allclose(masks, 0.5)


def test_mask_extension_modes():
    masks = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    zeros = extend_masks(masks, 7, "zeros", axis=-1)
    assert zeros.shape == (2, 3, 7) and np.all(zeros[..., 4:] == 0)
    average = extend_masks(masks, 7, "average", axis=-1)
    np.testing.assert_allclose(average[..., 4:], np.repeat(masks.mean(-1, keepdims=True), 3, -1))
    with pytest.raises(ValueError, match="mask_extension"):
        extend_masks(masks, 7, "mirror")


@pytest.mark.parametrize("segment_frames", [37, 128, 300])
def test_segmented_wiener_equals_norbert(segment_frames):
    rng = np.random.default_rng(segment_frames)
    n_frames, n_bins = 300, 129
    mix = rng.standard_normal((n_frames, n_bins, 2)) + 1j * rng.standard_normal(
        (n_frames, n_bins, 2)
    )
    mix = (mix * 40).astype(np.complex64)  # max |x| > 10: exercises norbert's rescaling
    magnitudes = np.abs(rng.standard_normal((n_frames, n_bins, 2, 3))).astype(np.float32) * 20
    magnitudes[:, 100:] = 0  # zero above F, like Spleeter's v
    expected = norbert.wiener(magnitudes.copy(), mix.copy())
    wiener = WienerFilter()
    starts = range(0, n_frames, segment_frames)
    for start in starts:
        wiener.accumulate(
            magnitudes[start : start + segment_frames], mix[start : start + segment_frames]
        )
    filtered = np.concatenate(
        [
            wiener.apply(magnitudes[s : s + segment_frames], mix[s : s + segment_frames])
            for s in starts
        ]
    )
    assert filtered.shape == expected.shape
    np.testing.assert_allclose(filtered, expected, atol=2e-4 * np.abs(expected).max() / 100)
