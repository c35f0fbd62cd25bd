"""The public ``Separator``: load a model once, separate waveforms or files, segment by segment.

>>> separator = Separator("spleeter:2stems")
>>> stems = separator.separate(waveform)          # (n, channels) float32 at 44.1 kHz
>>> stems["vocals"].shape                          # (n, 2)
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Union

import numpy as np

from .. import options
from ..audio import io as audio_io
from ..audio.writer import StreamWriter
from ..configuration import Params, load_configuration
from ..devices import select_device
from ..errors import AudioError, ConfigurationError
from ..pretrained.weights import pretrained_weights
from ..vocab import BACKENDS, DEVICES
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


def _stereo_stems(stems: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """A mono model's ``(k, 1)`` estimates -> ``(k, 2)``; stereo ones are returned as they are."""
    return {name: audio_io.to_stereo(block) for name, block in stems.items()}


class Separator:
    """Spleeter separation with a model loaded once.

    Args:
        params: ``spleeter:<preset>``, a JSON config path, or a config dict.
        mwf: multichannel Wiener filter (norbert, exact to the song-wide statistics).
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
        params: Union[str, Path, Params] = "spleeter:2stems",
        mwf: bool = False,
        device: str = "auto",
        model_dir: Union[str, Path, None] = None,
        backend: str = "auto",
        batch_size: int = 1,
        segment_frames: Optional[int] = None,
    ):
        try:
            check_params_value(params)
            self.mwf = options.checked("mwf", options.strict_bool, mwf)
            if model_dir is not None:
                model_dir = options.checked("model_dir", options.path_value, model_dir)
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        for name, value, allowed in (("device", device, DEVICES), ("backend", backend, BACKENDS)):
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
        return self._runner(magnitude)

    def separate(self, waveform: np.ndarray) -> Dict[str, np.ndarray]:
        """Separate ``(n_samples, n_channels)`` float32 audio at :attr:`sample_rate`.

        Returns ``{instrument: (n_samples, 2) float32}``.
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
    ) -> Dict[str, Path]:
        """Where each instrument of ``audio_path`` goes (see ``outputs.output_paths``)."""
        return outputs.output_paths(
            self.instruments, audio_path, destination, codec, filename_format
        )

    def separate_to_file(
        self,
        audio_path: Union[str, Path],
        destination: Union[str, Path],
        codec: str = "wav",
        bitrate: str = "128k",
        offset_s: float = 0.0,
        duration_s: Optional[float] = None,
        filename_format: str = DEFAULT_FILENAME_FORMAT,
        subtype: str = "PCM_16",
        progress: Optional[Callable[[int], None]] = None,
        overwrite: bool = False,
        source: Optional[audio_io.AudioSource] = None,
    ) -> Dict[str, Path]:
        """Separate a file into one file per instrument, streaming (memory does not grow with
        length). Outputs are written to temporary names and renamed only when all succeeded.

        An existing file at an output path is replaced only when it is an earlier stem of this
        instrument and input written by this tool (its tag), or with ``overwrite``; the input
        itself never is. ``source``: ``audio_io.probe(audio_path)`` when the caller already has
        it (probing a file ffmpeg decodes costs ~70 ms). Returns ``{instrument: output path}``.
        Raises :class:`AudioError`.
        """
        audio_path, destination = (
            _checked_path(name, value)
            for name, value in (("audio_path", audio_path), ("destination", destination))
        )
        codec, bitrate, subtype, offset_s, duration_s = check_file_options(
            codec,
            bitrate,
            subtype,
            offset_s,
            duration_s,
            self.sample_rate,
            ("offset_s", "duration_s"),
        )
        check_progress(progress)
        overwrite = options.checked("overwrite", options.strict_bool, overwrite)
        if source is not None and (
            not isinstance(source, audio_io.AudioSource) or source.path != audio_path
        ):
            raise ValueError(f"source must be audio_io.probe({audio_path!r}), got {source!r}")
        paths = self.output_paths(audio_path, destination, codec, filename_format)
        outputs.check_not_inputs({audio_path: paths}, [audio_path])
        if source is None:
            source = audio_io.probe(audio_path)  # fail early, before any output exists
        with outputs.output_lock(paths.values(), audio_path):
            for name, path in paths.items():
                outputs.check_replaceable(path, name, audio_path, overwrite)
            self._write_stems(
                source, paths, codec, bitrate, offset_s, duration_s, subtype, progress
            )
        return paths

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
        audio_path = source.path

        def blocks():
            for block in audio_io.stream(
                source, READ_BLOCK_SAMPLES, self.sample_rate, offset_s, duration_s
            ):
                yield audio_io.to_stereo(block)

        writers = {}
        try:
            for name, path in paths.items():
                writers[name] = StreamWriter(
                    path, self.sample_rate, 2, codec, bitrate, subtype,
                    comment=outputs.stem_tag(name, audio_path),
                )  # fmt: skip

            def sink(stems: Dict[str, np.ndarray]) -> None:
                for name, block in stems.items():
                    writers[name].write(block)

            n_samples = self.separate_blocks(blocks, sink, progress)
            if n_samples == 0:
                raise AudioError(f"{audio_path}: no audio samples to separate")
            # All stems complete before any replaces an earlier one: a song's stems stay together.
            for writer in writers.values():
                writer.finish()
            for writer in writers.values():
                writer.close()
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise
