"""The run folder on disk: where it is, which files a training run writes there (a new run
starts only in an absent or empty folder, or its own), its lock (one training at a time), the plan
a command makes for it (:class:`RunPlan`), and the weights a new run starts from (``-lm``).
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple, Union

from ..errors import ConfigurationError, ModelError
from ..files import JOURNAL_NAME
from ..ownership import held_folders, non_folder
from ..pretrained.store import (
    COMPLETION_MARKER,
    METADATA_FILE,
    MODEL_FILES,
    model_directory,
    newest_model,
)
from ..vocab import LOAD_MODEL_LATEST, LOAD_MODEL_PRETRAINED, LOAD_MODEL_SCRATCH, PRETRAINED_PRESETS
from .checkpoint import TEMPORARY_PREFIX
from .config import LoadModel

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
LOCK_FILE = ".lock"  # an older version's lock file
CHECKPOINTS = "checkpoints"

_held: Dict[str, Tuple[int, ...]] = {}  # run folders this process holds: their descriptors


@dataclass
class RunPlan:
    """What a training command does with its run folder: resume its ``checkpoint`` or start a
    new run, with the ``settings`` recorded in ``run.json``."""

    run_dir: Path
    resume: bool
    checkpoint: Optional[Path]
    settings: Dict[str, Any]

    def to_json(self) -> Dict[str, Any]:
        """For a launched worker's job file (:meth:`from_json` reads it back)."""
        checkpoint = str(self.checkpoint) if self.checkpoint is not None else None
        return {"run_dir": str(self.run_dir), "resume": self.resume, "checkpoint": checkpoint,
                "settings": self.settings}  # fmt: skip

    @classmethod
    def from_json(cls, document: Dict[str, Any]) -> RunPlan:
        checkpoint = document["checkpoint"]
        return cls(Path(document["run_dir"]), bool(document["resume"]),
                   Path(checkpoint) if checkpoint else None, document["settings"])  # fmt: skip


WORKER_LOGS = "log"  # <run folder>/log/workerlog.<rank> of a launched run (unless --log-dir)


def free_run_directory(run_dir: Path) -> Path:
    """``<run_dir>-2``, ``-3``, ...: the first that does not exist (a suggestion, not created)."""
    index = 2
    while Path(f"{run_dir}-{index}").exists():
        index += 1
    return Path(f"{run_dir}-{index}")


def refuse_non_folder(folder: Path, flag: str = "-o") -> None:
    """``folder``, or the first of its parents that exists, must be a folder (``flag`` names
    the option that gave it; ``-o`` also stands for the config's model_dir)."""
    path = non_folder(folder)
    if path is not None:
        where = "" if path == folder else f" (in the path {folder})"
        given = "-o, else the config's model_dir" if flag == "-o" else flag
        raise ConfigurationError(
            f"{path}: exists and is not a directory{where}; the folder of {given} "
            "must be a folder or a new path"
        )


def refuse_foreign_files(run_dir: Path, holds_run: bool) -> None:
    """A new run starts only in an absent or empty folder, or one holding this tool's run of no
    checkpoint yet (``holds_run``): never over an installed model or files it did not write."""
    if not run_dir.is_dir():
        return
    marker = _marker_source(run_dir)
    if marker not in (None, "training") or (marker is not None and not holds_run):
        raise ConfigurationError(
            f"{run_dir} holds an installed model (source {marker!r}); a training run never "
            f"writes over it: use -o {free_run_directory(run_dir)} (or another model_dir) for "
            "the new run"
        )
    foreign = sorted(path.name for path in run_dir.iterdir() if not _is_run_file(path, holds_run))
    if foreign:
        raise ConfigurationError(
            f"{run_dir} is not empty and holds no run of this tool ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}); a new run needs an absent or empty "
            f"folder: use -o {free_run_directory(run_dir)}"
        )


def _marker_source(run_dir: Path) -> Optional[str]:
    """The ``source`` an installed model's completion marker names; None without a marker."""
    path = run_dir / COMPLETION_MARKER
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "unreadable"
    source = document.get("source") if isinstance(document, dict) else None
    return source if isinstance(source, str) else "unknown"


