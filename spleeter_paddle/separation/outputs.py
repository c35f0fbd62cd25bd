"""Where stems go, and when a file already there may be replaced.

The rules: a stem path stays inside the output folder and is never a file the run reads; a file
already at a stem path is replaced only when it is this tool's own earlier stem of the same
instrument and input (every stem carries a ``comment`` tag saying so), or with ``overwrite``;
one run at a time writes into a folder (an advisory lock on the folder itself).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import string
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Sequence, Union

import numpy as np

from ..audio.io import audio_info, read_comment, to_stereo
from ..audio.writer import CODECS, StreamWriter
from ..errors import AudioError, ConfigurationError, SpleeterError
from ..files import FolderBusy, hold_folder, is_within, new_temporary, same_file_key

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]
TAG_PREFIX = "spleeter-paddle stem"


MAX_NAME_BYTES = 255  # one path component, on every common filesystem
# A stem is written to ".<name>.<8 hex>.part" first: its name must leave room for that.
_TEMPORARY_EXTRA_BYTES = len(".") + len(".01234567.part")


def _ascii(text: str) -> str:
    """Tags stay ASCII: some containers (MP3's ID3 via libsndfile) mangle anything else."""
    return text.encode("ascii", "backslashreplace").decode("ascii")


def stem_tag(instrument: str, audio_path: PathLike, made: Optional[str] = None) -> str:
    """The ``comment`` tag written into each stem: instrument, input name, and a digest of the
    input's real path (the same file however it is spelled; another file of the same name differs),
    e.g. ``spleeter-paddle stem vocals of song.mp3 [3f2a...]``; then, for stems separated from
    the file, how they were made (``... made 9c01...``, :func:`made_digest`)."""
    real = os.path.realpath(audio_path)
    digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:16]
    owner = f"{TAG_PREFIX} {_ascii(instrument)} of {_ascii(Path(real).name)} [{digest}]"
    return f"{owner} made {made}" if made else owner


