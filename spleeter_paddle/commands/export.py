"""``spleeter-paddle export``: the network as ONNX, OpenVINO IR or a Paddle inference graph,
verified against the Paddle model before anything is written."""

from __future__ import annotations

import argparse
import logging

from ..graph.convert import DEFAULT_TOLERANCE, EXPORT_FORMATS, MAX_TOLERANCE
from ..options import number
from . import argument_type
from .flags import CONFIG, MODEL_DIR, OVERWRITE, flag

logger = logging.getLogger(__name__)


# fmt: off
FLAGS = (
    CONFIG,
    MODEL_DIR,
    flag("--format", default="onnx", choices=EXPORT_FORMATS, help="what to write (default: onnx)"),
    flag("-o", "--output", required=True, help="export directory to create"),
    flag("--tolerance", default=DEFAULT_TOLERANCE,
         type=argument_type(number, 0.0, MAX_TOLERANCE, exclusive_minimum=True, subject="tolerance"),
         help="largest max |exported - Paddle| accepted, relative to the largest output "
         f"(default: {DEFAULT_TOLERANCE:g})"),
    OVERWRITE.but(help="replace a previous export at --output"),
)
# fmt: on


def run(args: argparse.Namespace) -> int:
    from ..graph.export import export_model  # its options are checked before the model loads

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
