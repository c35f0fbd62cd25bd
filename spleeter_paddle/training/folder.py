"""The run folder on disk: which files a training run writes there (a new run starts only in an
absent or empty folder, or one holding its own files), and its lock (one training at a time).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from ..errors import ConfigurationError
from ..pretrained.store import COMPLETION_MARKER, MODEL_FILES
from .checkpoint import TEMPORARY_PREFIX

RUN_FILE = "run.json"
LOCK_FILE = ".lock"

_locks: Dict[str, List[Any]] = {}


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
    for path in (folder, *folder.parents):
        if path.exists():
            if not path.is_dir():
                where = "" if path == folder else f" (in the path {folder})"
                given = "-o, else the config's model_dir" if flag == "-o" else flag
                raise ConfigurationError(
                    f"{path}: exists and is not a directory{where}; the folder of {given} "
                    "must be a folder or a new path"
                )
            return


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
    if name == LOCK_FILE or (name.startswith(".launch-") and name.endswith(".json")):
        return True
    if name.startswith(".") and name.endswith(".tmp"):
        return any(name.startswith(f".{model_file}.") for model_file in MODEL_FILES)
    if name == "checkpoints" and path.is_dir():
        return all(child.name.startswith(TEMPORARY_PREFIX) for child in path.iterdir())
    if name == WORKER_LOGS and path.is_dir() and not path.is_symlink():
        return ours
    return ours and (name == RUN_FILE or name in MODEL_FILES)


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``<run_dir>/.lock`` (re-entrant in one process): one training per run folder."""
    run_dir.mkdir(parents=True, exist_ok=True)
    key = str(run_dir.resolve())
    held = _locks.get(key)
    if held is None:
        held = _locks[key] = [_acquire(run_dir / LOCK_FILE), 0]
    held[1] += 1
    try:
        yield
    finally:
        held[1] -= 1
        if held[1] == 0:
            _locks.pop(key)
            if held[0] is not None:
                os.close(held[0])


def held_lock_descriptors(run_dir: Path) -> Tuple[int, ...]:
    """The open descriptor of this process's lock on ``run_dir`` (none without fcntl)."""
    held = _locks.get(str(run_dir.resolve()))
    return (held[0],) if held is not None and held[0] is not None else ()


def _acquire(path: Path) -> Optional[int]:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock
        return None
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(handle)
        raise ConfigurationError(
            f"{path.parent}: another training process is using this run folder"
        ) from None
    return handle
