"""The project's audio reading: probe, load and stream files, resampling with soxr.

wav/flac/ogg/mp3 go through libsndfile (``soundfile``); m4a/wma/mp4 stems and anything libsndfile
cannot read use ffmpeg (``ffmpeg_tools.py``). Waveforms are ``(n_samples, n_channels)`` float.
Writing (``StreamWriter``, ``save``, ``CODECS``, ``SUBTYPES``) is ``audio/writer.py``.
"""

from __future__ import annotations

import errno
import math
import os
import re
import stat
from typing import Any, Iterable, Iterator, NamedTuple, Optional, Tuple, Union

import numpy as np
import soundfile as sf

from ..errors import AudioError
from ..files import FileIdentity, change_while_read, file_identity, write_problem
from ..options import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, sample_rate_hz
from . import ffmpeg_tools as ffmpeg
from .ffmpeg_tools import AudioInfo
from .resampling import rebuffer, resample, resample_stream
from .writer import PathLike, libsndfile_problem

# libsndfile reads these natively: failing there means a bad file, not a missing ffmpeg.
_NATIVE_EXTENSIONS = {".wav", ".wave", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".w64"}
MAX_SAMPLE = 1e6  # beyond this, float32 power spectra overflow
_MP3_FRAME = 1152  # a missing tail shorter than two MP3 frames is the decoder's length estimate


class AudioSource(NamedTuple):
    """A probed input (:func:`probe`): read it with :func:`stream` without probing it again."""

    path: str
    info: AudioInfo
    backend: str  # "soundfile" or "ffmpeg"
    stream_index: int
    identity: Optional[FileIdentity] = None  # taken before probing; reading checks it after


def _seconds(value: float) -> str:
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


