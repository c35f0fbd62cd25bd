"""``spleeter-paddle`` / ``python -m spleeter_paddle``: a thin argparse layer over the library.

Each sub-command module has ``add_arguments(parser)`` and ``run(args) -> exit status``; a
:class:`SpleeterError` becomes one line on stderr and its exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from . import __version__
from .commands import configure_logging, run_guarded

logger = logging.getLogger("spleeter_paddle")


def _add_models_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="models_action", required=True)
    fetch = actions.add_parser("download", help="install the official weights of a preset now")
    fetch.add_argument("-p", "--params_filename", default="spleeter:2stems")
    imported = actions.add_parser("import", help="install weights from a local archive/directory")
    imported.add_argument("path", help="<name>.tar.gz, a zip/wheel, or a checkpoint directory")
    imported.add_argument("-n", "--name", default=None, help="model name (default: from the path)")
    for action in (fetch, imported):
        action.add_argument("--model-home", default=None, help="default: $MODEL_PATH or ./model")


def _run_models(args: argparse.Namespace) -> int:
    from .configuration import load_configuration
    from .pretrained.provider import get_model_directory, import_model

    if args.models_action == "download":
        directory = get_model_directory(load_configuration(args.params_filename), args.model_home)
    else:
        directory = import_model(args.path, args.name, args.model_home)
    print(directory)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .commands import evaluate, separate, train
    from .commands import export as export_command
    from .commands import serve as serve_command

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
        ("process-data", "build the spectrogram cache", train.add_process_data_arguments, train.run_process_data),
        ("preprocess", "scan a dataset into manifest CSVs", train.add_preprocess_arguments, train.run_preprocess),
        ("download-musdb", "MUSDB18 previews or conversion -> dataset/", train.add_download_arguments, train.run_download),
        ("evaluate", "museval BSSEval v4 scores", evaluate.add_arguments, evaluate.run),
        ("models", "install pretrained weights", _add_models_arguments, _run_models),
        ("export", "the network as ONNX / OpenVINO / Paddle, verified", export_command.add_arguments, export_command.run),
        ("serve", "the local web page (needs the web extra)", serve_command.add_arguments, serve_command.run),
    ]  # fmt: skip
    # Spleeter takes --verbose after the command too.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    for name, help_text, add_arguments, run in table:
        command = commands.add_parser(name, help=help_text, description=help_text, parents=[common])
        add_arguments(command)
        command.set_defaults(run=run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(logging.DEBUG if args.verbose else logging.INFO)
    return run_guarded(args.run, args, parser.prog)


if __name__ == "__main__":
    sys.exit(main())
