"""Separate a batch of files with one model: options checked and every output path planned
before the model loads, one line per failed file, a summary at the end (the ``separate`` command).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from ..audio import io as audio_io
from ..audio.adapter import adapter_class_named, make_adapter
from ..errors import AudioError, ConfigurationError, SpleeterError
from ..files import same_file_key
from ..options import checked, seconds_span, strict_bool
from . import outputs
from .arguments import SeparatorSettings, config_descriptor, separator_settings
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
    """One input of a run: its stem paths, or the problem that keeps it from running."""

    name: str
    paths: Optional[Dict[str, Path]]
    problem: Optional[str] = None


def plan_outputs(
    files: Sequence[str],
    instruments: Sequence[str],
    output_path: str,
    fmt: OutputFormat,
    overwrite: bool,
) -> List[PlannedFile]:
    """Where every file's stems go, checked before any work, in input order.

    A stem path that is an input of the run refuses the whole run (ConfigurationError); a file
    whose stems would land on an earlier file's stems, or on files that may not be replaced,
    gets a ``problem`` and is skipped.
    """
    named: Dict[int, Dict[str, Path]] = {}
    problems: Dict[int, str] = {}
    seen: Dict[Tuple[int, int], str] = {}
    for index, name in enumerate(files):
        try:
            audio_io.check_input_file(name)
            identity = same_file_key(name)
            if identity in seen:
                raise AudioError(f"{name}: is the same file as {seen[identity]}, given twice")
            seen[identity] = name
            named[index] = outputs.output_paths(instruments, name, output_path, fmt)
        except AudioError as error:
            problems[index] = str(error)
    outputs.check_not_inputs({files[index]: paths for index, paths in named.items()}, files)
    owners: Dict[Path, str] = {}
    for index, paths in named.items():
        name = files[index]
        try:
            clash = next((path for path in paths.values() if path in owners), None)
            if clash is not None:
                raise AudioError(
                    f"{name}: output {clash} is also the output of {owners[clash]} in this run; "
                    "use a -f/--filename_format with {foldername} to keep both"
                )
            for instrument, path in paths.items():
                outputs.check_replaceable(path, instrument, name, overwrite)
        except AudioError as error:
            problems[index] = str(error)
            continue
        owners.update({path: name for path in paths.values()})
    return [
        PlannedFile(name, None, problems[index])
        if index in problems
        else PlannedFile(name, named[index])
        for index, name in enumerate(files)
    ]


def separate_files(files: Sequence[str], options: Optional[SeparationOptions] = None) -> int:
    """Separate ``files`` with one model; returns the number of files that failed.

    Options and output paths are checked before the model loads; a bad file is reported on one
    line (file + problem) and skipped; the others still run.

    >>> separate_files(["a.mp3", "b.flac"], SeparationOptions(output_path="out", codec="flac"))
    """
    from tqdm import tqdm

    from .separator import Separator

    options = SeparationOptions() if options is None else options
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
    adapter = make_adapter(options.adapter)
    failures: List[str] = []
    started = time.perf_counter()
    audio_seconds = [0.0]
    separator = Separator.from_settings(run.separator) if any(i.paths for i in plan) else None

    def progress(n_samples: int) -> None:
        audio_seconds[0] += n_samples / separator.sample_rate
        seconds_bar.update(n_samples / separator.sample_rate)

    with tqdm(
        total=0.0, unit="s", desc="audio", disable=None, bar_format=_SECONDS_BAR
    ) as seconds_bar:
        for index, (name, paths, problem) in enumerate(plan, 1):
            seconds_bar.set_description(f"file {index}/{len(plan)}")
            if problem is not None:  # reported in input order, like every other failure
                failures.append(name)
                logger.error("%s", problem)
                continue
            try:
                source = audio_io.probe(name)
                info = source.info
                if info.duration_s is not None:
                    length_s = max(0.0, info.duration_s - run.offset)
                    if run.duration is not None:
                        length_s = min(length_s, run.duration)
                    seconds_bar.total += length_s
                    seconds_bar.refresh()
                separator.separate_into(
                    paths, name, run.output_format, adapter, run.offset, run.duration,
                    overwrite=options.overwrite, progress=progress, source=source,
                )  # fmt: skip
            except SpleeterError as error:
                failures.append(name)
                logger.error("%s", error)
            else:
                logger.info("%s -> %s", name, ", ".join(str(path) for path in paths.values()))
    elapsed = time.perf_counter() - started
    logger.info(
        "separated %d of %d files in %.1f s%s%s",
        len(files) - len(failures),
        len(files),
        elapsed,
        f" ({elapsed / audio_seconds[0]:.3f} s per second of audio)" if audio_seconds[0] else "",
        f"; failed: {', '.join(failures)}" if failures else "",
    )
    return len(failures)
