"""Where stems go, and when a file already there may be replaced.

The rules: a stem path stays inside the output folder and is never a file the run reads; a file
already at a stem path is replaced only when it is this tool's own earlier stem of the same
instrument and input (its tag), or with ``overwrite``; one run at a time writes into a folder;
the rules themselves are ``ownership``'s.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Sequence

import numpy as np

from .. import options, ownership
from ..audio import ffmpeg_tools as ffmpeg
from ..audio.io import to_stereo
from ..audio.writer import CODECS, StreamWriter, can_write, check_format
from ..errors import AudioError, ConfigurationError, SpleeterError
from ..files import PathLike, new_temporary

STEM_KIND = "stem"  # stems are tagged (``ownership``): "spleeter-paddle stem vocals of ..."

MAX_NAME_BYTES = 255  # one path component, on every common filesystem
# A stem is written to ".<name>.<8 hex>.part" first: its name must leave room for that.
_TEMPORARY_EXTRA_BYTES = len(".") + len(".01234567.part")


def made_digest(setting: Mapping[str, Any], audio_path: PathLike) -> str:
    """16 hex digits naming what a song's stems are made from: ``setting`` (the model's weights
    digest and output config, the separation and file options) and the input's version (size
    and modification time). Equal tags mean the stems there are what this run would write."""
    status = os.stat(audio_path)
    key = {"setting": setting, "input": [status.st_size, status.st_mtime_ns]}
    text = json.dumps(key, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def stems_done(paths: Mapping[str, Path], audio_path: PathLike, setting: Mapping[str, Any]) -> bool:
    """Whether every stem at ``paths`` is already this tool's, made with ``setting`` from the
    current ``audio_path`` (:func:`made_digest`; a finished song: a resumed run skips it)."""
    made = made_digest(setting, audio_path)
    return all(
        ownership.read_stem_tag(path) == ownership.stem_tag(STEM_KIND, name, audio_path, made)
        for name, path in paths.items()
    )


FILENAME_FIELDS = ("filename", "foldername", "instrument", "codec")
DEFAULT_FILENAME_FORMAT = "{filename}/{instrument}.{codec}"


@dataclass(frozen=True)
class OutputFormat:
    """How stems are written, checked once (:meth:`checked`) and passed inward as it is."""

    codec: str = "wav"
    bitrate: str = "128k"
    subtype: str = "PCM_16"  # wav/flac sample format
    filename_format: str = DEFAULT_FILENAME_FORMAT

    @classmethod
    def checked(
        cls,
        codec: Any,
        bitrate: Any,
        subtype: Any,
        filename_format: Any,
        sample_rate: int,
        instruments: Sequence[str],
    ) -> OutputFormat:
        """The format if ``codec`` can write ``bitrate`` and ``subtype`` at the model's
        ``sample_rate`` and ``filename_format`` names each of ``instruments`` apart: else a
        ConfigurationError (exit 2), or an AudioError when the codec needs a missing ffmpeg.
        A :class:`Codec` member counts as its word."""
        codec = getattr(codec, "value", codec)
        bitrate = options.checked(
            "bitrate", options.bitrate_text, bitrate, error=ConfigurationError
        )
        try:
            check_format(codec, bitrate, subtype, sample_rate)
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        if not can_write(codec):
            raise ffmpeg.missing_error(codec, f"writing {codec}")
        check_filename_format(filename_format, instruments, codec)
        return cls(codec, bitrate, subtype, filename_format)

    def file_options(self, offset: float, duration: Optional[float]) -> Dict[str, Any]:
        """What of a run, besides the model, defines the stem files it writes from ``offset``
        for ``duration`` seconds (part of their ``made`` tag, :func:`made_digest`)."""
        return {"codec": self.codec, "bitrate": self.bitrate, "subtype": self.subtype,
                "offset": float(offset), "duration": duration}  # fmt: skip


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
    control = next((ch for ch in filename_format if ord(ch) < 32 or ord(ch) == 127), None)
    if control is not None:
        raise ConfigurationError(
            f"filename format {filename_format!r} holds the control character {control!r}: "
            "file names with it break listings and scripts; remove it"
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
            shown = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ConfigurationError(
                f"filename format {filename_format!r}: {{{shown}}} is not a plain field "
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


def check_inside(audio_path: Path, destination: Path, path: Path) -> None:
    """Folders inside ``-o`` that are links leading out of it would carry stems elsewhere."""
    subject = f"{audio_path}: output folder {path.parent}"
    ownership.check_inside(path.parent, destination, AudioError, subject)


def output_paths(
    instruments: Sequence[str], audio_path: PathLike, destination: PathLike, fmt: OutputFormat
) -> Dict[str, Path]:
    """``{instrument: path}`` for ``audio_path`` (fields ``{filename}``, ``{foldername}``,
    ``{instrument}``, ``{codec}``); a path outside ``destination`` is an error (``fmt`` is
    checked to name each instrument apart: :func:`check_filename_format`)."""
    audio_path, codec, filename_format = Path(audio_path), fmt.codec, fmt.filename_format
    folder = Path(os.path.abspath(audio_path)).parent.name  # also for song.wav or ../song.wav
    fields = {"filename": audio_path.stem, "foldername": folder, "codec": codec}
    relative = {name: filename_format.format(instrument=name, **fields) for name in instruments}
    for name, text in relative.items():
        parts = Path(text).parts
        if not parts or Path(text).is_absolute() or ".." in parts:
            raise AudioError(
                f"{audio_path}: output name {text!r} (for {name}) is not a path inside the output "
                "folder; check -f/--filename_format and the input's folder name"
            )
    paths = {name: Path(destination) / text for name, text in relative.items()}
    for path in paths.values():
        for part in path.parts:
            if len(os.fsencode(part)) > MAX_NAME_BYTES:
                raise AudioError(f"{audio_path}: output name part {part[:40]!r}... is too long")
        if len(os.fsencode(path.name)) + _TEMPORARY_EXTRA_BYTES > MAX_NAME_BYTES:
            limit = MAX_NAME_BYTES - _TEMPORARY_EXTRA_BYTES
            raise AudioError(
                f"{audio_path}: output file name {path.name[:40]!r}... is longer than {limit} "
                "bytes; use a shorter -f/--filename_format"
            )
        check_inside(audio_path, Path(destination), path)
    return paths


def check_not_inputs(planned: Dict[str, Dict[str, Path]], inputs: Iterable[PathLike]) -> None:
    """A ConfigurationError when any planned stem path is (or links to) a file of ``inputs``."""

    def refuse(path: Path, source: PathLike, read: str) -> Exception:
        return ConfigurationError(
            f"output {path} (a stem of {source}) is the input {read}: refusing to write over an "
            "input; choose another -o/--output_path or -f/--filename_format"
        )

    planned_paths = {source: paths.values() for source, paths in planned.items()}
    ownership.check_not_inputs(planned_paths, inputs, refuse)


def check_replaceable(paths: Dict[str, Path], audio_path: PathLike, overwrite: bool) -> None:
    """An AudioError when a stem of ``paths`` (``{instrument: path}``) may not be replaced."""
    remedy = "use --overwrite to replace it, or another -o/--output_path"
    for instrument, path in paths.items():
        foreign = ownership.foreign_stem(STEM_KIND, instrument, audio_path)
        subject = f"{audio_path}: output {path}"
        ownership.check_replaceable(path, overwrite, foreign, AudioError, subject, remedy)


def output_lock(paths: Iterable[Path], audio_path: PathLike):
    """Hold the folders of ``paths`` while ``audio_path``'s stems are written (another run
    writing there: AudioError), with their journals of temporaries (``files``): those a killed
    run made there are removed, and those of this run on every exit path."""

    def busy(folder: Path) -> str:
        return (
            f"{audio_path}: another spleeter-paddle run is writing into {folder}; wait "
            "for it to finish or choose another -o/--output_path"
        )

    folders = sorted({path.parent.resolve() for path in paths})
    return ownership.held_folders(folders, AudioError, busy, f"{audio_path}: ", keep_created=False)


def write_stem_files(
    paths: Dict[str, Path],
    audio_path: str,
    sample_rate: int,
    fmt: OutputFormat,
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
                path, sample_rate, 2, fmt.codec, fmt.bitrate, fmt.subtype,
                comment=ownership.stem_tag(STEM_KIND, name, audio_path, made),
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


def save_stems(
    paths, audio_path, fmt: OutputFormat, adapter, overwrite, sample_rate, stems
) -> None:
    """Write separated ``stems`` (arrays) to their ``paths`` under the folder lock, with this
    library's writer (tagged, atomic) or a user's :class:`AudioAdapter` (its ``save``)."""
    with output_lock(paths.values(), audio_path):
        check_replaceable(paths, audio_path, overwrite)
        if adapter is not None:
            _save_with_adapter(adapter, paths, audio_path, fmt, sample_rate, stems)
            return

        def produce(sink: Callable[[Dict[str, np.ndarray]], None]) -> int:
            sink({name: to_stereo(data) for name, data in stems.items()})
            return len(next(iter(stems.values())))

        write_stem_files(paths, audio_path, sample_rate, fmt, produce)


def _save_with_adapter(adapter, paths, audio_path, fmt, sample_rate, stems) -> None:
    """The user's ``save`` writes each stem to a temporary name of this call's own (with the
    stem's extension, which adapters read the codec from); all are renamed into place only
    when every one was written, so a song's stems stay together, and every exit path
    removes the temporaries this call named."""
    name = type(adapter).__name__
    temporaries = {}
    try:
        for stem, path in paths.items():  # journalled: a killed run's are reclaimed
            temporaries[stem] = new_temporary(path, f".part{path.suffix}")
        for stem, temporary in temporaries.items():
            try:
                adapter.save(str(temporary), stems[stem], sample_rate, fmt.codec, fmt.bitrate)
            except SpleeterError:
                raise
            except Exception as error:  # the user's code: this song fails, the rest runs
                raise AudioError(
                    f"{audio_path}: adapter {name} could not save {paths[stem]} "
                    f"({type(error).__name__}: {error})"
                ) from None
            if not temporary.is_file() or temporary.stat().st_size == 0:
                raise AudioError(f"{audio_path}: adapter {name} wrote no file for {paths[stem]}")
        for stem, temporary in temporaries.items():
            os.replace(temporary, paths[stem])
    finally:
        for temporary in temporaries.values():
            with contextlib.suppress(OSError):
                temporary.unlink()
