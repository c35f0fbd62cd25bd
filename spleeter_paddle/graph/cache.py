"""The graph cache, and the runner a separator gets: eager Paddle, or a graph built once per
distinct network (``paddle.inference`` predictor, ONNX Runtime, OpenVINO) and reused.

An entry is named by a digest of its key and holds the key itself, compared in full before
reuse (the configuration, input shape, weights, model and graph code, Paddle and converter
versions): a graph built for other settings is never run. It also holds the sha256 of every file
the build wrote, checked before reuse: a damaged entry is rebuilt.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import inspect
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence

from .. import options
from ..environment import cache_home
from ..errors import ConfigurationError, ModelError
from ..files import file_sha256, hold_folder
from ..ownership import install_folder, staged_folder
from ..pretrained.weights import PretrainedWeights
from ..vocab import BACKENDS
from . import convert
from .convert import DEFAULT_TOLERANCE, build_graph, converter_versions, require, save_graph
from .runners import EagerRunner, PredictorRunner, model_files, open_graph

logger = logging.getLogger(__name__)

EXPORT_FORMAT = 2  # bump when the export procedure itself changes
_KEY_FILE = "graph-key.json"
_FILES_FILE = "graph-files.json"  # sha256 of every file the build wrote
_ENTRY_NAME = re.compile(r"^[A-Za-z]\w*-[0-9a-f]{32}$")
MAX_CACHE_ENTRIES = 6


def as_layer(model):
    """The eval-mode Paddle model of ``model`` (built now for :class:`PretrainedWeights`)."""
    return model.model() if isinstance(model, PretrainedWeights) else model


def _code_digest() -> str:
    """sha256 of the code that defines a cached graph: the model package, the conversion and
    this module."""
    from ..model import build_model

    digest = hashlib.sha256()
    sources = sorted(Path(inspect.getfile(build_model)).parent.glob("*.py"))
    for source in sources + [Path(convert.__file__), Path(__file__)]:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def graph_key(model, n_channels: int, n_bins: int) -> Optional[Dict[str, Any]]:
    """Everything that defines ``model``'s exported graph, or None when it cannot be told.

    The configuration the model was built from (type, params, instrument order, channels, F),
    the input shape, the weights (for a model: names, shapes, dtypes, values; for weights on
    disk (:class:`PretrainedWeights`): the sha256 of the bytes read), the model code and Paddle.
    """
    from ..runtime import paddle

    if isinstance(model, PretrainedWeights):
        identity = model.graph_identity()
    else:
        config = getattr(model, "graph_config", None)
        if config is None:
            return None
        from ..pretrained.store import weights_digest

        identity = {
            "class": f"{type(model).__module__}.{type(model).__qualname__}",
            "config": config,
            "weights": weights_digest(model.state_dict()),
        }
    return {
        "format": EXPORT_FORMAT,
        "paddle": paddle.__version__,
        "paddle_commit": getattr(paddle.version, "commit", ""),
        "code": _code_digest(),
        "class": identity["class"],
        "config": json.loads(json.dumps(identity["config"], sort_keys=True)),
        "input": [None, int(n_channels), None, int(n_bins)],
        "weights": identity["weights"],
    }


def _stored_key(directory: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads((directory / _KEY_FILE).read_text())
    except (OSError, ValueError):
        return None


def _built_files(directory: Path) -> Dict[str, str]:
    """``{name: sha256}`` of the files a build wrote into ``directory`` (recursively)."""
    return {
        path.relative_to(directory).as_posix(): file_sha256(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name not in (_KEY_FILE, _FILES_FILE)
    }


def _usable(directory: Path, key: Dict[str, Any], files: Sequence[str]) -> bool:
    """The entry was built for ``key``, holds ``files``, and its files still hold the bytes the
    build wrote (a damaged or altered graph file would give wrong stems without an error)."""
    if _stored_key(directory) != key or not all((directory / name).is_file() for name in files):
        return False
    try:
        recorded = json.loads((directory / _FILES_FILE).read_text())
        intact = recorded == _built_files(directory)
    except (OSError, ValueError):
        intact = False
    if not intact:
        logger.warning("cached graph %s is damaged (its files changed): rebuilding it", directory)
    return intact


_building = threading.Lock()  # the threads of one process build one entry at a time


def cached_entry(
    cache_dir: Path,
    stem: str,
    key: Optional[Dict[str, Any]],
    build: Callable[[Path], None],
    files: Sequence[str],
) -> Path:
    """The cache directory ``build`` fills with ``files`` for ``key``, built once per key.

    With no key (it cannot be told) the entry is built in a fresh folder of the system's
    temporary directory each time and removed at exit. Otherwise ``build`` writes into an empty
    staging folder renamed into place only when it returns, under the cache folder's lock
    (``files.hold_folder``, waiting for another process's build): the staging folders of a
    killed build are in the folder's journal and removed by the next build, never by name.
    """
    _created(cache_dir)
    if key is None:
        staging = Path(tempfile.mkdtemp(prefix="spleeter-paddle-graph-"))
        atexit.register(shutil.rmtree, staging, True)
        build(staging)
        return staging
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    directory = cache_dir / f"{stem}-{digest[:32]}"
    if not _usable(directory, key, files):
        with _building, hold_folder(cache_dir, wait=True):
            if not _usable(directory, key, files):  # else built by another run meanwhile
                _build_entry(cache_dir, directory, key, build)
    with contextlib.suppress(OSError):  # most recently used: kept longest
        os.utime(directory / _KEY_FILE)
    return directory


def _build_entry(cache_dir: Path, directory: Path, key: Dict[str, Any], build) -> None:
    """Build ``directory`` for ``key`` in a staging folder and rename it into place (the cache
    folder is held)."""
    _prune(cache_dir, keep=MAX_CACHE_ENTRIES - 1)
    with staged_folder(directory, ".building") as staging:
        build(staging)
        (staging / _FILES_FILE).write_text(json.dumps(_built_files(staging), indent=1))
        (staging / _KEY_FILE).write_text(json.dumps(key, indent=1, sort_keys=True))
        install_folder(staging, directory, lambda entry: None)  # a damaged one is replaced


def _prune(cache_dir: Path, keep: int) -> None:
    """Keep the ``keep`` most recently used entries (a 2stems graph is ~80 MB)."""
    entries = []
    for path in cache_dir.iterdir():
        with contextlib.suppress(OSError):
            if _ENTRY_NAME.match(path.name):
                entries.append(((path / _KEY_FILE).stat().st_mtime, path))
    for _, path in sorted(entries, reverse=True)[keep:]:
        logger.info("removing the least recently used cached graph %s", path)
        shutil.rmtree(path, ignore_errors=True)


def cached_graph(model, n_channels: int, n_bins: int, fmt: Optional[str], cache_dir: Path) -> Path:
    """The cache entry of ``model``'s graph: the ``paddle.jit.save`` files of the predictor
    (``fmt`` None: the ``paddle`` format's :func:`~.runners.model_files`), else the verified
    ``fmt`` graph."""
    key = graph_key(model, n_channels, n_bins)
    if fmt is None:
        stem = key["class"].rsplit(".", 1)[-1] if key else type(model).__name__
        prefix = "model"

        def build(directory: Path) -> None:
            save_graph(as_layer(model), n_channels, n_bins, directory / prefix)

        return cached_entry(cache_dir, stem, key, build, model_files("paddle"))
    require(fmt)
    if key is not None:
        key = {"graph": key, "format": fmt, "converters": converter_versions(fmt)}
        key["tolerance"] = DEFAULT_TOLERANCE

    def build(directory: Path) -> None:
        build_graph(model, n_channels, n_bins, fmt, directory)

    stem = f"{type(model).__name__}-{fmt}"
    return cached_entry(cache_dir, stem, key, build, model_files(fmt))


def _created(path: Path) -> Path:
    """``path`` as an existing folder, or a ConfigurationError saying how to choose another."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(
            f"graph cache folder {path}: cannot create it ({error.strerror or error}); set "
            "SPLEETER_PADDLE_CACHE to a writable folder"
        ) from None
    return path


@contextlib.contextmanager
def _cache_errors():
    """An OSError while the graph cache is written (disk full, permissions) as one ModelError."""
    try:
        yield
    except OSError as error:
        where = f" ({error.filename})" if getattr(error, "filename", None) else ""
        raise ModelError(
            f"cannot write the exported graph to its cache{where}: {error.strerror or error}; "
            "free space or set SPLEETER_PADDLE_CACHE to a writable folder"
        ) from None


def make_runner(
    model,
    n_channels: int,
    n_bins: int,
    device: str,
    backend: str = "auto",
    cache_dir: Optional[Path] = None,
):
    """The fastest working runner for ``device`` (``backend='auto'``), or the one asked for (a
    name not in ``vocab.BACKENDS`` is a ValueError: never a silent other runner).

    ``model``: a Paddle model, or :class:`PretrainedWeights` (the model is then built only when
    no cached graph serves). ``onnxruntime``/``openvino`` convert the model once (cached,
    verified against Paddle).
    """
    options.checked("backend", options.choice, backend, BACKENDS)
    cache_dir = cache_dir or cache_home() / "inference"
    if backend in ("onnxruntime", "openvino"):
        fmt = "onnx" if backend == "onnxruntime" else "openvino"
        with _cache_errors():
            directory = cached_graph(as_layer(model), n_channels, n_bins, fmt, cache_dir)
            return open_graph(directory, fmt, device)
    if backend == "eager" or (
        backend == "auto" and not (device == "cpu" or device.startswith("gpu"))
    ):
        return EagerRunner(as_layer(model))
    try:
        with _cache_errors():
            directory = cached_graph(model, n_channels, n_bins, None, cache_dir)
            return PredictorRunner(directory / "model", device)
    except Exception as error:  # the predictor is an optimisation: fall back, say why
        if backend == "predictor":
            raise
        logger.warning("paddle.inference predictor unavailable (%s); using eager mode", error)
        return EagerRunner(as_layer(model))
