"""The public ``Separator``: load a model once, separate waveforms or files, segment by segment.

>>> separator = Separator("spleeter:2stems")
>>> stems = separator.separate(waveform)          # (n, channels) float32 at 44.1 kHz
>>> stems["vocals"].shape                          # (n, 2)
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Union

import numpy as np

from ..audio import io as audio_io
from ..configuration import Params
from ..devices import select_device
from ..graph.cache import make_runner
from ..pretrained.weights import pretrained_weights
from .arguments import (
    SeparatorSettings,
    check_progress,
    checked_waveform,
    separator_settings,
    spleeter_setting,
)
from .files import SpleeterFileMethods
from .pipeline import SignalChain, array_blocks, separate_blocks, stream_blocks

logger = logging.getLogger(__name__)


class Separator(SpleeterFileMethods):
    """Spleeter separation with a model loaded once.

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

    def evaluation_setting(self) -> Dict[str, Any]:
        """:func:`spleeter_setting` of this separator (builds no model)."""
        return spleeter_setting(self.params, self.weights.state_digest(), self.mwf, self.chain.T)

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
        waveform = checked_waveform(waveform)
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
            position = 0  # samples of the stream so far: a problem is placed in the stream
            for index, block in enumerate(blocks):
                try:
                    checked = checked_waveform(block)
                except ValueError as error:
                    found = audio_io.unusable_samples(np.asarray(block))
                    if found is None:
                        raise ValueError(f"block {index}: {error}") from None
                    raise ValueError(
                        f"block {index}: waveform {found[1]} (first at sample "
                        f"{position + found[0]} of the stream)"
                    ) from None
                position += len(checked)
                yield self._model_channels(audio_io.to_stereo(checked))

        stems = stream_blocks(
            self.chain, self.run_model, model_blocks(), self.params["n_channels"],
            self.batch_size, self.overlap,
        )  # fmt: skip
        return (
            {name: audio_io.to_stereo(block) for name, block in outputs.items()}
            for outputs in stems
        )

    def _model_channels(self, stereo: np.ndarray) -> np.ndarray:
        """``(m, 2)`` -> ``(m, n_channels)`` of the model, the way its training data was made."""
        return audio_io.to_channels(stereo, self.params["n_channels"])

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

        def model_blocks() -> Iterator[np.ndarray]:
            for block in blocks():
                yield self._model_channels(block)

        def stereo_sink(outputs: Dict[str, np.ndarray]) -> None:
            outputs = {name: audio_io.to_stereo(block) for name, block in outputs.items()}
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
            analysed=analysis_progress,
        )
