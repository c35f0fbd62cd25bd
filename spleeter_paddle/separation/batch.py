"""Separate a batch of files with one model: options checked and every output path planned
before the model loads, one line per failed file, a summary at the end (the ``separate`` command).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import soundfile as sf

from ..audio import ffmpeg
from ..audio import io as audio_io
from ..audio.adapter import adapter_class_named, make_adapter
from ..audio.writer import check_bitrate
from ..configuration import load_configuration
from ..errors import ConfigurationError, SpleeterError
from ..options import (
    batch_size,
    bitrate_text,
    checked,
    duration_seconds,
    offset_seconds,
    path_value,
    segment_frames,
    strict_bool,
)
from ..vocab import BACKENDS, BIT_DEPTHS, CODECS, DEVICES
from .backends import validate_backend
from .plan import PlannedFile, mark_done, plan_outputs

logger = logging.getLogger(__name__)
DEFAULT_FILENAME_FORMAT = "{filename}/{instrument}.{codec}"
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
    mwf: bool = False
    device: str = "auto"
    backend: str = "auto"
    model_dir: Optional[str] = None
    batch_size: int = 1
    segment_frames: Optional[int] = None
    overwrite: bool = False
    # Spleeter's -a: an AudioAdapter class name; the default adapter's work is done by this
    # library's streaming reader and tagged writer, another adapter loads and saves each file.
    adapter: Optional[str] = None

    def check(self) -> None:
        """ConfigurationError (exit 2) for a bad value; AudioError when the codec needs a
        missing ffmpeg. Nothing is loaded."""
        check_file_options(self.codec, self.bitrate, self.subtype, self.offset, self.duration)
        for name, check, may_be_none in (
            ("batch_size", batch_size, False),
            ("segment_frames", segment_frames, True),  # None: the default
            ("mwf", strict_bool, False),
            ("overwrite", strict_bool, False),
            ("model_dir", path_value, True),
            ("filename_format", str, False),
        ):
            value = getattr(self, name)
            if value is None and may_be_none:
                continue
            try:
                if check is str and not isinstance(value, str):
                    raise ValueError(f"must be a str, got {value!r}")
                check(value)
            except ValueError as error:
                raise ConfigurationError(f"{name} {error}") from None
        if (
            not isinstance(self.output_path, (str, os.PathLike))
            or not str(self.output_path).strip()
        ):
            raise ConfigurationError(
                f"output path is empty or not a path ({self.output_path!r}): give -o/--output_path DIR"
            )
        if not isinstance(self.params_filename, (str, os.PathLike, Mapping)):
            raise ConfigurationError(
                "params_filename must be 'spleeter:<preset>', a JSON config path or a dict, "
                f"got {self.params_filename!r}"
            )
        for name, value, allowed in (
            ("device", self.device, DEVICES),
            ("backend", self.backend, BACKENDS),
        ):
            if not isinstance(value, str) or value not in allowed:
                raise ConfigurationError(
                    f"{name} must be one of {', '.join(allowed)}, got {value!r}"
                )
        validate_backend(self.backend)  # its optional packages, before any model loads
        adapter_class_named(self.adapter)


def check_file_options(
    codec: str,
    bitrate: Union[str, int],
    subtype: str,
    offset: Any,
    duration: Any,
    sample_rate: Optional[int] = None,
    seconds_names: Tuple[str, str] = ("offset", "duration"),
) -> Tuple[str, str, str, float, Optional[float]]:
    """What writing stems takes, checked and converted (ConfigurationError, exit 2; AudioError
    when the codec needs a missing ffmpeg): ``(codec, bitrate, subtype, offset, duration)``.
    With ``sample_rate``, a bitrate the codec cannot write at that rate is refused too;
    ``seconds_names`` name the offset and duration in messages."""
    for name, value, allowed in (("codec", codec, CODECS), ("subtype", subtype, BIT_DEPTHS)):
        if not isinstance(value, str) or value not in allowed:
            raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    try:
        offset = checked(seconds_names[0], offset_seconds, offset)
        if duration is not None:
            duration = checked(seconds_names[1], duration_seconds, duration)
        bitrate = checked("bitrate", bitrate_text, bitrate)
        if sample_rate is not None:
            check_bitrate(codec, bitrate, sample_rate)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    if subtype == "FLOAT" and codec != "wav":
        raise ConfigurationError(
            f"--bit-depth FLOAT is only for wav; {codec} takes PCM_16 or PCM_24"
        )
    needs_ffmpeg = codec in ffmpeg.ENCODERS and not _native_codec(codec)
    if needs_ffmpeg and not ffmpeg.can_encode():
        raise ffmpeg.missing_error(codec, f"writing {codec}")
    return codec, bitrate, subtype, offset, duration


def _native_codec(codec: str) -> bool:
    file_format = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3"}.get(codec)
    return file_format is not None and file_format in sf.available_formats()


def plan_run(
    files: Sequence[str], options: Optional[SeparationOptions] = None
) -> Tuple[List[str], Dict[str, Any], List[PlannedFile]]:
    """``(files, params, plan)`` of a ``separate`` run: options and files checked, every output
    path planned and the finished songs marked, before any model loads (see
    :func:`plan_outputs`, :func:`mark_done`)."""
    from .separator import check_segment_frames

    options = SeparationOptions() if options is None else options
    if not isinstance(options, SeparationOptions):
        raise ConfigurationError(f"options must be a SeparationOptions, got {options!r}")
    if isinstance(files, (str, bytes, os.PathLike)) or not isinstance(files, Sequence):
        raise ConfigurationError(f"files must be a list of paths, got {files!r}")
    wrong = [name for name in files if not isinstance(name, (str, os.PathLike))]
    if wrong:  # an empty or missing name is a per-file problem, reported with the others
        raise ConfigurationError(f"files must be paths (str or os.PathLike), got {wrong[0]!r}")
    files = [os.fspath(name) for name in files]
    options.check()
    params = load_configuration(options.params_filename)
    file_options = check_file_options(
        options.codec, options.bitrate, options.subtype, options.offset, options.duration,
        params["sample_rate"],
    )  # fmt: skip
    if options.segment_frames is not None:
        check_segment_frames(params, options.segment_frames)
    plan = plan_outputs(
        files, params["instrument_list"], options.output_path, options.codec,
        options.filename_format, options.overwrite,
    )  # fmt: skip
    return files, params, mark_done(plan, params, options, file_options)


def make_separator(params: Dict[str, Any], options: SeparationOptions):
    """The :class:`~.separator.Separator` that ``options`` describe (loads the model)."""
    from .separator import Separator

    return Separator(
        params, mwf=options.mwf, device=options.device, model_dir=options.model_dir,
        backend=options.backend, batch_size=options.batch_size,
        segment_frames=options.segment_frames,
    )  # fmt: skip


Outcome = Callable[[str, Optional[str], float], None]  # (file, problem or None, audio seconds)


def separate_planned(
    separator: Any,
    plan: Sequence[PlannedFile],
    options: SeparationOptions,
    record: Optional[Outcome] = None,
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
        for index, (name, _, problem, done) in enumerate(plan, 1):
            seconds_bar.set_description(f"file {index}/{len(plan)}")
            if done:
                logger.info("%s: already separated with this model and options (kept)", name)
                continue
            before = audio_seconds[0]
            if problem is None:
                try:
                    source = audio_io.probe(name)
                    seconds_bar.total += planned_seconds(source.info, options)
                    seconds_bar.refresh()
                    paths = separator.separate_to_file(
                        name, options.output_path, adapter, options.offset, options.duration,
                        codec=options.codec, bitrate=options.bitrate,
                        filename_format=options.filename_format, subtype=options.subtype,
                        progress=progress, overwrite=options.overwrite, source=source,
                    )  # fmt: skip
                except SpleeterError as error:
                    problem = str(error)
                else:
                    logger.info("%s -> %s", name, ", ".join(str(path) for path in paths.values()))
            if problem is not None:  # reported in input order, like every other failure
                failures.append(name)
                logger.error("%s", problem)
            record(name, problem, audio_seconds[0] - before)
    return failures, audio_seconds[0]


def planned_seconds(info: Any, options: SeparationOptions) -> float:
    """Seconds of audio a file of ``info`` gives with ``options``' offset and duration (0 when
    its length is unknown)."""
    if info.duration_s is None:
        return 0.0
    length_s = max(0.0, info.duration_s - options.offset)
    return length_s if options.duration is None else min(length_s, options.duration)


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
    files, params, plan = plan_run(files, options)
    started = time.perf_counter()
    todo = any(item.paths and not item.done for item in plan)
    separator = make_separator(params, options) if todo else None
    failures, audio_seconds = separate_planned(separator, plan, options)
    kept = sum(item.done for item in plan)
    log_summary(len(files), failures, time.perf_counter() - started, audio_seconds, kept)
    return len(failures)
