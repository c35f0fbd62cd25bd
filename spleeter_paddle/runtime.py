"""Paddle, loaded the project's way: modules take ``paddle`` (and ``nn``) from here, so the
settings Paddle reads at import are decided first (``environment.prepare``). Importing the
package itself loads no framework; the first module that needs Paddle does.
"""

from __future__ import annotations

import contextlib
import io
import signal
import sys
import threading

from . import environment

_SIGNALS = [
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
]

environment.prepare()
_captured = io.StringIO()
with contextlib.redirect_stderr(_captured):  # Paddle's lecture on OMP_NUM_THREADS: set on purpose
    import paddle
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
