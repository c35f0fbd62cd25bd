"""BSSEval v4 (museval's ``evaluate(..., mode="v4")``): museval's scores, 5-10x faster (1.4-2x
where the references are ill-conditioned, see ``museval_filters``).

Once per track: the reference/estimate correlations (block FFTs summed per bin), one Cholesky
solve for the filters (museval's own arithmetic where the references are ill-conditioned, see
``museval_filters``), their spectra. Per window: FFTs, one matmul per bin, Parseval energies.
"""

from __future__ import annotations

import contextlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Callable, ContextManager, Optional, Sequence, Tuple

import numpy as np
import scipy.fft
import scipy.linalg
from numpy.lib.stride_tricks import sliding_window_view

from .museval_filters import gram, museval_correlations, museval_solve

logger = logging.getLogger(__name__)

FILTERS_LEN = 512
# Block FFT length for the track correlations: the sum over blocks is taken in the frequency
# domain, so only 2 * filters_len - 1 lags are ever transformed back.
_CORRELATION_FFT = 1 << 15
# Windows scored together in one task: bounds memory (spectra of all channels of these windows).
_WINDOWS_PER_TASK = 4
# Correlation blocks per task (bounds memory likewise).
_BLOCKS_PER_TASK = 4
# Above this condition number (LAPACK's 1-norm estimate) the filters are computed with museval's
# own arithmetic. Measured on generated 10 s songs: lossless stems reach 1.5e11, AAC 256 kb/s
# 4.5e11 (fast solve within 3e-8 dB of museval); AAC 128 kb/s and MP3 stems 4e12-4e17, where the
# fast solve is 1e-5 to 0.2 dB off (museval's own numbers move by 0.08 dB with its BLAS threads).
MAX_CONDITION = 1e12

# Stored scores record it: 2 = museval's arithmetic for ill-conditioned references, museval run
# on one BLAS thread, the stability check by one LSB over all windows.
REVISION = 2

Metrics = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def evaluate(
    references: np.ndarray,
    estimates: np.ndarray,
    win: int = 44100,
    hop: int = 44100,
    padding: bool = True,
    filters_len: int = FILTERS_LEN,
    workers: Optional[int] = None,
    windows: Optional[Sequence[int]] = None,
    exact: Optional[bool] = None,
) -> Metrics:
    """museval's ``evaluate(references, estimates, win, hop, mode="v4", padding)``.

    ``references``, ``estimates``: ``(n_sources, n_samples, n_channels)``; with ``padding`` the
    estimates are cut or zero-padded to the references' length (as museval). Returns ``(SDR, ISR,
    SIR, SAR)``, each ``(n_sources, n_windows)`` float64 in dB; a window in which any reference or
    estimate is silent is NaN everywhere, an estimate equal to its reference gives SDR = inf.
    ``workers`` threads score windows in parallel (default: all cores). ``windows``: indices of
    the only windows to score (the song-wide filters are still fitted on the whole song); the
    arrays then have ``len(windows)`` columns. ``exact``: the song-wide filters by museval's
    own arithmetic (``museval_filters``: True), by ours (False: not museval's numbers where the
    references are ill-conditioned), or by ours unless ill-conditioned (None, the default).
    """
    with one_blas_thread():
        references = np.asarray(references, dtype=np.float64)
        estimates = np.asarray(estimates, dtype=np.float64)
        if padding and estimates.shape[1] != references.shape[1]:
            estimates = _pad_or_truncate(estimates, references.shape[1])
        _check_shapes(references, estimates)
        workers = workers or os.cpu_count() or 1
        n_sources, n_samples, n_channels = references.shape
        starts, length = frames(n_samples, win, hop)
        if windows is not None:
            starts = starts[np.asarray(windows, dtype=np.int64)]
        # (n_sources * n_channels, n_samples): one row per source channel, source-major
        ref_rows = references.transpose(0, 2, 1).reshape(n_sources * n_channels, n_samples)
        est_rows = estimates.transpose(0, 2, 1).reshape(n_sources * n_channels, n_samples)
        # museval's silence: a source's channel sum is 0 (refused over the track, NaN per window)
        silent = np.zeros(len(starts), dtype=bool)
        for name, rows in (("reference", ref_rows), ("estimated", est_rows)):
            nonzero = rows.reshape(n_sources, n_channels, n_samples).sum(axis=1) != 0
            _refuse_silent(nonzero, name)
            silent |= _silent_windows(nonzero, starts, length)
        filters, own_filters = distortion_filters(
            ref_rows, est_rows, n_channels, filters_len, workers, exact
        )

        # outputs (source, channel) through all references, then through their own source's only
        n_rows = n_sources * n_channels
        both = np.zeros((2 * n_rows, n_rows, filters_len))
        both[:n_rows] = filters
        for out in range(n_rows):
            first = out - out % n_channels
            both[n_rows + out, first : first + n_channels] = own_filters[out]
        n_fft = scipy.fft.next_fast_len(length + filters_len - 1, real=True)
        spectra = scipy.fft.rfft(both, n=n_fft, axis=-1, workers=workers).transpose(2, 0, 1)
        spectra = np.ascontiguousarray(spectra)  # (n_bins, 2 n_rows, n_rows)
        tasks = [
            starts[i : i + _WINDOWS_PER_TASK] for i in range(0, len(starts), _WINDOWS_PER_TASK)
        ]

        def score(task_starts: np.ndarray) -> np.ndarray:
            return _score_windows(
                ref_rows, est_rows, task_starts, length, n_channels, n_fft, spectra
            )

        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(score, tasks))
        values = np.concatenate(parts, axis=-1)  # (4, n_sources, n_windows)
        values[:, :, silent] = np.nan
        return values[0], values[1], values[2], values[3]


