"""Segment-by-segment separation with bounded memory, numerically equal to Spleeter's whole graph.

Spleeter prepends ``frame_length`` zeros, takes an STFT with end padding, cuts it into
independent T-frame segments, and overlap-adds the masked iSTFT. Segment ``k`` needs padded
samples ``[k*T*hop, k*T*hop + T*hop + frame_length - hop)``, and its overlap-add finishes padded
samples ``[k*T*hop, (k+1)*T*hop)``; so a song streams through in segments with a
``frame_length - hop`` sample tail carried over, and memory depends on the batch, not the song.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from itertools import islice
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..audio.spectrogram import n_frames_padded, overlap_add_frames, stft_frames
from .masks import WienerFilter, extend_masks, ratio_masks

# magnitude [B, C, T, F] float32 -> estimates [B, N, C, T, F] float32
ModelFunction = Callable[[np.ndarray], np.ndarray]
# receives consecutive output blocks {instrument: (m, C) float32}
Sink = Callable[[Dict[str, np.ndarray]], None]


@dataclass(frozen=True)
class SignalChain:
    """The numbers of Spleeter's predict path, from a configuration."""

    instruments: Sequence[str]
    frame_length: int = 4096
    frame_step: int = 1024
    T: int = 512
    F: int = 1024
    separation_exponent: float = 2.0
    mask_extension: str = "zeros"

    @classmethod
    def from_params(cls, params: dict) -> SignalChain:
        numbers = {field.name: params[field.name] for field in fields(cls)[1:]}
        return cls(instruments=tuple(params["instrument_list"]), **numbers)

    @property
    def n_bins(self) -> int:
        return self.frame_length // 2 + 1

    @property
    def segment_samples(self) -> int:
        """Padded samples a segment finishes: ``T * frame_step``."""
        return self.T * self.frame_step

    @property
    def window_samples(self) -> int:
        """Padded samples a segment's STFT reads."""
        return self.segment_samples + self.frame_length - self.frame_step


class PaddedSignal:
    """Windows of ``frame_length`` zeros + the waveform + zeros, read forward from blocks.

    ``blocks`` yields ``(m, C)`` float32 arrays; the total length is known once they run out.
    """

    def __init__(self, blocks: Iterable[np.ndarray], n_channels: int, lead_samples: int):
        self._blocks = iter(blocks)
        self._buffer = np.zeros((n_channels, lead_samples), dtype=np.float32)
        self._buffer_start = 0  # padded index of _buffer[:, 0]
        self._received = 0
        self.exhausted = False

    @property
    def n_samples(self) -> Optional[int]:
        """Waveform length once the blocks are exhausted, else None."""
        return self._received if self.exhausted else None

    def window(self, start: int, length: int) -> np.ndarray:
        """Padded samples ``[start, start + length)`` as ``(C, length)``; earlier ones are dropped."""
        end = start + length
        pieces: List[np.ndarray] = [self._buffer]
        buffered_end = self._buffer_start + self._buffer.shape[1]
        while buffered_end < end and not self.exhausted:
            try:
                block = next(self._blocks)
            except StopIteration:
                self.exhausted = True
                break
            block = np.asarray(block, dtype=np.float32).T
            pieces.append(block)
            buffered_end += block.shape[1]
            self._received += block.shape[1]
        buffer = np.concatenate(pieces, axis=1) if len(pieces) > 1 else self._buffer
        offset = start - self._buffer_start
        self._buffer = buffer[:, offset:]
        self._buffer_start = start
        out = self._buffer[:, :length]
        if out.shape[1] < length:
            out = np.pad(out, ((0, 0), (0, length - out.shape[1])))
        return out


def _stft_segments(chain: SignalChain, signal: PaddedSignal) -> Iterator[np.ndarray]:
    """Yields each segment's STFT ``(C, T, n_bins)`` complex64 until the song's frames are covered."""
    index = 0
    while True:
        start = index * chain.segment_samples
        window = signal.window(start, chain.window_samples)
        n_samples = signal.n_samples
        if n_samples is not None:
            n_frames = n_frames_padded(n_samples, chain.frame_length, chain.frame_step)
            if index * chain.T >= n_frames:
                return
        yield stft_frames(window, chain.T, chain.frame_length, chain.frame_step)
        index += 1


