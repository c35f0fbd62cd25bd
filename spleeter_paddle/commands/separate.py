"""``spleeter-paddle separate``: many files, one model load, streaming, a summary at the end.

Options and defaults follow Spleeter's CLI, except that ``-d`` defaults to the whole file.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence

import soundfile as sf

from ..audio import ffmpeg
from ..audio import io as audio_io
from ..audio.writer import CODECS, SUBTYPES
from ..configuration import load_configuration
from ..errors import AudioError, ConfigurationError, SpleeterError
from ..separation import outputs
from ..separation.backends import BACKENDS

logger = logging.getLogger(__name__)
_BITRATE = re.compile(r"^(\d+(?:\.\d+)?)([kKmM]?)$")
_SECONDS_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]"


def _number(text: str, minimum: float, strict: bool, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{what} must be a number of seconds, got {text!r}"
        ) from None
    if not math.isfinite(value) or value < minimum or (strict and value == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise argparse.ArgumentTypeError(f"{what} must be finite and {bound}, got {text!r}")
    return value


def offset_seconds(text: str) -> float:
    """argparse type of ``-s``: finite seconds >= 0."""
    return _number(text, 0.0, False, "offset")


def duration_seconds(text: str) -> float:
    """argparse type of ``-d``: finite seconds > 0."""
    return _number(text, 0.0, True, "duration")


def bitrate(text: str) -> str:
    """argparse type of ``-b``: ``128k``, ``1.5M`` or bits per second, 8 kbit/s to 2 Mbit/s."""
    match = _BITRATE.match(text.strip())
    scale = {"": 1e-3, "k": 1.0, "m": 1e3}[(match.group(2) if match else "").lower()]
    if match is None or not 8 <= float(match.group(1)) * scale <= 2000:
        raise argparse.ArgumentTypeError(f"bitrate must look like 128k (8k to 2000k), got {text!r}")
    return text.strip()


def positive_int(text: str) -> int:
    """argparse type of counts (``--batch-size``, ``--segment-frames``): an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILES", help="audio files to separate")
    parser.add_argument(
        "-i", "--inputs", action="append", default=[], help="input file (seed style; may repeat)"
    )
    parser.add_argument(
        "-p",
        "--params_filename",
        default="spleeter:2stems",
        help="spleeter:<preset> or JSON config (default: spleeter:2stems)",
    )
    parser.add_argument(
        "-o",
        "--output_path",
        default="separated_audio",
        help="output directory (default: separated_audio)",
    )
    parser.add_argument(
        "-f",
        "--filename_format",
        default="{filename}/{instrument}.{codec}",
        help="output names; fields {filename} {foldername} {instrument} {codec}",
    )
    parser.add_argument(
        "-c", "--codec", default="wav", choices=CODECS, help="output codec (default: wav)"
    )
    parser.add_argument(
        "-b",
        "--bitrate",
        type=bitrate,
        default="128k",
        help="bitrate of lossy codecs (default: 128k)",
    )
    parser.add_argument(
        "--bit-depth",
        dest="subtype",
        default="PCM_16",
        choices=SUBTYPES,
        help="wav/flac sample format (default: PCM_16, like Spleeter; FLOAT never clips)",
    )
    parser.add_argument(
        "-s", "--offset", type=offset_seconds, default=0.0, help="start offset in seconds"
    )
    parser.add_argument(
        "-d",
        "--duration",
        type=duration_seconds,
        default=None,
        help="maximum seconds to process (default: whole file)",
    )
    parser.add_argument("--mwf", action="store_true", help="multichannel Wiener filtering")
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "gpu", "sdaa"),
        help="device (default: auto = sdaa > gpu > cpu)",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="inference engine (default: auto; onnxruntime/openvino need their extras)",
    )
    parser.add_argument(
        "--model-dir",
        default=None,
        help="directory of trained weights (default: the config's model_dir)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=1,
        help="segments per model call (default: 1)",
    )
    parser.add_argument(
        "--segment-frames",
        type=positive_int,
        default=None,
        help="STFT frames per segment (default: 512, as Spleeter; a multiple of 64 for U-Nets)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing files at output paths even when this tool did not write them",
    )


def _check_options(
    offset: float, duration: Optional[float], bitrate_text: str, codec: str, batch_size: int
) -> None:
    """The Python API's version of the CLI's argparse checks (ConfigurationError, exit 2)."""
    try:
        offset_seconds(str(offset))
        if duration is not None:
            duration_seconds(str(duration))
        bitrate(str(bitrate_text))
        positive_int(str(batch_size))
    except argparse.ArgumentTypeError as error:
        raise ConfigurationError(str(error)) from None
    if codec not in CODECS:
        raise ConfigurationError(f"codec must be one of {', '.join(CODECS)}, got {codec!r}")
    if codec in ffmpeg.ENCODERS and not _native_codec(codec) and not ffmpeg.can_encode():
        raise ffmpeg.missing_error(codec, f"writing {codec}")


