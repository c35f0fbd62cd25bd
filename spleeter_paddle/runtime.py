"""Paddle, loaded the project's way: modules take ``paddle`` (and ``nn``) from here, so the
settings Paddle reads at import are decided first (``environment.prepare``); and the one place
that knows how the supported releases (2.6.2 and 3.x) differ: the shims at the end.
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


class _StderrNow:
    """``sys.stderr`` as it is when a line is written (tests and tools swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _load_paddle():
    """``import paddle`` with the settings it reads decided first, its import-time noise and
    handlers undone, and Ctrl-C/SIGTERM/SIGHUP waiting until then (``signals_deferred``): Paddle
    installs C signal handlers at import (a stack dump, then death) that would bypass the
    command's clean exit, and a signal mid-import would end in an ImportError."""
    environment.prepare()
    captured = io.StringIO()
    root_handlers = list(logging.root.handlers)
    with environment.signals_deferred():
        try:
            with contextlib.redirect_stderr(captured):  # Paddle's lecture on OMP_NUM_THREADS
                import paddle
        except ModuleNotFoundError as error:
            if error.name != "paddle":
                raise
            raise ConfigurationError(
                "PaddlePaddle is not installed: pip install paddlepaddle (CPU) or paddlepaddle-gpu "
                "(NVIDIA GPUs), 2.6.2 or later (docs/paddle-versions.md)"
            ) from None
        if threading.current_thread() is threading.main_thread():
            for number in environment.INTERRUPTS:  # the Python handlers that were in place
                handler = signal.getsignal(number)
                if handler is not None:
                    signal.signal(number, handler)
    # Paddle's loggers made their handlers at import, on the stderr captured above: they write to
    # the real stderr instead, and the one Paddle adds to the root logger (which would turn a
    # user's ``logging.basicConfig()`` into nothing) is taken off again.
    for handler in list(logging.root.handlers):
        if handler not in root_handlers and getattr(handler, "stream", None) is captured:
            logging.root.removeHandler(handler)
    for logger in list(logging.root.manager.loggerDict.values()):
        for handler in getattr(logger, "handlers", ()):
            if getattr(handler, "stream", None) is captured:
                handler.setStream(_StderrNow())
    for line in captured.getvalue().splitlines():
        if "OMP_NUM_THREADS" not in line:
            print(line, file=sys.stderr)
    return paddle


paddle = _load_paddle()
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

PADDLE_2 = paddle_release(paddle.__version__) < (3, 0)


def pixel_shuffle(inputs, factor: int):
    """``nn.functional.pixel_shuffle`` (NCHW). Under Paddle 2.6 as reshape + transpose (the
    same numbers): in a ``to_static`` graph 2.6's own op declares a dynamic height (-1) times
    ``factor`` as -2, which the next op refuses; here the height may be dynamic, the width
    must be known."""
    if not PADDLE_2:
        return nn.functional.pixel_shuffle(inputs, factor)
    channels, width = inputs.shape[1] // (factor * factor), inputs.shape[3]
    blocks = inputs.reshape([0, channels, factor, factor, -1, width])
    return blocks.transpose([0, 1, 4, 2, 5, 3]).reshape([0, channels, -1, width * factor])


def check_paddle2onnx() -> None:
    """ConfigurationError when the installed paddle2onnx cannot read this Paddle's programs:
    2.x needs Paddle 3 (it refuses to import under 2.6), Paddle 2.6 needs 1.3."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("paddle2onnx")
    except PackageNotFoundError:
        return  # ``backends.require`` names the missing package
    if (paddle_release(installed) >= (2, 0)) == PADDLE_2:
        wanted = "paddle2onnx>=1.3.1,<2" if PADDLE_2 else "paddle2onnx>=2.1"
        raise ConfigurationError(
            f"paddle2onnx {installed} does not convert Paddle {paddle.__version__}'s programs: "
            f"pip install '{wanted}' (docs/paddle-versions.md)"
        )


def paddle2onnx_export(program: str, params: str, opset: int) -> bytes:
    """``paddle2onnx.export`` of ``program`` + ``params`` to a serialized ONNX model, opset
    ``opset``, with the options of the paddle2onnx that goes with this Paddle."""
    import paddle2onnx

    # 2.x's default optimiser (polygraphy) may pip-install packages; 1.3 has no such option.
    options = {} if PADDLE_2 else {"optimize_tool": ""}
    return paddle2onnx.export(
        program, params, save_file=None, opset_version=opset, auto_upgrade_opset=False, **options
    )


# ``paddle.jit.save`` writes the program as ``.json`` under Paddle 3's PIR (its default), as a
# protobuf ``.pdmodel`` under Paddle 2.6 (or 3.x with ``FLAGS_enable_pir_api=0``); the predictor
# reads the kind this Paddle writes (2.6 cannot read a ``.json`` program).
PROGRAM_SUFFIXES = (".json", ".pdmodel")
PROGRAM_SUFFIX = ".json" if paddle.framework.use_pir_api() else ".pdmodel"
