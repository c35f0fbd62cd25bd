"""Ownership, staging and locks: the one home for "may this file be replaced", "stage, then
rename into place", "one run per folder" and "never write over an input", used by every
command that writes (separate, the data commands, training, evaluation, export, the model store
and the web page). Single files are written with ``files.write_atomic``.

**May a file be replaced** (:func:`check_replaceable`): when nothing is there, when the user
said ``--overwrite``, or when it is this tool's own: the folder's own record of what it wrote
says so (``export.json`` and ``model.json`` list their files with sha256, as do the cache's
``index.json`` and a converted song's ``.spleeter-paddle-musdb.json``; checked with
:func:`recorded_problem`), or, for a single report file in a folder of the user's, its own
signature (a manifest's header, the summary's keys, the plot's PNG text chunk). A directory is
never replaced by a file.

**Stems keep their tag** (decided here, once): a stem is written among the user's own files
(``-o`` is often the music folder itself), where a record file of ours would be one more file
the user did not ask for and that moves, copies and syncs separate from the stems; the
``comment`` tag (:func:`stem_tag`: tool, instrument, input name and a digest of the input's real
path) travels with the file, and says from which input it was made, so that a stem of another
input is not replaced either. ``download-musdb`` writes the same tag (kind ``musdb``), plus its
song record with digests for what the outputs were made from.

**Staged install**: a folder is built in a temporary sibling (:func:`staged_folder`, journalled
while the parent is held) and renamed into place (:func:`install_folder`); a group of files
(a song's stems) is renamed into place together only when every one is complete
(:func:`install_files`). Every exit path removes the temporaries.

**One folder lock** (:func:`held_folders`): ``files.hold_folder`` on each folder (an advisory lock
on the folder itself, with its journal of temporaries), the busy case in the caller's words.

**Not an input** (:func:`check_not_inputs`): no planned output is (or links to) a file the run
reads, whatever ``--overwrite`` says.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Optional, Sequence, Union

from .errors import DataError
from .files import (
    FolderBusy,
    file_sha256,
    hold_folder,
    new_temporary,
    same_file_key,
    write_atomic,
)

PathLike = Union[str, "os.PathLike[str]"]
TOOL = "spleeter-paddle"


# --- may this file be replaced ------------------------------------------------------------------


def check_replaceable(
    path: PathLike,
    overwrite: bool,
    foreign: Callable[[Path], Optional[str]],
    error: Callable[[str], Exception],
    subject: str,
    remedy: str = "use --overwrite to replace it",
) -> None:
    """The one rule: nothing at ``path``, ``overwrite``, or this tool's own (``foreign(path)``
    None) may be replaced; else ``error("<subject> is a directory")`` (or a FIFO, device or
    socket: "is not a regular file"; whatever ``overwrite`` says), or ``error("<subject> <what
    foreign says>; not replacing it (<remedy>)")``."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    if path.is_dir() and not path.is_symlink():
        raise error(f"{subject} is a directory")
    if path.exists() and not path.is_file() and not path.is_dir():
        raise error(f"{subject} is not a regular file")
    if not overwrite and (what := foreign(path)) is not None:
        raise error(f"{subject} {what}; not replacing it ({remedy})")


def recorded_problem(
    folder: PathLike, digests: Mapping[str, str], names: Optional[Iterable[str]] = None
) -> Optional[str]:
    """Why the files of ``folder`` a record lists (``{name: sha256}``; only ``names`` when
    given) are not the ones it recorded (missing, not a plain file, other bytes), else None."""
    for name in digests if names is None else names:
        path = Path(folder) / name
        if path.is_symlink() or not path.is_file():
            return f"{name} is not a plain file"
        if file_sha256(path) != digests.get(name):
            return f"{name} differs from what its record says"
    return None


def _ascii(text: str) -> str:
    """Tags stay ASCII: some containers (MP3's ID3 via libsndfile) mangle anything else."""
    return text.encode("ascii", "backslashreplace").decode("ascii")


def stem_tag(kind: str, instrument: str, source: PathLike) -> str:
    """The ``comment`` tag of a stem (see the module doc): ``spleeter-paddle <kind> <instrument>
    of <input name> [<16 hex of sha256 of its real path>]``: the same input however its path
    is spelled; another file of the same name differs."""
    real = os.path.realpath(source)
    digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:16]
    return f"{TOOL} {kind} {_ascii(instrument)} of {_ascii(Path(real).name)} [{digest}]"


def read_stem_tag(path: PathLike) -> Optional[str]:
    """The tag of an existing audio file (None for anything that is not readable audio: a text
    file holding an ffmpeg metadata tag is no stem)."""
    from .audio.io import audio_info, read_comment
    from .errors import AudioError

    if not os.path.isfile(path):
        return None
    try:
        audio_info(path)
    except AudioError:
        return None
    return read_comment(path)


