"""``spleeter-paddle export``: the network as ONNX, OpenVINO IR or a Paddle inference graph,
verified against the Paddle model before anything is written."""

from __future__ import annotations

import argparse
import logging

from ..graph.convert import DEFAULT_TOLERANCE, EXPORT_FORMATS, MAX_TOLERANCE
from ..options import number
from . import argument_type
from .flags import add_config_flag, add_model_dir_flag

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_flag(parser)
    add_model_dir_flag(parser)
    parser.add_argument(
        "--format", default="onnx", choices=EXPORT_FORMATS, help="what to write (default: onnx)"
    )
    parser.add_argument("-o", "--output", required=True, help="export directory to create")
    parser.add_argument(
        "--tolerance",
        type=argument_type(number, 0.0, MAX_TOLERANCE, exclusive_minimum=True, subject="tolerance"),
        default=DEFAULT_TOLERANCE,
        help="largest max |exported - Paddle| accepted, relative to the largest output "
        f"(default: {DEFAULT_TOLERANCE:g})",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a previous export at --output"
    )


def run(args: argparse.Namespace) -> int:
    from ..graph.export import check_export_options, export_model

    check_export_options(args.format, args.output, args.overwrite, args.tolerance)
    manifest = export_model(
        args.params_filename,
        args.output,
        fmt=args.format,
        model_dir=args.model_dir,
        overwrite=args.overwrite,
        tolerance=args.tolerance,
    )
    print(args.output)
    logger.debug("export manifest: %s", manifest["sha256"])
    return 0
