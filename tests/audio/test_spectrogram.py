"""The one STFT: Spleeter's frame counts, a float64 reference, and perfect reconstruction."""

import numpy as np
import pytest

from spleeter_paddle.audio.spectrogram import hann_window, istft, n_frames_padded, stft


def _reference_stft(waveform, frame_length, frame_step, n_frames):
    """Direct float64 definition: frame k = padded[k*hop : k*hop+N] * periodic Hann, rfft."""
    n = np.arange(frame_length)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / frame_length)
    padded = np.zeros(((n_frames - 1) * frame_step + frame_length, waveform.shape[1]))
    padded[frame_length : frame_length + len(waveform)] = waveform
    frames = [padded[k * frame_step : k * frame_step + frame_length] for k in range(n_frames)]
    return np.stack([np.fft.rfft(f * window[:, None], axis=0) for f in frames])


def test_periodic_hann():
    window = hann_window(8)
    np.testing.assert_allclose(
        window, [0, 0.1464466, 0.5, 0.8535534, 1, 0.8535534, 0.5, 0.1464466], atol=1e-6
    )


def test_frame_count_matches_spleeter_worked_example():
    # Spleeter (TF) on 479,832 samples gives 473 frames.
    assert n_frames_padded(479_832, 4096, 1024) == 473
    assert stft(np.zeros((479_832, 2), np.float32)).shape == (473, 2049, 2)


def test_stft_matches_float64_definition():
    rng = np.random.default_rng(1)
    waveform = rng.uniform(-1, 1, (20_000, 2)).astype(np.float32)
    ours = stft(waveform)
    reference = _reference_stft(waveform.astype(np.float64), 4096, 1024, ours.shape[0])
    assert ours.dtype == np.complex64
    np.testing.assert_allclose(ours, reference, atol=2e-3)  # float32 FFT noise on |X| up to ~600


def test_training_stft_has_no_padding():
    waveform = np.zeros((20 * 44100, 2), np.float32)
    assert stft(waveform, pad=False).shape[0] == 858  # Spleeter: 858 frames for 20 s
    assert stft(np.zeros((100, 1), np.float32), pad=False).shape == (0, 2049, 1)


@pytest.mark.parametrize("n_samples", [1, 1023, 4096, 50_000])
def test_istft_reconstructs_the_input(n_samples):
    rng = np.random.default_rng(n_samples)
    waveform = rng.uniform(-1, 1, (n_samples, 2)).astype(np.float32)
    restored = istft(stft(waveform), n_samples)
    assert restored.shape == waveform.shape
    np.testing.assert_allclose(restored, waveform, atol=1e-5)
