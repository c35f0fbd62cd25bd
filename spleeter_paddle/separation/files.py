"""Spleeter's file methods of ``Separator``: ``separate_to_file``, ``save_to_file`` and
``join``, with its signatures first, then ours; the writing itself is ``outputs``'s."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

import numpy as np

from .. import options
from ..audio import io as audio_io
from ..audio.adapter import AudioAdapter, custom_adapter
from ..configuration import instrument_names_problem
from ..errors import AudioError, ConfigurationError, SpleeterError
from . import outputs
from .arguments import check_progress, checked_waveform, stems_setting
from .outputs import DEFAULT_FILENAME_FORMAT, OutputFormat

logger = logging.getLogger(__name__)

READ_BLOCK_SAMPLES = 1 << 18


def adapter_waveform(
    adapter: AudioAdapter,
    audio_path: str,
    offset: float,
    duration: Optional[float],
    sample_rate: int,
) -> np.ndarray:
    """What a user's adapter loads, checked like any waveform given to ``separate``: float
    ``(n_samples, n_channels)``, finite, at ``sample_rate``, not empty. Its failures and wrong
    answers are an AudioError naming the file and the adapter (one ERROR line in a batch)."""
    name = type(adapter).__name__
    try:
        loaded = adapter.load(audio_path, offset=offset, duration=duration, sample_rate=sample_rate)
    except SpleeterError:
        raise
    except Exception as error:  # the user's code: its own bug fails this file only
        raise AudioError(
            f"{audio_path}: adapter {name} failed ({type(error).__name__}: {error})"
        ) from None
    try:
        waveform, rate = loaded
        waveform = checked_waveform(waveform)
    except (TypeError, ValueError) as error:
        raise AudioError(
            f"{audio_path}: adapter {name} did not return (waveform, sample_rate): {error}"
        ) from None
    try:
        same_rate = float(rate) == sample_rate
    except (TypeError, ValueError):
        same_rate = False
    if not same_rate:
        raise AudioError(
            f"{audio_path}: adapter {name} returned audio at {rate} Hz; {sample_rate} Hz was "
            "asked for (separating it as such would give stems at the wrong speed)"
        )
    if len(waveform) == 0:
        raise AudioError(f"{audio_path}: adapter {name} returned no audio samples")
    return waveform


class SpleeterFileMethods:
    """Separation to files for :class:`~spleeter_paddle.separation.separator.Separator` (which
    provides ``instruments``, ``sample_rate``, ``separate``, ``separate_blocks``, ``params``,
    ``weights``, ``mwf``, ``segment_frames`` and ``multiprocess``): streamed, or loaded and
    saved by a user's :class:`AudioAdapter`, written now or on a background writer thread
    until :meth:`join`."""

    _writer: Optional[ThreadPoolExecutor] = None
    _tasks: List[Future]

    def separate_to_file(
        self,
        audio_descriptor: Union[str, Path],
        destination: Union[str, Path],
        audio_adapter: Optional[AudioAdapter] = None,
        offset: float = 0.0,
        duration: Optional[float] = None,
        codec: str = "wav",
        bitrate: str = "128k",
        filename_format: str = DEFAULT_FILENAME_FORMAT,
        synchronous: bool = True,
        *,
        subtype: str = "PCM_16",
        progress: Optional[Callable[[int], None]] = None,
        overwrite: bool = False,
        source: Optional[audio_io.AudioSource] = None,
        analysis_progress: Optional[Callable[[int], None]] = None,
    ) -> Dict[str, Path]:
        """Separate a file into one file per instrument (Spleeter's signature, then ours).

        With the default adapter and ``synchronous`` (or without ``multiprocess``) the file is
        streamed: memory does not grow with its length. ``duration`` defaults to the whole file
        (Spleeter cuts at 600 s). Another :class:`AudioAdapter` loads and saves the audio, as in
        Spleeter. ``synchronous=False``: the stems are separated now and written in the
        background; :meth:`join` waits for the writes and raises their errors.

        Outputs are written to temporary names and renamed only when all succeeded. An existing
        file at an output path is replaced only when it is an earlier stem of this instrument
        and input written by this tool (its tag), or with ``overwrite``; the input itself never
        is. ``source``: ``audio_io.probe(audio_descriptor)`` when the caller already has it.
        ``progress`` gets the samples of each block written; ``analysis_progress``, with the
        Wiener filter, those of the first pass (see :meth:`separate_blocks`).
        Returns ``{instrument: output path}``. Raises :class:`AudioError`.
        """
        audio_path, destination, adapter, overwrite, synchronous = self._file_arguments(
            audio_descriptor, destination, audio_adapter, overwrite, synchronous
        )
        fmt = OutputFormat.checked(
            codec, bitrate, subtype, filename_format, self.sample_rate, self.instruments
        )
        offset, duration = options.seconds_span(offset, duration, error=ConfigurationError)
        check_progress(progress, analysis_progress)
        if source is not None and (
            not isinstance(source, audio_io.AudioSource) or source.path != audio_path
        ):
            raise ValueError(f"source must be audio_io.probe({audio_path!r}), got {source!r}")
        paths = outputs.output_paths(self.instruments, audio_path, destination, fmt)
        outputs.check_not_inputs({audio_path: paths}, [audio_path])
        self.separate_into(
            paths, audio_path, fmt, adapter, offset, duration, overwrite=overwrite,
            synchronous=synchronous, progress=progress, analysis_progress=analysis_progress,
            source=source,
        )  # fmt: skip
        return paths

    def separate_into(
        self,
        paths: Dict[str, Path],
        audio_path: str,
        fmt: OutputFormat,
        adapter: Optional[AudioAdapter],
        offset: float,
        duration: Optional[float],
        *,
        overwrite: bool = False,
        synchronous: bool = True,
        progress: Optional[Callable[[int], None]] = None,
        analysis_progress: Optional[Callable[[int], None]] = None,
        source: Optional[audio_io.AudioSource] = None,
    ) -> None:
        """:meth:`separate_to_file` with its arguments already checked and its ``paths``
        planned (``outputs.output_paths``), as a batch passes them in."""
        if adapter is None and (synchronous or not self.multiprocess):
            if source is None:
                source = audio_io.probe(audio_path)  # fail early, before any output exists
            with outputs.output_lock(paths.values(), audio_path):
                for name, path in paths.items():
                    outputs.check_replaceable(path, name, audio_path, overwrite)
                self._write_stems(source, paths, fmt, offset, duration, progress, analysis_progress)
            return
        if adapter is None:
            waveform, _ = audio_io.load(audio_path, offset, duration, self.sample_rate)
        else:
            waveform = adapter_waveform(adapter, audio_path, offset, duration, self.sample_rate)
        stems = self.separate(waveform)
        if progress is not None:
            progress(len(waveform))
        write = partial(outputs.save_stems, paths, audio_path, fmt, adapter, overwrite)
        self._submit(lambda: write(self.sample_rate, stems), synchronous)

    def save_to_file(
        self,
        sources: Dict[str, np.ndarray],
        audio_descriptor: Union[str, Path],
        destination: Union[str, Path],
        filename_format: str = DEFAULT_FILENAME_FORMAT,
        codec: str = "wav",
        audio_adapter: Optional[AudioAdapter] = None,
        bitrate: str = "128k",
        synchronous: bool = True,
        *,
        subtype: str = "PCM_16",
        overwrite: bool = False,
    ) -> Dict[str, Path]:
        """Write ``{instrument: (n_samples, n_channels) float}`` as :meth:`separate` returns
        them, named after ``audio_descriptor`` like :meth:`separate_to_file` (Spleeter's
        signature, then ours). Returns ``{instrument: output path}``."""
        audio_path, destination, adapter, overwrite, synchronous = self._file_arguments(
            audio_descriptor, destination, audio_adapter, overwrite, synchronous
        )
        if not isinstance(sources, dict) or not sources:
            raise ValueError(
                f"sources must be a non-empty dict {{instrument: waveform}}, got {sources!r}"
            )
        problem = instrument_names_problem(list(sources))
        if problem:
            raise ValueError(f"sources' keys (the instruments) {problem}")
        try:  # a copy: the caller may reuse its arrays while a background write runs
            stems = {name: checked_waveform(data).copy() for name, data in sources.items()}
        except ValueError as error:
            raise ValueError(f"sources {error}") from None
        fmt = OutputFormat.checked(
            codec, bitrate, subtype, filename_format, self.sample_rate, list(stems)
        )
        paths = outputs.output_paths(list(stems), audio_path, destination, fmt)
        outputs.check_not_inputs({audio_path: paths}, [audio_path])
        write = partial(outputs.save_stems, paths, audio_path, fmt, adapter, overwrite)
        self._submit(lambda: write(self.sample_rate, stems), synchronous)
        return paths

    def _file_arguments(self, audio_descriptor, destination, adapter, overwrite, synchronous):
        """``(audio_path, destination, adapter or None, overwrite, synchronous)``, checked
        before anything is read."""
        return (
            options.checked("audio_descriptor", options.path_value, audio_descriptor),
            options.checked("destination", options.path_value, destination),
            custom_adapter(adapter),
            options.checked("overwrite", options.strict_bool, overwrite),
            options.checked("synchronous", options.strict_bool, synchronous),
        )

    def join(self, timeout: Optional[float] = 200) -> None:
        """Wait for every background write (``synchronous=False``) to finish; the first that
        failed raises its error (each failure is logged when it happens). ``timeout`` is accepted like
        Spleeter's, which waits for each task to complete whatever its value."""
        tasks, self._tasks = self._tasks, []
        failures = [error for task in tasks if (error := task.exception()) is not None]
        if failures:  # each was logged when it happened
            raise failures[0]

    def _submit(self, write: Callable[[], None], synchronous: bool) -> None:
        """``write()`` now, or on the background writer (``multiprocess`` and not
        ``synchronous``). The writer thread is not a daemon: the interpreter finishes pending
        writes before it exits."""
        if synchronous or not self.multiprocess:
            write()
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spleeter-save")
        task = self._writer.submit(write)
        task.add_done_callback(_log_failure)
        self._tasks.append(task)

    def _write_stems(
        self,
        source: audio_io.AudioSource,
        paths: Dict[str, Path],
        fmt: OutputFormat,
        offset_s: float,
        duration_s: Optional[float],
        progress: Optional[Callable[[int], None]],
        analysis_progress: Optional[Callable[[int], None]] = None,
    ) -> None:
        """Stream ``source`` through the model into temporary files renamed to ``paths``."""

        def blocks():
            for block in audio_io.stream(
                source, READ_BLOCK_SAMPLES, self.sample_rate, offset_s, duration_s
            ):
                yield audio_io.to_stereo(block)

        def separate(sink: Callable[[Dict[str, np.ndarray]], None]) -> int:
            return self.separate_blocks(blocks, sink, progress, analysis_progress)

        setting = stems_setting(
            self.params, self.weights.sha256, self.mwf, self.segment_frames,
            fmt.file_options(offset_s, duration_s),
        )  # fmt: skip
        made = outputs.made_digest(setting, source.path)
        outputs.write_stem_files(paths, source.path, self.sample_rate, fmt, separate, made)


def _log_failure(task: Future) -> None:
    """A background write's error is logged when it happens (a script may never join)."""
    error = task.exception()
    if error is not None:
        logger.error("background write failed: %s", error)
