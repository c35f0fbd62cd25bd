"""The run folder on disk: which files a training run writes there (a new run starts only in an
absent or empty folder, or its own), its lock (one training at a time), and the plan a command
makes for it (:class:`RunPlan`).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

from ..errors import ConfigurationError
from ..files import JOURNAL_NAME
from ..ownership import held_folders, non_folder
from ..pretrained.store import COMPLETION_MARKER, MODEL_FILES
from .checkpoint import TEMPORARY_PREFIX

RUN_FILE = "run.json"
LOCK_FILE = ".lock"  # an older version's lock file
CHECKPOINTS = "checkpoints"

_held: Dict[str, Tuple[int, ...]] = {}  # run folders this process holds: their descriptors


@dataclass
class RunPlan:
    """What a training command does with its run folder: resume its ``checkpoint`` or start a
    new run, with the ``settings`` recorded in ``run.json`` (``recorded.random_seed``: the seed
    to train with)."""

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
    """A new run starts only in an absent or empty folder, or one holding this tool's run of
    no checkpoint yet (``holds_run``: a readable ``run.json``; with it its export, besides the
    lock and temporaries): never over an installed model or files the tool did not write."""
    if not run_dir.is_dir():
        return
    names = sorted(path.name for path in run_dir.iterdir())
    ours = holds_run
    marker = _marker_source(run_dir)
    if marker not in (None, "training") or (marker is not None and not ours):
        raise ConfigurationError(
            f"{run_dir} holds an installed model (source {marker!r}); a training run never "
            f"writes over it: use -o {free_run_directory(run_dir)} (or another model_dir) for "
            "the new run"
        )
    foreign = [name for name in names if not _is_run_file(run_dir / name, ours)]
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

    def busy(folder: Path) -> str:
        return f"{run_dir}: another training process is using this run folder"

    folders = [run_dir, run_dir / CHECKPOINTS]  # each with its journal of temporaries
    with held_folders(folders, ConfigurationError, busy) as descriptors:
        _held[key] = tuple(descriptors)
        try:
            yield
        finally:
            del _held[key]


def held_lock_descriptors(run_dir: Path) -> Tuple[int, ...]:
    """The open descriptor of this process's lock on ``run_dir``, for a launcher to keep."""
    return _held.get(str(run_dir.resolve()), ())
