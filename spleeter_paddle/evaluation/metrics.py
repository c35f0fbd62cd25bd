"""museval BSSEval v4 for one song (``score_track``: the worker reads the references itself and
returns museval's JSON text), and ``MetricsPool``, spawned workers with a bounded queue, so that
separating the next songs overlaps the metrics."""

from __future__ import annotations

import contextlib
import json
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence

import numpy as np

from ..environment import workers_starting
from ..errors import DataError, SpleeterError
from ..options import checked, cpu_threads, whole_number
from ..sigsep import import_museval
from . import stability
from .tracks import Track, target_sort_key

METRICS = ("SDR", "SIR", "SAR", "ISR")
# The key under which we add our own fields to museval's per-song JSON (its schema allows it;
# museval's readers only look at "targets").
EXTRA_KEY = "spleeter_paddle"
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def target_groups(targets: Sequence[str]) -> List[List[str]]:
    """How museval scores targets jointly (``museval.eval_mus_track``'s rule).

    All targets but accompaniment are one group; when vocals and accompaniment are both there,
    they are a second, separate group, and vocals' scores come from that one. A 2-stem model
    thus gives exactly ``[["vocals", "accompaniment"]]``.
    """
    targets = sorted(targets, key=target_sort_key)
    has_pair = "vocals" in targets and "accompaniment" in targets
    others = [t for t in targets if t != "accompaniment"] if has_pair else targets
    groups = [others] if len(others) >= 2 else []
    if has_pair:
        groups.append(["vocals", "accompaniment"])
    if not groups:
        raise DataError(
            f"targets {', '.join(targets) or 'none'}: museval needs at least two estimated"
            " sources with references"
        )
    return groups


@dataclass
class TrackResult:
    """What a worker returns for one song: museval's JSON text (with our timings in it), or why
    museval cannot score it (``skipped``) or why the song is broken (``failed``; then
    ``json_text`` is None)."""

    key: str
    json_text: Optional[str]
    skipped: str = ""
    failed: str = ""


def score_track(
    track: Track,
    estimates: Mapping[str, np.ndarray],
    win_s: float = 1.0,
    hop_s: float = 1.0,
    separation_s: float = 0.0,
    extra: Optional[Dict[str, Any]] = None,
    check_stability: bool = True,
    implementation: str = "fast",
) -> TrackResult:
    """BSSEval v4 of ``estimates`` (``{target: (n_samples, 2)}`` at ``track.rate``), computed
    by ``implementation``: ``"fast"`` (``bsseval``, museval's scores within 1e-3 dB) or
    ``"museval"``.

    Frame values are stored as museval does (5 decimals; an infinite value, i.e. an estimate
    equal to its reference, becomes NaN), and the count of infinite frames per target and
    metric is kept under ``EXTRA_KEY`` so that reports can say so. museval refuses an all-zero
    reference: such a song is returned as skipped, with the reason.
    """
    museval = import_museval()

    start, started_at = time.perf_counter(), time.time()
    groups = target_groups(list(estimates))
    references = track.load_references(sorted(estimates, key=target_sort_key))
    check_lengths(track, references, estimates)
    silent = [target for target, reference in references.items() if not np.any(reference)]
    if silent:
        reason = f"silent {', '.join(silent)} reference (museval needs non-silent references)"
        return TrackResult(track.key, None, reason)
    store = museval.TrackStore(track_name=track.name, win=win_s, hop=hop_s)
    infinite: Dict[str, Dict[str, int]] = {}
    stable: Dict[str, Dict[str, Dict[str, Any]]] = {}
    stability_s = 0.0
    win, hop = int(round(win_s * track.rate)), int(round(hop_s * track.rate))
    for index, group in enumerate(groups):
        # In museval's rule, vocals of the first group are superseded by the vocals/acc pair.
        skip = "vocals" if index == 0 and len(groups) == 2 else None
        group_references = np.stack([references[t] for t in group])
        group_estimates = np.stack([np.asarray(estimates[t], dtype=np.float64) for t in group])
        frames = stability.bss_v4(
            group_references, group_estimates, win, hop, implementation, cpu_threads()
        )
        began, checked = time.perf_counter(), {}
        if check_stability:
            perturbed = stability.bss_v4(
                group_references, group_estimates, win, hop, implementation, cpu_threads(), True
            )
            checked = stability.compare(frames, perturbed)
        stability_s += time.perf_counter() - began
        for position, target in enumerate(group):
            if target == skip:
                continue
            rows = {m: frames[stability.CRITERIA.index(m), position] for m in METRICS}
            store.add_target(target_name=target, values={m: r.tolist() for m, r in rows.items()})
            infinite[target] = {m: int(np.isinf(r).sum()) for m, r in rows.items()}
            if checked:
                stable[target] = checked[position]
    store.validate()
    metrics_s = time.perf_counter() - start
    store.scores[EXTRA_KEY] = {
        "separation_s": round(separation_s, 3),
        "metrics_s": round(metrics_s, 3),
        "metrics_implementation": implementation,
        "infinite_frames": infinite,
        **({"stability": stable, "stability_s": round(stability_s, 3)} if check_stability else {}),
        "metrics_started_at": round(started_at, 3),
        "metrics_finished_at": round(time.time(), 3),
        **(extra or {}),
    }
    return TrackResult(track.key, store.json)


