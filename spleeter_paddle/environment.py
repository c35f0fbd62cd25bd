"""The environment Paddle reads once, when it loads: decided here, just before (``runtime``).

Paddle pins ``OMP_NUM_THREADS=1`` at import when it is unset, and logs glog lines; the SDAA
plugin reads its collective backend and op black list then too. Nothing here imports Paddle.
"""

from __future__ import annotations

import os
import warnings
from typing import Optional

from .devices import prepare_sdaa_environment, sdaa_plugin_installed

_UNSET = object()
_user_omp_num_threads: object = _UNSET


def prepare() -> None:
    """Set Paddle's variables that the user has not set (idempotent): all cores for OpenMP,
    quiet glog, and the SDAA variables when the plugin is installed."""
    global _user_omp_num_threads
    if _user_omp_num_threads is _UNSET:
        _user_omp_num_threads = os.environ.get("OMP_NUM_THREADS")
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    os.environ.setdefault("GLOG_minloglevel", "2")
    warnings.filterwarnings("ignore", message=".*ccache.*")
    if sdaa_plugin_installed():
        prepare_sdaa_environment()


def user_omp_num_threads() -> Optional[str]:
    """``OMP_NUM_THREADS`` as the user set it (None when unset), before :func:`prepare`."""
    if _user_omp_num_threads is _UNSET:
        return os.environ.get("OMP_NUM_THREADS")
    return _user_omp_num_threads  # type: ignore[return-value]
