"""``spleeter-paddle``: a thin argparse layer over the library, a table of sub-commands (each
its flags, or ``add_arguments(parser)``, and ``run(args) -> exit status``)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from . import __version__
from .commands import run_guarded
from .errors import ConfigurationError, SpleeterError
from .logs import configure_logging


def build_parser() -> argparse.ArgumentParser:
    from .commands import data, evaluate, models, separate, train
    from .commands import export as export_command
    from .commands import serve as serve_command
    from .commands.flags import add_flags

    parser = argparse.ArgumentParser(
        prog="spleeter-paddle",
        description="Spleeter music source separation on PaddlePaddle.",
    )
    parser.add_argument("--version", action="version", version=f"spleeter-paddle {__version__}")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    table = [
        ("separate", "separate audio files into stems", separate.add_arguments, separate.run),
        ("train", "train a model (spleeter train)", train.add_train_arguments, train.run_train),
        ("process-data", "build the spectrogram cache", data.PROCESS_DATA_FLAGS, data.run_process_data),
        ("preprocess", "scan a dataset into manifest CSVs", data.PREPROCESS_FLAGS, data.run_preprocess),
        ("download-musdb", "MUSDB18 previews or conversion -> dataset/", data.DOWNLOAD_FLAGS, data.run_download),
        ("evaluate", "museval BSSEval v4 scores", evaluate.add_arguments, evaluate.run),
        ("models", "install pretrained weights", models.add_arguments, models.run),
        ("export", "the network as ONNX / OpenVINO / Paddle, verified", export_command.FLAGS, export_command.run),
        ("serve", "the local web page (needs the web extra)", serve_command.FLAGS, serve_command.run),
    ]  # fmt: skip
    # Spleeter takes --verbose after the command too.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    for name, help_text, arguments, run in table:
        command = commands.add_parser(name, help=help_text, description=help_text, parents=[common])
        if callable(arguments):
            arguments(command)
        else:
            add_flags(command, *arguments)
        command.set_defaults(run=run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    try:
        parser = build_parser()  # imports every command's module: ~0.3 s
    except KeyboardInterrupt:
        print("spleeter-paddle: interrupted", file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    return run_guarded(args.run, args, parser.prog)


def call(argv: List[str]) -> None:
    """The command line ``argv`` as a Python call: its errors raise as they are (a usage error
    as a ConfigurationError), a non-zero exit status as a SpleeterError."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help or --version (0), or a usage error (2)
        if stop.code:
            raise ConfigurationError(
                f"{parser.prog} {' '.join(argv[:1])}: invalid options"
            ) from None
        return
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    status = int(args.run(args) or 0)
    if status:
        raise SpleeterError(f"{parser.prog} {argv[0]} failed (exit status {status}); see the log")


if __name__ == "__main__":
    sys.exit(main())
