"""The project's audio I/O: probe, load, stream, save and stream-write files, resampling with soxr.

wav/flac/ogg/mp3 go through libsndfile (``soundfile``); m4a/wma/mp4 stems and anything libsndfile
cannot read use ffmpeg (``audio/ffmpeg.py``). Waveforms are ``(n_samples, n_channels)`` float.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from typing import Iterable, Iterator, NamedTuple, Optional, Union

import numpy as np
import soundfile as sf
import soxr

from ..errors import AudioError
from . import ffmpeg

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

CODECS = ("wav", "mp3", "ogg", "m4a", "wma", "flac")  # Spleeter's Codec enum
SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")

# codec -> (libsndfile format, subtype of the lossy ones; wav/flac take the caller's subtype)
_SOUNDFILE_FORMATS = {
    "wav": ("WAV", None),
    "flac": ("FLAC", None),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}
# libsndfile reads these natively: failing there means a bad file, not a missing ffmpeg.
_NATIVE_EXTENSIONS = {".wav", ".wave", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".w64"}
_MP3_FRAME = 1152  # a missing tail shorter than two MP3 frames is the decoder's length estimate
_RESAMPLE_QUALITY = "HQ"  # = librosa's res_type='soxr_hq'
# Vorbis nominal bitrates (44.1 kHz stereo) per quality step, for the bitrate -> quality mapping.
_VORBIS_KBPS = (64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 500)


class AudioInfo(NamedTuple):
    """What a file holds. ``n_samples`` is exact, or None when only decoding would tell (ffmpeg)."""

    sample_rate: int
    n_channels: int
    n_samples: Optional[int]
    duration_s: Optional[float]
    format: str  # libsndfile's format ('wav', 'flac', 'ogg', 'mp3') or ffprobe's codec ('aac')
    n_streams: int = 1  # audio streams in the file (> 1 for stem files)


class _Source(NamedTuple):
    path: str
    info: AudioInfo
    backend: str  # "soundfile" or "ffmpeg"
    stream_index: int


def _seconds(value: float) -> str:
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _libsndfile_problem(error: Exception) -> str:
    return _one_line(re.sub(r"^Error opening '.*?': ", "", str(error))).rstrip(".")


def _unwritable(name: str, error: OSError) -> AudioError:
    if isinstance(error, (FileExistsError, NotADirectoryError)):
        return AudioError(f"{name}: cannot write here, a parent path is not a directory")
    return AudioError(f"{name}: cannot write here ({error.strerror or error})")


# ----------------------------------------------------------------------------- reading


def _probe(path: PathLike, stream_index: int = 0) -> _Source:
    name = os.fspath(path)
    if not os.path.exists(name):
        raise AudioError(f"{name}: no such file")
    if os.path.isdir(name):
        raise AudioError(f"{name}: is a directory, not an audio file")
    if os.path.getsize(name) == 0:
        raise AudioError(f"{name}: file is empty (0 bytes)")
    if not os.access(name, os.R_OK):
        raise AudioError(f"{name}: permission denied")
    try:
        info = sf.info(name)
    except RuntimeError as error:  # soundfile.LibsndfileError
        problem = _libsndfile_problem(error)
    else:
        if stream_index != 0:
            raise AudioError(f"{name}: has one audio stream, there is no stream {stream_index}")
        _check_wav_length(name, info)
        duration_s = info.frames / info.samplerate
        audio = AudioInfo(
            info.samplerate, info.channels, info.frames, duration_s, info.format.lower()
        )
        return _Source(name, audio, "soundfile", 0)
    extension = os.path.splitext(name)[1].lower()
    if not ffmpeg.can_decode():
        if extension in _NATIVE_EXTENSIONS and (
            extension != ".mp3" or "MP3" in sf.available_formats()
        ):
            raise AudioError(
                f"{name}: cannot decode, the file is corrupt, truncated or not audio ({problem})"
            )
        raise ffmpeg.missing_error(name, f"reading '{extension or name}' files")
    stream = ffmpeg.probe(name, stream_index, problem)
    audio = AudioInfo(
        stream.sample_rate,
        stream.n_channels,
        None,
        stream.duration_s,
        stream.codec,
        stream.n_streams,
    )
    return _Source(name, audio, "ffmpeg", stream_index)


def _check_wav_length(name: str, info) -> None:
    """libsndfile silently shortens a WAV whose data chunk is cut off; we call that truncated."""
    match = re.search(r"^data : (\d+) \(should be (\d+)\)", info.extra_info or "", re.MULTILINE)
    if match is None:
        return
    declared, present = int(match.group(1)), int(match.group(2))
    if 0 < declared < 0xFFFFFFFF and present < declared:  # 0 and 2^32-1: streaming writers' sizes
        raise AudioError(
            f"{name}: file is truncated (header declares {declared} data bytes, file holds {present})"
        )


def _frame_range(source: _Source, offset_s: float, duration_s: Optional[float]):
    """``(start, n_frames | None)`` in file frames; seconds are rounded to the nearest frame."""
    if offset_s < 0:
        raise ValueError(f"offset_s must be >= 0, got {offset_s}")
    if duration_s is not None and duration_s <= 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    rate, n_total = source.info.sample_rate, source.info.n_samples
    start = int(round(offset_s * rate))
    if n_total is not None and start >= n_total:  # ffmpeg sources find out while decoding
        raise _past_end(source, start, n_total)
    return start, None if duration_s is None else max(1, int(round(duration_s * rate)))


def _past_end(source: _Source, start: int, n_total: int) -> AudioError:
    if n_total == 0:
        return AudioError(f"{source.path}: contains no audio samples")
    offset, end = (
        _seconds(start / source.info.sample_rate),
        _seconds(n_total / source.info.sample_rate),
    )
    return AudioError(f"{source.path}: offset {offset} s is beyond the end ({end} s)")


def _soundfile_frames(
    source: _Source, start: int, n_frames: Optional[int], block_frames: int, dtype
) -> Iterator[np.ndarray]:
    n_total = source.info.n_samples
    expected = n_total - start if n_frames is None else min(n_frames, n_total - start)
    remaining = expected
    try:
        with sf.SoundFile(source.path) as audio_file:
            if start:
                audio_file.seek(start)
            while remaining > 0:
                block = audio_file.read(min(block_frames, remaining), dtype=dtype, always_2d=True)
                if len(block) == 0:
                    break
                remaining -= len(block)
                yield block
    except RuntimeError as error:  # soundfile.LibsndfileError: the decoder gave up mid-file
        raise AudioError(
            f"{source.path}: cannot decode, the file is corrupt or truncated ({_libsndfile_problem(error)})"
        ) from error
    tolerance = 2 * _MP3_FRAME if source.info.format == "mp3" else 0
    if remaining > tolerance:
        raise AudioError(
            f"{source.path}: file is truncated (decoded {expected - remaining} of {expected} samples)"
        )


def _ffmpeg_frames(
    source: _Source, start: int, n_frames: Optional[int], block_frames: int
) -> Iterator[np.ndarray]:
    """ffmpeg's blocks; a file that ends before ``start`` is reported like in ``_frame_range``."""
    info = source.info
    n_decoded = yield from ffmpeg.decode(
        source.path, source.stream_index, info.n_channels, info.sample_rate,
        start, n_frames, block_frames,
    )  # fmt: skip
    if n_decoded <= start:
        raise _past_end(source, start, n_decoded)


