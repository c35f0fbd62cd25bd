"""The project's one STFT and inverse STFT, numerically identical to Spleeter's TF signal chain.

Periodic Hann window, no centring. The predict path prepends ``frame_length`` zeros and pads the
end (``pad_end``); the training path uses neither. The inverse is windowed overlap-add x 2/3,
exact for a periodic Hann window at 75 % overlap. FFTs run in float32 through ``scipy.fft``.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

# Sum over frames of w^2 for a periodic Hann window at hop N/4 is 1.5 everywhere four frames
# overlap: multiplying by 2/3 is exact normalisation there (Spleeter's WINDOW_COMPENSATION_FACTOR).
WINDOW_COMPENSATION_FACTOR = 2.0 / 3.0


def hann_window(frame_length: int) -> np.ndarray:
    """Periodic Hann window ``w[n] = 0.5 - 0.5 cos(2 pi n / N)``, ``(frame_length,)`` float32."""
    n = np.arange(frame_length, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / frame_length)).astype(np.float32)


def n_frames_padded(n_samples: int, frame_length: int, frame_step: int) -> int:
    """Frame count of the predict-path STFT: ``ceil((n + frame_length) / frame_step)``."""
    return -(-(n_samples + frame_length) // frame_step)


def stft(
    waveform: np.ndarray,
    frame_length: int = 4096,
    frame_step: int = 1024,
    pad: bool = True,
) -> np.ndarray:
    """Short-time Fourier transform of a multichannel waveform.

    Args:
        waveform: ``(n_samples, n_channels)`` float32.
        pad: predict path (Spleeter ``_stft`` in the model): prepend ``frame_length`` zeros and
            zero-pad the end so that ``frames = ceil((n + frame_length) / frame_step)``. When False
            (training path) no padding: ``frames = 1 + (n - frame_length) // frame_step``.

    Returns:
        ``(n_frames, frame_length // 2 + 1, n_channels)`` complex64.
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 2:
        raise ValueError(f"waveform must be (n_samples, n_channels), got shape {waveform.shape}")
    n_samples, n_channels = waveform.shape
    if pad:
        n_frames = n_frames_padded(n_samples, frame_length, frame_step)
        padded_length = (n_frames - 1) * frame_step + frame_length
        signal = np.zeros((n_channels, padded_length), dtype=np.float32)
        signal[:, frame_length : frame_length + n_samples] = waveform.T
    else:
        n_frames = max(0, 1 + (n_samples - frame_length) // frame_step)
        signal = np.ascontiguousarray(waveform.T)
    spectrum = stft_frames(signal, n_frames, frame_length, frame_step)
    return np.ascontiguousarray(spectrum.transpose(1, 2, 0))


def stft_frames(
    signal: np.ndarray, n_frames: int, frame_length: int, frame_step: int
) -> np.ndarray:
    """STFT of the first ``n_frames`` frames of an already padded ``(n_channels, n_samples)`` signal.

    Returns channel-first ``(n_channels, n_frames, frame_length // 2 + 1)`` complex64 (the
    model's layout). Frame ``k`` starts at sample ``k * frame_step``; the building block of both
    the whole-file and streaming paths.
    """
    n_channels = signal.shape[0]
    n_bins = frame_length // 2 + 1
    if n_frames <= 0:
        return np.zeros((n_channels, 0, n_bins), dtype=np.complex64)
    frames = np.lib.stride_tricks.sliding_window_view(signal, frame_length, axis=-1)
    frames = frames[:, : (n_frames - 1) * frame_step + 1 : frame_step]
    windowed = frames * hann_window(frame_length)
    return scipy.fft.rfft(windowed, n=frame_length, axis=-1, workers=-1).astype(
        np.complex64, copy=False
    )


def overlap_add_frames(spectrum: np.ndarray, frame_length: int, frame_step: int) -> np.ndarray:
    """Windowed inverse FFT of each frame, overlap-added and scaled by 2/3.

    Args:
        spectrum: channel-first ``(n_channels, n_frames, frame_length // 2 + 1)`` complex64.

    Returns:
        ``(n_channels, (n_frames - 1) * frame_step + frame_length)`` float32; sample 0 is the
        start of frame 0.
    """
    n_channels, n_frames, _ = spectrum.shape
    if n_frames == 0:
        return np.zeros((n_channels, 0), dtype=np.float32)
    frames = scipy.fft.irfft(spectrum, n=frame_length, axis=-1, workers=-1)
    frames = frames.astype(np.float32, copy=False)
    frames *= hann_window(frame_length)
    output = np.zeros((n_channels, (n_frames - 1) * frame_step + frame_length), dtype=np.float32)
    # Each frame covers frame_length / frame_step hops: add hop-sized blocks per offset in one go.
    hops_per_frame = frame_length // frame_step
    if hops_per_frame * frame_step == frame_length:
        blocks = frames.reshape(n_channels, n_frames, hops_per_frame, frame_step)
        view = output.reshape(n_channels, -1, frame_step)
        for hop in range(hops_per_frame):
            view[:, hop : hop + n_frames] += blocks[:, :, hop]
    else:
        for index in range(n_frames):
            start = index * frame_step
            output[:, start : start + frame_length] += frames[:, index]
    output *= WINDOW_COMPENSATION_FACTOR
    return output


def istft(
    spectrum: np.ndarray, n_samples: int, frame_length: int = 4096, frame_step: int = 1024
) -> np.ndarray:
    """Inverse of the predict-path :func:`stft`: overlap-add, x 2/3, crop ``[L, L + n)``.

    Args:
        spectrum: ``(n_frames, frame_length // 2 + 1, n_channels)`` complex64.
        n_samples: length of the original waveform.

    Returns:
        ``(n_samples, n_channels)`` float32.
    """
    signal = overlap_add_frames(spectrum.transpose(2, 0, 1), frame_length, frame_step).T
    cropped = signal[frame_length : frame_length + n_samples]
    if cropped.shape[0] < n_samples:
        cropped = np.pad(cropped, ((0, n_samples - cropped.shape[0]), (0, 0)))
    return cropped