def _is_run_file(path: Path, ours: bool) -> bool:
    """Written by a training run: the lock, temporaries, ``run.json``, and with it the export
    and the launched workers' logs (``log/``)."""
    name = path.name
    if name in (LOCK_FILE, JOURNAL_NAME) or (
        name.startswith(".launch-") and name.endswith(".json")
    ):
        return True
    if name.startswith(".") and name.endswith(".tmp"):
        return any(name.startswith(f".{model_file}.") for model_file in MODEL_FILES)
    if name == CHECKPOINTS and path.is_dir():
        return all(
            child.name.startswith(TEMPORARY_PREFIX) or child.name == JOURNAL_NAME
            for child in path.iterdir()
        )
    if name == WORKER_LOGS and path.is_dir() and not path.is_symlink():
        return ours
    return ours and (name == RUN_FILE or name in MODEL_FILES)


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run folder and its ``checkpoints/`` (``ownership.held_folders``, re-entrant in
    one process): one training per run folder."""
    key = str(run_dir.resolve())
    if key in _held:
        yield
        return

    busy = f"{run_dir}: another training process is using this run folder"
    folders = [run_dir, run_dir / CHECKPOINTS]  # each with its journal of temporaries
    with held_folders(folders, ConfigurationError, lambda _: busy) as descriptors:
        _held[key] = tuple(descriptors)
        try:
            yield
        finally:
            del _held[key]


def held_lock_descriptors(run_dir: Path) -> Tuple[int, ...]:
    """The open descriptor of this process's lock on ``run_dir``, for a launcher to keep."""
    return _held.get(str(run_dir.resolve()), ())


def run_directory(params: Dict[str, Any], override: Optional[Union[str, Path]] = None) -> Path:
    """``override`` (``-o``, from the working directory), else the folder of
    ``params['model_dir']`` (:func:`~..pretrained.store.model_directory`)."""
    return Path(override) if override is not None else model_directory(str(params["model_dir"]))


def newest_trained_model(params: Dict[str, Any], exclude: Optional[Path] = None) -> Optional[Path]:
    """The most recently exported model under the model home whose weights fit ``params``: same
    weight layout (model type, instruments in order, channels) and a configuration that passes
    validation (a run recorded with a NaN learning rate is never picked)."""
    from ..configuration import load_configuration

    def fits(document: Dict[str, Any]) -> bool:
        config = document.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
            return False
        try:
            load_configuration(config)
        except ConfigurationError:
            return False
        return (
            all(config.get(key) == params.get(key) for key in ("instrument_list", "n_channels"))
            and config["model"].get("type") == params["model"]["type"]
        )

    return newest_model(fits, None, exclude)


def pretrained_directory(params: Dict[str, Any]) -> Path:
    """Official weights whose instruments match ``params`` (provisioned by the model provider)."""
    from ..configuration import load_configuration
    from ..pretrained.provider import get_model_directory

    for name in PRETRAINED_PRESETS:
        preset = load_configuration(f"spleeter:{name}")
        if preset["instrument_list"] == params["instrument_list"]:
            return Path(get_model_directory(preset))
    raise ModelError(
        f"no official pretrained model has the instruments {params['instrument_list']}"
    )


def resolve_initial_weights(
    params: Dict[str, Any], load_model: LoadModel, run_dir: Optional[Path] = None
) -> Optional[Path]:
    """The weights directory ``-lm`` asks for: None (scratch), the official pretrained model
    (``True``; falls back to the newest own compatible model), ``"latest"`` or a directory."""
    return resolve_load_model(params, load_model, run_dir)[1]


def resolve_load_model(
    params: Dict[str, Any], load_model: LoadModel, run_dir: Optional[Path] = None
) -> Tuple[LoadModel, Optional[Path]]:
    """``(what was loaded, its directory)`` for ``-lm``: the choice itself, or the newest own
    model's directory when it stands in for the official weights out of reach."""
    label = initial_weights_label(load_model)
    if label == "scratch":
        return load_model, None
    if label == "latest":
        newest = newest_trained_model(params, exclude=run_dir)
        if newest is None:
            raise ModelError(
                "-lm latest: no trained model under the model home fits this configuration"
            )
        return load_model, newest
    if label == "pretrained":
        try:
            return load_model, pretrained_directory(params)
        except ModelError as error:
            newest = newest_trained_model(params, exclude=run_dir)
            if newest is None:
                raise ModelError(
                    f"-lm: {error}; and no own trained model fits (use -lm False)"
                ) from None
            logger.warning("-lm: %s; using the newest own model %s", error, newest)
            return str(newest.resolve()), newest
    directory = Path(str(load_model))
    if not (directory / METADATA_FILE).is_file():
        raise ModelError(f"-lm {directory}: not a model directory (no {METADATA_FILE})")
    return load_model, directory


def initial_weights_label(load_model: LoadModel) -> str:
    """``-lm`` as a run records it: ``scratch``, ``pretrained``, ``latest`` or an absolute path."""
    if load_model in (None, False) or str(load_model).lower() in LOAD_MODEL_SCRATCH:
        return "scratch"
    choice = str(load_model).lower()
    if choice in LOAD_MODEL_PRETRAINED:
        return "pretrained"
    if choice == LOAD_MODEL_LATEST:
        return "latest"
    return str(Path(str(load_model)).expanduser().resolve())
