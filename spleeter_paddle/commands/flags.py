"""Flags that mean the same in several commands, defined once: the model, the device, the backend,
MUSDB18-HQ's ``--is-wav``; and the argparse types of counts and amounts (checked at parse time).
"""

from __future__ import annotations

import argparse
import math
from typing import Any, Callable, Optional, Sequence

from ..vocab import BACKENDS, DEVICES

Parser = Any  # an ArgumentParser or an argument group


def whole_number(minimum: int = 1, maximum: Optional[int] = None) -> Callable[[str], int]:
    """argparse ``type=``: an integer in ``[minimum, maximum]`` (a usage error otherwise)."""

    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise argparse.ArgumentTypeError(f"expected a whole number {bound}, got {text!r}")
        return value

    return whole


def positive_amount(maximum: float = math.inf, inclusive: bool = False) -> Callable[[str], float]:
    """argparse ``type=``: a finite number > 0 and below ``maximum`` (or equal, ``inclusive``)."""

    def amount(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        above = value > maximum or (value == maximum and not inclusive)
        if not math.isfinite(value) or value <= 0 or above:
            bound = "" if maximum == math.inf else f" and {'<=' if inclusive else '<'} {maximum:g}"
            raise argparse.ArgumentTypeError(f"expected a finite number > 0{bound}, got {text!r}")
        return value

    return amount


def add_config_flag(parser: Parser) -> None:
    parser.add_argument(
        "-p",
        "--params_filename",
        default="spleeter:2stems",
        help="spleeter:<preset> or JSON config (default: spleeter:2stems)",
    )


def add_model_dir_flag(parser: Parser) -> None:
    parser.add_argument(
        "--model-dir",
        default=None,
        help="directory of trained weights (default: the config's pretrained model)",
    )


def add_device_flag(
    parser: Parser, help: str = "device (default: auto = sdaa > gpu > cpu)"
) -> None:
    parser.add_argument("--device", default="auto", choices=DEVICES, help=help)


def add_backend_flag(
    parser: Parser,
    choices: Sequence[str] = BACKENDS,
    help: str = "inference engine (default: auto; onnxruntime/openvino need their extras)",
) -> None:
    parser.add_argument("--backend", default="auto", choices=choices, help=help)


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """``-p``, ``--model-dir``, ``--device``, ``--backend``: which model runs where."""
    add_config_flag(parser)
    add_model_dir_flag(parser)
    add_device_flag(parser)
    add_backend_flag(parser)


def add_is_wav_flag(parser: Parser, help: str) -> None:
    parser.add_argument(
        "--is-wav", "--is_wav", dest="is_wav", action="store_true", default=None, help=help
    )
