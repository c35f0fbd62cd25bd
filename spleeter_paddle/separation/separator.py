"""The public ``Separator``: load a model once, separate waveforms or files, segment by segment.

>>> separator = Separator("spleeter:2stems")
>>> stems = separator.separate(waveform)          # (n, channels) float32 at 44.1 kHz
>>> stems["vocals"].shape                          # (n, 2)

Its file methods are Spleeter's (``separate_to_file``, ``save_to_file``, ``join``), with its
signatures first, then ours; the writing itself is ``outputs``'s.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Union

import numpy as np

from .. import options
from ..audio import io as audio_io
from ..audio.adapter import AudioAdapter, custom_adapter
from ..configuration import Params, instrument_names_problem
from ..devices import select_device
from ..errors import AudioError, ConfigurationError, SpleeterError
from ..graph.cache import make_runner
from ..pretrained.weights import pretrained_weights
from . import outputs
from .arguments import (
    SeparatorSettings,
    check_progress,
    separator_settings,
    spleeter_setting,
    stems_setting,
)
from .outputs import DEFAULT_FILENAME_FORMAT, OutputFormat
from .pipeline import SignalChain, array_blocks, separate_blocks, stream_blocks

logger = logging.getLogger(__name__)

READ_BLOCK_SAMPLES = 1 << 18


class Separator:
    """Spleeter separation with a model loaded once, of waveforms, streams or files.

    The first three parameters are official Spleeter's (``spleeter.separator.Separator``); the
    keyword-only ones are ours.

    Args:
        params_descriptor: ``spleeter:<preset>``, a JSON config path, or a config dict.
        MWF: multichannel Wiener filter (norbert, exact to the song-wide statistics); default:
            the configuration's ``MWF`` key, else off.
        multiprocess: as Spleeter's: with it, ``synchronous=False`` writes run in the background
            (a writer thread here) until :meth:`join`; without it every write is synchronous.
        mwf: the same switch as ``MWF`` (this library's earlier name).
        stft_backend: Spleeter 2.1-2.3's ``STFTBackend`` (``auto``, ``tensorflow``,
            ``librosa``): accepted; all give the one exact STFT of Spleeter's TensorFlow graph.
        device: ``auto`` (sdaa > gpu > cpu), ``cpu``, ``gpu`` or ``sdaa``.
        model_dir: directory with ``model.safetensors`` (e.g. a trained model); default: the
            config's ``model_dir``, provisioned with the official weights when it is a preset.
        backend: ``auto`` (fastest: ``paddle.inference`` predictor), ``predictor`` or ``eager``.
        batch_size: segments per model call.
        segment_frames: STFT frames per segment (default 512, as Spleeter's predictor; a
            multiple of 64 for U-Nets). A separation setting: never the model's training crop.
    """

    def __init__(
        self,
        params_descriptor: Union[str, Path, Params] = "spleeter:2stems",
        MWF: Optional[bool] = None,  # noqa: N803 (Spleeter's name)
        multiprocess: bool = True,
        *,
        mwf: Optional[bool] = None,
        stft_backend: str = "auto",
        device: str = "auto",
        model_dir: Union[str, Path, None] = None,
        backend: str = "auto",
        batch_size: int = 1,
        segment_frames: Optional[int] = None,
    ):
        self._load(
            separator_settings(
                params_descriptor, MWF, multiprocess, mwf=mwf, stft_backend=stft_backend,
                device=device, model_dir=model_dir, backend=backend, batch_size=batch_size,
                segment_frames=segment_frames,
            )
        )  # fmt: skip

    @classmethod
    def from_settings(cls, settings: SeparatorSettings) -> Separator:
        """A Separator from :func:`separator_settings` already checked (by a command, before
        it planned its work): nothing is checked twice."""
        separator = cls.__new__(cls)
        separator._load(settings)
        return separator

    def _load(self, settings: SeparatorSettings) -> None:
        self._settings = settings
        self.params, self.mwf, self.batch_size = settings.params, settings.mwf, settings.batch_size
        self.multiprocess, self.segment_frames = settings.multiprocess, settings.segment_frames
        self.chain = replace(SignalChain.from_params(self.params), T=self.segment_frames)
        self.device = select_device(settings.device)
        self.weights = pretrained_weights(self.params, model_dir=settings.model_dir)
        # The Paddle model itself is built only when no cached graph serves these weights.
        self._runner = make_runner(
            self.weights, self.params["n_channels"], self.params["F"], self.device,
            settings.backend,
        )  # fmt: skip
        self._writer = None  # the background writer thread, made on first use
        self._tasks = []  # background writes not yet joined
        # With the model on an accelerator, run it on a worker thread while the CPU does the FFT
        # work (predictors only: eager device contexts belong to one thread). On CPU both
        # compete for the same cores: measured 5 % slower on 2 cores, so not there.
        self.overlap = self._runner.name == "predictor" and self.device != "cpu"
        logger.info("weights: %s", self.weights.directory)
        logger.info(
            "separator ready: %s on %s (%s)",
            ", ".join(self.instruments),
            self.device,
            self._runner.name,
        )

    @property
    def model(self):
        """The eval-mode Paddle model (built on first use from the checked weights)."""
        return self.weights.model()

    @property
    def instruments(self) -> list:
        return list(self.params["instrument_list"])

    @property
    def sample_rate(self) -> int:
        return int(self.params["sample_rate"])

    @property
    def backend(self) -> str:
        return self._runner.name

    @property
    def settings(self) -> SeparatorSettings:
        """The settings this separator now separates with: ``mwf`` may be switched after
        loading, and the stems' tags and stored scores must say what made the estimates."""
        return replace(self._settings, mwf=self.mwf, segment_frames=self.chain.T)

    def evaluation_setting(self) -> Dict[str, Any]:
        """:func:`spleeter_setting` of this separator (builds no model)."""
        return spleeter_setting(self.settings, self.weights.state_digest())

    def run_model(self, magnitude: np.ndarray) -> np.ndarray:
        """``[B, C, T, F]`` float32 mix magnitudes -> ``[B, N, C, T, F]`` instrument estimates."""
        return self._runner(magnitude)  # runners serialise calls from several threads

    def separate(
        self, waveform: np.ndarray, audio_descriptor: Optional[str] = None
    ) -> Dict[str, np.ndarray]:
        """Separate ``(n_samples, n_channels)`` float audio at :attr:`sample_rate`.

        Returns ``{instrument: (n_samples, 2) float32}``. ``audio_descriptor`` is accepted and
        unused, as in Spleeter.
        """
        waveform = audio_io.checked_waveform(waveform)
        stereo = np.ascontiguousarray(audio_io.to_stereo(waveform))
        stems = {name: np.empty_like(stereo) for name in self.instruments}
        position = [0]

        def sink(blocks: Dict[str, np.ndarray]) -> None:
            length = next(iter(blocks.values())).shape[0]
            for name, block in blocks.items():
                stems[name][position[0] : position[0] + length] = block
            position[0] += length

        self.separate_blocks(array_blocks(stereo), sink)
        return stems

    def stream(self, blocks: Iterable[np.ndarray]) -> Iterator[Dict[str, np.ndarray]]:
        """Separate a stream: ``(m, n_channels)`` float32 blocks at :attr:`sample_rate` in,
        ``{instrument: (k, 2) float32}`` blocks out as soon as each segment is done.

        Concatenated, the outputs equal :meth:`separate` of the whole waveform. The first block
        comes after ``segment_frames * frame_step`` input samples (11.9 s at 512 frames; choose
        a smaller ``segment_frames`` for less latency). Not with ``mwf``, which needs the
        whole song's statistics first.
        """
        if self.mwf:
            raise ValueError(
                "stream() cannot apply the Wiener filter (mwf): it needs the whole song"
            )
        if isinstance(blocks, (str, bytes, np.ndarray, dict)) or not hasattr(blocks, "__iter__"):
            hint = (
                "; for one waveform use separate() or [waveform]" if hasattr(blocks, "ndim") else ""
            )
            raise ValueError(
                "blocks must be an iterable of (m, n_channels) float arrays, got "
                f"{type(blocks).__name__}{hint}"
            )

        def model_blocks() -> Iterator[np.ndarray]:
            position = 0  # samples of the stream so far: a problem is placed in the stream
            for index, block in enumerate(blocks):
                try:
                    checked = audio_io.checked_waveform(block)
                except ValueError as error:
                    found = audio_io.unusable_samples(np.asarray(block))
                    if found is None:
                        raise ValueError(f"block {index}: {error}") from None
                    raise ValueError(
                        f"block {index}: waveform {found[1]} (first at sample "
                        f"{position + found[0]} of the stream)"
                    ) from None
                position += len(checked)
                yield audio_io.to_channels(audio_io.to_stereo(checked), self.params["n_channels"])

        stems = stream_blocks(
            self.chain, self.run_model, model_blocks(), self.params["n_channels"],
            self.batch_size, self.overlap,
        )  # fmt: skip
        return (
            {name: audio_io.to_stereo(block) for name, block in estimates.items()}
            for estimates in stems
        )

    def separate_blocks(
        self,
        blocks: Callable[[], Any],
        sink: Callable[[Dict[str, np.ndarray]], None],
        progress: Optional[Callable[[int], None]] = None,
        analysis_progress: Optional[Callable[[int], None]] = None,
    ) -> int:
        """Streaming form of :meth:`separate` (bounded memory); see ``pipeline.separate_blocks``.

        ``blocks()`` must yield stereo ``(m, 2)`` float32 blocks at :attr:`sample_rate`; ``sink``
        gets stereo ``{instrument: (k, 2)}`` blocks (a mono model's estimate in both channels);
        ``progress`` is called with the number of output samples of each block written;
        ``analysis_progress``, with ``mwf``, with the input samples each segment of the Wiener
        filter's first pass covered (before any output: a whole pass over the song).
        """
        check_progress(progress, analysis_progress)
        if not callable(blocks) or not callable(sink):
            raise ValueError("blocks and sink must be callables (see pipeline.separate_blocks)")

        def model_blocks() -> Iterator[np.ndarray]:  # the model's channels, as in its training
            for block in blocks():
                yield audio_io.to_channels(block, self.params["n_channels"])

        def stereo_sink(estimates: Dict[str, np.ndarray]) -> None:
            stems = {name: audio_io.to_stereo(block) for name, block in estimates.items()}
            sink(stems)
            if progress is not None:
                progress(next(iter(stems.values())).shape[0])

        return separate_blocks(
            self.chain,
            self.run_model,
            model_blocks,
            stereo_sink,
            n_channels=self.params["n_channels"],
            batch_size=self.batch_size,
            mwf=self.mwf,
            overlap=self.overlap,
            analysed=analysis_progress,
        )

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

            def blocks() -> Iterator[np.ndarray]:
                for block in audio_io.stream(
                    source, READ_BLOCK_SAMPLES, self.sample_rate, offset, duration
                ):
                    yield audio_io.to_stereo(block)

            def separate(sink: Callable[[Dict[str, np.ndarray]], None]) -> int:
                return self.separate_blocks(blocks, sink, progress, analysis_progress)

            file_options = fmt.file_options(offset, duration)
            setting = stems_setting(self.settings, self.weights.sha256, file_options)
            with outputs.output_lock(paths.values(), audio_path):
                outputs.check_replaceable(paths, audio_path, overwrite)
                made = outputs.made_digest(setting, source.path)
                outputs.write_stem_files(paths, source.path, self.sample_rate, fmt, separate, made)
            return
        if adapter is None:
            waveform, _ = audio_io.load(audio_path, offset, duration, self.sample_rate)
        else:
            waveform = adapter_waveform(adapter, audio_path, offset, duration, self.sample_rate)
        stems = self.separate(waveform)
        if progress is not None:
            progress(len(waveform))
        self._save(paths, audio_path, fmt, adapter, overwrite, stems, synchronous)

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
            stems = {name: audio_io.checked_waveform(data).copy() for name, data in sources.items()}
        except ValueError as error:
            raise ValueError(f"sources {error}") from None
        fmt = OutputFormat.checked(
            codec, bitrate, subtype, filename_format, self.sample_rate, list(stems)
        )
        paths = outputs.output_paths(list(stems), audio_path, destination, fmt)
        outputs.check_not_inputs({audio_path: paths}, [audio_path])
        self._save(paths, audio_path, fmt, adapter, overwrite, stems, synchronous)
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
        if failures:
            raise failures[0]

    def _save(self, paths, audio_path, fmt, adapter, overwrite, stems, synchronous) -> None:
        """``outputs.save_stems`` of ``stems`` now, or on the background writer
        (``multiprocess`` and not ``synchronous``). The writer thread is not a daemon: the
        interpreter finishes pending writes before it exits."""
        write = partial(
            outputs.save_stems, paths, audio_path, fmt, adapter, overwrite, self.sample_rate, stems
        )
        if synchronous or not self.multiprocess:
            write()
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spleeter-save")
        task = self._writer.submit(write)
        task.add_done_callback(_log_failure)
        self._tasks.append(task)


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
        waveform = audio_io.checked_waveform(waveform)
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


def _log_failure(task: Future) -> None:
    """A background write's error is logged when it happens (a script may never join)."""
    error = task.exception()
    if error is not None:
        logger.error("background write failed: %s", error)
