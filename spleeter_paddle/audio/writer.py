"""Write audio files atomically, whole (``save``) or block by block (``StreamWriter``).
wav/flac/ogg/mp3 go through libsndfile, m4a/wma through an ffmpeg pipe.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
from typing import Optional, Tuple, Union

import numpy as np
import soundfile as sf

from .. import options
from ..errors import AudioError
from ..files import PathLike, new_temporary, write_problem
from ..vocab import BIT_DEPTHS as SUBTYPES
from ..vocab import CODECS
from . import ffmpeg_tools as ffmpeg

# The clipping warning keeps the logger name it had in io.py, so existing log settings still apply.
logger = logging.getLogger(f"{__package__}.io")


# codec -> (libsndfile format, subtype of the lossy ones; wav/flac take the caller's subtype)
_SOUNDFILE_FORMATS = {
    "wav": ("WAV", None),
    "flac": ("FLAC", None),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}
# Vorbis nominal bitrates (44.1 kHz stereo) per quality step, for the bitrate -> quality mapping.
_VORBIS_KBPS = (64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 500)


def libsndfile_problem(error: Exception) -> str:
    problem = " ".join(re.sub(r"^Error opening '.*?': ", "", str(error)).split()).rstrip(".")
    # libsndfile's words for "no format I know" (the file was checked to be a regular one)
    if problem.startswith("File does not exist or is not a regular file"):
        return "format not recognised"
    return problem


def _unwritable(name: str, error: OSError) -> AudioError:
    if isinstance(error, (FileExistsError, NotADirectoryError)):
        return AudioError(f"{name}: cannot write here, a parent path is not a directory")
    if error.errno == errno.ENOSPC:
        return AudioError(f"{name}: cannot write, no space left on the device")
    return AudioError(f"{name}: cannot write here ({error.strerror or error})")


def _write_failed(name: str, error: Exception) -> AudioError:
    """The error of a failed write: libsndfile says only 'System error', so look at the disk."""
    if isinstance(error, OSError) and error.errno is not None:
        return _unwritable(name, error)
    problem = write_problem(error, os.path.dirname(os.path.abspath(name)))
    if problem is not None:
        return AudioError(f"{name}: cannot write, {problem}")
    return AudioError(f"{name}: cannot write ({libsndfile_problem(error) or 'write failed'})")


def _bitrate_kbps(bitrate: Union[str, int]) -> float:
    """'128k' / '1.5M' / 128000 (bits per second, like ffmpeg) -> kilobits per second."""
    text = str(bitrate).strip().lower()
    scale = {"k": 1e3, "m": 1e6}.get(text[-1:], 1.0)
    try:
        return float(text.rstrip("km")) * scale / 1e3
    except ValueError:
        raise ValueError(f"bitrate must look like '128k', got {bitrate!r}") from None


def bitrate_range(codec: str, sample_rate: int, n_channels: int = 2) -> Optional[Tuple[int, int]]:
    """The kbit/s ``codec`` can write at ``sample_rate`` (None: it takes no bitrate).

    mp3: the CBR rates of MPEG-1 / 2 / 2.5 layer III; ogg: the vorbis qualities' span;
    m4a: ffmpeg's aac, at most 6144 bits per channel and 1024-sample frame; wma: wmav2 opens no
    encoder below 24k. Outside these an encoder would clamp silently or fail mid-run.
    """
    if codec == "mp3":
        return (32, 320) if sample_rate >= 32000 else (8, 160) if sample_rate >= 16000 else (8, 64)
    if codec == "ogg":
        return _VORBIS_KBPS[0], _VORBIS_KBPS[-1]
    if codec == "m4a":
        return 8, min(2000, int(6144 * n_channels * sample_rate / 1024 / 1000))
    if codec == "wma":
        return 24, 2000
    return None


def check_bitrate(
    codec: str, bitrate: Union[str, int], sample_rate: int, n_channels: int = 2
) -> float:
    """``bitrate`` in kbit/s, or a ValueError when ``codec`` cannot write it at ``sample_rate``."""
    kbps = _bitrate_kbps(bitrate)
    span = bitrate_range(codec, sample_rate, n_channels)
    if span is not None and not span[0] <= kbps <= span[1]:
        raise ValueError(
            f"bitrate {bitrate} is outside what {codec} can write at {sample_rate} Hz "
            f"({span[0]}k to {span[1]}k)"
        )
    return kbps


def _compression_level(codec: str, kbps: float, sample_rate: int) -> float:
    """libsndfile's 0..1 compression level giving about ``kbps`` (exact for CBR MP3)."""
    if codec == "mp3":  # libsndfile 1.2 (measured): CBR kbps = high - level * (high - low)
        low, high = bitrate_range(codec, sample_rate)
        return float(np.clip((high - kbps) / (high - low), 0.0, 0.99))
    quality = np.interp(kbps, _VORBIS_KBPS, np.linspace(0.0, 1.0, len(_VORBIS_KBPS)))
    return float(1.0 - quality)  # vorbis: level = 1 - quality


