"""Running the network: eager Paddle, the faster ``paddle.inference`` predictor, or an exported
graph (ONNX Runtime, OpenVINO: see ``backends.py``).

All take ``[B, C, T, F]`` float32 mix magnitudes and return ``[B, N, C, T, F]`` estimates. The
predictor (``paddle.jit.save`` + ``paddle.inference`` with oneDNN on CPU) is ~2-3x faster per U-Net
than eager mode and gives the same numbers to float noise; eager is the fallback.
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
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union

import numpy as np

from ..environment import cache_home
from ..errors import ConfigurationError, ModelError
from ..model import build_model
from ..pretrained.weights import PretrainedWeights
from ..runtime import paddle
from ..vocab import BACKENDS

logger = logging.getLogger(__name__)

# A Paddle model, or weights on disk it is built from only when a cached graph cannot serve.
ModelLike = Union[paddle.nn.Layer, PretrainedWeights]


def as_layer(model: ModelLike) -> paddle.nn.Layer:
    """The eval-mode Paddle model of ``model`` (built now for :class:`PretrainedWeights`)."""
    return model.model() if isinstance(model, PretrainedWeights) else model


class EagerRunner:
    """``model(magnitude)`` under ``paddle.no_grad`` in eval mode."""

    name = "eager"

    def __init__(self, model: paddle.nn.Layer):
        self.model = model
        self.model.eval()

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        with paddle.no_grad():
            return self.model(paddle.to_tensor(magnitude)).numpy()


class PredictorRunner:
    """The model exported with ``paddle.jit.save`` and run by a ``paddle.inference`` predictor."""

    name = "predictor"

    def __init__(
        self, model: ModelLike, n_channels: int, n_bins: int, device: str, cache_dir: Path
    ):
        self._start(_export(model, n_channels, n_bins, cache_dir), device)

    @classmethod
    def from_files(cls, prefix: Path, device: str = "cpu") -> PredictorRunner:
        """A predictor for ``prefix.json`` + ``prefix.pdiparams`` written by ``paddle.jit.save``."""
        runner = cls.__new__(cls)
        runner._start(prefix, device)
        return runner

    def _start(self, prefix: Path, device: str) -> None:
        config = paddle.inference.Config(str(prefix) + ".json", str(prefix) + ".pdiparams")
        if device.startswith("gpu"):
            config.enable_use_gpu(256, int(device.split(":")[1]) if ":" in device else 0)
        elif device == "cpu":
            config.disable_gpu()
            config.enable_mkldnn()
            config.set_cpu_math_library_num_threads(os.cpu_count() or 1)
        else:
            raise RuntimeError(f"no inference predictor for device {device}")
        config.disable_glog_info()
        config.switch_ir_optim(True)
        self.predictor = paddle.inference.create_predictor(config)
        self.input = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        self.output = self.predictor.get_output_handle(self.predictor.get_output_names()[0])
        self._lock = threading.Lock()  # one input handle: one call at a time

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        with self._lock:
            self.input.reshape(list(magnitude.shape))
            self.input.copy_from_cpu(np.ascontiguousarray(magnitude, dtype=np.float32))
            self.predictor.run()
            return self.output.copy_to_cpu()


EXPORT_FORMAT = 2  # bump when the export procedure itself changes
_KEY_FILE = "graph-key.json"
_FILES_FILE = "graph-files.json"  # sha256 of every file the build wrote
_ENTRY_NAME = re.compile(r"^[A-Za-z]\w*-[0-9a-f]{32}$")
MAX_CACHE_ENTRIES = 6


def _code_digest() -> str:
    """sha256 of the code that defines an exported graph: the model package and this module."""
    digest = hashlib.sha256()
    sources = sorted(Path(inspect.getfile(build_model)).parent.glob("*.py")) + [Path(__file__)]
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def graph_key(model: ModelLike, n_channels: int, n_bins: int) -> Optional[Dict[str, Any]]:
    """Everything that defines ``model``'s exported graph, or None when it cannot be told.

    The configuration the model was built from (type, params, instrument order, channels, F),
    the input shape, the weights (for a model: names, shapes, dtypes, values; for weights on
    disk: the sha256 of the bytes read), the model code and Paddle.
    """
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
    from ..files import file_sha256

    return {
        path.relative_to(directory).as_posix(): file_sha256(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name not in (_KEY_FILE, _FILES_FILE)
    }


def _usable(directory: Path, key: Dict[str, Any], complete: Callable[[Path], bool]) -> bool:
    """The entry was built for ``key``, is complete, and its files still hold the bytes the
    build wrote (a damaged or altered graph file would give wrong stems without an error)."""
    if _stored_key(directory) != key or not complete(directory):
        return False
    try:
        recorded = json.loads((directory / _FILES_FILE).read_text())
        intact = recorded == _built_files(directory)
    except (OSError, ValueError):
        intact = False
    if not intact:
        logger.warning("cached graph %s is damaged (its files changed): rebuilding it", directory)
    return intact


def _export(model: ModelLike, n_channels: int, n_bins: int, cache_dir: Path) -> Path:
    """``paddle.jit.save`` the model once per distinct graph; returns the path prefix."""

    def build(directory: Path) -> None:
        save_graph(as_layer(model), n_channels, n_bins, directory / "inference")

    key = graph_key(model, n_channels, n_bins)
    stem = key["class"].rsplit(".", 1)[-1] if key else type(model).__name__
    return cached_entry(cache_dir, stem, key, build, _complete) / "inference"


def cached_entry(
    cache_dir: Path,
    stem: str,
    key: Optional[Dict[str, Any]],
    build: Callable[[Path], None],
    complete: Callable[[Path], bool],
) -> Path:
    """The cache directory ``build`` fills for ``key``, built once per distinct key.

    The entry is named by a digest of ``key`` and holds the key itself, which is compared in
    full before reuse: a graph built for other settings is never run; and the sha256 of every
    file the build wrote, checked before reuse: a damaged entry is rebuilt. With no key (it cannot be
    told) the entry is built in a fresh directory each time and removed at exit. ``build``
    writes into an empty staging directory that is renamed into place only when it returns.
    """
    _created(cache_dir)
    if key is None:
        staging = Path(tempfile.mkdtemp(prefix=".export-uncached-", dir=cache_dir))
        atexit.register(shutil.rmtree, staging, True)
        build(staging)
        return staging
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    directory = cache_dir / f"{stem}-{digest[:32]}"
    if _usable(directory, key, complete):
        with contextlib.suppress(OSError):  # most recently used: kept longest
            os.utime(directory / _KEY_FILE)
        return directory
    _prune(cache_dir, keep=MAX_CACHE_ENTRIES - 1)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=cache_dir))
    try:
        build(staging)
        (staging / _FILES_FILE).write_text(json.dumps(_built_files(staging), indent=1))
        (staging / _KEY_FILE).write_text(json.dumps(key, indent=1, sort_keys=True))
        if directory.exists():  # incomplete or foreign: set it aside, then replace it
            stale = Path(tempfile.mkdtemp(prefix=".stale-", dir=cache_dir))
            os.replace(directory, stale / "entry")
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(staging, directory)
    except OSError:  # another process installed the same graph first
        if not _usable(directory, key, complete):
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def _prune(cache_dir: Path, keep: int, stale_s: float = 86_400.0) -> None:
    """Keep the ``keep`` most recently used entries (a 2stems graph is ~80 MB) and remove
    staging folders a killed process left more than ``stale_s`` ago."""
    entries, now = [], time.time()
    for path in cache_dir.iterdir():
        with contextlib.suppress(OSError):
            if _ENTRY_NAME.match(path.name):
                entries.append(((path / _KEY_FILE).stat().st_mtime, path))
            elif path.name.startswith((".export-", ".stale-")) and (
                now - path.stat().st_mtime > stale_s
            ):
                shutil.rmtree(path, ignore_errors=True)
    for _, path in sorted(entries, reverse=True)[keep:]:
        logger.info("removing the least recently used cached graph %s", path)
        shutil.rmtree(path, ignore_errors=True)


def _complete(directory: Path) -> bool:
    return all((directory / f"inference{suffix}").is_file() for suffix in (".json", ".pdiparams"))


def save_graph(model: paddle.nn.Layer, n_channels: int, n_bins: int, prefix: Path) -> None:
    """``paddle.jit.save`` to ``prefix.json`` + ``prefix.pdiparams``: input ``magnitude``
    ``[B, n_channels, T, n_bins]`` float32 with dynamic B and T (the eval-mode graph)."""
    model.eval()
    spec = [paddle.static.InputSpec([None, n_channels, None, n_bins], "float32", "magnitude")]
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec, full_graph=True), str(prefix))


def default_cache_dir() -> Path:
    return _created(cache_home() / "inference")


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
    model: ModelLike,
    n_channels: int,
    n_bins: int,
    device: str,
    backend: str = "auto",
    cache_dir: Optional[Path] = None,
):
    """The fastest working runner for ``device`` (``backend='auto'``), or the one asked for.

    ``onnxruntime``/``openvino`` convert the model once (cached, verified against Paddle). Given
    :class:`PretrainedWeights`, the Paddle model is built only when no cached graph serves.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend in ("onnxruntime", "openvino"):
        from .backends import make_exported_runner

        with _cache_errors():
            return make_exported_runner(
                as_layer(model),
                n_channels,
                n_bins,
                device,
                backend,
                cache_dir or default_cache_dir(),
            )
    if backend == "eager" or (
        backend == "auto" and not (device == "cpu" or device.startswith("gpu"))
    ):
        return EagerRunner(as_layer(model))
    try:
        with _cache_errors():
            return PredictorRunner(
                model, n_channels, n_bins, device, cache_dir or default_cache_dir()
            )
    except Exception as error:  # the predictor is an optimisation: fall back, say why
        if backend == "predictor":
            raise
        logger.warning("paddle.inference predictor unavailable (%s); using eager mode", error)
        return EagerRunner(as_layer(model))