def frames(n_samples: int, win: int, hop: int) -> Tuple[np.ndarray, int]:
    """museval's framing: window starts ``(n_windows,)`` and the window length in samples; a
    window longer than the signal is the whole signal, a tail shorter than a window is dropped."""
    if win >= n_samples:
        return np.zeros(1, dtype=np.int64), n_samples
    n_windows = int(np.floor((n_samples - win + hop) / hop))
    return np.arange(n_windows, dtype=np.int64) * int(hop), int(win)


def distortion_filters(
    ref_rows: np.ndarray,
    est_rows: np.ndarray,
    n_channels: int,
    filters_len: int,
    workers: int,
    exact: Optional[bool] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Least-squares filters of the whole track, as museval's v4 computes them: by our
    arithmetic, or with museval's Gram matrix and solve (``museval_filters``) if ``exact`` or
    (``exact`` None) where a Gram matrix is ill-conditioned (see ``_solve``; there only
    museval's arithmetic gives museval's numbers, and ``exact=False`` solves our correlations
    by museval's LU).

    ``ref_rows``, ``est_rows``: ``(n_rows, n_samples)`` with ``n_rows = n_sources * n_channels``.
    Returns ``filters (n_rows, n_rows, filters_len)``: ``[out, in]`` maps reference row ``in``
    onto estimate row ``out`` using all references; ``own (n_rows, n_channels, filters_len)``:
    ``[out, c]`` maps channel ``c`` of the out row's own source, using that source only.
    """
    if not exact:
        # (n_rows, 2 n_rows, 2 L - 1): references with references, then with estimates
        lags = _correlations(ref_rows, (ref_rows, est_rows), filters_len, workers)
        solved = _least_squares(
            lags, n_channels, lambda gram_lags, rhs: _solve(gram_lags, rhs, exact)
        )
        if solved is not None:
            return solved
    logger.debug("ill-conditioned references: museval's arithmetic for the filters")
    lags = museval_correlations(ref_rows, est_rows, filters_len, workers)
    return _least_squares(lags, n_channels, partial(museval_solve, n_channels=n_channels))


def _least_squares(
    lags: np.ndarray,
    n_channels: int,
    solve: Callable[[np.ndarray, np.ndarray], Optional[np.ndarray]],
) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """``distortion_filters`` from the correlations ``lags (n_rows, 2 n_rows, 2 L - 1)``,
    each system ``G x = rhs`` solved by ``solve(lags of G, rhs)``; None where it gives None."""
    n_rows, length = lags.shape[0], (lags.shape[-1] + 1) // 2
    # <reference row p delayed by a, estimate row e>: (n_rows * L, n_rows)
    cross = lags[:, n_rows:, length - 1 :].transpose(0, 2, 1).reshape(n_rows * length, n_rows)
    own = np.empty((n_rows, n_channels, length))
    for first in range(0, n_rows, n_channels):
        rows = slice(first, first + n_channels)
        block = slice(first * length, (first + n_channels) * length)
        solved = solve(lags[rows, rows], cross[block, rows])
        if solved is None:
            return None
        own[rows] = solved.reshape(n_channels, length, n_channels).transpose(2, 0, 1)
    solved = solve(lags[:, :n_rows], cross)
    if solved is None:
        return None
    filters = solved.reshape(n_rows, length, n_rows).transpose(2, 0, 1)
    return filters, own


def _correlations(
    x: np.ndarray, ys: Tuple[np.ndarray, ...], filters_len: int, workers: int
) -> np.ndarray:
    """``R[p, q, d + L - 1] = sum_n x[p, n] y[q, n + d]`` for ``|d| < L``, ``y`` the rows of
    ``ys`` one after the other.

    ``x (P, n)``, ``ys`` of ``(Q_i, n)`` -> ``(P, sum Q_i, 2 L - 1)``. Blocks of ``x`` are
    correlated with the stretch of ``y`` around them (L - 1 more samples each side) and summed
    over blocks per bin, so only the wanted lags are ever transformed back.
    """
    n_samples, reach = x.shape[1], filters_len - 1
    n_fft = max(_CORRELATION_FFT, scipy.fft.next_fast_len(8 * reach, real=True))
    block = n_fft - 2 * reach
    n_blocks = -(-n_samples // block)
    n_y = sum(len(y) for y in ys)

    def group_sum(first: int) -> np.ndarray:
        """(n_bins, P, Q): sum of conj(X) Y over blocks first .. first + group - 1."""
        count = min(_BLOCKS_PER_TASK, n_blocks - first)
        begin, end = first * block, (first + count) * block
        x_pad = np.zeros((x.shape[0], count * block))
        x_pad[:, : min(end, n_samples) - begin] = x[:, begin:end]
        x_pad = x_pad.reshape(x.shape[0], count, block)
        # time-reversed (circularly), so that their rfft is conj(rfft(block))
        x_blocks = np.zeros((x.shape[0], count, n_fft))
        x_blocks[:, :, 0] = x_pad[:, :, 0]
        x_blocks[:, :, n_fft - block + 1 :] = x_pad[:, :, :0:-1]
        x_conj = scipy.fft.rfft(x_blocks, axis=-1).transpose(2, 0, 1)
        # y from begin - reach to end + reach, zero outside the track
        y_pad = np.zeros((n_y, count * block + 2 * reach))
        low, high = max(begin - reach, 0), min(end + reach, n_samples)
        y_pad[:, low - begin + reach : high - begin + reach] = np.concatenate(
            [y[:, low:high] for y in ys]
        )
        y_blocks = sliding_window_view(y_pad, n_fft, axis=-1)[:, ::block]
        y_spec = scipy.fft.rfft(y_blocks, axis=-1).transpose(2, 1, 0)
        return np.matmul(x_conj, y_spec)

    with ThreadPoolExecutor(workers) as pool:
        summed = sum(pool.map(group_sum, range(0, n_blocks, _BLOCKS_PER_TASK)))
    lags = scipy.fft.irfft(summed, n=n_fft, axis=0, workers=workers)[: 2 * reach + 1]
    return lags.transpose(1, 2, 0)


def _solve(lags: np.ndarray, rhs: np.ndarray, exact: Optional[bool]) -> Optional[np.ndarray]:
    """``G^-1 rhs`` with ``G = gram(lags)`` by Cholesky (the Gram matrix is symmetric). Where
    ``G`` is ill-conditioned (condition number over ``MAX_CONDITION``, or not positive
    definite), museval's scores depend on its exact arithmetic (``museval_filters``): None, or
    museval's LU solve (``exact=False``).

    The diagonal gets museval's ``eps`` (lost in rounding: no ridge, which would move the
    scores of a matrix near the threshold by 1e-2 dB).
    """
    matrix = gram(lags)
    matrix[np.diag_indices_from(matrix)] += np.finfo(float).eps  # museval's
    norm = _one_norm(lags) + np.finfo(float).eps
    try:
        # the transpose (the same matrix) is Fortran-ordered: LAPACK works in place, no copy
        factor, lower = scipy.linalg.cho_factor(
            matrix.T, lower=True, overwrite_a=True, check_finite=False
        )
    except np.linalg.LinAlgError:
        return museval_solve(lags, rhs, rhs.shape[1]) if exact is False else None
    rcond, info = scipy.linalg.lapack.dpocon(factor, norm, uplo="L" if lower else "U")
    logger.debug(
        "Gram matrix of size %d: condition number %.1e", len(factor), 1 / max(rcond, 1e-300)
    )
    if info != 0 or not rcond * MAX_CONDITION >= 1.0:
        return museval_solve(lags, rhs, rhs.shape[1]) if exact is False else None
    return scipy.linalg.cho_solve((factor, lower), rhs, check_finite=False)


def _one_norm(lags: np.ndarray) -> float:
    """``max_column sum |gram(lags)|`` from the lags (prefix sums along each Toeplitz block):
    LAPACK's condition estimate needs it, the matrix itself would cost a copy."""
    length = (lags.shape[-1] + 1) // 2
    prefix = np.zeros(lags.shape[:-1] + (lags.shape[-1] + 1,))
    np.cumsum(np.abs(lags), axis=-1, out=prefix[..., 1:])
    # column (q, b) of block (p, q) holds lags[p, q, L - 1 - b : 2 L - 1 - b]
    delay = np.arange(length)
    columns = prefix[..., 2 * length - 1 - delay] - prefix[..., length - 1 - delay]
    return float(columns.sum(axis=0).max())


def _score_windows(
    ref_rows: np.ndarray,
    est_rows: np.ndarray,
    starts: np.ndarray,
    length: int,
    n_channels: int,
    n_fft: int,
    spectra: np.ndarray,
) -> np.ndarray:
    """``(4, n_sources, len(starts))``: SDR, ISR, SIR, SAR of the windows starting at ``starts``.

    ``spectra (n_bins, 2 n_rows, n_rows)``: the filters (all references, then own source only).
    Each window is zero-padded by ``filters_len - 1`` (the filters' tail) as in museval; the
    filtered signals exist only as spectra and energies come from Parseval's identity.
    """
    n_rows, n_bins = ref_rows.shape[0], spectra.shape[0]
    index = starts[:, None] + np.arange(length)[None, :]
    ref_win, est_win = ref_rows[:, index], est_rows[:, index]  # (n_rows, n_windows, length)

    def spectrum(frames: np.ndarray) -> np.ndarray:
        """(n_rows, n_windows, length) -> (n_bins, n_rows, n_windows)."""
        return np.ascontiguousarray(scipy.fft.rfft(frames, n=n_fft, axis=-1).transpose(2, 0, 1))

    ref_spec, est_spec = spectrum(ref_win), spectrum(est_win)
    filtered = np.matmul(spectra, ref_spec)  # (n_bins, 2 n_rows, n_windows)
    full, own = filtered[:, :n_rows], filtered[:, n_rows:]
    weights = np.full(n_bins, 2.0 / n_fft)
    weights[0] = 1.0 / n_fft
    if n_fft % 2 == 0:
        weights[-1] = 1.0 / n_fft

    def energy(spectrum: np.ndarray) -> np.ndarray:
        """(n_bins, n_rows, n_windows) -> (n_sources, n_windows), summed over channels."""
        squares = np.square(spectrum.view(np.float64)).reshape(n_bins, -1)
        per_row = (weights @ squares).reshape(n_rows, -1, 2).sum(axis=-1)
        return per_row.reshape(-1, n_channels, per_row.shape[-1]).sum(axis=1)

    def summed(samples: np.ndarray) -> np.ndarray:
        per_row = np.einsum("rwn,rwn->rw", samples, samples)
        return per_row.reshape(-1, n_channels, per_row.shape[-1]).sum(axis=1)

    true = summed(ref_win)
    sdr = _db(true, summed(est_win - ref_win))
    isr = _db(true, energy(own - ref_spec))
    sir = _db(energy(own), energy(full - own))
    sar = _db(energy(full), energy(est_spec - full))
    return np.stack([sdr, isr, sir, sar])


def one_blas_thread() -> ContextManager[object]:
    """BLAS on one thread: our threads share the work out (windows, blocks), and OpenBLAS's own
    threaded Cholesky spins on a loaded machine (6x slower than one thread on these 2 shared
    cores). threadpoolctl comes with librosa's scikit-learn; without it, nothing is limited."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _db(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``10 log10(num / den)``, +inf where ``den == 0`` (museval's ``_safe_db``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den == 0, np.inf, 10 * np.log10(num / den))


def _silent_windows(nonzero: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """``(n_windows,)`` bool: some source's channel sum is zero throughout the window.

    ``nonzero``: ``(n_sources, n_samples)`` bool, channel sum != 0.
    """
    return np.array([not nonzero[:, s : s + length].any(axis=1).all() for s in starts], bool)


def _pad_or_truncate(estimates: np.ndarray, n_samples: int) -> np.ndarray:
    """Estimates cut or zero-padded at the end to ``n_samples`` (museval's padding)."""
    if estimates.shape[1] >= n_samples:
        return estimates[:, :n_samples]
    extra = n_samples - estimates.shape[1]
    return np.pad(estimates, [(0, 0), (0, extra), (0, 0)])


def _check_shapes(references: np.ndarray, estimates: np.ndarray) -> None:
    """museval's check: equal 3-d shapes (ValueError, as museval)."""
    if references.shape != estimates.shape or references.ndim != 3:
        raise ValueError(
            f"references {references.shape} and estimates {estimates.shape}: need equal shapes"
            " (n_sources, n_samples, n_channels)"
        )


def _refuse_silent(nonzero: np.ndarray, name: str) -> None:
    """museval's ValueError for a source that is silent throughout (``nonzero`` as above)."""
    silent = [index for index, row in enumerate(nonzero) if not row.any()]
    if silent:
        raise ValueError(f"{name} source(s) {silent} are all 0s: BSSEval needs non-silent sources")