def check_format(
    codec: str, bitrate: Union[str, int], subtype: str, sample_rate: int, n_channels: int = 2
) -> float:
    """The one check of how audio is written: ``codec`` (one of ``CODECS``), ``subtype`` (one of
    ``SUBTYPES``; FLOAT only in wav) and a ``bitrate`` ``codec`` can write at ``sample_rate``.
    Returns the bitrate in kbit/s; a ValueError names what is wrong."""
    options.checked("codec", options.choice, codec, CODECS)
    options.checked("subtype", options.choice, subtype, SUBTYPES)
    if subtype == "FLOAT" and codec != "wav":
        raise ValueError(f"{codec} cannot store FLOAT samples (only wav can); use PCM_16 or PCM_24")
    return check_bitrate(codec, bitrate, sample_rate, n_channels)


def can_write(codec: str) -> bool:
    """True when this machine can write ``codec``: libsndfile, or ffmpeg for what it lacks."""
    native = _SOUNDFILE_FORMATS.get(codec, (None,))[0] in sf.available_formats()
    return native or (codec in ffmpeg.ENCODERS and ffmpeg.can_encode())


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
        comment: Optional[str] = None,
    ):
        self.path = os.fspath(path)
        self.comment = comment
        self.sample_rate, self.n_channels = int(sample_rate), int(n_channels)
        extension = os.path.splitext(self.path)[1].lower().lstrip(".")
        if codec is None and extension not in CODECS:
            raise AudioError(
                f"{self.path}: cannot tell the codec from the extension, use one of "
                f"{', '.join(CODECS)}"
            )
        self.codec = extension if codec is None else codec
        try:
            kbps = check_format(self.codec, bitrate, subtype, self.sample_rate, self.n_channels)
        except ValueError as error:  # FLOAT in a codec that has no such samples names the file
            if subtype == "FLOAT" and self.codec in CODECS and self.codec != "wav":
                raise AudioError(f"{self.path}: {error}") from None
            raise
        self.subtype = subtype if self.codec in ("wav", "flac") else None
        self.n_written = self.n_clipped = 0
        self._sound_file: Optional[sf.SoundFile] = None
        self._encoder: Optional[ffmpeg.Encoder] = None
        self._done = self._finished = False
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self._temp_path = os.fspath(new_temporary(self.path, ".part"))
        except OSError as error:
            raise _unwritable(self.path, error) from error
        try:
            self._open(kbps)
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
                    f"{self.sample_rate} Hz ({libsndfile_problem(error)})"
                ) from error
            if self.comment is not None:
                self._sound_file.comment = self.comment
            return
        self._encoder = ffmpeg.Encoder(
            self.path, self._temp_path, self.codec, self.sample_rate, self.n_channels, kbps,
            self.comment,
        )  # fmt: skip

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
            raise _write_failed(self.path, error) from error
        self.n_written += len(block)

    def finish(self) -> None:
        """Complete the temporary file (``path`` untouched); ``close()`` then renames it."""
        if self._done or self._finished:
            return
        try:
            if self._encoder is not None:
                self._encoder.finish()
            else:
                try:
                    self._sound_file.close()
                except RuntimeError as error:
                    raise _write_failed(self.path, error) from error
            if os.path.isdir(self.path) and not os.path.islink(self.path):
                raise AudioError(f"{self.path}: cannot write here (a directory is in the way)")
        except BaseException:
            self.abort()
            raise
        self._finished = True

    def close(self) -> None:
        """Finish the file and rename it to ``path`` (removing the temporary file on failure)."""
        if self._done:
            return
        try:
            self.finish()
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
    n_channels = 1 if waveform.ndim == 1 else waveform.shape[1]  # write() takes (n,) as mono
    with StreamWriter(path, sample_rate, n_channels, codec, bitrate, subtype) as writer:
        writer.write(waveform)