def made_digest(setting: Mapping[str, Any], audio_path: PathLike) -> str:
    """16 hex digits naming what a song's stems are made from: ``setting`` (the model's weights
    digest and output config, the separation and file options) and the input's version (size
    and modification time). Equal tags mean the stems there are what this run would write."""
    status = os.stat(audio_path)
    key = {"setting": setting, "input": [status.st_size, status.st_mtime_ns]}
    text = json.dumps(key, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _is_own(tag: Optional[str], instrument: str, audio_path: PathLike) -> bool:
    """Whether ``tag`` is this tool's stem of ``instrument`` from ``audio_path`` (made any way)."""
    owner = stem_tag(instrument, audio_path)
    return tag is not None and (tag == owner or tag.startswith(owner + " made "))


def stems_done(paths: Mapping[str, Path], audio_path: PathLike, made: str) -> bool:
    """Whether every stem at ``paths`` is already this tool's, made as ``made`` says from the
    current ``audio_path`` (a finished song: a resumed run skips it)."""
    return all(
        _stem_tag_of(path) == stem_tag(name, audio_path, made) for name, path in paths.items()
    )


def _folder_name(audio_path: Path) -> str:
    """``{foldername}``: the input's folder, also for ``song.wav`` or ``../song.wav``."""
    return Path(os.path.abspath(audio_path)).parent.name


FILENAME_FIELDS = ("filename", "foldername", "instrument", "codec")


def check_filename_format(
    filename_format: str, instruments: Sequence[str], codec: Optional[str] = None
) -> None:
    """A ConfigurationError (the whole run) when ``filename_format`` cannot name the stems, or
    names them with another codec's extension than ``codec`` (MP3 data in ``vocals.wav``).

    Only the plain fields: ``{filename.upper}``, ``{filename[0]}``, ``{instrument!r}`` or a
    format spec would name folders after method addresses or cut names unpredictably.
    """
    fields_hint = "fields are {filename} {foldername} {instrument} {codec}"
    if not isinstance(filename_format, str) or not filename_format:
        raise ConfigurationError(
            f"filename format must be a non-empty str, got {filename_format!r}; {fields_hint}"
        )
    try:
        parsed = list(string.Formatter().parse(filename_format))
    except ValueError as error:
        raise ConfigurationError(
            f"filename format {filename_format!r} is invalid ({error}); {fields_hint}"
        ) from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in FILENAME_FIELDS or spec or conversion is not None:
            shown = (
                "{"
                + field
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise ConfigurationError(
                f"filename format {filename_format!r}: {shown} is not a plain field "
                f"(no attributes, indices, conversions or format specs); {fields_hint}"
            )
    fields = {"filename": "song", "foldername": "folder", "codec": codec or "wav"}
    names = {filename_format.format(instrument=name, **fields) for name in instruments}
    extension = os.path.splitext(next(iter(names), ""))[1].lower().lstrip(".")
    if codec is not None and extension in CODECS and extension != codec:
        raise ConfigurationError(
            f"filename format {filename_format!r} names .{extension} files, but the codec is "
            f"{codec}: their names would lie about what they hold; use {{codec}} or -c {extension}"
        )
    if len(names) < len(instruments):
        raise ConfigurationError(
            f"filename format {filename_format!r} writes several instruments to one file; "
            "include {instrument}"
        )


def _check_name_lengths(audio_path: Path, path: Path) -> None:
    for part in path.parts:
        if len(os.fsencode(part)) > MAX_NAME_BYTES:
            raise AudioError(f"{audio_path}: output name part {part[:40]!r}... is too long")
    if len(os.fsencode(path.name)) + _TEMPORARY_EXTRA_BYTES > MAX_NAME_BYTES:
        limit = MAX_NAME_BYTES - _TEMPORARY_EXTRA_BYTES
        raise AudioError(
            f"{audio_path}: output file name {path.name[:40]!r}... is longer than {limit} bytes; "
            "use a shorter -f/--filename_format"
        )


def check_inside(audio_path: Path, destination: Path, path: Path) -> None:
    """Folders inside ``-o`` that are links leading out of it would carry stems elsewhere."""
    if not is_within(path.parent, destination):
        raise AudioError(
            f"{audio_path}: output folder {path.parent} leads outside the output folder "
            f"{destination} (a symbolic link); not writing there"
        )


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
    fields = {"filename": audio_path.stem, "foldername": _folder_name(audio_path), "codec": codec}
    check_filename_format(filename_format, instruments, codec)
    try:
        relative = {name: filename_format.format(instrument=name, **fields) for name in instruments}
    except Exception as error:  # a field's value can still break a format spec
        raise AudioError(f"{audio_path}: filename format cannot name its stems ({error})") from None
    for name, text in relative.items():
        parts = Path(text).parts
        if not text or Path(text).is_absolute() or ".." in parts or not parts:
            raise AudioError(
                f"{audio_path}: output name {text!r} (for {name}) is not a path inside the output "
                "folder; check -f/--filename_format and the input's folder name"
            )
    paths = {name: Path(destination) / text for name, text in relative.items()}
    for path in paths.values():
        _check_name_lengths(audio_path, path)
        check_inside(audio_path, Path(destination), path)
    if len(set(paths.values())) < len(paths):
        raise AudioError(
            f"{audio_path}: filename format {filename_format!r} writes several instruments "
            "to one file; include {instrument}"
        )
    return paths


def check_not_inputs(planned: Dict[str, Dict[str, Path]], inputs: Iterable[PathLike]) -> None:
    """A ConfigurationError when any planned stem path is (or links to) a file of ``inputs``."""
    read = {identity: os.fspath(path) for path in inputs if (identity := same_file_key(path))}
    for source, paths in planned.items():
        for path in paths.values():
            identity = same_file_key(path)
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
    tag = _stem_tag_of(path)
    if _is_own(tag, instrument, audio_path):
        return
    if tag is not None and tag.startswith(TAG_PREFIX):
        what = f"holds a stem made from another input ({tag[len(TAG_PREFIX) :].strip()})"
    else:
        what = "exists and was not written by spleeter-paddle"
    raise AudioError(
        f"{audio_path}: output {path} {what}; not replacing it (use --overwrite to replace it, "
        "or another -o/--output_path)"
    )


def _stem_tag_of(path: Path) -> Optional[str]:
    """The tag of an existing audio file (None for anything that is not readable audio)."""
    if not os.path.isfile(path):
        return None
    try:
        audio_info(path)
    except AudioError:
        return None
    return read_comment(path)


@contextlib.contextmanager
def output_lock(paths: Iterable[Path], audio_path: PathLike) -> Iterator[None]:
    """Hold the folders of ``paths`` while ``audio_path``'s stems are written (another run
    writing there: AudioError), with their journals of temporaries (``files``): those a killed
    run made there are removed, and those of this run on every exit path."""
    paths = list(paths)
    folders = sorted({path.parent.resolve() for path in paths})
    created = [parent for folder in folders for parent in _missing_folders(folder)]
    with contextlib.ExitStack() as stack:
        stack.callback(_remove_if_empty, created)  # only what this call made, only when empty
        for folder in folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                stack.enter_context(hold_folder(folder))
            except FolderBusy:
                raise AudioError(
                    f"{audio_path}: another spleeter-paddle run is writing into {folder}; wait "
                    "for it to finish or choose another -o/--output_path"
                ) from None
            except OSError as error:
                problem = (
                    "a parent path is not a directory"
                    if isinstance(error, (FileExistsError, NotADirectoryError))
                    else error.strerror or str(error)
                )
                raise AudioError(f"{audio_path}: cannot write into {folder} ({problem})") from None
        yield


def _missing_folders(folder: Path) -> Iterator[Path]:
    while not folder.exists() and folder.parent != folder:
        yield folder
        folder = folder.parent


def _remove_if_empty(folders: Sequence[Path]) -> None:
    for folder in sorted(set(folders), key=lambda path: len(path.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()


# ----------------------------------------------------------------------------- writing


def write_stem_files(
    paths: Dict[str, Path],
    audio_path: str,
    sample_rate: int,
    codec: str,
    bitrate: str,
    subtype: str,
    produce: Callable[[Callable[[Dict[str, np.ndarray]], None]], int],
    made: Optional[str] = None,
) -> None:
    """``produce(sink)`` feeds ``{instrument: (k, 2)}`` blocks to temporary files (tagged as
    stems of ``audio_path``, made as ``made`` says) and returns the samples written; they are renamed to ``paths`` only
    when every stem is complete, so a song's stems stay together. Any failure removes them."""
    writers = {}
    try:
        for name, path in paths.items():
            writers[name] = StreamWriter(
                path, sample_rate, 2, codec, bitrate, subtype,
                comment=stem_tag(name, audio_path, made),
            )  # fmt: skip

        def sink(stems: Dict[str, np.ndarray]) -> None:
            for name, block in stems.items():
                writers[name].write(block)

        if produce(sink) == 0:
            raise AudioError(f"{audio_path}: no audio samples to separate")
        for writer in writers.values():
            writer.finish()
        for writer in writers.values():
            writer.close()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise


class StemFiles:
    """Writes separated stems (arrays) to their paths under the folder lock, with this library's
    writer (tagged, atomic) or a user's :class:`AudioAdapter` (its ``save``)."""

    def __init__(self, paths, audio_path, codec, bitrate, subtype, adapter, overwrite):
        self.paths, self.audio_path, self.adapter = paths, audio_path, adapter
        self.codec, self.bitrate, self.subtype, self.overwrite = codec, bitrate, subtype, overwrite

    def __call__(self, sample_rate: int, stems: Dict[str, np.ndarray]) -> None:
        with output_lock(self.paths.values(), self.audio_path):
            for name, path in self.paths.items():
                check_replaceable(path, name, self.audio_path, self.overwrite)
            if self.adapter is not None:
                self._save_with_adapter(sample_rate, stems)
                return

            def produce(sink: Callable[[Dict[str, np.ndarray]], None]) -> int:
                sink({name: to_stereo(data) for name, data in stems.items()})
                return len(next(iter(stems.values())))

            write_stem_files(
                self.paths, self.audio_path, sample_rate, self.codec, self.bitrate,
                self.subtype, produce,
            )  # fmt: skip

    def _save_with_adapter(self, sample_rate: int, stems: Dict[str, np.ndarray]) -> None:
        """The user's ``save`` writes each stem to a temporary name of this call's own (with the
        stem's extension, which adapters read the codec from); all are renamed into place only
        when every one was written, so a song's stems stay together, and every exit path
        removes the temporaries this call named."""
        name = type(self.adapter).__name__
        temporaries = {}
        try:
            for stem, path in self.paths.items():  # journalled: a killed run's are reclaimed
                temporaries[stem] = new_temporary(path, f".part{path.suffix}")
            for stem, temporary in temporaries.items():
                try:
                    self.adapter.save(
                        str(temporary), stems[stem], sample_rate, self.codec, self.bitrate
                    )
                except SpleeterError:
                    raise
                except Exception as error:  # the user's code: this song fails, the rest runs
                    raise AudioError(
                        f"{self.audio_path}: adapter {name} could not save {self.paths[stem]} "
                        f"({type(error).__name__}: {error})"
                    ) from None
                if not temporary.is_file() or temporary.stat().st_size == 0:
                    raise AudioError(
                        f"{self.audio_path}: adapter {name} wrote no file for {self.paths[stem]}"
                    )
            for stem, temporary in temporaries.items():
                os.replace(temporary, self.paths[stem])
        finally:
            for temporary in temporaries.values():
                with contextlib.suppress(OSError):
                    temporary.unlink()
