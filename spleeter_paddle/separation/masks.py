"""Mask maths: Spleeter's ratio masks, mask extension above F, and the multichannel Wiener filter.

The Wiener filter reproduces ``norbert.wiener(v, x)`` with its defaults (soft-mask start, one EM
iteration) but in two passes, so that a song can be filtered segment by segment: norbert's
spatial covariances are sums over *all* frames of the song and it scales by the song's largest
STFT magnitude. :class:`WienerFilter` accumulates those statistics first, then applies them.
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-10
# norbert's default eps for a complex64 STFT.
WIENER_EPSILON = float(np.finfo(np.float32).eps)


def ratio_masks(estimates: np.ndarray, exponent: float = 2.0, axis: int = 0) -> np.ndarray:
    """Spleeter's masks ``m_i = (o_i^e + eps/N) / (sum_j o_j^e + eps)``; they sum to 1.

    Args:
        estimates: non-negative instrument magnitudes, instruments on ``axis`` (any layout).
    Returns:
        float32 masks of the same shape.
    """
    estimates = np.asarray(estimates, dtype=np.float32)
    n_instruments = estimates.shape[axis]
    powered = estimates**exponent if exponent != 2 else np.square(estimates)
    total = np.sum(powered, axis=axis, keepdims=True) + np.float32(EPSILON)
    powered += np.float32(EPSILON / n_instruments)
    powered /= total
    return powered


def extend_masks(masks: np.ndarray, n_bins: int, mode: str = "zeros", axis: int = -1) -> np.ndarray:
    """Extend masks from F to ``n_bins`` frequency bins along ``axis`` (``zeros`` or ``average``).

    ``average`` fills the extra bins with the mean of the mask over the F bins, per frame and
    channel (the stems then still sum to the full-band mix).
    """
    axis = axis % masks.ndim
    n_extra = n_bins - masks.shape[axis]
    if n_extra < 0:
        raise ValueError(f"masks have {masks.shape[axis]} bins, more than {n_bins}")
    shape = list(masks.shape)
    shape[axis] = n_extra
    if mode == "zeros":
        extension = np.zeros(shape, dtype=masks.dtype)
    elif mode == "average":
        extension = np.broadcast_to(np.mean(masks, axis=axis, keepdims=True), shape)
    else:
        raise ValueError(f"unknown mask_extension {mode!r}; use 'zeros' or 'average'")
    return np.concatenate([masks, extension], axis=axis)


def _soft_estimates(magnitudes: np.ndarray, mix_stft: np.ndarray, eps: float) -> np.ndarray:
    """norbert.softmask: ``v / (eps + sum v) * x``, ``(frames, bins, C, N)`` complex128."""
    magnitudes = magnitudes.astype(np.float64)
    total = np.sum(magnitudes, axis=-1, keepdims=True)
    return magnitudes / (eps + total) * mix_stft[..., None].astype(np.complex128)


class WienerFilter:
    """norbert.wiener(v, x) (1 EM iteration, soft-mask start), exact when fed segment by segment.

    Pass 1: :meth:`accumulate` every segment's ``(v, x)``. Pass 2: :meth:`apply` to each segment.
    ``v``: ``(frames, bins, C, N)`` non-negative source magnitudes (zero above F);
    ``x``: ``(frames, bins, C)`` complex mix STFT.
    """

    def __init__(self, eps: float = WIENER_EPSILON):
        self.eps = eps
        self.max_abs_mix = 0.0
        self._covariance_sum = None  # (bins, C, C, N) complex128, unscaled sum over frames
        self._power_sum = None  # (bins, N) float64, unscaled sum over frames of mean_c |y|^2
        self._covariances = None

    def accumulate(self, magnitudes: np.ndarray, mix_stft: np.ndarray) -> None:
        if mix_stft.size:
            self.max_abs_mix = max(self.max_abs_mix, float(np.abs(mix_stft).max()))
        for frames in _frame_chunks(mix_stft.shape[0]):
            estimates = _soft_estimates(magnitudes[frames], mix_stft[frames], self.eps)
            covariance = np.einsum("tfcn,tfdn->fcdn", estimates, estimates.conj())
            power = np.mean(np.abs(estimates) ** 2, axis=2).sum(axis=0)
            if self._covariance_sum is None:
                self._covariance_sum, self._power_sum = covariance, power
            else:
                self._covariance_sum += covariance
                self._power_sum += power
        self._covariances = None

    @property
    def scale(self) -> float:
        """norbert's ``max(1, max|x| / 10)``: the EM runs on ``x / scale``."""
        return max(1.0, self.max_abs_mix / 10.0)

    def spatial_covariances(self) -> np.ndarray:
        """Per-source spatial covariance ``R``, ``(bins, C, C, N)``, of the scaled estimates
        (after :meth:`accumulate`)."""
        if self._covariances is None:
            scale2 = self.scale**2
            weight = self.eps + self._power_sum / scale2
            self._covariances = self._covariance_sum / scale2 / weight[:, None, None, :]
        return self._covariances

    def apply(self, magnitudes: np.ndarray, mix_stft: np.ndarray) -> np.ndarray:
        """Filtered source STFTs ``(frames, bins, C, N)`` complex64 for one segment."""
        covariances = self.spatial_covariances()
        scale = self.scale
        filtered = np.empty(magnitudes.shape, dtype=np.complex64)
        for frames in _frame_chunks(mix_stft.shape[0]):
            estimates = _soft_estimates(magnitudes[frames], mix_stft[frames], self.eps) / scale
            mix = mix_stft[frames].astype(np.complex128) / scale
            power = np.mean(np.abs(estimates) ** 2, axis=2)  # (t, f, n)
            mix_covariance = np.einsum("tfn,fcdn->tfcd", power, covariances)
            mix_covariance += np.sqrt(self.eps) * np.eye(mix.shape[-1])
            inverse = _invert(mix_covariance)
            # W_j = v_j R_j Cxx^-1 ; y_j = W_j x
            gains = np.einsum("fcdn,tfde->tfcen", covariances, inverse) * power[..., None, None, :]
            filtered[frames] = np.einsum("tfcen,tfe->tfcn", gains, mix) * scale
        return filtered


def _frame_chunks(n_frames: int, chunk_frames: int = 64):
    """Slices of at most ``chunk_frames`` frames: bounds the float64 intermediates' memory."""
    return [slice(start, start + chunk_frames) for start in range(0, n_frames, chunk_frames)]


def _invert(matrices: np.ndarray) -> np.ndarray:
    """Inverse of ``(..., C, C)`` matrices; closed form for 2x2 like norbert (no extra eps)."""
    if matrices.shape[-1] != 2:
        return np.linalg.inv(matrices)
    a, b = matrices[..., 0, 0], matrices[..., 0, 1]
    c, d = matrices[..., 1, 0], matrices[..., 1, 1]
    inverse_det = 1.0 / (a * d - b * c)
    inverse = np.empty_like(matrices)
    inverse[..., 0, 0] = inverse_det * d
    inverse[..., 0, 1] = -inverse_det * b
    inverse[..., 1, 0] = -inverse_det * c
    inverse[..., 1, 1] = inverse_det * a
    return inverse