_NOT_REGULAR = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_input_file(name: str) -> None:
    """A regular, readable, non-empty file, or an AudioError saying what ``name`` really is."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # bytes that are no UTF-8: libsndfile's and ffmpeg's APIs take text
        raise AudioError(
            f"{name.encode('utf-8', 'surrogateescape').decode('utf-8', 'backslashreplace')}: "
            "the file name is not valid UTF-8; rename it"
        ) from None
    try:
        status = os.stat(name)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise AudioError(f"{name}: symbolic link loop") from None
        if os.path.islink(name):
            raise AudioError(f"{name}: broken symbolic link (to {os.readlink(name)})") from None
        if error.errno == errno.ENOENT:
            raise AudioError(f"{name}: no such file") from None
        if error.errno == errno.EACCES:
            raise AudioError(f"{name}: permission denied") from None
        raise AudioError(f"{name}: cannot open ({error.strerror or error})") from None
    if stat.S_ISDIR(status.st_mode):
        raise AudioError(f"{name}: is a directory, not an audio file")
    for is_kind, kind in _NOT_REGULAR:
        if is_kind(status.st_mode):
            raise AudioError(f"{name}: is {kind}, not a regular audio file")
    if not os.access(name, os.R_OK):
        raise AudioError(f"{name}: permission denied")
    if status.st_size == 0:
        raise AudioError(f"{name}: file is empty (0 bytes)")
    try:  # a failing disk or network share (EIO) is not a "corrupt file": say which it is
        with open(name, "rb") as stream:
            stream.read(64)
    except OSError as error:
        raise AudioError(f"{name}: cannot read ({write_problem(error) or error})") from None


def probe(path: PathLike, stream_index: int = 0) -> AudioSource:
    """``path`` checked (a readable regular file that decodes) and described; raises
    :class:`AudioError` saying what is wrong. ffprobe costs ~70 ms a call: probe once."""
    name = os.fspath(path)
    check_input_file(name)
    try:
        identity = file_identity(name)
    except OSError as error:  # removed since the check
        raise AudioError(f"{name}: cannot open ({error.strerror or error})") from None
    try:
        info = sf.info(name)
    except RuntimeError as error:  # soundfile.LibsndfileError
        problem = libsndfile_problem(error)
        extension = os.path.splitext(name)[1].lower()
        if not ffmpeg.can_decode():
            if extension in _NATIVE_EXTENSIONS and (
                extension != ".mp3" or "MP3" in sf.available_formats()
            ):
                raise AudioError(
                    f"{name}: cannot decode, the file is corrupt, truncated or not audio "
                    f"({problem})"
                ) from None
            raise ffmpeg.missing_error(name, f"reading '{extension or name}' files") from None
        audio, backend = ffmpeg.probe(name, stream_index, problem), "ffmpeg"
    else:
        if stream_index != 0:
            raise AudioError(f"{name}: has one audio stream, there is no stream {stream_index}")
        _check_wav_length(name, info)
        duration_s = info.frames / info.samplerate
        # MPEG audio in a WAV container decodes like an .mp3 (its length an estimate): say mp3
        codec = "mp3" if info.subtype.startswith("MPEG_LAYER") else info.format.lower()
        audio = AudioInfo(info.samplerate, info.channels, info.frames, duration_s, codec)
        backend = "soundfile"
    try:  # a header claiming a rate no audio has (a 200-frame WAV saying 1 Hz: 200 s of stems)
        sample_rate_hz(audio.sample_rate)
    except ValueError:
        raise AudioError(
            f"{name}: sample rate {audio.sample_rate} Hz is not plausible for audio (expected "
            f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz); the header is wrong or this is not a "
            "recording"
        ) from None
    return AudioSource(name, audio, backend, stream_index, identity)


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


def _frame_range(source: AudioSource, offset_s: float, duration_s: Optional[float]):
    """``(start, n_frames | None)`` in file frames; seconds are rounded to the nearest frame."""
    if not (math.isfinite(offset_s) and offset_s >= 0):
        raise ValueError(f"offset_s must be finite and >= 0, got {offset_s}")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be finite and > 0, got {duration_s}")
    rate, n_total = source.info.sample_rate, source.info.n_samples
    start = int(round(offset_s * rate))
    if n_total is not None and start >= n_total:  # ffmpeg sources find out while decoding
        raise _past_end(source, start, n_total)
    return start, None if duration_s is None else max(1, int(round(duration_s * rate)))


def _past_end(source: AudioSource, start: int, n_total: int) -> AudioError:
    if n_total == 0:
        return AudioError(f"{source.path}: contains no audio samples")
    offset, end = (
        _seconds(start / source.info.sample_rate),
        _seconds(n_total / source.info.sample_rate),
    )
    return AudioError(f"{source.path}: offset {offset} s is beyond the end ({end} s)")


def _soundfile_frames(
    source: AudioSource, start: int, n_frames: Optional[int], block_frames: int, dtype
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
        problem = libsndfile_problem(error)
        if problem == "System error":  # a read of the file failed (a disk or network fault)
            raise AudioError(f"{source.path}: cannot read (a read failed: {problem})") from None
        raise AudioError(
            f"{source.path}: cannot decode, the file is corrupt or truncated ({problem})"
        ) from error
    tolerance = 2 * _MP3_FRAME if source.info.format == "mp3" else 0
    if remaining > tolerance:
        raise AudioError(
            f"{source.path}: file is truncated (decoded {expected - remaining} of {expected} samples)"
        )


def _ffmpeg_frames(
    source: AudioSource, start: int, n_frames: Optional[int], block_frames: int
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
    source: AudioSource, start: int, n_frames: Optional[int], block_frames: int, dtype=np.float32
) -> Iterator[np.ndarray]:
    """Consecutive ``(n, n_channels)`` blocks at the file's rate, ``block_frames`` each but the last."""
    if source.backend == "soundfile":
        blocks = _soundfile_frames(source, start, n_frames, block_frames, dtype)
    else:
        blocks = _ffmpeg_frames(source, start, n_frames, block_frames)
    return _checked(blocks, source, start)


def unusable_samples(block: np.ndarray) -> Optional[Tuple[int, str]]:
    """``(first row, problem)`` when ``block`` holds NaN/Inf or values beyond ``MAX_SAMPLE``
    (float audio that large overflows the squared magnitudes of the masks), else None."""
    if block.dtype.kind != "f":
        return None
    bad = ~np.isfinite(block)
    if bad.any():
        return int(np.argwhere(bad)[0][0]), "contains NaN or infinite samples"
    huge = np.abs(block) > MAX_SAMPLE
    if huge.any():
        return int(np.argwhere(huge)[0][0]), (
            f"contains samples beyond +-{MAX_SAMPLE:g} (peak {float(np.abs(block).max()):.3g}); "
            "float audio is expected within about [-1, 1]"
        )
    return None


