"""Separate a batch of files with one model: options checked and every output path planned
before the model loads (songs whose stems are already there, made as this run would make them,
are kept), one line per failed file, a summary at the end (the ``separate`` command).

With ``-npn N`` (and ``--nnodes``) the songs are shared between processes, one per card, each
loading the model once on its own card (``launch.py``): the parent plans the run as one process
would, splits the songs to do by duration (:func:`launch.share_by_duration`) and launches the
workers; each separates its share and records every song's outcome in the job folder, which the
parent reports as they come: the same lines, summary and exit status as one process, the same
files.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from ..audio import io as audio_io
from ..audio.adapter import adapter_class_named, is_default_adapter_name, make_adapter
from ..errors import AudioError, ConfigurationError, SpleeterError
from ..files import same_file_key
from ..launch import LaunchOptions, launched_shares, run_shared_job
from ..options import checked, seconds_span, strict_bool
from . import outputs
from .arguments import SeparatorSettings, config_descriptor, separator_settings, stems_setting
from .outputs import DEFAULT_FILENAME_FORMAT, OutputFormat

logger = logging.getLogger(__name__)
_SECONDS_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]"


@dataclass
class SeparationOptions:
    """Everything ``separate`` takes besides the files (the CLI flags, same names and defaults)."""

    params_filename: Union[str, Mapping[str, Any]] = "spleeter:2stems"
    output_path: str = "separated_audio"
    filename_format: str = DEFAULT_FILENAME_FORMAT
    codec: str = "wav"
    bitrate: str = "128k"
    subtype: str = "PCM_16"
    offset: float = 0.0
    duration: Optional[float] = None
    mwf: Optional[bool] = None  # None: the configuration's MWF key, else off
    device: str = "auto"
    backend: str = "auto"
    model_dir: Optional[str] = None
    batch_size: int = 1
    segment_frames: Optional[int] = None
    overwrite: bool = False
    # Spleeter's -a: an AudioAdapter class name; the default adapter's work is done by this
    # library's streaming reader and tagged writer, another adapter loads and saves each file.
    adapter: Optional[str] = None

    def check(self) -> CheckedOptions:
        """The options checked and converted before anything loads (the configuration is
        read): ConfigurationError (exit 2) for a bad value; AudioError when the codec needs a
        missing ffmpeg."""
        checked(
            "params_filename", config_descriptor, self.params_filename, error=ConfigurationError
        )
        offset, duration = seconds_span(self.offset, self.duration, error=ConfigurationError)
        checked("overwrite", strict_bool, self.overwrite, error=ConfigurationError)
        if not isinstance(self.filename_format, str):
            raise ConfigurationError(f"filename_format must be a str, got {self.filename_format!r}")
        if (
            not isinstance(self.output_path, (str, os.PathLike))
            or not str(self.output_path).strip()
        ):
            raise ConfigurationError(
                f"output path is empty or not a path ({self.output_path!r}): give -o/--output_path DIR"
            )
        adapter_class_named(self.adapter)
        try:  # the Separator's own checks, as usage errors of the run
            settings = separator_settings(
                self.params_filename, mwf=self.mwf, device=self.device, model_dir=self.model_dir,
                backend=self.backend, batch_size=self.batch_size,
                segment_frames=self.segment_frames,
            )  # fmt: skip
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        fmt = OutputFormat.checked(
            self.codec, self.bitrate, self.subtype, self.filename_format,
            settings.params["sample_rate"], settings.params["instrument_list"],
        )  # fmt: skip
        return CheckedOptions(settings, fmt, offset, duration)


class CheckedOptions(NamedTuple):
    """:class:`SeparationOptions` checked: what the separator, the writer and the reader take."""

    separator: SeparatorSettings
    output_format: OutputFormat
    offset: float
    duration: Optional[float]


class PlannedFile(NamedTuple):
    """One input of a run: its stem paths, or the problem that keeps it from running; ``done``:
    its stems are already there, made as this run would make them (skipped)."""

    name: str
    paths: Optional[Dict[str, Path]]
    problem: Optional[str] = None
    done: bool = False


def plan_outputs(
    files: Sequence[str],
    instruments: Sequence[str],
    output_path: str,
    fmt: outputs.OutputFormat,
    overwrite: bool,
) -> List[PlannedFile]:
    """Where every file's stems go, checked before any work, in input order.

    A stem path that is an input of the run refuses the whole run (ConfigurationError); a file
    whose stems would land on an earlier file's stems, or on files that may not be replaced,
    gets a ``problem`` and is skipped.
    """
    plan: List[PlannedFile] = []
    seen: Dict[Tuple[int, int], str] = {}
    for name in files:
        try:
            audio_io.check_input_file(name)
            identity = same_file_key(name)
            if identity in seen:
                raise AudioError(f"{name}: is the same file as {seen[identity]}, given twice")
            seen[identity] = name
            paths = outputs.output_paths(instruments, name, output_path, fmt)
            plan.append(PlannedFile(name, paths))
        except AudioError as error:
            plan.append(PlannedFile(name, None, str(error)))
    outputs.check_not_inputs({item.name: item.paths for item in plan if item.paths}, files)
    owners: Dict[Path, str] = {}
    for index, (name, paths, _, _) in enumerate(plan):
        if paths is None:
            continue
        try:
            clash = next((path for path in paths.values() if path in owners), None)
            if clash is not None:
                raise AudioError(
                    f"{name}: output {clash} is also the output of {owners[clash]} in this run; "
                    "use a -f/--filename_format with {foldername} to keep both"
                )
            outputs.check_replaceable(paths, name, overwrite)
        except AudioError as error:
            plan[index] = PlannedFile(name, None, str(error))
            continue
        owners.update({path: name for path in paths.values()})
    return plan


def mark_done(plan: List[PlannedFile], run: CheckedOptions, adapter: str) -> List[PlannedFile]:
    """``plan`` with ``done`` set for the songs whose stems all carry the tag this run would
    write (same input version, weights, config and options: ``outputs.stems_done``). A user's
    ``adapter`` writes untagged files: its songs are never done. Provisions the model's weights."""
    from ..pretrained.weights import pretrained_weights

    if not is_default_adapter_name(adapter) or not any(item.paths for item in plan):
        return plan
    weights = pretrained_weights(run.separator.params, model_dir=run.separator.model_dir)
    file_options = run.output_format.file_options(run.offset, run.duration)
    setting = stems_setting(run.separator, weights.sha256, file_options)
    marked = []
    for item in plan:
        try:
            done = bool(item.paths) and outputs.stems_done(item.paths, item.name, setting)
        except OSError:  # the input went away: its own read reports it
            done = False
        marked.append(item._replace(done=done))
    return marked


