"""soxr HQ resampling, whole (``resample``) or streaming (``resample_stream``), equal to each other
and to librosa's ``soxr_hq``; ``rebuffer`` cuts a stream into fixed-size blocks.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import soxr

_RESAMPLE_QUALITY = "HQ"  # = librosa's res_type='soxr_hq'


def resample(waveform: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """soxr HQ resampling of ``(n_samples, n_channels)`` to ``(ceil(n * target / rate), n_channels)``
    (a mono ``(n_samples,)`` to ``(ceil(...),)``, as librosa's).

    Numerically identical to ``librosa.resample(waveform.T, res_type='soxr_hq').T`` (same soxr
    call, same zero-padding to the ceil length) without librosa's slow first import.
    """
    if sample_rate == target_rate:
        return waveform
    n_target = int(np.ceil(len(waveform) * (float(target_rate) / sample_rate)))
    resampled = soxr.resample(waveform, sample_rate, target_rate, quality=_RESAMPLE_QUALITY)
    padding = [(0, max(0, n_target - len(resampled)))] + [(0, 0)] * (resampled.ndim - 1)
    resampled = np.pad(resampled, padding)
    return np.ascontiguousarray(resampled[:n_target], dtype=waveform.dtype)


def rebuffer(blocks: Iterable[np.ndarray], block_frames: int) -> Iterator[np.ndarray]:
    pending: list[np.ndarray] = []
    n_pending = 0
    for block in blocks:
        pending.append(block)
        n_pending += len(block)
        if n_pending >= block_frames:
            joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
            n_whole = len(joined) - len(joined) % block_frames
            for begin in range(0, n_whole, block_frames):
                yield joined[begin : begin + block_frames]
            pending, n_pending = [joined[n_whole:]], len(joined) - n_whole
    if n_pending:
        yield np.concatenate(pending)


def resample_stream(
    blocks: Iterable[np.ndarray], sample_rate: int, target_rate: int, n_channels: int
) -> Iterator[np.ndarray]:
    """Streaming soxr HQ; the concatenated output equals ``resample`` of the concatenated input."""
    resampler = soxr.ResampleStream(
        sample_rate, target_rate, n_channels, "float32", _RESAMPLE_QUALITY
    )
    n_in = n_out = 0
    for block in blocks:
        n_in += len(block)
        out = resampler.resample_chunk(np.ascontiguousarray(block, dtype=np.float32))
        n_out += len(out)
        if len(out):
            yield out
    tail = resampler.resample_chunk(np.zeros((0, n_channels), np.float32), last=True)
    n_target = int(np.ceil(n_in * (float(target_rate) / sample_rate)))
    tail = tail[: max(0, n_target - n_out)]
    tail = np.pad(tail, ((0, max(0, n_target - n_out - len(tail))), (0, 0)))
    if len(tail):
        yield tail