def _native_frames(
    source: _Source, start: int, n_frames: Optional[int], block_frames: int, dtype=np.float32
) -> Iterator[np.ndarray]:
    """Consecutive ``(n, n_channels)`` blocks at the file's rate, ``block_frames`` each but the last."""
    if source.backend == "soundfile":
        return _soundfile_frames(source, start, n_frames, block_frames, dtype)
    return _ffmpeg_frames(source, start, n_frames, block_frames)


def audio_info(path: PathLike) -> AudioInfo:
    """Sample rate, channels, length and format of ``path`` (its first audio stream)."""
    return _probe(path).info


def resample(waveform: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """soxr HQ resampling of ``(n_samples, n_channels)`` to ``(ceil(n * target / rate), n_channels)``.

    Numerically identical to ``librosa.resample(waveform.T, res_type='soxr_hq').T`` (same soxr
    call, same zero-padding to the ceil length) without librosa's slow first import.
    """
    if sample_rate == target_rate:
        return waveform
    n_target = int(np.ceil(len(waveform) * (float(target_rate) / sample_rate)))
    resampled = soxr.resample(waveform, sample_rate, target_rate, quality=_RESAMPLE_QUALITY)
    if len(resampled) < n_target:
        padding = np.zeros((n_target - len(resampled), waveform.shape[1]), resampled.dtype)
        resampled = np.concatenate([resampled, padding])
    return np.ascontiguousarray(resampled[:n_target], dtype=waveform.dtype)


def load(
    path: PathLike,
    offset_s: float = 0.0,
    duration_s: Optional[float] = None,
    sample_rate: Optional[int] = None,
    dtype=np.float32,
    stream_index: int = 0,
) -> tuple[np.ndarray, int]:
    """Read ``path`` into ``(waveform (n_samples, n_channels) dtype, sample_rate)``.

    ``offset_s``/``duration_s`` select frames at the file's own rate (rounded to the nearest
    frame; a duration past the end stops at the end), then the selection is resampled to
    ``sample_rate`` if given. Channels are returned as stored (see ``to_stereo``).
    ``stream_index`` picks an audio stream of a multi-stream file (stems; ffmpeg only).
    """
    source = _probe(path, stream_index)
    rate = source.info.sample_rate
    start, n_frames = _frame_range(source, offset_s, duration_s)
    block_frames = (
        max(1, source.info.n_samples or 0) if source.backend == "soundfile" else ffmpeg.READ_BLOCK
    )
    blocks = list(_native_frames(source, start, n_frames, block_frames, dtype))
    waveform = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    waveform = np.ascontiguousarray(waveform, dtype=dtype)
    if sample_rate is not None and sample_rate != rate:
        return resample(waveform, rate, int(sample_rate)), int(sample_rate)
    return waveform, rate


def _rebuffer(blocks: Iterable[np.ndarray], block_frames: int) -> Iterator[np.ndarray]:
    pending: list[np.ndarray] = []
    n_pending = 0
    for block in blocks:
        pending.append(block)
        n_pending += len(block)
        if n_pending >= block_frames:
            joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
            n_whole = len(joined) - len(joined) % block_frames
            for begin in range(0, n_whole, block_frames):
                yield joined[begin : begin + block_frames]
            pending, n_pending = [joined[n_whole:]], len(joined) - n_whole
    if n_pending:
        yield np.concatenate(pending)


def _resample_stream(
    blocks: Iterable[np.ndarray], sample_rate: int, target_rate: int, n_channels: int
) -> Iterator[np.ndarray]:
    """Streaming soxr HQ; the concatenated output equals ``resample`` of the concatenated input."""
    resampler = soxr.ResampleStream(
        sample_rate, target_rate, n_channels, "float32", _RESAMPLE_QUALITY
    )
    n_in = n_out = 0
    for block in blocks:
        n_in += len(block)
        out = resampler.resample_chunk(np.ascontiguousarray(block, dtype=np.float32))
        n_out += len(out)
        if len(out):
            yield out
    tail = resampler.resample_chunk(np.zeros((0, n_channels), np.float32), last=True)
    n_target = int(np.ceil(n_in * (float(target_rate) / sample_rate)))
    tail = tail[: max(0, n_target - n_out)]
    if n_out + len(tail) < n_target:
        tail = np.concatenate(
            [tail, np.zeros((n_target - n_out - len(tail), n_channels), np.float32)]
        )
    if len(tail):
        yield tail


def stream(
    path: PathLike,
    block_frames: int,
    sample_rate: Optional[int] = None,
    offset_s: float = 0.0,
    duration_s: Optional[float] = None,
    stream_index: int = 0,
) -> Iterator[np.ndarray]:
    """Iterate over ``path`` in ``(block_frames, n_channels)`` float32 blocks (the last may be shorter).

    Same selection and values as ``load`` (``block_frames`` counts frames at the output rate),
    with memory bounded by the block size: resampling uses a streaming soxr resampler.
    The file is probed now (errors raise here); decoding errors raise during iteration.
    """
    if block_frames < 1:
        raise ValueError(f"block_frames must be >= 1, got {block_frames}")
    source = _probe(path, stream_index)
    rate, n_channels = source.info.sample_rate, source.info.n_channels
    start, n_frames = _frame_range(source, offset_s, duration_s)
    blocks = _native_frames(source, start, n_frames, block_frames)
    if sample_rate is not None and sample_rate != rate:
        blocks = _rebuffer(
            _resample_stream(blocks, rate, int(sample_rate), n_channels), block_frames
        )
    return blocks


def to_stereo(waveform: np.ndarray) -> np.ndarray:
    """``(n_samples, n_channels)`` -> ``(n_samples, 2)``: mono is duplicated, >2 keeps the first two."""
    if waveform.ndim == 1:
        waveform = waveform[:, None]
    if waveform.shape[1] == 0:
        raise ValueError("waveform has no channels")
    if waveform.shape[1] == 1:
        return np.repeat(waveform, 2, axis=1)
    return waveform[:, :2]


# ----------------------------------------------------------------------------- writing


def _bitrate_kbps(bitrate: Union[str, int]) -> float:
    """'128k' / '1.5M' / 128000 (bits per second, like ffmpeg) -> kilobits per second."""
    text = str(bitrate).strip().lower()
    scale = {"k": 1e3, "m": 1e6}.get(text[-1:], 1.0)
    try:
        return float(text.rstrip("km")) * scale / 1e3
    except ValueError:
        raise ValueError(f"bitrate must look like '128k', got {bitrate!r}") from None


def _compression_level(codec: str, kbps: float, sample_rate: int) -> float:
    """libsndfile's 0..1 compression level giving about ``kbps`` (exact for CBR MP3)."""
    if codec == "mp3":  # libsndfile 1.2 (measured): CBR kbps = high - level * (high - low)
        high, low = (
            (320, 32) if sample_rate >= 32000 else (160, 8) if sample_rate >= 16000 else (64, 8)
        )
        return float(np.clip((high - kbps) / (high - low), 0.0, 0.99))
    quality = np.interp(kbps, _VORBIS_KBPS, np.linspace(0.0, 1.0, len(_VORBIS_KBPS)))
    return float(1.0 - quality)  # vorbis: level = 1 - quality


def _codec_for(name: str, codec: Optional[str]) -> str:
    if codec is None:
        codec = os.path.splitext(name)[1].lower().lstrip(".")
        if codec not in CODECS:
            raise AudioError(
                f"{name}: cannot tell the codec from the extension, use one of {', '.join(CODECS)}"
            )
    elif codec not in CODECS:
        raise ValueError(f"codec must be one of {', '.join(CODECS)}, got {codec!r}")
    return codec


def _to_pcm(block: np.ndarray, subtype: str) -> np.ndarray:
    """Float in [-1, 1] -> integers as ffmpeg (and so Spleeter) does: clip(round(x * 2^(bits-1)))."""
    if subtype == "PCM_16":
        return np.clip(np.round(block * 32768.0), -32768, 32767).astype(np.int16)
    # libsndfile writes the top 24 bits of an int32 to a 24-bit file
    return np.clip(np.round(block * 8388608.0), -8388608, 8388607).astype(np.int32) << 8


class StreamWriter:
    """Write a waveform to ``path`` block by block, atomically.

    Blocks go to a hidden temporary file next to ``path``, renamed to ``path`` by ``close()``;
    ``abort()`` (or an exception inside ``with``) removes it, so ``path`` never holds half a file.
    wav/flac (PCM_16, PCM_24; wav also FLOAT), ogg (vorbis) and mp3 are written by libsndfile,
    m4a (aac) and wma (wmav2) by an ffmpeg pipe. Outside FLOAT, samples beyond [-1, 1] are
    clipped, counted in ``n_clipped`` and reported by one warning at close.
    """

    def __init__(
        self,
        path: PathLike,
        sample_rate: int,
        n_channels: int,
        codec: Optional[str] = None,
        bitrate: Union[str, int] = "128k",
        subtype: str = "PCM_16",
    ):
        self.path = os.fspath(path)
        self.sample_rate, self.n_channels = int(sample_rate), int(n_channels)
        self.codec = _codec_for(self.path, codec)
        if subtype not in SUBTYPES:
            raise ValueError(f"subtype must be one of {', '.join(SUBTYPES)}, got {subtype!r}")
        if self.codec == "flac" and subtype == "FLOAT":
            raise AudioError(f"{self.path}: flac cannot store FLOAT samples, use PCM_16 or PCM_24")
        self.subtype = subtype if self.codec in ("wav", "flac") else None
        self.n_written = self.n_clipped = 0
        self._sound_file: Optional[sf.SoundFile] = None
        self._encoder: Optional[ffmpeg.Encoder] = None
        self._done = False
        directory, base = os.path.split(os.path.abspath(self.path))
        self._temp_path = os.path.join(directory, f".{base}.{secrets.token_hex(4)}.part")
        try:
            os.makedirs(directory, exist_ok=True)
            os.close(os.open(self._temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as error:
            raise _unwritable(self.path, error) from error
        try:
            self._open(_bitrate_kbps(bitrate))
        except BaseException:
            self.abort()
            raise

    def _open(self, kbps: float) -> None:
        file_format, lossy_subtype = _SOUNDFILE_FORMATS.get(self.codec, (None, None))
        if file_format in sf.available_formats():
            options = {}
            if lossy_subtype is not None:
                options["compression_level"] = _compression_level(
                    self.codec, kbps, self.sample_rate
                )
                options["bitrate_mode"] = "CONSTANT" if self.codec == "mp3" else None
            try:
                self._sound_file = sf.SoundFile(
                    self._temp_path, "w", self.sample_rate, self.n_channels,
                    lossy_subtype or self.subtype, format=file_format, **options,
                )  # fmt: skip
            except (RuntimeError, ValueError) as error:
                raise AudioError(
                    f"{self.path}: cannot write {self.codec} with {self.n_channels} channels at "
                    f"{self.sample_rate} Hz ({_libsndfile_problem(error)})"
                ) from error
            return
        self._encoder = ffmpeg.Encoder(
            self.path, self._temp_path, self.codec, self.sample_rate, self.n_channels, kbps
        )

    def write(self, block: np.ndarray) -> None:
        """Append ``block``: ``(n, n_channels)`` float (or ``(n,)`` when mono)."""
        if self._done:
            raise AudioError(f"{self.path}: writer is already closed")
        block = np.asarray(block)
        block = block[:, None] if block.ndim == 1 and self.n_channels == 1 else block
        if block.ndim != 2 or block.shape[1] != self.n_channels:
            raise ValueError(f"expected a (n, {self.n_channels}) block, got shape {block.shape}")
        if not np.all(np.isfinite(block)):
            raise AudioError(f"{self.path}: waveform to write contains NaN or infinite values")
        block = block.astype(np.float32, copy=False)
        n_clipped = 0 if self.subtype == "FLOAT" else int(np.count_nonzero(np.abs(block) > 1.0))
        if n_clipped:
            self.n_clipped += n_clipped
            block = np.clip(block, -1.0, 1.0)
        try:
            if self._encoder is not None:
                self._encoder.write(block)
            elif self.subtype in ("PCM_16", "PCM_24"):
                self._sound_file.write(_to_pcm(block, self.subtype))
            else:
                self._sound_file.write(block)
        except (RuntimeError, OSError) as error:
            raise AudioError(f"{self.path}: cannot write ({_libsndfile_problem(error)})") from error
        self.n_written += len(block)

    def close(self) -> None:
        """Finish the file and rename it to ``path`` (removing the temporary file on failure)."""
        if self._done:
            return
        try:
            if self._encoder is not None:
                self._encoder.finish()
            else:
                try:
                    self._sound_file.close()
                except RuntimeError as error:
                    problem = _libsndfile_problem(error)
                    raise AudioError(f"{self.path}: cannot write ({problem})") from error
            try:
                os.replace(self._temp_path, self.path)
            except OSError as error:
                raise _unwritable(self.path, error) from error
        except BaseException:
            self.abort()
            raise
        self._release()
        if self.n_clipped:
            logger.warning(
                "%s: clipped %d of %d sample values outside [-1, 1] (%s output)",
                self.path, self.n_clipped, self.n_written * self.n_channels,
                " ".join(filter(None, (self.codec, self.subtype))),
            )  # fmt: skip

    def _release(self) -> None:
        self._done = True
        if self._sound_file is not None:
            with contextlib.suppress(RuntimeError):
                self._sound_file.close()
        if self._encoder is not None:
            self._encoder.close()

    def abort(self) -> None:
        """Stop writing and remove the temporary file; ``path`` is left untouched."""
        if not self._done:
            self._release()
            with contextlib.suppress(OSError):
                os.remove(self._temp_path)

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        if hasattr(self, "_temp_path"):
            self.abort()


def save(
    path: PathLike,
    waveform: np.ndarray,
    sample_rate: int,
    codec: Optional[str] = None,
    bitrate: Union[str, int] = "128k",
    subtype: str = "PCM_16",
) -> None:
    """Write ``waveform`` ``(n_samples, n_channels)`` float to ``path`` atomically.

    ``codec`` (one of ``CODECS``) defaults to the extension. wav/flac use ``subtype`` (PCM_16
    default as Spleeter, PCM_24, FLOAT for wav); float -> PCM is ``clip(round(x * 2^15))`` like
    ffmpeg. ``bitrate`` sets mp3 (CBR), ogg (approximate VBR quality), m4a and wma.
    Values outside [-1, 1] are clipped except in FLOAT wav, with a logged count.
    """
    waveform = np.asarray(waveform)
    if waveform.ndim == 1:
        waveform = waveform[:, None]
    with StreamWriter(path, sample_rate, waveform.shape[1], codec, bitrate, subtype) as writer:
        writer.write(waveform)
