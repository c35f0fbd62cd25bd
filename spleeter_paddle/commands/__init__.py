"""Command implementations behind the CLI and the seed-compatible scripts.

Each command is ``add_arguments(parser)`` + ``run(args) -> exit status``; :func:`run_script` is the
one place that parses, sets up logging and turns a :class:`SpleeterError` into one line on stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Optional, Sequence

from ..errors import SpleeterError

LOG_FORMAT = "[%(asctime)s] [%(levelname)8s] - %(message)s"
logger = logging.getLogger("spleeter_paddle")


def configure_logging(level: int = logging.INFO) -> None:
    """Paddle-style log lines on stderr: ours at ``level``, other libraries' warnings only.

    Replaces the root handler Paddle installs at import (which would print every line twice).
    """
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT, force=True)
    logger.setLevel(level)


def run_guarded(
    run: Callable[[argparse.Namespace], int],
    args: argparse.Namespace,
    prog: str,
    interrupted: str = "interrupted",
) -> int:
    """``run(args)``; a SpleeterError becomes ``prog: error: <one line>`` and its exit code."""
    try:
        return int(run(args) or 0)
    except SpleeterError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130


def run_script(
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
    argv: Optional[Sequence[str]] = None,
    prog: Optional[str] = None,
    description: Optional[str] = None,
    interrupted: str = "interrupted",
) -> int:
    """A seed-compatible script: parse ``argv``, log, run, return the exit status."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging()
    return run_guarded(run, args, parser.prog, interrupted)