def foreign_stem(kind: str, instrument: str, source: PathLike, tool: str = TOOL):
    """``foreign`` for :func:`check_replaceable` of a stem: None when the file's tag is
    ``stem_tag(kind, instrument, source)`` (followed by anything), else what it is."""
    prefix, own = f"{TOOL} {kind}", stem_tag(kind, instrument, source)

    def foreign(path: Path) -> Optional[str]:
        tag = read_stem_tag(path)
        if tag is not None and (tag == own or tag.startswith(own + " ")):
            return None
        if tag is not None and tag.startswith(prefix):
            return f"holds {tag[len(prefix) :].strip()}, a stem made from another input"
        return f"exists and was not written by {tool}"

    return foreign


def write_file(path: PathLike, write: Callable[[Path], None], error=None) -> Path:
    """``files.write_atomic`` (a temporary sibling with the path's suffix, renamed into place),
    a failure one ``error`` (default DataError) naming ``path`` and the problem."""
    try:
        return write_atomic(path, write, suffix=Path(path).suffix)
    except OSError as failure:
        raise (error or DataError)(
            f"{path}: cannot write ({failure.strerror or failure})"
        ) from None


# --- never an input -----------------------------------------------------------------------------


def check_not_inputs(
    planned: Mapping[PathLike, Iterable[PathLike]],
    inputs: Iterable[PathLike],
    refuse: Callable[[Path, PathLike, str], Exception],
) -> None:
    """``refuse(path, source, input)`` raised when an output ``path`` planned for ``source``
    (``{source: paths}``) is (or links to) a file of ``inputs``."""
    read = {identity: os.fspath(path) for path in inputs if (identity := same_file_key(path))}
    for source, paths in planned.items():
        for path in paths:
            identity = same_file_key(path)
            if identity is not None and identity in read:
                raise refuse(Path(path), source, read[identity])


# --- one run per folder -------------------------------------------------------------------------


@contextlib.contextmanager
def held_folders(
    folders: Iterable[PathLike],
    error: Callable[[str], Exception],
    busy: Callable[[Path], str],
    subject: str = "",
    keep_created: bool = True,
) -> Iterator[None]:
    """Make and hold ``folders`` (``files.hold_folder``: a killed run's temporaries there are
    reclaimed, this run's on every exit path); ``error(busy(folder))`` when another run holds
    one, ``error("<subject>cannot write into <folder> (<problem>)")`` when one cannot be made
    or opened. Without ``keep_created``, the folders this call made are removed again when
    left empty."""
    folders = [Path(folder) for folder in folders]
    created = [missing for folder in folders for missing in _missing_folders(folder)]
    with contextlib.ExitStack() as stack:
        if not keep_created:  # only what this call made, only when empty
            stack.callback(_remove_if_empty, created)
        for folder in folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                stack.enter_context(hold_folder(folder))
            except FolderBusy:
                raise error(busy(folder)) from None
            except OSError as failure:
                problem = (
                    "a parent path is not a directory"
                    if isinstance(failure, (FileExistsError, NotADirectoryError))
                    else failure.strerror or str(failure)
                )
                raise error(f"{subject}cannot write into {folder} ({problem})") from None
        yield


def _missing_folders(folder: Path) -> Iterator[Path]:
    folder = Path(os.path.abspath(folder))
    while not folder.exists() and folder.parent != folder:
        yield folder
        folder = folder.parent


def _remove_if_empty(folders: Sequence[Path]) -> None:
    for folder in sorted(set(folders), key=lambda path: len(path.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()


# --- staged install -----------------------------------------------------------------------------


@contextlib.contextmanager
def staged_folder(target: PathLike, suffix: str) -> Iterator[Path]:
    """An empty folder ``.<target name>.<8 hex><suffix>`` beside ``target`` (same filesystem,
    so the rename into place is atomic; journalled while the parent is held), removed with
    what it holds on every exit path."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    staging = new_temporary(target, suffix, directory=True)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install_folder(
    staged: Path, target: Path, replaceable: Callable[[Path], None], keep_replaced: bool = False
) -> None:
    """Rename ``staged`` to ``target``. ``rename`` onto a non-empty folder fails, so a folder
    another run installed meanwhile is never replaced silently: ``replaceable(folder)`` (raising
    when it may not be replaced) is asked then, and again of the folder set aside, which is put
    back when it was swapped in between; it is removed only once the new one is in place."""
    try:
        os.rename(staged, target)  # atomic; replaces at most an empty folder
        return
    except OSError as error:
        if error.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
            raise
    replaceable(target)
    with staged_folder(target, ".old") as aside:
        previous = aside / "previous"
        os.rename(target, previous)
        try:
            replaceable(previous)
            os.rename(staged, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.rename(previous, target)
            raise


def install_files(temporaries: Mapping[str, Path], paths: Mapping[str, PathLike]) -> None:
    """Rename every complete temporary onto its path (``{key: temporary}`` onto ``{key: path}``),
    together: called only once all are written. The caller removes what is left on failure."""
    for key, temporary in temporaries.items():
        os.replace(temporary, paths[key])
