"""Ownership, staging and locks for every command that writes: may a file be replaced
(:func:`check_replaceable`), one folder lock (:func:`held_folders`), never over an input nor
outside the output folder, staged installs (:func:`write_file`, :func:`staged_folder`).

Stems keep their ``comment`` tag (:func:`stem_tag`): among the user's files a record file of ours
would not follow the stems when moved; the tag does, and names the input.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Mapping, Optional, Sequence

from .errors import AudioError, DataError
from .files import (
    FolderBusy,
    PathLike,
    file_sha256,
    hold_folder,
    is_within,
    new_temporary,
    same_file_key,
    write_atomic,
    write_errors,
)

TOOL = "spleeter-paddle"


def check_replaceable(
    path: PathLike,
    overwrite: bool,
    foreign: Callable[[Path], Optional[str]],
    error: Callable[[str], Exception],
    subject: str,
    remedy: str = "use --overwrite to replace it",
) -> None:
    """The one rule: nothing at ``path``, ``overwrite``, or this tool's own (``foreign(path)``
    None; OSError: cannot be read) may be replaced; a folder, FIFO, device or socket never is."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    if path.is_dir() and not path.is_symlink():
        raise error(f"{subject} is a directory")
    if path.exists() and not path.is_file() and not path.is_dir():
        raise error(f"{subject} is not a regular file")
    try:
        what = None if overwrite else foreign(path)
    except OSError as problem:
        what = f"cannot be read ({problem.strerror or problem})"
    if what is not None:
        raise error(f"{subject} {what}; not replacing it ({remedy})")


def recorded_problem(
    folder: PathLike, digests: Mapping[str, str], names: Iterable[str], record: str = "its record"
) -> Optional[str]:
    """Why the files ``names`` of ``folder`` are not what its record (file ``record``) lists in
    ``digests`` (``{name: sha256}``): missing, not a plain file, other bytes; else None."""
    for name in names:
        path = Path(folder) / name
        if path.is_symlink() or not path.is_file():
            return f"{name} is not a plain file"
        if file_sha256(path) != digests.get(name):
            return f"{name} differs from what {record} records; edited by hand?"
    return None


def _ascii(text: str) -> str:
    """Tags stay ASCII: some containers (MP3's ID3 via libsndfile) mangle anything else."""
    return text.encode("ascii", "backslashreplace").decode("ascii")


def stem_tag(kind: str, instrument: str, source: PathLike, made: Optional[str] = None) -> str:
    """``spleeter-paddle <kind> <instrument> of <input name> [<16 hex of sha256 of its real
    path>]`` (the same input however its path is spelled), then ``made <digest>`` with ``made``
    (a resumed run keeps stems made as it would make them)."""
    real = os.path.realpath(source)
    digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:16]
    tag = f"{TOOL} {kind} {_ascii(instrument)} of {_ascii(Path(real).name)} [{digest}]"
    return f"{tag} made {made}" if made else tag


def read_stem_tag(path: PathLike) -> Optional[str]:
    """The tag of an existing audio file (None for anything that is not readable audio: a text
    file holding an ffmpeg metadata tag is no stem)."""
    from .audio.io import audio_info, read_comment  # audio libraries only when stems are read

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


def write_file(path: PathLike, write: Callable[[Path], None]) -> Path:
    """``files.write_atomic`` (a temporary sibling with the path's suffix, renamed into place);
    a failed write is one DataError, ``"<path>: cannot write: <problem>"``."""
    with write_errors(f"{path}: cannot write", DataError, Path(path).parent):
        return write_atomic(path, write, suffix=Path(path).suffix)


def write_text(path: PathLike, text: str) -> Path:
    """``text`` (UTF-8) into ``path`` through :func:`write_file`."""
    return write_file(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def check_inside(folder: PathLike, root: PathLike, error: Callable[[str], Exception], subject: str):
    """An ``error`` unless ``folder``, links resolved, is ``root`` or lies below it: a link
    inside ``-o`` never carries a write elsewhere."""
    if not is_within(folder, root):
        raise error(
            f"{subject} leads outside the output folder {root} (a symbolic link); not writing there"
        )


def non_folder(folder: PathLike) -> Optional[Path]:
    """The first of ``folder`` and its parents that exists (a link counts), when it is not a
    folder: then ``folder`` can neither be used nor made; None otherwise."""
    for path in (Path(folder), *Path(folder).parents):
        if path.exists() or path.is_symlink():
            return None if path.is_dir() else path
    return None


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


@contextlib.contextmanager
def held_folders(
    folders: Iterable[PathLike],
    error: Callable[[str], Exception],
    busy: Callable[[Path], str],
    subject: str = "",
    keep_created: bool = True,
    wait: bool = False,
) -> Iterator[List[int]]:
    """Make and hold ``folders`` (``files.hold_folder``, ``wait`` as there), yielding the locked
    descriptors; ``error(busy(folder))`` when another run holds one. ``keep_created`` False: the
    folders this call made are removed again when left empty."""
    folders = [Path(folder) for folder in folders]
    created = [missing for folder in folders for missing in _missing_folders(folder)]
    with contextlib.ExitStack() as stack:
        if not keep_created:  # only what this call made, only when empty
            stack.callback(_remove_if_empty, created)
        descriptors = []
        for folder in folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                descriptors.append(stack.enter_context(hold_folder(folder, wait)))
            except FolderBusy:
                raise error(busy(folder)) from None
            except OSError as failure:
                problem = (
                    "a parent path is not a directory"
                    if isinstance(failure, (FileExistsError, NotADirectoryError))
                    else failure.strerror or str(failure)
                )
                raise error(f"{subject}cannot write into {folder} ({problem})") from None
        yield descriptors


def _missing_folders(folder: Path) -> Iterator[Path]:
    folder = Path(os.path.abspath(folder))
    while not folder.exists() and folder.parent != folder:
        yield folder
        folder = folder.parent


def _remove_if_empty(folders: Sequence[Path]) -> None:
    for folder in sorted(set(folders), key=lambda path: len(path.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextlib.contextmanager
def staged_folder(target: PathLike, suffix: str) -> Iterator[Path]:
    """An empty folder ``.<target name>.<8 hex><suffix>`` beside ``target`` (same filesystem: the
    rename into place is atomic), removed with what it holds on every exit path."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    staging = new_temporary(target, suffix, directory=True)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def install_folder(staged: Path, target: Path, replaceable: Callable[[Path], None]) -> None:
    """Rename ``staged`` to ``target``; an existing ``target`` is first asked
    ``replaceable(folder)`` (raising when it may not be replaced), set aside, asked again, and
    removed once the new one is in place (FileExistsError when another run wrote it between)."""
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
        except BaseException as error:
            with contextlib.suppress(OSError):
                os.rename(previous, target)
            if isinstance(error, OSError):  # another run wrote there in between
                raise FileExistsError(errno.EEXIST, "written meanwhile", str(target)) from None
            raise
