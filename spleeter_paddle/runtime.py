"""Paddle, loaded the project's way: modules take ``paddle`` (and ``nn``) from here, so the
settings Paddle reads at import are decided first (``environment.prepare``). Importing the
package itself loads no framework; the first module that needs Paddle does.

This is also the one place that knows how the Paddle releases we support differ: 3.x, and 2.6.2
(what ``pip install paddlepaddle-gpu`` gets from PyPI; docs/paddle-versions.md). The shims
are at the end of this module.
"""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import sys
import threading

from . import environment
from .errors import ConfigurationError

_SIGNALS = [
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
]


class _StderrNow:
    """``sys.stderr`` as it is when a line is written (tests and tools swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _release_captured_handlers(captured: io.StringIO, root_before: list) -> None:
    """Paddle's loggers made their handlers at import, on the stderr captured below: they write
    to the real stderr instead, and the handler Paddle adds to the root logger (a library's
    choice to make for its users: their ``logging.basicConfig()`` would then do nothing, and
    every warning would vanish into the capture) is taken off again."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler not in root_before and getattr(handler, "stream", None) is captured:
            root.removeHandler(handler)
    for logger in list(logging.root.manager.loggerDict.values()):
        for handler in getattr(logger, "handlers", ()):
            if getattr(handler, "stream", None) is captured:
                handler.setStream(_StderrNow())


environment.prepare()
_captured = io.StringIO()
_root_handlers = list(logging.getLogger().handlers)
try:
    with contextlib.redirect_stderr(_captured):  # Paddle's lecture on OMP_NUM_THREADS: on purpose
        import paddle
except ModuleNotFoundError as _error:
    if _error.name != "paddle":
        raise
    raise ConfigurationError(
        "PaddlePaddle is not installed: pip install paddlepaddle (CPU) or paddlepaddle-gpu "
        "(NVIDIA GPUs), 2.6.2 or later (docs/paddle-versions.md)"
    ) from None
_release_captured_handlers(_captured, _root_handlers)
for _line in _captured.getvalue().splitlines():
    if "OMP_NUM_THREADS" not in _line:
        print(_line, file=sys.stderr)
# Paddle installs C signal handlers at import (a stack dump, then death): they would bypass the
# command's clean exit (temporaries removed). Put back the Python handlers that were in place.
if threading.current_thread() is threading.main_thread():
    for _number in _SIGNALS:
        _handler = signal.getsignal(_number)
        if _handler is not None:
            signal.signal(_number, _handler)

nn = paddle.nn

# --- Paddle 2.6 / 3.x -------------------------------------------------------------------------
MINIMUM_PADDLE = (2, 6)


def paddle_release(version: str) -> tuple:
    """``(major, minor)`` of a Paddle version string; a source build (``0.0.0``) counts as newest."""
    numbers = [int(part) if part.isdigit() else 0 for part in version.split(".")[:2]]
    return (99, 0) if numbers == [0, 0] else tuple(numbers + [0] * (2 - len(numbers)))


if paddle_release(paddle.__version__) < MINIMUM_PADDLE:
    raise ConfigurationError(
        f"PaddlePaddle {paddle.__version__} is too old: spleeter-paddle needs 2.6.2 or later "
        "(pip install -U paddlepaddle, or paddlepaddle-gpu; docs/paddle-versions.md)"
    )

# ``paddle.jit.save`` writes the program as ``.json`` under Paddle 3's PIR (its default), as a
# protobuf ``.pdmodel`` under Paddle 2.6 (or 3.x with ``FLAGS_enable_pir_api=0``); the predictor
# reads the kind this Paddle writes (2.6 cannot read a ``.json`` program).
PROGRAM_SUFFIXES = (".json", ".pdmodel")
PROGRAM_SUFFIX = ".json" if paddle.framework.use_pir_api() else ".pdmodel"

__all__ = ["paddle", "nn", "PROGRAM_SUFFIX", "PROGRAM_SUFFIXES"]
