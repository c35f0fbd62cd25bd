"""Numerical stability of BSSEval v4 scores: re-score with a tiny perturbation of the references.

BSSEval v4 projects each estimate on the span of all references shifted by up to 512 samples,
solving one linear system per song. When references are nearly linearly dependent under those
filters (band-limited stems, e.g. decoded AAC with nothing above 16 kHz, or near-silent ones),
the system is ill-conditioned and SIR/SAR/ISR (how the error is split, not its total) can move
by many dB under noise far below audibility. We add deterministic white noise of
``NOISE_RELATIVE`` times each reference's RMS, recompute museval's song-wide filters, and
re-score up to ``MAX_WINDOWS`` evenly spaced windows (the filters cost about as much as 8
windows, so this adds roughly 10 windows' worth of work per song). A metric of a target is
*unstable* when the median over those windows of ``|perturbed - original|`` exceeds
``THRESHOLD_DB``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np

NOISE_RELATIVE = 1e-6
MAX_WINDOWS = 8
THRESHOLD_DB = 0.1
FILTERS_LEN = 512  # museval.evaluate's bss_eval filters_len
NOISE_SEED = 20180601
# museval's order of criteria (bss_eval returns SDR, ISR, SIR, SAR).
_CRITERIA = ("SDR", "ISR", "SIR", "SAR")


def settings() -> Dict[str, Any]:
    """What defines the check (stored in the result key)."""
    return {
        "noise_relative": NOISE_RELATIVE,
        "max_windows": MAX_WINDOWS,
        "threshold_db": THRESHOLD_DB,
        "seed": NOISE_SEED,
    }


def perturb(references: np.ndarray) -> np.ndarray:
    """``(nsrc, n, nchan)`` references plus white noise at ``NOISE_RELATIVE`` of each one's RMS."""
    noise = np.random.default_rng(NOISE_SEED).standard_normal(references.shape)
    rms = np.sqrt(np.mean(references**2, axis=(1, 2), keepdims=True))
    return references + NOISE_RELATIVE * rms * noise


def checked_windows(values: np.ndarray, max_windows: int = MAX_WINDOWS) -> List[int]:
    """Up to ``max_windows`` evenly spaced windows where every score is finite."""
    valid = np.flatnonzero(np.all(np.isfinite(values), axis=(0, 1)))
    if len(valid) <= max_windows:
        return valid.tolist()
    picks = np.linspace(0, len(valid) - 1, max_windows).round().astype(int)
    return valid[picks].tolist()


def rescore_windows(
    references: np.ndarray,
    estimates: np.ndarray,
    win: int,
    hop: int,
    windows: Sequence[int],
    implementation: str = "fast",
) -> np.ndarray:
    """museval v4 criteria ``(4 (SDR, ISR, SIR, SAR), nsrc, len(windows))`` of ``windows`` only,
    with song-wide filters, as ``museval.metrics.bss_eval`` computes them (``"fast"``: by
    ``bsseval``, within 1e-3 dB of museval)."""
    if implementation == "fast":
        from .bsseval import evaluate

        scores = evaluate(references, estimates, win, hop, padding=False, windows=windows)
        return np.stack(scores)
    from museval import metrics

    nsrc, _, nchan = estimates.shape
    gram, cross = metrics._compute_reference_correlations(references, FILTERS_LEN)
    result = np.full((4, nsrc, len(windows)), np.nan)
    for j in range(nsrc):
        filters = metrics._compute_projection_filters(gram, cross, estimates[j])
        own = metrics._compute_projection_filters(gram[j, j], cross[j], estimates[j])
        for k, t in enumerate(windows):
            window = slice(t * hop, t * hop + win)
            parts = metrics._bss_decomp_mtifilt(
                references[:, window], estimates[j, window], j, filters, own
            )
            result[:, j, k] = metrics._bss_crit(*parts, False)
    return result


def stability(
    references: np.ndarray,
    estimates: np.ndarray,
    values: np.ndarray,
    win: int,
    hop: int,
    implementation: str = "fast",
) -> Dict[int, Dict[str, Dict[str, Any]]]:
    """``{source index: {metric: {change_db, unstable}}}`` for museval's frame ``values``
    ``(4 (SDR, ISR, SIR, SAR), nsrc, nwin)`` of ``references``/``estimates`` ``(nsrc, n, nchan)``.

    ``change_db`` is the median absolute change over the checked windows (None if no window
    could be checked).
    """
    windows = checked_windows(values)
    report: Dict[int, Dict[str, Dict[str, Any]]] = {}
    if windows:
        perturbed = rescore_windows(
            perturb(references), estimates, win, hop, windows, implementation
        )
        changes = np.abs(perturbed - values[:, :, windows])
    for j in range(values.shape[1]):
        report[j] = {}
        for m, metric in enumerate(_CRITERIA):
            change = float(np.median(changes[m, j])) if windows else None
            unstable = bool(change is not None and not change <= THRESHOLD_DB)
            report[j][metric] = {"change_db": change, "unstable": unstable}
    return report