def _model_estimates(
    chain: SignalChain, model: ModelFunction, batch: List[np.ndarray]
) -> np.ndarray:
    """``[B, N, C, T, F]`` estimates for a batch of segment STFTs."""
    magnitude = np.abs(np.stack([segment[:, :, : chain.F] for segment in batch]))
    return np.asarray(model(magnitude), dtype=np.float32)


def _estimated_segments(
    chain: SignalChain, model: ModelFunction, signal: PaddedSignal, batch_size: int, overlap: bool
) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Yields ``(segment STFT, estimates [N, C, T, F])`` per segment, in order; the model runs
    on ``batch_size`` segments at a time.

    With ``overlap`` the model of batch k+1 runs on a worker thread while the caller consumes
    batch k (Paddle, FFTs and large numpy operations release the GIL).
    """
    segments = _stft_segments(chain, signal)
    batches = iter(lambda: list(islice(segments, batch_size)), [])
    if not overlap:
        for batch in batches:
            yield from zip(batch, _model_estimates(chain, model, batch))
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="spleeter-model") as pool:
        pending: Optional[Tuple[List[np.ndarray], Future]] = None
        for batch in batches:
            future = pool.submit(_model_estimates, chain, model, batch)
            if pending is not None:
                yield from zip(pending[0], pending[1].result())
            pending = (batch, future)
        if pending is not None:
            yield from zip(pending[0], pending[1].result())


class _OverlapAdd:
    """Per-instrument overlap-add that emits finished samples, cropped to the waveform."""

    def __init__(self, chain: SignalChain, signal: PaddedSignal, sink: Sink):
        self.chain, self.signal, self.sink = chain, signal, sink
        self.tails: Dict[str, np.ndarray] = {}
        self.emitted = 0  # waveform samples already given to the sink

    def add(self, index: int, spectra: Dict[str, np.ndarray]) -> None:
        """``spectra``: instrument -> ``(C, T, n_bins)`` complex64 for segment ``index``."""
        chain = self.chain
        overlap = chain.frame_length - chain.frame_step
        finished: Dict[str, np.ndarray] = {}
        for name, spectrum in spectra.items():
            samples = overlap_add_frames(spectrum, chain.frame_length, chain.frame_step)
            if name in self.tails:
                samples[:, :overlap] += self.tails[name]
            self.tails[name] = samples[:, chain.segment_samples :].copy()
            finished[name] = samples[:, : chain.segment_samples].T
        # Padded index p is waveform sample p - frame_length.
        start = index * chain.segment_samples - chain.frame_length
        end = start + chain.segment_samples
        if self.signal.n_samples is not None:
            end = min(end, self.signal.n_samples)
        begin = max(start, self.emitted)
        if end <= begin:
            return
        self.sink(
            {name: samples[begin - start : end - start] for name, samples in finished.items()}
        )
        self.emitted = end


def _masked_spectra(
    chain: SignalChain, estimates: np.ndarray, stft: np.ndarray
) -> Dict[str, np.ndarray]:
    """Ratio-masked STFTs of one segment: estimates ``[N, C, T, F]``, stft ``(C, T, bins)``."""
    masks = ratio_masks(estimates, chain.separation_exponent, axis=0)
    spectra = {}
    for mask, name in zip(masks, chain.instruments):
        if chain.mask_extension == "zeros":  # only the F modelled bins are non-zero
            spectrum = np.zeros(stft.shape, dtype=np.complex64)
            np.multiply(mask, stft[..., : chain.F], out=spectrum[..., : chain.F])
        else:
            spectrum = extend_masks(mask, chain.n_bins, chain.mask_extension, axis=-1) * stft
        spectra[name] = spectrum
    return spectra


def _wiener_inputs(chain: SignalChain, estimates: np.ndarray) -> np.ndarray:
    """Estimates ``[N, C, T, F]`` -> norbert's ``v``: ``(T, bins, C, N)``, zero above F."""
    v = np.zeros((chain.T, chain.n_bins, estimates.shape[1], estimates.shape[0]), dtype=np.float32)
    v[:, : chain.F] = estimates.transpose(2, 3, 1, 0)
    return v


