"""Generated MUSDB18-HQ-style songs for tests and demos, nothing recorded and fully deterministic:
a voice-like stem (harmonics with vibrato and a moving formant), a harmonic pad (``other``), a
plucked ``bass`` and percussive ``drums``."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Union

import numpy as np
import soundfile as sf

STEMS = ("vocals", "drums", "bass", "other")
SAMPLE_RATE = 44100


def _pan(mono: np.ndarray, position: float) -> np.ndarray:
    """Constant-power pan of a ``(n,)`` signal; position in [-1, 1] -> ``(n, 2)``."""
    angle = (position + 1.0) * np.pi / 4.0
    return np.stack([mono * np.cos(angle), mono * np.sin(angle)], axis=1)


def _voice(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    note_s = rng.uniform(0.35, 0.6)
    notes = 220.0 * 2 ** (rng.integers(-3, 10, size=int(np.ceil(n / sr / note_s)) + 1) / 12)
    f0 = notes[(t / note_s).astype(int)] * 2 ** (0.4 / 12 * np.sin(2 * np.pi * 5.8 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    formant = 700 + 400 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    voice = np.zeros(n)
    for harmonic in range(1, 16):
        frequency = harmonic * f0
        weight = np.exp(-(((frequency - formant) / 500.0) ** 2)) + 0.3 / harmonic
        voice += weight * np.sin(harmonic * phase) * (frequency < sr / 2)
    # Phrases: the singer breathes (silence) now and then.
    phrase = (np.sin(2 * np.pi * t / rng.uniform(2.5, 4.0) + rng.uniform(0, 6)) > -0.6).astype(
        float
    )
    envelope = np.convolve(phrase, np.hanning(2048) / np.hanning(2048).sum(), mode="same")
    return _pan(voice * envelope, rng.uniform(-0.2, 0.2))


def _pad(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    chord_s = rng.uniform(1.0, 2.0)
    progression = [0, 5, 7, 3]
    semitone = np.array([progression[int(k) % 4] for k in t / chord_s])
    out = np.zeros((n, 2))
    for interval, position in ((0, -0.6), (4, 0.6), (7, 0.0), (12, -0.3)):
        f = root * 2 ** ((semitone + interval) / 12)
        phase = 2 * np.pi * np.cumsum(f) / sr
        tone = sum(np.sin(k * phase) / k for k in range(1, 8))  # band-limited saw-like
        out += _pan(tone, position)
    return 0.25 * out


def _bass(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    beat_s = 60.0 / rng.uniform(90, 130)
    notes = 55.0 * 2 ** (rng.integers(0, 7, size=int(n / sr / beat_s) + 2) / 12)
    index = (t / beat_s).astype(int)
    since = t - index * beat_s
    f = notes[index]
    tone = np.sin(2 * np.pi * f * since) + 0.3 * np.sin(4 * np.pi * f * since)
    return _pan(tone * np.exp(-4.0 * since), 0.0)


def _drums(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    beat_s = 60.0 / rng.uniform(90, 130) / 2
    index = (t / beat_s).astype(int)
    since = t - index * beat_s
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-30 * since)) * since) * np.exp(-12 * since)
    kick *= index % 4 == 0
    noise = rng.standard_normal((n, 2))
    snare = noise * np.exp(-25 * since)[:, None] * (index % 4 == 2)[:, None]
    hats = np.diff(noise, axis=0, prepend=0.0) * np.exp(-60 * since)[:, None] * 0.3
    return _pan(kick, 0.0) + 0.5 * snare + hats


_GENERATORS = {"vocals": _voice, "drums": _drums, "bass": _bass, "other": _pad}


def generate_song(
    duration_s: float, seed: int, sample_rate: int = SAMPLE_RATE
) -> Dict[str, np.ndarray]:
    """One song: ``{"mixture", "vocals", "drums", "bass", "other"}`` -> ``(n, 2)`` float32, the
    stems on the 16-bit grid, the mixture their exact sum, peaking below 0.9."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sample_rate))
    stems = {name: _GENERATORS[name](rng, n, sample_rate) for name in STEMS}
    levels = {"vocals": 0.3, "drums": 0.6, "bass": 0.25, "other": 0.2}
    for name, stem in stems.items():
        stems[name] = levels[name] * stem / (np.max(np.abs(stem)) + 1e-12)
    peak = np.max(np.abs(sum(stems.values())))
    scale = 0.85 / peak if peak > 0.85 else 1.0
    song = {name: np.round(stem * scale * 32768) / 32768 for name, stem in stems.items()}
    song = {name: stem.astype(np.float32) for name, stem in song.items()}
    song["mixture"] = np.sum([song[name] for name in STEMS], axis=0, dtype=np.float32)
    return song


def generate_musdb_tree(
    root: Union[str, Path],
    n_songs: int = 3,
    duration_s: float = 3.0,
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
) -> List[Path]:
    """Write ``n_songs`` songs into each of ``root/train`` and ``root/test`` (MUSDB18-HQ layout,
    16-bit PCM stereo WAV at ``sample_rate``); returns the song directories."""
    root = Path(root)
    directories = []
    for split_index, split in enumerate(("train", "test")):
        for index in range(n_songs):
            song_seed = seed * 100_003 + split_index * 1_009 + index
            song = generate_song(duration_s, song_seed, sample_rate)
            directory = (
                root / split / f"Synthetic Artist {index:02d} - {split.title()} Song {index:02d}"
            )
            directory.mkdir(parents=True, exist_ok=True)
            for name, waveform in song.items():
                sf.write(directory / f"{name}.wav", waveform, sample_rate, subtype="PCM_16")
            directories.append(directory)
    return directories


# ffmpeg encoder arguments and file suffix per lossy codec of ``codec_round_trip``.
LOSSY_CODECS = {"aac": (["-c:a", "aac"], ".m4a"), "mp3": (["-c:a", "libmp3lame"], ".mp3")}


def codec_round_trip(
    waveform: np.ndarray, codec: str = "aac", bitrate: str = "128k", sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """``waveform (n, 2)`` written as 16-bit PCM, encoded by ffmpeg (``aac`` or ``mp3``) and
    decoded back as float (as musdb reads MUSDB18's AAC stems): ``(n, 2)`` float64, cut or
    zero-padded to ``n`` samples (the codec's padding). Needs ffmpeg on PATH."""
    from ..audio.io import load

    arguments, suffix = LOSSY_CODECS[codec]
    with tempfile.TemporaryDirectory() as scratch:
        source, encoded = Path(scratch, "stem.wav"), Path(scratch, "stem" + suffix)
        sf.write(source, waveform, sample_rate, subtype="PCM_16")
        command = ["ffmpeg", "-v", "error", "-y", "-i", str(source), *arguments]
        subprocess.run([*command, "-b:a", bitrate, str(encoded)], check=True)
        decoded, _ = load(str(encoded), dtype=np.float64)
    decoded = decoded[: len(waveform)]
    return np.pad(decoded, [(0, len(waveform) - len(decoded)), (0, 0)])