def _native_codec(codec: str) -> bool:
    file_format = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3"}.get(codec)
    return file_format is not None and file_format in sf.available_formats()


class PlannedFile(NamedTuple):
    """One input of a run: its stem paths, or the problem that keeps it from running."""

    name: str
    paths: Optional[Dict[str, Path]]
    problem: Optional[str] = None


def plan_outputs(
    files: Sequence[str],
    instruments: Sequence[str],
    output_path: str,
    codec: str,
    filename_format: str,
    overwrite: bool,
) -> List[PlannedFile]:
    """Where every file's stems go, checked before any work, in input order.

    A stem path that is an input of the run refuses the whole run (ConfigurationError); a file
    whose stems would land on an earlier file's stems, or on files that may not be replaced,
    gets a ``problem`` and is skipped.
    """
    named: Dict[int, Dict[str, Path]] = {}
    problems: Dict[int, str] = {}
    for index, name in enumerate(files):
        try:
            named[index] = outputs.output_paths(
                instruments, name, output_path, codec, filename_format
            )
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


def separate_files(
    files: Sequence[str],
    params_filename: str = "spleeter:2stems",
    output_path: str = "separated_audio",
    filename_format: str = "{filename}/{instrument}.{codec}",
    codec: str = "wav",
    bitrate: str = "128k",
    subtype: str = "PCM_16",
    offset: float = 0.0,
    duration: Optional[float] = None,
    mwf: bool = False,
    device: str = "auto",
    backend: str = "auto",
    model_dir: Optional[str] = None,
    batch_size: int = 1,
    segment_frames: Optional[int] = None,
    overwrite: bool = False,
) -> int:
    """Separate ``files`` with one model; returns the number of files that failed.

    Options and output paths are checked before the model loads; a bad file is reported on one
    line (file + problem) and skipped; the others still run.
    """
    from tqdm import tqdm

    from ..separation.separator import Separator, check_segment_frames

    _check_options(offset, duration, bitrate, codec, batch_size)
    params = load_configuration(params_filename)
    if segment_frames is not None:
        check_segment_frames(params, segment_frames)
    plan = plan_outputs(
        files, params["instrument_list"], output_path, codec, filename_format, overwrite
    )
    failures: List[str] = []
    started = time.perf_counter()
    audio_seconds = [0.0]
    if any(item.paths for item in plan):
        separator = Separator(
            params, mwf=mwf, device=device, model_dir=model_dir, backend=backend,
            batch_size=batch_size, segment_frames=segment_frames,
        )  # fmt: skip
    else:
        separator = None

    def progress(n_samples: int) -> None:
        audio_seconds[0] += n_samples / separator.sample_rate
        seconds_bar.update(n_samples / separator.sample_rate)

    with tqdm(
        total=0.0, unit="s", desc="audio", disable=None, bar_format=_SECONDS_BAR
    ) as seconds_bar:
        for index, (name, _, problem) in enumerate(plan, 1):
            seconds_bar.set_description(f"file {index}/{len(plan)}")
            if problem is not None:  # reported in input order, like every other failure
                failures.append(name)
                logger.error("%s", problem)
                continue
            try:
                info = audio_io.audio_info(name)
                if info.duration_s is not None:
                    length_s = max(0.0, info.duration_s - offset)
                    seconds_bar.total += (
                        min(length_s, duration) if duration is not None else length_s
                    )
                    seconds_bar.refresh()
                paths = separator.separate_to_file(
                    name, output_path, codec, bitrate, offset, duration, filename_format, subtype,
                    progress=progress, overwrite=overwrite,
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


def run(args: argparse.Namespace) -> int:
    files = list(args.inputs) + list(args.files)
    if not files:
        raise SpleeterError("no input files: give FILES... (or -i FILE)")
    failed = separate_files(
        files,
        params_filename=args.params_filename,
        output_path=args.output_path,
        filename_format=args.filename_format,
        codec=args.codec,
        bitrate=args.bitrate,
        subtype=args.subtype,
        offset=args.offset,
        duration=args.duration,
        mwf=args.mwf,
        device=args.device,
        backend=args.backend,
        model_dir=args.model_dir,
        batch_size=args.batch_size,
        segment_frames=args.segment_frames,
        overwrite=args.overwrite,
    )
    return 1 if failed else 0
