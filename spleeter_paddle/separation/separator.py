"""The public ``Separator``: load a model once, separate waveforms or files, segment by segment.

>>> separator = Separator("spleeter:2stems")
>>> stems = separator.separate(waveform)          # (n, channels) float32 at 44.1 kHz
>>> stems["vocals"].shape                          # (n, 2)
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Union

import numpy as np

from .. import options
from ..audio import io as audio_io
from ..audio.adapter import AudioAdapter, custom_adapter
from ..audio.writer import StreamWriter
from ..configuration import Params, load_configuration
from ..devices import select_device
from ..errors import AudioError, ConfigurationError
from ..pretrained.weights import pretrained_weights
from ..vocab import BACKENDS, DEVICES, STFT_BACKENDS
from . import outputs
from .backends import validate_backend
from .batch import check_file_options
from .inference import make_runner
from .pipeline import SignalChain, array_blocks, separate_blocks, stream_blocks

logger = logging.getLogger(__name__)


DEFAULT_FILENAME_FORMAT = "{filename}/{instrument}.{codec}"
READ_BLOCK_SAMPLES = 1 << 18
# Frames per model call when separating: Spleeter's predictor uses the presets' T = 512 whatever
# crop a model was trained with, and the segment length alone changes the output.
SEPARATION_FRAMES = 512


def check_segment_frames(params: Params, segment_frames: int) -> int:
    """``segment_frames`` if the configuration's model can take it, else a ConfigurationError."""
    try:
        segment_frames = options.segment_frames(segment_frames)
    except ValueError as error:
        raise ConfigurationError(f"segment_frames {error}") from None
    if params["model"]["type"].startswith("unet.") and segment_frames % 64:
        raise ConfigurationError(
            f"segment_frames must be a multiple of 64 for the U-Net, got {segment_frames}"
        )
    return segment_frames


def check_params_value(params: Any) -> None:
    """``params`` is a preset name, a config path or a config dict (ValueError otherwise)."""
    if not isinstance(params, (str, os.PathLike, dict)) or (isinstance(params, str) and not params):
        raise ValueError(
            f"params must be 'spleeter:<preset>', a JSON config path or a dict, got {params!r}"
        )


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> str:
    """``value`` if it is one of ``allowed``, else a ConfigurationError naming ``name``."""
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ConfigurationError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def check_progress(progress: Any) -> None:
    """``progress``: None or a callable taking the number of samples written."""
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be a callable (n_samples) or None, got {progress!r}")


def _checked_waveform(waveform: Any) -> np.ndarray:
    """``(n_samples, n_channels)`` float audio as float32, or a ValueError saying what is wrong."""
    waveform = np.asarray(waveform)
    if waveform.dtype.kind != "f":
        raise ValueError(
            f"waveform must be float audio in [-1, 1], got {waveform.dtype} (for integer PCM, "
            "divide by 32768 or the type's full scale first)"
        )
    if waveform.ndim not in (1, 2) or (waveform.ndim == 2 and waveform.shape[1] == 0):
        raise ValueError(f"waveform must be (n_samples, n_channels), got shape {waveform.shape}")
    if waveform.ndim == 2 and waveform.shape[0] <= 8 and waveform.shape[1] > 64:
        raise ValueError(
            f"waveform must be (n_samples, n_channels), got shape {waveform.shape}: "
            "it looks like (n_channels, n_samples); pass waveform.T"
        )
    waveform = waveform.astype(np.float32, copy=False)
    found = audio_io.unusable_samples(waveform)
    if found is not None:
        raise ValueError(f"waveform {found[1]} (first at sample {found[0]})")
    return waveform


def _checked_path(name: str, value: Any) -> str:
    return options.checked(name, options.path_value, value)


def _wiener_switch(MWF: Any, mwf: Any) -> bool:
    """The one Wiener-filter switch from Spleeter's ``MWF`` and our earlier ``mwf`` name."""
    MWF = options.checked("MWF", options.strict_bool, MWF)
    if mwf is None:
        return MWF
    mwf = options.checked("mwf", options.strict_bool, mwf)
    if MWF and not mwf:
        raise ValueError("MWF=True and mwf=False contradict each other; give one of them")
    return mwf or MWF