def check_lengths(
    track: Track, references: Mapping[str, np.ndarray], estimates: Mapping[str, np.ndarray]
) -> None:
    """DataError unless every reference has the estimates' (i.e. the mixture's) length: museval
    would pad or cut silently."""
    expected = len(next(iter(estimates.values())))
    wrong = {t: len(r) for t, r in references.items() if len(r) != expected}
    if wrong:
        described = ", ".join(f"{t} {n}" for t, n in wrong.items())
        raise DataError(
            f"{track.location}: mixture has {expected} samples but {described};"
            " stems must have the mixture's length"
        )


def read_extra(scores: Mapping[str, Any]) -> Dict[str, Any]:
    """Our fields of a per-song JSON (empty for JSON written by museval itself)."""
    return dict(scores.get(EXTRA_KEY) or {})


def parse_scores(text: str, source: str) -> Dict[str, Any]:
    """Parse per-song JSON (museval writes NaN literals, which ``json`` accepts)."""
    try:
        scores = json.loads(text)
    except ValueError as error:
        raise DataError(f"{source}: not a museval JSON file ({error})") from error
    if not isinstance(scores, dict) or not isinstance(scores.get("targets"), list):
        raise DataError(f"{source}: not a museval JSON file (no 'targets' list)")
    return scores


@contextlib.contextmanager
def _worker_environment(n_threads: int) -> Iterator[None]:
    """Environment of processes started inside the block (read at their start-up): BLAS/OpenMP
    threads (metrics code never loads Paddle)."""
    settings = {name: str(n_threads) for name in _THREAD_VARIABLES}
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class MetricsPool:
    """``score_track`` in ``n_workers`` processes (0: in this one, for debugging), at most
    ``n_workers + 1`` songs queued or running. Workers are spawned, never forked (the parent may
    hold a Paddle runtime), each with ``cpu_count // n_workers`` BLAS threads."""

    def __init__(self, n_workers: int):
        checked("workers", whole_number, n_workers, 0, error=DataError)
        self.max_pending = n_workers + 1
        self._threads = max(1, (os.cpu_count() or 1) // max(1, n_workers))
        self._executor: Optional[ProcessPoolExecutor] = None
        self._pending: Dict[Future, Track] = {}
        self._done: List[TrackResult] = []
        if n_workers > 0:
            self._executor = ProcessPoolExecutor(n_workers, mp_context=get_context("spawn"))
            # Start all workers now (each submit to a busy pool starts one), so that their
            # imports overlap the first separation; their environment is read at start-up.
            with _worker_environment(self._threads), workers_starting():
                for _ in range(n_workers):
                    self._executor.submit(import_museval)

    def __enter__(self) -> MetricsPool:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=exc_info[0] is not None)
            self._executor = None

    def submit(
        self, track: Track, estimates: Mapping[str, np.ndarray], **kwargs
    ) -> List[TrackResult]:
        """Queue one song; returns the songs finished meanwhile (blocks while the queue is full)."""
        if self._executor is None:
            self._done.append(_result(track, lambda: score_track(track, estimates, **kwargs)))
        else:
            future = self._executor.submit(score_track, track, dict(estimates), **kwargs)
            self._pending[future] = track
            while len(self._pending) >= self.max_pending:
                self._collect()
        finished, self._done = self._done, []
        return finished

    def drain(self) -> Iterator[TrackResult]:
        """Yield the remaining results as they finish."""
        while True:
            finished, self._done = self._done, []
            yield from finished
            if not self._pending:
                return
            self._collect()

    def _collect(self) -> None:
        finished, _ = wait(list(self._pending), return_when=FIRST_COMPLETED)
        for future in finished:
            track = self._pending.pop(future)
            self._done.append(_result(track, future.result))


def _result(track: Track, get: Callable[[], TrackResult]) -> TrackResult:
    """``get()``; a song's own failure becomes a failed result naming it (the run goes on), a
    dead worker process ends the run with one line."""
    try:
        return get()
    except BrokenProcessPool as error:
        raise DataError(
            f"{track.location}: a metrics worker process died (out of memory? try fewer workers;"
            " from a script, call evaluate() under if __name__ == '__main__')"
        ) from error
    except SpleeterError as error:
        return TrackResult(track.key, None, failed=str(error))
    except Exception as error:
        problem = f"{track.location}: museval failed ({type(error).__name__}: {error})"
        return TrackResult(track.key, None, failed=problem)