def plan_run(
    files: Sequence[str], options: SeparationOptions
) -> Tuple[List[str], CheckedOptions, List[PlannedFile]]:
    """``(files, checked options, plan)`` of a ``separate`` run: options and files checked,
    every output path planned and the finished songs marked, before any model loads (see
    :func:`plan_outputs`, :func:`mark_done`)."""
    if not isinstance(options, SeparationOptions):
        raise ConfigurationError(f"options must be a SeparationOptions, got {options!r}")
    if isinstance(files, (str, bytes, os.PathLike)) or not isinstance(files, Sequence):
        raise ConfigurationError(f"files must be a list of paths, got {files!r}")
    wrong = [name for name in files if not isinstance(name, (str, os.PathLike))]
    if wrong:  # an empty or missing name is a per-file problem, reported with the others
        raise ConfigurationError(f"files must be paths (str or os.PathLike), got {wrong[0]!r}")
    files = [os.fspath(name) for name in files]
    run = options.check()
    instruments = run.separator.params["instrument_list"]
    plan = plan_outputs(
        files, instruments, options.output_path, run.output_format, options.overwrite
    )
    return files, run, mark_done(plan, run, options.adapter)


def separate_planned(
    separator: Any,
    plan: Sequence[PlannedFile],
    options: SeparationOptions,
    run: CheckedOptions,
    record: Optional[Callable[[str, Optional[str], float], None]] = None,
) -> Tuple[List[str], float]:
    """Separate the planned files in order; returns ``(failed files, seconds of audio)``.

    A file with a ``problem`` or that fails is logged on one line (file + problem) and the
    others still run; a ``done`` file is skipped. ``record(file, problem, seconds)`` is told
    each outcome."""
    from tqdm import tqdm

    adapter = make_adapter(options.adapter)
    failures: List[str] = []
    audio_seconds = [0.0]
    record = record or (lambda name, problem, seconds: None)

    def progress(n_samples: int) -> None:
        audio_seconds[0] += n_samples / separator.sample_rate
        seconds_bar.update(n_samples / separator.sample_rate)

    with tqdm(
        total=0.0, unit="s", desc="audio", disable=None, bar_format=_SECONDS_BAR
    ) as seconds_bar:
        for index, (name, paths, problem, done) in enumerate(plan, 1):
            seconds_bar.set_description(f"file {index}/{len(plan)}")
            if done:
                logger.info("%s: already separated with this model and options (kept)", name)
                continue
            before = audio_seconds[0]
            if problem is None:
                try:
                    source = audio_io.probe(name)
                    seconds_bar.total += planned_seconds(source.info, run)
                    seconds_bar.refresh()
                    separator.separate_into(
                        paths, name, run.output_format, adapter, run.offset, run.duration,
                        overwrite=options.overwrite, progress=progress, source=source,
                    )  # fmt: skip
                except SpleeterError as error:
                    problem = str(error)
            if problem is not None:
                failures.append(name)
            _report({"name": name, "problem": problem, "paths": paths})  # in input order
            record(name, problem, audio_seconds[0] - before)
    return failures, audio_seconds[0]


