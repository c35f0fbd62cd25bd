"""Numerical stability of BSSEval v4 scores: re-score with the references moved by one LSB.

BSSEval v4 projects each estimate on the span of all references shifted by up to 512 samples,
solving one linear system per song. When references are nearly linearly dependent under those
filters (band-limited stems, e.g. decoded AAC with nothing above 16 kHz, or near-silent ones),
the system is ill-conditioned and SIR/SAR/ISR (how the error is split, not its total) can move
by many dB under a change far below audibility. We add ``±NOISE_LSB`` (one 16-bit step, the
precision of a WAV or decoded MUSDB18 stem) with random signs to every reference sample,
re-score every window, and compare. A window's metric *moved* when it changed by more than
``THRESHOLD_DB``; a song's metric is *unstable* when its value in the results (the median over
its windows) changed by more than ``THRESHOLD_DB``. The re-scoring uses the fast arithmetic
(``bsseval(exact=False)``): where that differs from museval's, the metric is rounding noise.
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

NOISE_LSB = 2.0**-15  # one step of 16-bit PCM, full scale 1.0
THRESHOLD_DB = 0.1
NOISE_SEED = 20180601
# museval's order of criteria (bss_eval returns SDR, ISR, SIR, SAR).
CRITERIA = ("SDR", "ISR", "SIR", "SAR")


def settings() -> Dict[str, Any]:
    """What defines the check (stored in the result key)."""
    return {
        "noise": "one 16-bit LSB, random sign per sample",
        "noise_lsb": NOISE_LSB,
        "windows": "all",
        "threshold_db": THRESHOLD_DB,
        "seed": NOISE_SEED,
    }


def perturb(references: np.ndarray) -> np.ndarray:
    """``(nsrc, n, nchan)`` references plus ``±NOISE_LSB`` with deterministic random signs."""
    signs = np.random.default_rng(NOISE_SEED).integers(0, 2, references.shape) * 2 - 1
    return references + NOISE_LSB * signs


def bss_v4(
    references: np.ndarray,
    estimates: np.ndarray,
    win: int,
    hop: int,
    implementation: str = "fast",
    workers: int = 0,
    perturbed: bool = False,
) -> np.ndarray:
    """BSSEval v4 criteria ``(4 (SDR, ISR, SIR, SAR), nsrc, nwin)`` by ``bsseval`` (``"fast"``)
    or by museval itself (``"museval"``, with one BLAS thread: its LU then rounds the same way
    whatever the machine's load or core count; its SAR moves by 0.1 dB with it on decoded AAC
    references). ``perturbed``: of the references moved by :func:`perturb`, with the fast
    arithmetic (``exact=False``)."""
    from .bsseval import evaluate, one_blas_thread

    references = perturb(references) if perturbed else references
    if implementation == "fast":
        exact = False if perturbed else None
        return np.stack(
            evaluate(references, estimates, win, hop, workers=workers or None, exact=exact)
        )
    from ..sigsep import import_museval

    with one_blas_thread():
        return np.stack(
            import_museval().evaluate(references, estimates, win=win, hop=hop, mode="v4")
        )


def compare(values: np.ndarray, perturbed: np.ndarray) -> Dict[int, Dict[str, Dict[str, Any]]]:
    """``{source: {metric: {windows_rescored, windows_moved, change_db, unstable}}}`` from
    the frame criteria ``(4 (SDR, ISR, SIR, SAR), nsrc, nwin)`` before and after the
    perturbation.

    ``windows_rescored`` counts the windows finite both times (a digitally silent reference
    window, NaN in museval, is no longer silent once moved by an LSB), ``windows_moved`` those
    of them that changed by more than ``THRESHOLD_DB``; ``change_db`` is the change of the
    median over those windows (the song's value; None without any), ``unstable`` whether it
    exceeds ``THRESHOLD_DB``.
    """
    report: Dict[int, Dict[str, Dict[str, Any]]] = {}
    for j in range(values.shape[1]):
        report[j] = {}
        for m, metric in enumerate(CRITERIA):
            before, after = values[m, j], perturbed[m, j]
            both = np.isfinite(before) & np.isfinite(after)
            moved = np.abs(after[both] - before[both]) > THRESHOLD_DB
            change = None
            if both.any():
                change = float(abs(np.median(after[both]) - np.median(before[both])))
            report[j][metric] = {
                "windows_rescored": int(both.sum()),
                "windows_moved": int(moved.sum()),
                "change_db": change,
                "unstable": bool(change is not None and not change <= THRESHOLD_DB),
            }
    return report
