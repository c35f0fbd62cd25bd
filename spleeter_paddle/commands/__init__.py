"""Command implementations behind the CLI and the seed-compatible scripts.

Each command is ``add_arguments(parser)`` + ``run(args) -> exit status``; :func:`run_script` is the
one place that parses, sets up logging and turns a :class:`SpleeterError` into one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from typing import Any, Callable, Iterator, Optional, Sequence

from ..environment import INTERRUPTS
from ..errors import SpleeterError
from ..files import write_problem
from ..logs import configure_logging, one_line


def argument_type(
    check: Callable[..., Any], *bounds: Any, subject: str = "", **keywords: Any
) -> Callable[[str], Any]:
    """The argparse ``type=`` of a check of :mod:`spleeter_paddle.options` (called with the text,
    then ``bounds`` and ``keywords``): its ValueError becomes a usage error (exit 2) with the
    check's message, which argparse would otherwise replace with "invalid <name> value";
    ``subject`` leads the message."""

    def parse(text: str) -> Any:
        try:
            return check(text, *bounds, **keywords)
        except ValueError as error:
            message = f"{subject} {error}" if subject else str(error)
            raise argparse.ArgumentTypeError(message) from None

    parse.__name__ = getattr(check, "__name__", "value")
    return parse


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived (its number the one argument): unwinds like Ctrl-C, so every
    cleanup path runs."""


def _terminate(signal_number: int, frame) -> None:
    # A second signal while cleaning up falls back to the default action (stop at once).
    for number in _CLEAN_EXIT_SIGNALS:
        signal.signal(number, signal.SIG_DFL)
    raise Terminated(signal_number)


_CLEAN_EXIT_SIGNALS = tuple(number for number in INTERRUPTS if number != signal.SIGINT)


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """SIGTERM/SIGHUP raise :class:`Terminated` in the main thread while the command runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _terminate) for number in _CLEAN_EXIT_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run_guarded(
    run: Callable[[argparse.Namespace], int],
    args: argparse.Namespace,
    prog: str,
    interrupted: str = "interrupted",
) -> int:
    """``run(args)``; a SpleeterError becomes ``prog: error: <one line>`` and its exit code.

    Ctrl-C, SIGTERM and SIGHUP unwind the command (temporary files are removed on the way) and
    exit with 128 + the signal number.
    """
    from ..pretrained.archives import check_network_settings

    try:
        with _signals_unwind():
            check_network_settings()  # the environment's values, before any work
            return int(run(args) or 0)
    except SpleeterError as error:
        print(f"{prog}: error: {one_line(str(error))}", file=sys.stderr)
        return error.exit_code
    except OSError as error:  # the last resort: a system failure no layer named (EIO, ENOSPC)
        item = f"{error.filename}: " if error.filename else ""
        problem = write_problem(error) or str(error)
        print(f"{prog}: error: {one_line(item + problem)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
    except Terminated as stop:
        (number,) = stop.args
        print(f"{prog}: {interrupted} ({signal.Signals(number).name})", file=sys.stderr)
        return 128 + number


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
