"""Spleeter's ``spleeter.audio.ffmpeg``: its default adapter (defined in ``adapter.py``; the
``ffmpeg``/``ffprobe`` subprocesses themselves are ``ffmpeg_tools.py``'s)."""

from .adapter import FFMPEGProcessAudioAdapter

__all__ = ["FFMPEGProcessAudioAdapter"]
