"""Where stems go, and when a file already there may be replaced.

The rules: a stem path stays inside the output folder and is never a file the run reads; a file
already at a stem path is replaced only when it is this tool's own earlier stem of the same
instrument and input (every stem carries a ``comment`` tag saying so), or with ``overwrite``;
one run at a time writes into a folder (an advisory lock on the folder itself).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Dict, Iterable, Iterator, Optional, Sequence, Tuple, Union

from ..audio.io import read_comment
from ..errors import AudioError, ConfigurationError

try:  # advisory locks: POSIX only
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
TAG_PREFIX = "spleeter-paddle stem"


def source_label(audio_path: PathLike) -> str:
    """How a stem's tag names its input: ``<folder>/<file name>``."""
    path = Path(audio_path)
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def stem_tag(instrument: str, audio_path: PathLike) -> str:
    """The ``comment`` tag written into each stem, e.g. ``spleeter-paddle stem vocals of a/b.mp3``."""
    return f"{TAG_PREFIX} {instrument} of {source_label(audio_path)}"


def output_paths(
    instruments: Sequence[str],
    audio_path: PathLike,
    destination: PathLike,
    codec: str,
    filename_format: str,
) -> Dict[str, Path]:
    """``{instrument: path}`` for ``audio_path`` (fields ``{filename}``, ``{foldername}``,
    ``{instrument}``, ``{codec}``); a path outside ``destination`` or two stems on one path is an
    error."""
    audio_path = Path(audio_path)
    fields = {"filename": audio_path.stem, "foldername": audio_path.parent.name, "codec": codec}
    try:
        relative = {name: filename_format.format(instrument=name, **fields) for name in instruments}
    except (KeyError, IndexError, ValueError, AttributeError) as error:
        raise AudioError(f"filename format {filename_format!r} is invalid ({error})") from None
    for name, text in relative.items():
        parts = Path(text).parts
        if not text or Path(text).is_absolute() or ".." in parts or not parts:
            raise AudioError(
                f"{audio_path}: output name {text!r} (for {name}) is not a path inside the output "
                "folder; check -f/--filename_format and the input's folder name"
            )
    paths = {name: Path(destination) / text for name, text in relative.items()}
    if len(set(paths.values())) < len(paths):
        raise AudioError(
            f"{audio_path}: filename format {filename_format!r} writes several instruments "
            "to one file; include {instrument}"
        )
    return paths


def _identity(path: PathLike) -> Optional[Tuple[int, int]]:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def check_not_inputs(planned: Dict[str, Dict[str, Path]], inputs: Iterable[PathLike]) -> None:
    """A ConfigurationError when any planned stem path is (or links to) a file of ``inputs``."""
    read = {identity: os.fspath(path) for path in inputs if (identity := _identity(path))}
    for source, paths in planned.items():
        for path in paths.values():
            identity = _identity(path)
            if identity is not None and identity in read:
                raise ConfigurationError(
                    f"output {path} (a stem of {source}) is the input {read[identity]}: refusing "
                    "to write over an input; choose another -o/--output_path or -f/--filename_format"
                )


def check_replaceable(path: Path, instrument: str, audio_path: PathLike, overwrite: bool) -> None:
    """An AudioError when ``path`` exists and may not be replaced by this stem (see module doc)."""
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        raise AudioError(f"{audio_path}: output {path} is a directory")
    if overwrite:
        return
    tag = read_comment(path) if os.path.isfile(path) else None
    if tag == stem_tag(instrument, audio_path):
        return
    if tag is not None and tag.startswith(TAG_PREFIX):
        what = f"holds another stem ({tag[len(TAG_PREFIX) :].strip()})"
    else:
        what = "exists and was not written by spleeter-paddle"
    raise AudioError(
        f"{audio_path}: output {path} {what}; not replacing it (use --overwrite to replace it, "
        "or another -o/--output_path)"
    )


def _stale_parts(path: Path) -> Iterator[Path]:
    prefix = f".{path.name}."
    with contextlib.suppress(OSError):
        for entry in path.parent.iterdir():
            if entry.name.startswith(prefix) and entry.name.endswith(".part"):
                yield entry


@contextlib.contextmanager
def output_lock(paths: Iterable[Path]) -> Iterator[None]:
    """Hold the folders of ``paths`` for this run (another run writing there: AudioError), and
    remove temporaries a killed run left for these names (no live run can own them then)."""
    paths = list(paths)
    folders = sorted({path.parent.resolve() for path in paths})
    created = [parent for folder in folders for parent in _missing_folders(folder)]
    with contextlib.ExitStack() as stack:
        stack.callback(_remove_if_empty, created)  # only what this call made, only when empty
        for folder in folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                descriptor = os.open(folder, os.O_RDONLY)
            except OSError as error:
                problem = (
                    "a parent path is not a directory"
                    if isinstance(error, (FileExistsError, NotADirectoryError))
                    else error.strerror or str(error)
                )
                raise AudioError(f"{folder}: cannot write here ({problem})") from None
            stack.callback(os.close, descriptor)
            if fcntl is None:
                continue
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise AudioError(
                    f"{folder}: another spleeter-paddle run is writing into this folder; wait "
                    "for it to finish or choose another -o/--output_path"
                ) from None
        for path in paths:
            for stale in _stale_parts(path):
                logger.info("removing %s, left by an interrupted run", stale)
                with contextlib.suppress(OSError):
                    stale.unlink()
        try:
            yield
        except BaseException:
            # Writers remove their own temporaries; this also catches one whose constructor
            # was interrupted before its owner could see it (the lock makes them all ours).
            for path in paths:
                for part in _stale_parts(path):
                    with contextlib.suppress(OSError):
                        part.unlink()
            raise


def _missing_folders(folder: Path) -> Iterator[Path]:
    while not folder.exists() and folder.parent != folder:
        yield folder
        folder = folder.parent


def _remove_if_empty(folders: Sequence[Path]) -> None:
    for folder in sorted(set(folders), key=lambda path: len(path.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()