def separate_blocks(
    chain: SignalChain,
    model: ModelFunction,
    blocks: Callable[[], Iterable[np.ndarray]],
    sink: Sink,
    n_channels: int = 2,
    batch_size: int = 1,
    mwf: bool = False,
    overlap: bool = True,
    analysed: Optional[Callable[[int], None]] = None,
) -> int:
    """Separate a waveform given as blocks; returns its length in samples.

    Args:
        blocks: returns a fresh iterable of ``(m, C)`` float32 blocks (called twice for ``mwf``:
            the Wiener filter needs song-wide statistics before it can filter any segment).
        sink: receives consecutive ``{instrument: (m, C) float32}`` output blocks.
        overlap: run the model on a worker thread, one batch ahead of the STFT/mask/iSTFT work
            of the main thread (same numbers; the model must accept calls from another thread).
        analysed: with ``mwf``, called with the input samples of each segment the first pass
            (statistics) has run the model on, before any output exists.
    """
    if not mwf:
        n_samples = 0
        for outputs in stream_blocks(chain, model, blocks(), n_channels, batch_size, overlap):
            sink(outputs)
            n_samples += next(iter(outputs.values())).shape[0]
        return n_samples
    wiener = WienerFilter()
    # Pass 1: model outputs go to a temporary file (bounded memory), statistics accumulate.
    with tempfile.TemporaryFile(prefix="spleeter-paddle-mwf-") as store:
        signal = PaddedSignal(blocks(), n_channels, chain.frame_length)
        n_segments = 0
        for stft, estimates in _estimated_segments(chain, model, signal, batch_size, overlap):
            wiener.accumulate(_wiener_inputs(chain, estimates), stft.transpose(1, 2, 0))
            store.write(np.ascontiguousarray(estimates).tobytes())
            n_segments += 1
            if analysed is not None:
                analysed(chain.segment_samples)
        shape = (len(chain.instruments), n_channels, chain.T, chain.F)
        store.seek(0)
        # Pass 2: filter each segment with the song-wide statistics.
        signal = PaddedSignal(blocks(), n_channels, chain.frame_length)
        overlap_add = _OverlapAdd(chain, signal, sink)
        for index, stft in enumerate(_stft_segments(chain, signal)):
            if index >= n_segments:
                break
            raw = store.read(int(np.prod(shape)) * 4)
            estimates = np.frombuffer(raw, dtype=np.float32).reshape(shape)
            filtered = wiener.apply(_wiener_inputs(chain, estimates), stft.transpose(1, 2, 0))
            overlap_add.add(
                index,
                {
                    name: filtered[..., i].transpose(2, 0, 1)
                    for i, name in enumerate(chain.instruments)
                },
            )
        return signal.n_samples or 0


def stream_blocks(
    chain: SignalChain,
    model: ModelFunction,
    blocks: Iterable[np.ndarray],
    n_channels: int = 2,
    batch_size: int = 1,
    overlap: bool = False,
) -> Iterator[Dict[str, np.ndarray]]:
    """Generator form of :func:`separate_blocks` without the Wiener filter.

    Consumes ``(m, C)`` float32 blocks and yields consecutive ``{instrument: (k, C) float32}``
    blocks as soon as each segment is finished: the first after ``T * frame_step`` input
    samples (plus one frame), then one per segment; concatenated they equal the whole-song output.
    """
    ready: List[Dict[str, np.ndarray]] = []
    signal = PaddedSignal(blocks, n_channels, chain.frame_length)
    overlap_add = _OverlapAdd(chain, signal, ready.append)
    segments = _estimated_segments(chain, model, signal, batch_size, overlap)
    for index, (stft, estimates) in enumerate(segments):
        overlap_add.add(index, _masked_spectra(chain, estimates, stft))
        yield from ready
        ready.clear()


def array_blocks(
    waveform: np.ndarray, block_samples: int = 1 << 18
) -> Callable[[], Iterator[np.ndarray]]:
    """A re-iterable block source over an in-memory ``(n, C)`` waveform."""

    def blocks() -> Iterator[np.ndarray]:
        for start in range(0, waveform.shape[0], block_samples):
            yield waveform[start : start + block_samples]

    return blocks