def planned_seconds(info: Any, run: CheckedOptions) -> float:
    """Seconds of audio a file of ``info`` gives with the run's offset and duration (0 when its
    length is unknown)."""
    if info.duration_s is None:
        return 0.0
    length_s = max(0.0, info.duration_s - run.offset)
    return length_s if run.duration is None else min(length_s, run.duration)


def log_summary(
    n_files: int, failures: Sequence[str], elapsed_s: float, audio_s: float, kept: int = 0
) -> None:
    """The run's last line: files separated (and kept), time, speed, the failed ones."""
    logger.info(
        "separated %d of %d files in %.1f s%s%s%s",
        n_files - len(failures) - kept,
        n_files,
        elapsed_s,
        f" ({elapsed_s / audio_s:.3f} s per second of audio)" if audio_s else "",
        f"; {kept} already separated" if kept else "",
        f"; failed: {', '.join(failures)}" if failures else "",
    )


def separate_files(files: Sequence[str], options: Optional[SeparationOptions] = None) -> int:
    """Separate ``files`` with one model; returns the number of files that failed.

    Options and output paths are checked before the model loads; a bad file is reported on one
    line (file + problem) and skipped; the others still run. A file whose stems are already
    there, made with this model and these options from its current version, is kept as it is.

    >>> separate_files(["a.mp3", "b.flac"], SeparationOptions(output_path="out", codec="flac"))
    """
    options = SeparationOptions() if options is None else options
    files, run, plan = plan_run(files, options)
    started = time.perf_counter()
    separator = None
    if any(item.paths and not item.done for item in plan):
        from .separator import Separator  # loads Paddle: only when there is work

        separator = Separator.from_settings(run.separator)
    failures, audio_seconds = separate_planned(separator, plan, options, run)
    kept = sum(item.done for item in plan)
    log_summary(len(files), failures, time.perf_counter() - started, audio_seconds, kept)
    return len(failures)


def separate_files_launched(
    files: Sequence[str], options: SeparationOptions, launch: LaunchOptions
) -> int:
    """:func:`separate_files` in ``launch.n_procs`` processes per node; returns the
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
        job = {"task": "separate", "options": asdict(options), "songs": songs}
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
    """A song's outcome on one line, the same from this process or a launched worker: its
    problem, or where its stems went."""
    if outcome["problem"] is not None:
        logger.error("%s", outcome["problem"])
    else:
        paths = ", ".join(str(path) for path in outcome["paths"].values())
        logger.info("%s -> %s", outcome["name"], paths)


def run_job(job: Dict[str, Any]) -> int:
    """One launched process (``launched.TASKS``): separate this rank's share of ``job``."""
    with launched_shares(job) as (share, record):
        if not share:
            return 0
        from .separator import Separator

        options = SeparationOptions(**job["options"])
        run = options.check()
        paths = {song["name"]: song["paths"] for song in share}
        plan = [
            PlannedFile(song["name"], {stem: Path(path) for stem, path in song["paths"].items()})
            for song in share
        ]
        separate_planned(
            Separator.from_settings(run.separator),
            plan,
            options,
            run,
            lambda name, problem, seconds: record(
                {"name": name, "problem": problem, "seconds": seconds, "paths": paths[name]}
            ),
        )
    return 0
