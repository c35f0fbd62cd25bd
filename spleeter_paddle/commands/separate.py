"""``spleeter-paddle separate``: parse the flags, call ``separation.batch.separate_files`` (or,
with ``-npn N`` / ``--nnodes``, ``separation.batch.separate_files_launched``).

Options and defaults follow Spleeter's CLI, except that ``-d`` defaults to the whole file.
"""

from __future__ import annotations

import argparse
from dataclasses import fields

from ..errors import ConfigurationError
from ..options import batch_size, bitrate_text, duration_seconds, offset_seconds
from ..separation.batch import SeparationOptions, separate_files, separate_files_launched
from ..vocab import BIT_DEPTHS, CODECS
from . import argument_type
from .flags import (
    ADAPTER,
    MODEL_FLAGS,
    MWF,
    OVERWRITE,
    SEGMENT_FRAMES,
    add_flags,
    add_launch_flags,
    flag,
    launch_options,
)

# fmt: off
FLAGS = (
    flag("files", nargs="*", metavar="FILES", help="audio files to separate"),
    flag("-i", "--inputs", action="append", default=[], help="input file (seed style; may repeat)"),
    *MODEL_FLAGS,
    ADAPTER,
    flag("-o", "--output_path", default="separated_audio", help="output directory (default: separated_audio)"),
    flag("-f", "--filename_format", default="{filename}/{instrument}.{codec}",
         help="output names; fields {filename} {foldername} {instrument} {codec}"),
    flag("-c", "--codec", default="wav", choices=CODECS, help="output codec (default: wav)"),
    flag("-b", "--bitrate", type=argument_type(bitrate_text), default="128k",
         help="bitrate of lossy codecs (default: 128k)"),
    flag("--bit-depth", dest="subtype", default="PCM_16", choices=BIT_DEPTHS,
         help="wav/flac sample format (default: PCM_16, like Spleeter; FLOAT never clips)"),
    flag("-s", "--offset", type=argument_type(offset_seconds), default=0.0, help="start offset in seconds"),
    flag("-d", "--duration", type=argument_type(duration_seconds), default=None,
         help="maximum seconds to process (default: whole file)"),
    MWF,
    flag("--batch-size", type=argument_type(batch_size), default=1, help="segments per model call (default: 1)"),
    SEGMENT_FRAMES,
    OVERWRITE.but(help="replace existing files at output paths even when this tool did not write them"),
)
# fmt: on


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_flags(parser, *FLAGS)
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
        return 1 if separate_files_launched(files, options, launch) else 0
    return 1 if separate_files(files, options) else 0
