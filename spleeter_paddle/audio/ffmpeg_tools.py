"""The ``ffmpeg``/``ffprobe`` subprocesses behind ``audio.io``: probing and decoding what libsndfile
cannot read (m4a/wma/mp4 stems), and encoding m4a/wma (and mp3/ogg without libsndfile support).
Samples cross the pipes as ``(n_samples, n_channels)`` float32 little-endian.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
import tempfile
from typing import Generator, NamedTuple, Optional

import numpy as np

from ..errors import AudioError

ENCODERS = {  # codec -> (ffmpeg encoder, muxer); mp3/ogg only when libsndfile lacks them
    "m4a": ("aac", "ipod"),
    "wma": ("wmav2", "asf"),
    "mp3": ("libmp3lame", "mp3"),
    "ogg": ("libvorbis", "ogg"),
}
READ_BLOCK = 1 << 18  # frames per pipe read when the caller does not choose


class AudioInfo(NamedTuple):
    """What a file holds. ``n_samples`` is exact, or None when only decoding would tell (ffmpeg)."""

    sample_rate: int
    n_channels: int
    n_samples: Optional[int]
    duration_s: Optional[float]
    format: str  # libsndfile's format ('wav', 'flac', 'ogg', 'mp3') or ffprobe's codec ('aac')
    n_streams: int = 1  # audio streams in the file (> 1 for stem files)


def last_line(stderr: bytes) -> str:
    """The last line of a tool's stderr on one line: the message that says what went wrong."""
    lines = stderr.decode(errors="replace").strip().splitlines()
    return " ".join(lines[-1].split()) if lines else ""


def missing_error(name: str, what: str) -> AudioError:
    return AudioError(f"{name}: {what} needs ffmpeg, which is not installed (apt install ffmpeg)")


def can_decode() -> bool:
    """True when both ``ffmpeg`` and ``ffprobe`` are on ``PATH``."""
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def can_encode() -> bool:
    return shutil.which("ffmpeg") is not None


# ----------------------------------------------------------------------------- reading


def probe(name: str, stream_index: int, libsndfile_problem: str) -> AudioInfo:
    """Audio stream ``stream_index`` of ``name``; ``libsndfile_problem`` goes into decode errors."""
    command = ["ffprobe", "-v", "error", "-select_streams", "a", "-of", "json", "-show_entries"]
    command += ["stream=codec_name,sample_rate,channels,duration:format=duration", "file:" + name]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        problem = last_line(result.stderr).replace(f"file:{name}: ", "")
        problem = problem or f"exit status {result.returncode}"
        raise AudioError(
            f"{name}: cannot decode, the file is corrupt, truncated or not audio "
            f"(ffprobe: {problem}; libsndfile: {libsndfile_problem})"
        )
    probed = json.loads(result.stdout.decode(errors="replace") or "{}")
    streams = probed.get("streams", [])
    if not streams:
        raise AudioError(f"{name}: contains no audio stream")
    if not 0 <= stream_index < len(streams):
        raise AudioError(
            f"{name}: has {len(streams)} audio streams, there is no stream {stream_index}"
        )
    stream = streams[stream_index]
    duration = stream.get("duration") or probed.get("format", {}).get("duration")
    try:
        return AudioInfo(
            int(stream["sample_rate"]),
            int(stream["channels"]),
            None,
            float(duration) if duration is not None else None,
            str(stream.get("codec_name", "unknown")),
            len(streams),
        )
    except (KeyError, ValueError) as error:
        raise AudioError(
            f"{name}: ffprobe reports no usable sample rate or channel count"
        ) from error


def read_comment(name: str) -> Optional[str]:
    """The container's ``comment`` tag as ffprobe reads it, or None."""
    command = ["ffprobe", "-v", "error", "-of", "json", "-show_entries", "format_tags=comment"]
    try:
        result = subprocess.run(command + ["file:" + name], capture_output=True, check=False)
        tags = json.loads(result.stdout or b"{}").get("format", {}).get("tags", {})
    except (OSError, ValueError):
        return None
    return next((value for key, value in tags.items() if key.lower() == "comment"), None)


# What ffmpeg says (``<url>: Input/output error``) when reading the input fails (a failing disk
# or network share).
_READ_FAILED = os.strerror(errno.EIO).encode()