def checked_waveform(waveform: Any) -> np.ndarray:
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
    found = unusable_samples(waveform)
    if found is not None:
        raise ValueError(f"waveform {found[1]} (first at sample {found[0]})")
    return waveform


def _checked(blocks: Iterable[np.ndarray], source: AudioSource, start: int) -> Iterator[np.ndarray]:
    """``blocks`` unchanged; NaN/Inf or absurd samples (float files) are an error naming the
    input, and so is a file that is no longer the one probed: rewritten while it was read, it
    would give audio spliced from two versions (checked before the last block is handed on, so
    no caller completes an output from it)."""
    position, previous = start, None
    for block in blocks:
        found = unusable_samples(block)
        if found is not None:
            row, problem = found
            seconds = _seconds((position + row) / source.info.sample_rate)
            raise AudioError(f"{source.path}: {problem} (first at {seconds} s)")
        position += len(block)
        if previous is not None:
            yield previous
        previous = block
    change = change_while_read(source.path, source.identity)
    if change is not None:
        raise AudioError(f"{source.path}: {change}; nothing was made from it")
    if previous is not None:
        yield previous


def read_comment(path: PathLike) -> Optional[str]:
    """The ``comment`` tag of an audio file (libsndfile, else ffprobe), or None."""
    name = os.fspath(path)
    try:
        with sf.SoundFile(name) as audio_file:
            return audio_file.comment or None
    except (RuntimeError, OSError):
        return ffmpeg.read_comment(name) if ffmpeg.can_decode() else None


def audio_info(path: PathLike) -> AudioInfo:
    """Sample rate, channels, length and format of ``path`` (its first audio stream)."""
    return probe(path).info


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
    source = probe(path, stream_index)
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


def stream(
    path: Union[PathLike, AudioSource],
    block_frames: int,
    sample_rate: Optional[int] = None,
    offset_s: float = 0.0,
    duration_s: Optional[float] = None,
    stream_index: int = 0,
) -> Iterator[np.ndarray]:
    """Iterate over ``path`` in ``(block_frames, n_channels)`` float32 blocks (the last may be shorter).

    Same selection and values as ``load`` (``block_frames`` counts frames at the output rate),
    with memory bounded by the block size: resampling uses a streaming soxr resampler.
    The file is probed now unless ``path`` is an :class:`AudioSource` already (errors raise
    here); decoding errors raise during iteration.
    """
    if block_frames < 1:
        raise ValueError(f"block_frames must be >= 1, got {block_frames}")
    source = path if isinstance(path, AudioSource) else probe(path, stream_index)
    rate, n_channels = source.info.sample_rate, source.info.n_channels
    start, n_frames = _frame_range(source, offset_s, duration_s)
    blocks = _native_frames(source, start, n_frames, block_frames)
    if sample_rate is not None and sample_rate != rate:
        blocks = rebuffer(resample_stream(blocks, rate, int(sample_rate), n_channels), block_frames)
    return blocks


def to_channels(waveform: np.ndarray, n_channels: int) -> np.ndarray:
    """``(n_samples,)`` or ``(n_samples, C)`` -> ``(n_samples, n_channels)``: mono is duplicated,
    extra channels are dropped, fewer are repeated in turn (``L R`` -> ``L R L``)."""
    if waveform.ndim == 1:
        waveform = waveform[:, None]
    if waveform.shape[1] == 0:
        raise ValueError("waveform has no channels")
    if waveform.shape[1] == n_channels:
        return waveform
    if waveform.shape[1] == 1:
        return np.repeat(waveform, n_channels, axis=1)
    if waveform.shape[1] > n_channels:
        return waveform[:, :n_channels]
    return np.resize(waveform.T, (n_channels, waveform.shape[0])).T


def to_stereo(waveform: np.ndarray) -> np.ndarray:
    """``(n_samples, n_channels)`` -> ``(n_samples, 2)``: mono is duplicated, >2 keeps the first two."""
    return to_channels(waveform, 2)
