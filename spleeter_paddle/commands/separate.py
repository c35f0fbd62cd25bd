"""``spleeter-paddle separate``: parse the flags, call ``separation.batch.separate_files`` (or,
with ``-npn N`` / ``--nnodes``, ``separation.distributed.separate_files_launched``).

Options and defaults follow Spleeter's CLI, except that ``-d`` defaults to the whole file.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from ..errors import ConfigurationError
from ..options import batch_size, bitrate_text, duration_seconds, offset_seconds, segment_frames
from ..separation.batch import SeparationOptions, separate_files
from ..vocab import BIT_DEPTHS, CODECS
from . import argument_type
from .flags import add_adapter_flag, add_launch_flags, add_model_flags, launch_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILES", help="audio files to separate")
    parser.add_argument(
        "-i", "--inputs", action="append", default=[], help="input file (seed style; may repeat)"
    )
    add_model_flags(parser)
    add_adapter_flag(parser)
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
        type=argument_type(bitrate_text),
        default="128k",
        help="bitrate of lossy codecs (default: 128k)",
    )
    parser.add_argument(
        "--bit-depth",
        dest="subtype",
        default="PCM_16",
        choices=BIT_DEPTHS,
        help="wav/flac sample format (default: PCM_16, like Spleeter; FLOAT never clips)",
    )
    parser.add_argument(
        "-s",
        "--offset",
        type=argument_type(offset_seconds),
        default=0.0,
        help="start offset in seconds",
    )
    parser.add_argument(
        "-d",
        "--duration",
        type=argument_type(duration_seconds),
        default=None,
        help="maximum seconds to process (default: whole file)",
    )
    parser.add_argument("--mwf", action="store_true", help="multichannel Wiener filtering")
    parser.add_argument(
        "--batch-size",
        type=argument_type(batch_size),
        default=1,
        help="segments per model call (default: 1)",
    )
    parser.add_argument(
        "--segment-frames",
        type=argument_type(segment_frames),
        default=None,
        help="STFT frames per segment (default: 512, as Spleeter; a multiple of 64 for U-Nets)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing files at output paths even when this tool did not write them",
    )
    add_launch_flags(parser, "a temporary folder, kept when a worker fails")


def run(args: argparse.Namespace) -> int:
    files = list(args.inputs) + list(args.files)
    if not files:
        raise ConfigurationError("no input files: give FILES... (or -i FILE)")
    options = SeparationOptions(
        **{field.name: getattr(args, field.name) for field in fields(SeparationOptions)}
    )
    launch = launch_options(args)
    if launch.launched:
        from ..separation.distributed import separate_files_launched

        return 1 if separate_files_launched(files, options, launch) else 0
    return 1 if separate_files(files, options) else 0