def decode(
    name: str,
    stream_index: int,
    n_channels: int,
    sample_rate: int,
    start: int,
    n_frames: Optional[int],
    block_frames: int = READ_BLOCK,
) -> Generator[np.ndarray, None, int]:
    """``(n, n_channels)`` float32 blocks of frames ``start .. start + n_frames`` (None: to the end).

    Decodes from the beginning and drops ``start`` frames: sample-exact even where ffmpeg's seek
    is not. Returns the number of frames decoded, which is ``<= start`` when the file ends first.
    """
    command = ["ffmpeg", "-nostdin", "-v", "error", "-i", "file:" + name]
    command += ["-map", f"0:a:{stream_index}", "-vn", "-sn", "-dn", "-f", "f32le"]
    command += ["-acodec", "pcm_f32le", "-ac", str(n_channels), "-ar", str(sample_rate), "pipe:1"]
    frame_bytes = 4 * n_channels
    with tempfile.TemporaryFile() as stderr_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_file)
        try:
            n_decoded, at_end = 0, False
            end = None if n_frames is None else start + n_frames
            while not at_end and (end is None or n_decoded < end):
                skipping = n_decoded < start  # frames before start are read and dropped
                wanted = min(start - n_decoded, READ_BLOCK) if skipping else block_frames
                wanted = wanted if end is None else min(wanted, end - n_decoded)
                data = process.stdout.read(wanted * frame_bytes)
                n_read = len(data) // frame_bytes
                at_end = n_read < wanted  # a pipe reads short only at its end
                n_decoded += n_read
                if n_read and not skipping:
                    block = np.frombuffer(data, "<f4", n_read * n_channels)
                    yield block.reshape(n_read, n_channels).astype(np.float32)
            if at_end:
                process.stdout.close()
                status = process.wait()
                stderr_file.seek(0)
                messages = stderr_file.read()
                if _READ_FAILED in messages:  # ffmpeg ends a failed read as the file's end, exit 0
                    raise AudioError(f"{name}: cannot read (input/output error)")
                if status != 0:
                    problem = last_line(messages) or f"exit status {process.returncode}"
                    raise AudioError(f"{name}: cannot decode with ffmpeg ({problem})")
            return n_decoded
        finally:
            if process.poll() is None:  # we stopped early (duration reached, or the caller did)
                process.kill()
                process.wait()
            process.stdout.close()


# ----------------------------------------------------------------------------- writing


class Encoder:
    """An ffmpeg process encoding float32 blocks written to its stdin into ``output_path``.

    ``name`` (the file the user asked for) is what error messages show; ``output_path`` may be a
    temporary file beside it. ``finish()`` waits for a complete file, ``close()`` releases all.
    """

    def __init__(
        self,
        name: str,
        output_path: str,
        codec: str,
        sample_rate: int,
        n_channels: int,
        kbps: float,
        comment: Optional[str] = None,
    ):
        if not can_encode():
            raise missing_error(name, f"writing {codec}")
        self.name, self.codec = name, codec
        encoder, muxer = ENCODERS[codec]
        command = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "f32le"]
        command += ["-ar", str(sample_rate), "-ac", str(n_channels), "-i", "pipe:0"]
        command += ["-c:a", encoder, "-strict", "-2", "-b:a", f"{int(round(kbps))}k"]
        if comment is not None:
            command += ["-metadata", f"comment={comment}"]
        command += ["-f", muxer, "file:" + output_path]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the encoder)
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr
            )
        except BaseException:
            self._stderr.close()
            raise

    def _error(self) -> AudioError:
        self._process.wait()
        self._stderr.seek(0)
        problem = last_line(self._stderr.read()) or f"exit status {self._process.returncode}"
        return AudioError(f"{self.name}: ffmpeg cannot write {self.codec} ({problem})")

    def write(self, block: np.ndarray) -> None:
        """Send ``(n, n_channels)`` float32 samples; ffmpeg's own error if it has quit."""
        try:
            self._process.stdin.write(block.astype("<f4", copy=False).tobytes())
        except BrokenPipeError:
            raise self._error() from None

    def finish(self) -> None:
        """End the input and wait for ffmpeg to complete the file."""
        with contextlib.suppress(BrokenPipeError):
            self._process.stdin.close()
        if self._process.wait() != 0:
            raise self._error()

    def close(self) -> None:
        """Stop ffmpeg if it still runs and release its pipes (the output file is left as is)."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._process.stdin.close()
        self._stderr.close()
