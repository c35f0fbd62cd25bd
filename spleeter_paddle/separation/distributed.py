"""``separate -npn N`` (and ``--nnodes``): the songs of a run shared between processes, one per
card, each loading the model once on its own card (``launch.py``).

The parent plans the run as one process would (checks, output paths, finished songs kept),
splits the songs to do by duration (:func:`launch.share_by_duration`) and launches the workers;
each separates its share and records every song's outcome in the job folder, which the parent
reports as they come: the same lines, summary and exit status as one process, the same files.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, Sequence

from ..audio import io as audio_io
from ..errors import AudioError
from ..launch import LaunchOptions, launched_shares, run_shared_job
from .batch import (
    CheckedOptions,
    SeparationOptions,
    log_summary,
    make_separator,
    plan_run,
    planned_seconds,
    separate_planned,
)
from .plan import PlannedFile

logger = logging.getLogger(__name__)


def separate_files_launched(
    files: Sequence[str], options: SeparationOptions, launch: LaunchOptions
) -> int:
    """:func:`~.batch.separate_files` in ``launch.n_procs`` processes per node; returns the
    number of files that failed. A worker that dies is one SpleeterError (the songs it had not
    finished are named by count; run again to finish them: finished songs are kept)."""
    started = time.perf_counter()
    files, run, plan = plan_run(files, options)
    failures = []
    for item in plan:
        if item.problem is not None:
            failures.append(item.name)
            logger.error("%s", item.problem)
    kept = sum(item.done for item in plan)
    todo = [item for item in plan if item.paths and not item.done]
    if kept:
        logger.info("%d of %d files already separated with this model and options", kept, len(plan))
    audio_s, problem = 0.0, None
    if todo:
        songs = [_song(item, run) for item in todo]
        job = {"task": "separate", "options": dataclasses.asdict(options), "songs": songs}
        outcomes, problem = run_shared_job(
            job, launch, options.device, _report, [item.name for item in todo], "separated"
        )
        for item in todo:
            outcome = outcomes.get(item.name)
            if outcome is not None:
                audio_s += outcome["seconds"]
                if outcome["problem"] is not None:
                    failures.append(item.name)
    log_summary(len(files), failures, time.perf_counter() - started, audio_s, kept)
    if problem is not None:
        raise problem
    return len(failures)


def _song(item: PlannedFile, run: CheckedOptions) -> Dict[str, Any]:
    """A song of the job: its name, stem paths and seconds of audio (the weight of its share)."""
    try:
        seconds = planned_seconds(audio_io.probe(item.name).info, run)
    except AudioError:  # its worker reports the problem
        seconds = 0.0
    paths = {name: os.fspath(path) for name, path in item.paths.items()}
    folders = sorted({os.path.dirname(os.path.abspath(path)) for path in paths.values()})
    return {"name": item.name, "paths": paths, "seconds": seconds, "folders": folders}


def _report(outcome: Dict[str, Any]) -> None:
    """A worker's outcome of one song, logged here as one process logs it."""
    if outcome["problem"] is not None:
        logger.error("%s", outcome["problem"])
    else:
        logger.info("%s -> %s", outcome["name"], ", ".join(outcome["paths"].values()))


def run_job(job: Dict[str, Any]) -> int:
    """One launched process (``launched.TASKS``): separate this rank's share of ``job``."""
    with launched_shares(job) as (share, record):
        if not share:
            return 0
        options = SeparationOptions(**job["options"])
        run = options.check()
        plan = [PlannedFile(song["name"], _paths(song)) for song in share]
        paths = {song["name"]: song["paths"] for song in share}
        separate_planned(
            make_separator(run),
            plan,
            options,
            run,
            lambda name, problem, seconds: record(
                {"name": name, "problem": problem, "seconds": seconds, "paths": paths[name]}
            ),
        )
    return 0


def _paths(song: Dict[str, Any]) -> Dict[str, Path]:
    return {name: Path(path) for name, path in song["paths"].items()}
