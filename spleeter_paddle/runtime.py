"""Paddle, loaded the project's way: modules take ``paddle`` (and ``nn``) from here, so the
settings Paddle reads at import are decided first (``environment.prepare``). Importing the
package itself loads no framework; the first module that needs Paddle does.
"""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import sys
import threading

from . import environment

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
with contextlib.redirect_stderr(_captured):  # Paddle's lecture on OMP_NUM_THREADS: set on purpose
    import paddle
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

__all__ = ["paddle", "nn"]
