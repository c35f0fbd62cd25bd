"""museval's song-wide BSSEval v4 filters, for ill-conditioned songs.

When the references are band-limited (decoded AAC/MP3 stems: nothing above ~16 kHz), the Gram
matrix of their delayed copies is nearly singular and museval's filters in its near-null
directions are rounding noise: they do not change the song-wide projection, but they do change
the window scores (a window is filtered with zeros around it, and its edges are broadband).
museval's numbers there depend on the rounding of its Gram matrix and right-hand sides (our
block-FFT correlations, 4e-16 off, move a SAR by 0.01 dB on decoded AAC and MP3) and of its LU
(one BLAS thread more moves a SAR by 0.08 dB), so they are only reproduced by doing the same
operations: the same power-of-two FFT length, complex FFTs, products in the same order, the
same ``solve(G + eps I)``. What is saved: the forward FFTs are done once per row (museval: the
references once per estimate), the own-source systems reuse the all-sources correlations
(museval recomputes them), and independent transforms run on ``workers`` threads.
"""

from __future__ import annotations

import itertools
from typing import Iterator, List, Tuple

import numpy as np
import scipy.fft

# Complex transforms of one batch per thread, at least (bounds memory: n_fft complex values
# each, 128 MiB for a 2-minute song; the reference spectra, as museval's, take 8 such rows for 4
# stereo sources).
_MIN_BATCH = 2
# numpy reuses a temporary operand as the output from this size on (NPY_MIN_ELIDE_BYTES).
_ELIDED_BYTES = 256 * 1024


def gram(lags: np.ndarray) -> np.ndarray:
    """Gram matrix of the delayed references.

    ``lags (P, P, 2 L - 1)`` -> ``(P * L, P * L)`` ordered (row, delay):
    ``G[(p, a), (q, b)] = R_pq[a - b]``.
    """
    n_rows, length = lags.shape[0], (lags.shape[-1] + 1) // 2
    delay = np.arange(length)
    toeplitz = delay[:, None] - delay[None, :] + length - 1
    gram = np.empty((n_rows, length, n_rows, length))
    for p in range(n_rows):
        gram[p] = lags[p][:, toeplitz].transpose(1, 0, 2)
    return gram.reshape(n_rows * length, n_rows * length)


def museval_correlations(
    ref_rows: np.ndarray, est_rows: np.ndarray, filters_len: int, workers: int
) -> np.ndarray:
    """``bsseval._correlations(ref_rows, (ref_rows, est_rows), ...)`` with museval's rounding:
    its Gram matrix (``_compute_reference_correlations``) and right-hand sides
    (``_compute_projection_filters``) bit for bit.

    ``ref_rows``, ``est_rows``: ``(n_rows, n_samples)`` -> ``(n_rows, 2 n_rows, 2 L - 1)``;
    of the reference-estimate part only the lags ``>= 0`` (all museval uses) are filled.
    """
    n_rows, n_samples = ref_rows.shape
    length = filters_len
    n_fft = int(2 ** np.ceil(np.log2(n_samples + filters_len - 1.0)))  # museval's
    # scipy.fft.fft on real rows is museval's scipy.fftpack.fft (one pocketfft routine)
    ref_spectra = scipy.fft.fft(ref_rows, n=n_fft, axis=-1, workers=workers)
    lags = np.zeros((n_rows, 2 * n_rows, 2 * length - 1))
    # museval's pairs p <= q: ssf = ifft(sf[q] * conj(sf[p])), G[(p, a), (q, b)] = ssf[a - b]
    pairs = [(q, p) for p, q in itertools.combinations_with_replacement(range(n_rows), 2)]
    for (q, p), back in zip(pairs, _inverse(ref_spectra, ref_spectra, pairs, workers)):
        ahead, behind = back[:length], back[: n_fft - length : -1]
        lags[q, p] = np.concatenate([ahead[:0:-1], back[:1], behind])
        lags[p, q] = np.concatenate([behind[::-1], ahead])  # last, as museval's diagonal
    est_spectra = scipy.fft.fft(est_rows, n=n_fft, axis=-1, workers=workers)
    # museval: ssef = ifft(sf[p] * conj(sef[e])); D[(p, a), e] = ssef[-a mod n_fft]
    pairs = list(itertools.product(range(n_rows), range(n_rows)))
    for (p, e), back in zip(pairs, _inverse(ref_spectra, est_spectra, pairs, workers)):
        lags[p, n_rows + e, length - 1 :] = np.concatenate([back[:1], back[: n_fft - length : -1]])
    return lags


def _inverse(
    left: np.ndarray, right: np.ndarray, pairs: List[Tuple[int, int]], workers: int
) -> Iterator[np.ndarray]:
    """``real(ifft(left[i] * conj(right[j])))`` for each ``(i, j)`` of ``pairs``, in order:
    ``(n_fft,)`` each (a view, valid until the next one), computed ``workers`` (at least
    ``_MIN_BATCH``) at a time in buffers allocated once (fresh pages for every product cost as
    much as the transforms)."""
    size = max(_MIN_BATCH, workers)
    products = np.empty((min(size, len(pairs)), left.shape[-1]), dtype=complex)
    for start in range(0, len(pairs), size):
        batch = pairs[start : start + size]
        for row, (i, j) in zip(products, batch):
            # museval's ``left[i] * np.conj(right[j])``; numpy computes it as ``conj * left``
            # into the conjugate's temporary where that is large enough to reuse (temporary
            # elision), and its complex product (fused multiply-adds) is not commutative
            np.conjugate(right[j], out=row)
            if row.nbytes >= _ELIDED_BYTES:
                np.multiply(row, left[i], out=row)
            else:
                np.multiply(left[i], row, out=row)
        work = products[: len(batch)]
        work = scipy.fft.ifft(work, axis=-1, workers=workers, overwrite_x=True)
        yield from work.real


def museval_solve(lags: np.ndarray, rhs: np.ndarray, n_channels: int) -> np.ndarray:
    """museval's ``solve(G + eps I, D)``, least squares on ``G`` if singular, once per
    estimate (its ``n_channels`` columns of ``rhs``), as museval: LAPACK's solve with other
    right-hand sides beside a column does not always round that column the same way (1e-6 dB
    on four mono sources solved at once).

    ``lags (P, P, 2 L - 1)`` (``G = gram(lags)``), ``rhs (P * L, k)`` -> ``(P * L, k)``.
    """
    matrix = gram(lags)
    matrix[np.diag_indices_from(matrix)] += np.finfo(float).eps
    estimates = [rhs[:, first : first + n_channels] for first in range(0, rhs.shape[1], n_channels)]
    try:
        return np.concatenate([np.linalg.solve(matrix, columns) for columns in estimates], axis=1)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(gram(lags), rhs)[0]
