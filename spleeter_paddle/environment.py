"""The environment: where the per-user caches live (:func:`cache_home`), and what Paddle reads
once when it loads (OpenMP threads, glog, MKL's code path, the SDAA plugin's collective backend
and op black list), decided here just before (``runtime``); and the Ctrl-C/SIGTERM/SIGHUP held
while Paddle loads or worker processes start. Nothing here imports Paddle.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import warnings
from pathlib import Path
from typing import Dict, Iterator, List, MutableMapping, Optional

SDAA_DEFAULTS = {
    "PADDLE_XCCL_BACKEND": "sdaa",
    "CUSTOM_DEVICE_BLACK_LIST": "conv2d,conv2d_grad",
}


def prepare_sdaa_environment(environ: MutableMapping[str, str]) -> None:
    """Set the SDAA variables the user has not set in ``environ`` (before Paddle loads) when the
    ``paddle-custom-sdaa`` plugin is importable (checked without importing Paddle)."""
    from importlib import util

    if any(util.find_spec(name) for name in ("paddle_custom_device", "paddle_sdaa")):
        for key, value in SDAA_DEFAULTS.items():
            environ.setdefault(key, value)


# The signals a command unwinds on (Ctrl-C, SIGTERM, SIGHUP), where the platform has them.
INTERRUPTS = tuple(
    getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)
)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Inside, :data:`INTERRUPTS` wait (blocked in the main thread) and are delivered when the
    block ends, to the handlers in place then; threads started inside never take them. Around
    the loads that start threads (numpy's BLAS pool) and install C handlers (Paddle's stack dump
    on SIGTERM): a signal mid-load would end in an ImportError or Paddle's "FatalError". Not
    around starting processes (they inherit the mask): :func:`workers_starting`."""
    if (
        not hasattr(signal, "pthread_sigmask")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def workers_starting() -> Iterator[None]:
    """Around submits to a process pool (``data.loader.worker_pool``'s, the metrics workers'),
    which start its processes: Ctrl-C, SIGTERM and SIGHUP take effect at the end of the block (in
    the main thread), once every process started is the pool's own, to be waited for. Cut off
    half-way (the worker server may still be loading for seconds), a worker would start for a
    process that is gone and print a traceback. Held by Python handlers, not by
    :func:`signals_deferred`'s mask: the processes started would inherit a mask."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: List[int] = []
    held = [n for n in INTERRUPTS if signal.getsignal(n) is not None]  # None: set from C
    previous = {n: signal.signal(n, lambda number, frame: caught.append(number)) for n in held}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(caught):
            signal.raise_signal(number)  # now: its handler runs as it would have


CACHE_ENV = "SPLEETER_PADDLE_CACHE"
_BEFORE_PREPARE: Dict[str, Optional[str]] = {}  # what prepare() found, the first time


def cache_home() -> Path:
    """The per-user folder of this tool's caches: ``$SPLEETER_PADDLE_CACHE``, else an absolute
    ``$XDG_CACHE_HOME/spleeter-paddle`` (as XDG says), else ``~/.cache/spleeter-paddle``."""
    own = os.environ.get(CACHE_ENV, "").strip()
    if own:
        return Path(own).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path("~/.cache").expanduser()
    return base / "spleeter-paddle"


def prepare() -> None:
    """Set Paddle's variables that the user has not set (idempotent): all cores for OpenMP,
    quiet glog, and the SDAA variables when the plugin is installed."""
    _BEFORE_PREPARE.setdefault("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS"))
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    os.environ.setdefault("GLOG_minloglevel", "2")
    prefer_mkl_avx2(os.environ)
    warnings.filterwarnings("ignore", message=".*ccache.*")
    prepare_sdaa_environment(os.environ)


def user_omp_num_threads() -> Optional[str]:
    """``OMP_NUM_THREADS`` as the user set it (None when unset), before :func:`prepare`."""
    return _BEFORE_PREPARE.get("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS"))


def prefer_mkl_avx2(environ: MutableMapping[str, str], cpuinfo: str = "/proc/cpuinfo") -> bool:
    """On an AMD CPU with AVX2, have MKL run its AVX2 kernels (``MKL_DEBUG_CPU_TYPE=5``) unless
    the user chose; True when set here. MKL 2019 gives non-Intel CPUs a generic SSE path:
    measured on a 2-core AMD EPYC (Zen 3), sgemm 17-23 GFLOP/s per core-second instead of 72-76,
    and the native convolutions of a training step are im2col + sgemm. The sums are the same
    to float rounding (losses of a fixed-seed run: 7.8e-6 relative after 6 Adam steps). MKL
    2020.1+ ignores the variable; Intel CPUs and GPU/SDAA kernels are not concerned."""
    if "MKL_DEBUG_CPU_TYPE" in environ:
        return False
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:  # not Linux
        return False
    vendor = next((line for line in text.splitlines() if line.startswith("vendor_id")), "")
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    if "AuthenticAMD" not in vendor or "avx2" not in flags.split():
        return False
    environ["MKL_DEBUG_CPU_TYPE"] = "5"
    return True
