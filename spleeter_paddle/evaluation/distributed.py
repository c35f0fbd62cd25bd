"""``evaluate -npn N`` / ``eval.py -npn N``: the songs shared between processes, one per card, each
loading the model once and scoring its songs with its metrics workers. The parent plans the run as
one process would (the weights digest read from the file, no model loaded), reports the workers'
outcomes and writes the one summary, CSV and plot."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from ..audio.io import audio_info
from ..errors import AudioError, DataError
from ..launch import LaunchOptions, launched_shares, run_shared_job
from .evaluator import Evaluation, EvaluationRun, finish_run, prepare_run, score_songs
from .models import load_separator, model_settings
from .musdb_source import folder_tracks, musdb_tracks
from .setting import metric_setting, normalized, separator_setting
from .tracks import Track

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class SongSource:
    """Where the songs are, as the workers list them again: ``mus_dir`` (musdb) or ``data``
    (song folders), the ``subsets`` and MUSDB18-HQ's ``is_wav``."""

    mus_dir: Optional[str] = None
    data: Optional[str] = None
    subsets: Optional[List[str]] = None
    is_wav: Optional[bool] = None

    def tracks(self) -> List[Track]:
        if self.mus_dir:
            return musdb_tracks(self.mus_dir, self.subsets or ["test"], is_wav=self.is_wav)
        return folder_tracks(self.data, self.subsets)


@dataclasses.dataclass
class ModelChoice:
    """The separator each worker loads: ``descriptor`` as ``evaluate -p`` takes it, and its
    options (:func:`~.models.model_settings`' own)."""

    descriptor: str = "latest"
    mwf: bool = False
    device: str = "auto"
    segment_frames: Optional[int] = None


def evaluate_launched(
    choice: ModelChoice,
    source: SongSource,
    tracks: Sequence[Track],
    output_dir: Union[str, Path],
    launch: LaunchOptions,
    n_workers: int = 1,
    overwrite: bool = False,
    sample: Optional[Dict[str, Any]] = None,
    check_stability: bool = True,
    metrics: str = "fast",
    audio: bool = True,
) -> Evaluation:
    """:func:`~.evaluator.evaluate` of ``tracks`` (songs of ``source``) in ``launch.n_procs``
    processes per node, each with ``n_workers`` metrics processes; the same files and scores
    as one process. A worker that dies is one SpleeterError (run again: scored songs resume)."""
    from ..pretrained.weights import pretrained_weights
    from ..separation.arguments import spleeter_setting

    settings, label = model_settings(**dataclasses.asdict(choice))
    params = settings.params
    weights = pretrained_weights(params, model_dir=settings.model_dir)  # provisioned once, here
    described = spleeter_setting(settings, weights.state_digest())
    run = prepare_run(
        params["instrument_list"], tracks, output_dir, described, overwrite,
        metric_setting(1.0, 1.0, check_stability, metrics),
    )  # fmt: skip
    start = time.perf_counter()
    outcomes: Dict[str, Dict[str, Any]] = {}
    if run.todo:
        job = {
            "task": "evaluate",
            "choice": dataclasses.asdict(choice),
            "source": dataclasses.asdict(source),
            "output_dir": str(run.output_dir),
            "songs": [_song(track, run) for track in run.todo],
            "key": run.key,
            "options": {  # score_songs' own
                "n_workers": n_workers,
                "model": label,
                "audio": audio,
                "overwrite": overwrite,
            },
        }
        outcomes, problem = run_shared_job(
            job, launch, choice.device, _report, [track.key for track in run.todo], "scored"
        )
        if problem is not None:
            raise problem
    skipped = {key: o["reason"] for key, o in outcomes.items() if o["outcome"] == "skipped"}
    broken = {key: o["reason"] for key, o in outcomes.items() if o["outcome"] == "failed"}
    return finish_run(run, skipped, broken, time.perf_counter() - start, label, n_workers, sample)


def _song(track: Track, run: EvaluationRun) -> Dict[str, Any]:
    """A song of the job: its key, the targets to score and its seconds (its share's weight)."""
    try:
        seconds = audio_info(track.mixture_file).duration_s or 0.0
    except (AudioError, OSError):  # its worker reports the problem
        seconds = 0.0
    return {"name": track.key, "targets": run.plan[track.key], "seconds": seconds}


def _report(outcome: Dict[str, Any]) -> None:
    """A worker's outcome of one song, logged here as one process logs it."""
    if outcome["outcome"] == "failed":
        logger.error("ERROR %s: %s", outcome["name"], outcome["reason"])
    elif outcome["outcome"] == "skipped":
        logger.warning("%s: not scored: %s", outcome["name"], outcome["reason"])
    else:
        logger.info("%s: scored", outcome["name"])


def run_job(job: Dict[str, Any]) -> int:
    """One launched process (``launched.TASKS``): separate and score this rank's songs."""
    with launched_shares(job) as (share, record):
        if not share:
            return 0
        separator, _ = load_separator(**job["choice"])
        if normalized(separator_setting(separator)) != job["key"]["separator"]:
            raise DataError(
                f"{job['choice']['descriptor']}: the model loaded here is not the one the run was planned with"
                " (its weights changed meanwhile?); nothing was scored, run the command again"
            )
        listed = {track.key: track for track in SongSource(**job["source"]).tracks()}
        todo = [listed[song["name"]] for song in share if song["name"] in listed]
        for song in share:
            if song["name"] not in listed:
                record({"name": song["name"], "outcome": "failed", "reason": "no longer listed"})
        run = EvaluationRun(
            Path(job["output_dir"]), list(separator.instruments), todo, job["key"],
            {song["name"]: song["targets"] for song in share}, todo, todo, [], {},
        )  # fmt: skip
        score_songs(separator, run, progress={"disable": True}, record=record, **job["options"])
    return 0
