"""spleeter-paddle: Deezer's Spleeter music source separation on PaddlePaddle.

>>> from spleeter_paddle import Separator
>>> stems = Separator("spleeter:2stems").separate(waveform)   # {"vocals": (n, 2), ...}
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import warnings

# Paddle pins OMP_NUM_THREADS=1 at import when unset, and logs glog lines: decide before it loads.
# The user's own setting (if any) is kept, and remembered for the multi-process launcher.
USER_OMP_NUM_THREADS = os.environ.get("OMP_NUM_THREADS")
os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
os.environ.setdefault("GLOG_minloglevel", "2")
warnings.filterwarnings("ignore", message=".*ccache.*")


def _import_paddle_quietly() -> None:
    """Import paddle now, dropping its OMP_NUM_THREADS lecture (we set the threads on purpose).

    Processes that never touch Paddle (museval workers) set SPLEETER_PADDLE_NO_PADDLE_IMPORT=1.
    """
    if "paddle" in sys.modules or os.environ.get("SPLEETER_PADDLE_NO_PADDLE_IMPORT") == "1":
        return
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        import paddle  # noqa: F401
    for line in captured.getvalue().splitlines():
        if "OMP_NUM_THREADS" not in line:
            print(line, file=sys.stderr)


def _prepare_custom_devices() -> None:
    """SDAA reads its collective backend and op black list once, when Paddle loads."""
    from .devices import prepare_sdaa_environment, sdaa_plugin_installed

    if sdaa_plugin_installed():
        prepare_sdaa_environment()


_prepare_custom_devices()
_import_paddle_quietly()

__version__ = "0.1.0"

from .configuration import load_configuration  # noqa: E402


def __getattr__(name: str):
    # Importing Separator pulls in paddle: do it only when asked for.
    if name == "Separator":
        from .separation.separator import Separator

        return Separator
    raise AttributeError(name)


__all__ = ["Separator", "load_configuration", "__version__"]
