"""A picture per stem for the page: a spectrogram, which shows what a waveform hides (a voice left
in the accompaniment, hi-hats in the vocals), on a fixed dB scale so a near-silent stem looks dark.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..audio import io as audio_io
from ..ownership import write_file

N_FFT = 2048
MAX_COLUMNS = 1000  # time columns of the picture, whatever the song length
FLOOR_DB = -90.0  # dB relative to a full-scale sine; the colour scale is fixed, not per stem
READ_BLOCK_SAMPLES = 1 << 18


def spectrogram_db(signal: np.ndarray) -> np.ndarray:
    """``(n_samples,)`` -> ``(N_FFT // 2 + 1, n_columns)`` magnitude in dB (full-scale sine = 0),
    at most :data:`MAX_COLUMNS` Hann-windowed frames spread over the signal."""
    signal = np.pad(signal, (0, max(0, N_FFT - signal.size)))
    n_columns = min(MAX_COLUMNS, 1 + (signal.size - N_FFT) // (N_FFT // 4))
    starts = np.linspace(0, signal.size - N_FFT, n_columns).astype(np.int64)
    window = np.hanning(N_FFT).astype(np.float32)
    frames = signal[starts[:, None] + np.arange(N_FFT)[None, :]] * window
    magnitude = np.abs(np.fft.rfft(frames, axis=1)).T * (2.0 / window.sum())
    return 20.0 * np.log10(np.maximum(magnitude, 10 ** (FLOOR_DB / 20)))


def render_stem_picture(
    audio_path: os.PathLike, picture_path: os.PathLike, instrument: str, sample_rate: int
) -> Path:
    """Write a PNG spectrogram (log frequency, 0-``sample_rate``/2) of the stem at ``audio_path``
    to ``picture_path`` atomically; returns ``picture_path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # stream gives float32 blocks, at least one (a file without samples is an AudioError)
    blocks = audio_io.stream(audio_path, READ_BLOCK_SAMPLES, sample_rate)
    signal = np.concatenate([block.mean(axis=1) for block in blocks])  # the channels' mean
    image = spectrogram_db(signal)
    duration_s = signal.size / sample_rate
    peak = float(np.max(np.abs(signal)))
    peak_text = f"{20 * np.log10(peak):.1f} dBFS" if peak > 0 else "silent"

    figure = Figure(figsize=(8, 2.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.07, 0.2, 0.91, 0.68))
    frequencies = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate)
    axes.pcolormesh(
        np.linspace(0, duration_s, image.shape[1]), frequencies[1:], image[1:],
        vmin=FLOOR_DB, vmax=0.0, cmap="magma", shading="auto", rasterized=True,
    )  # fmt: skip
    axes.set_yscale("log")
    axes.set_ylim(30, sample_rate / 2)
    axes.set_ylabel("Hz")
    axes.set_xlabel("s")
    axes.set_title(f"{instrument} (peak {peak_text})", fontsize=10)
    write_file(picture_path, lambda path: figure.savefig(path, format="png"))
    return Path(picture_path)
