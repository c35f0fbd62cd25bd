"""``spleeter-paddle separate``: many files, one model load, streaming, a summary at the end.

Options and defaults follow Spleeter's CLI, except that ``-d`` defaults to the whole file.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from ..audio import io as audio_io
from ..errors import AudioError, SpleeterError

logger = logging.getLogger(__name__)
_SECONDS_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}]"


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
        "-c", "--codec", default="wav", choices=audio_io.CODECS, help="output codec (default: wav)"
    )
    parser.add_argument(
        "-b", "--bitrate", default="128k", help="bitrate of lossy codecs (default: 128k)"
    )
    parser.add_argument(
        "--bit-depth",
        dest="subtype",
        default="PCM_16",
        choices=("PCM_16", "PCM_24", "FLOAT"),
        help="wav/flac sample format (default: PCM_16, like Spleeter; FLOAT never clips)",
    )
    parser.add_argument("-s", "--offset", type=float, default=0.0, help="start offset in seconds")
    parser.add_argument(
        "-d",
        "--duration",
        type=float,
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
        choices=("auto", "predictor", "eager"),
        help="inference engine (default: auto)",
    )
    parser.add_argument(
        "--model-dir",
        default=None,
        help="directory of trained weights (default: the config's model_dir)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="T-frame segments per model call (default: 1)",
    )


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
) -> int:
    """Separate ``files`` with one model; returns the number of files that failed.

    A bad file is reported on one line (file + problem) and skipped; the others still run.
    """
    from tqdm import tqdm

    from ..separation.separator import Separator

    separator = Separator(
        params_filename,
        mwf=mwf,
        device=device,
        model_dir=model_dir,
        backend=backend,
        batch_size=batch_size,
    )
    failures: List[str] = []
    started = time.perf_counter()
    audio_seconds = [0.0]

    def progress(n_samples: int) -> None:
        audio_seconds[0] += n_samples / separator.sample_rate
        seconds_bar.update(n_samples / separator.sample_rate)

    with tqdm(
        total=0.0, unit="s", desc="audio", disable=None, bar_format=_SECONDS_BAR
    ) as seconds_bar:
        written: Dict[Path, str] = {}  # output path -> the input it came from, in this run
        for index, name in enumerate(files, 1):
            seconds_bar.set_description(f"file {index}/{len(files)}")
            try:
                planned = separator.output_paths(name, output_path, codec, filename_format)
                clash = next((path for path in planned.values() if path in written), None)
                if clash is not None:
                    raise AudioError(
                        f"{name}: output {clash} was already written for {written[clash]} in this "
                        "run; use a -f/--filename_format with {foldername} to keep both"
                    )
                info = audio_io.audio_info(name)
                if info.duration_s is not None:
                    length_s = max(0.0, info.duration_s - offset)
                    seconds_bar.total += (
                        min(length_s, duration) if duration is not None else length_s
                    )
                    seconds_bar.refresh()
                paths = separator.separate_to_file(
                    name, output_path, codec, bitrate, offset, duration, filename_format, subtype,
                    progress=progress,
                )  # fmt: skip
            except SpleeterError as error:
                failures.append(name)
                logger.error("%s", error)
            else:
                written.update({path: name for path in paths.values()})
                logger.info("%s -> %s", name, ", ".join(str(path) for path in paths.values()))
    elapsed = time.perf_counter() - started
    logger.info(
        "separated %d of %d files in %.1f s (%.3f s per second of audio)%s",
        len(files) - len(failures),
        len(files),
        elapsed,
        elapsed / audio_seconds[0] if audio_seconds[0] else float("nan"),
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
    )
    return 1 if failed else 0