def _stereo_stems(stems: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """A mono model's ``(k, 1)`` estimates -> ``(k, 2)``; stereo ones are returned as they are."""
    return {name: audio_io.to_stereo(block) for name, block in stems.items()}


class Separator:
    """Spleeter separation with a model loaded once.

    The first three parameters are official Spleeter's (``spleeter.separator.Separator``); the
    keyword-only ones are ours.

    Args:
        params_descriptor: ``spleeter:<preset>``, a JSON config path, or a config dict.
        MWF: multichannel Wiener filter (norbert, exact to the song-wide statistics).
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
        MWF: bool = False,  # noqa: N803 (Spleeter's name)
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
        params = params_descriptor
        try:
            check_params_value(params)
            self.mwf = _wiener_switch(MWF, mwf)
            self.multiprocess = options.checked("multiprocess", options.strict_bool, multiprocess)
            if model_dir is not None:
                model_dir = options.checked("model_dir", options.path_value, model_dir)
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        for name, value, allowed in (
            ("device", device, DEVICES),
            ("backend", backend, BACKENDS),
            ("stft_backend", getattr(stft_backend, "value", stft_backend), STFT_BACKENDS),
        ):
            check_choice(name, value, allowed)
        validate_backend(backend)
        self.params = load_configuration(params)
        self.segment_frames = check_segment_frames(
            self.params, SEPARATION_FRAMES if segment_frames is None else segment_frames
        )
        self.chain = replace(SignalChain.from_params(self.params), T=self.segment_frames)
        try:
            self.batch_size = options.batch_size(batch_size)
        except ValueError as error:
            raise ValueError(f"batch_size {error}") from None
        self.device = select_device(device)
        self.weights = pretrained_weights(self.params, model_dir=model_dir)
        # The Paddle model itself is built only when no cached graph serves these weights.
        self._runner = make_runner(
            self.weights, self.params["n_channels"], self.params["F"], self.device, backend
        )
        # One model call at a time, whichever thread asks (no engine is reentrant).
        self._model_lock = threading.Lock()
        self._writer: Optional[ThreadPoolExecutor] = None
        self._tasks: List[Future] = []
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

    def run_model(self, magnitude: np.ndarray) -> np.ndarray:
        """``[B, C, T, F]`` float32 mix magnitudes -> ``[B, N, C, T, F]`` instrument estimates."""
        with self._model_lock:
            return self._runner(magnitude)

    def separate(
        self, waveform: np.ndarray, audio_descriptor: Optional[str] = None
    ) -> Dict[str, np.ndarray]:
        """Separate ``(n_samples, n_channels)`` float audio at :attr:`sample_rate`.

        Returns ``{instrument: (n_samples, 2) float32}``. ``audio_descriptor`` is accepted and
        unused, as in Spleeter.
        """
        waveform = _checked_waveform(waveform)
        stereo = np.ascontiguousarray(audio_io.to_stereo(waveform))
        outputs = {name: np.empty_like(stereo) for name in self.instruments}
        position = [0]

        def sink(blocks: Dict[str, np.ndarray]) -> None:
            length = next(iter(blocks.values())).shape[0]
            for name, block in blocks.items():
                outputs[name][position[0] : position[0] + length] = block
            position[0] += length

        self.separate_blocks(array_blocks(stereo), sink)
        return outputs

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
            for block in blocks:
                yield self._model_channels(audio_io.to_stereo(_checked_waveform(block)))

        stems = stream_blocks(
            self.chain, self.run_model, model_blocks(), self.params["n_channels"],
            self.batch_size, self.overlap,
        )  # fmt: skip
        return (_stereo_stems(outputs) for outputs in stems)

    def _model_channels(self, stereo: np.ndarray) -> np.ndarray:
        """``(m, 2)`` -> ``(m, n_channels)`` of the model, the way its training data was made."""
        return audio_io.to_channels(stereo, self.params["n_channels"])

    def separate_blocks(
        self,
        blocks: Callable[[], Any],
        sink: Callable[[Dict[str, np.ndarray]], None],
        progress: Optional[Callable[[int], None]] = None,
    ) -> int:
        """Streaming form of :meth:`separate` (bounded memory); see ``pipeline.separate_blocks``.

        ``blocks()`` must yield stereo ``(m, 2)`` float32 blocks at :attr:`sample_rate`; ``sink``
        gets stereo ``{instrument: (k, 2)}`` blocks (a mono model's estimate in both channels);
        ``progress`` is called with the number of output samples of each block written.
        """
        check_progress(progress)
        if not callable(blocks) or not callable(sink):
            raise ValueError("blocks and sink must be callables (see pipeline.separate_blocks)")

        def model_blocks() -> Iterator[np.ndarray]:
            for block in blocks():
                yield self._model_channels(block)

        def stereo_sink(outputs: Dict[str, np.ndarray]) -> None:
            outputs = _stereo_stems(outputs)
            sink(outputs)
            if progress is not None:
                progress(next(iter(outputs.values())).shape[0])

        return separate_blocks(
            self.chain,
            self.run_model,
            model_blocks,
            stereo_sink,
            n_channels=self.params["n_channels"],
            batch_size=self.batch_size,
            mwf=self.mwf,
            overlap=self.overlap,
        )

    def output_paths(
        self,
        audio_path: Union[str, Path],
        destination: Union[str, Path],
        codec: str = "wav",
        filename_format: str = DEFAULT_FILENAME_FORMAT,
        instruments: Optional[Iterable[str]] = None,
    ) -> Dict[str, Path]:
        """Where each instrument of ``audio_path`` goes (see ``outputs.output_paths``)."""
        names = self.instruments if instruments is None else list(instruments)
        return outputs.output_paths(names, audio_path, destination, codec, filename_format)

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
        Returns ``{instrument: output path}``. Raises :class:`AudioError`.
        """
        audio_path, destination = (
            _checked_path(name, value)
            for name, value in (
                ("audio_descriptor", audio_descriptor),
                ("destination", destination),
            )
        )
        codec, bitrate, subtype, offset, duration = check_file_options(
            getattr(codec, "value", codec), bitrate, subtype, offset, duration, self.sample_rate
        )
        check_progress(progress)
        overwrite = options.checked("overwrite", options.strict_bool, overwrite)
        synchronous = options.checked("synchronous", options.strict_bool, synchronous)
        adapter = custom_adapter(audio_adapter)
        if source is not None and (
            not isinstance(source, audio_io.AudioSource) or source.path != audio_path
        ):
            raise ValueError(f"source must be audio_io.probe({audio_path!r}), got {source!r}")
        paths = self.output_paths(audio_path, destination, codec, filename_format)
        outputs.check_not_inputs({audio_path: paths}, [audio_path])
        if adapter is None and (synchronous or not self.multiprocess):
            if source is None:
                source = audio_io.probe(audio_path)  # fail early, before any output exists
            with outputs.output_lock(paths.values(), audio_path):
                for name, path in paths.items():
                    outputs.check_replaceable(path, name, audio_path, overwrite)
                self._write_stems(
                    source, paths, codec, bitrate, offset, duration, subtype, progress
                )
            return paths
        if adapter is None:
            waveform, _ = audio_io.load(audio_path, offset, duration, self.sample_rate)
        else:
            waveform, _ = adapter.load(
                audio_path, offset=offset, duration=duration, sample_rate=self.sample_rate
            )
        stems = self.separate(waveform)
        if progress is not None:
            progress(len(waveform))
        write = _StemFiles(paths, audio_path, codec, bitrate, subtype, adapter, overwrite)
        self._submit(lambda: write(self.sample_rate, stems), synchronous)
        return paths

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
        audio_path, destination = (
            _checked_path(name, value)
            for name, value in (
                ("audio_descriptor", audio_descriptor),
                ("destination", destination),
            )
        )
        codec, bitrate, subtype, _, _ = check_file_options(
            getattr(codec, "value", codec), bitrate, subtype, 0.0, None, self.sample_rate
        )
        overwrite = options.checked("overwrite", options.strict_bool, overwrite)
        synchronous = options.checked("synchronous", options.strict_bool, synchronous)
        adapter = custom_adapter(audio_adapter)
        if not isinstance(sources, dict) or not sources:
            raise ValueError(
                f"sources must be a non-empty dict {{instrument: waveform}}, got {sources!r}"
            )
        try:
            stems = {str(name): _checked_waveform(data) for name, data in sources.items()}
        except ValueError as error:
            raise ValueError(f"sources {error}") from None
        paths = self.output_paths(audio_path, destination, codec, filename_format, stems)
        outputs.check_not_inputs({audio_path: paths}, [audio_path])
        write = _StemFiles(paths, audio_path, codec, bitrate, subtype, adapter, overwrite)
        self._submit(lambda: write(self.sample_rate, stems), synchronous)
        return paths

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
        codec: str,
        bitrate: str,
        offset_s: float,
        duration_s: Optional[float],
        subtype: str,
        progress: Optional[Callable[[int], None]],
    ) -> None:
        """Stream ``source`` through the model into temporary files renamed to ``paths``."""

        def blocks():
            for block in audio_io.stream(
                source, READ_BLOCK_SAMPLES, self.sample_rate, offset_s, duration_s
            ):
                yield audio_io.to_stereo(block)

        def separate(sink: Callable[[Dict[str, np.ndarray]], None]) -> int:
            return self.separate_blocks(blocks, sink, progress)

        write_stem_files(paths, source.path, self.sample_rate, codec, bitrate, subtype, separate)


def _log_failure(task: Future) -> None:
    """A background write's error is logged when it happens (a script may never join)."""
    error = task.exception()
    if error is not None:
        logger.error("background write failed: %s", error)


def write_stem_files(
    paths: Dict[str, Path],
    audio_path: str,
    sample_rate: int,
    codec: str,
    bitrate: str,
    subtype: str,
    produce: Callable[[Callable[[Dict[str, np.ndarray]], None]], int],
) -> None:
    """``produce(sink)`` feeds ``{instrument: (k, 2)}`` blocks to temporary files (tagged as
    stems of ``audio_path``) and returns the samples written; they are renamed to ``paths`` only
    when every stem is complete, so a song's stems stay together. Any failure removes them."""
    writers = {}
    try:
        for name, path in paths.items():
            writers[name] = StreamWriter(
                path, sample_rate, 2, codec, bitrate, subtype,
                comment=outputs.stem_tag(name, audio_path),
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


class _StemFiles:
    """Writes separated stems (arrays) to their paths under the folder lock, with this library's
    writer (tagged, atomic) or a user's :class:`AudioAdapter` (its ``save``)."""

    def __init__(self, paths, audio_path, codec, bitrate, subtype, adapter, overwrite):
        self.paths, self.audio_path, self.adapter = paths, audio_path, adapter
        self.codec, self.bitrate, self.subtype, self.overwrite = codec, bitrate, subtype, overwrite

    def __call__(self, sample_rate: int, stems: Dict[str, np.ndarray]) -> None:
        with outputs.output_lock(self.paths.values(), self.audio_path):
            for name, path in self.paths.items():
                outputs.check_replaceable(path, name, self.audio_path, self.overwrite)
            if self.adapter is not None:
                for name, path in self.paths.items():
                    self.adapter.save(str(path), stems[name], sample_rate, self.codec, self.bitrate)
                return

            def produce(sink: Callable[[Dict[str, np.ndarray]], None]) -> int:
                sink({name: audio_io.to_stereo(data) for name, data in stems.items()})
                return len(next(iter(stems.values())))

            write_stem_files(
                self.paths, self.audio_path, sample_rate, self.codec, self.bitrate,
                self.subtype, produce,
            )  # fmt: skip
