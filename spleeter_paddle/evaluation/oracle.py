"""Oracle separators (``Separating``): known songs separated with their true stems, recognised
from the mixture samples they get (upper bounds, pipeline checks)."""

from __future__ import annotations

import hashlib
from typing import Dict, Mapping, Optional, Sequence

import numpy as np

from ..errors import DataError
from .tracks import Track


def _fingerprint(waveform: np.ndarray) -> str:
    data = np.ascontiguousarray(waveform, dtype=np.float32)
    return hashlib.blake2b(data.tobytes() + str(data.shape).encode(), digest_size=16).hexdigest()


class OracleSeparator:
    """Returns each song's reference stems as its estimates.

    Args:
        tracks: the songs it can be asked to separate (mixtures as ``Track.load_mixture`` reads
            them).
        instruments: names it returns; one without a reference in a song is returned silent.
        sources: ``{instrument: reference target}`` to return instead of the instrument's own
            reference, e.g. ``{"vocals": "accompaniment", "accompaniment": "vocals"}`` (swap).
        ratio_mask: apply the references' ideal ratio masks (power spectrograms, Spleeter's
            exponent 2, over ``instruments``) to the mixture STFT instead: realistic, finite
            scores rather than infinite SDR.
    """

    def __init__(
        self,
        tracks: Sequence[Track],
        instruments: Sequence[str] = ("vocals", "accompaniment"),
        sources: Optional[Mapping[str, str]] = None,
        ratio_mask: bool = False,
    ):
        if not tracks:
            raise DataError("oracle separator: no songs given")
        self.tracks = list(tracks)
        self.instruments = list(instruments)
        self.sources = {name: (sources or {}).get(name, name) for name in self.instruments}
        self.ratio_mask = ratio_mask
        self.sample_rate = self.tracks[0].rate
        self._by_fingerprint: Dict[str, Track] = {}
        self._unseen = list(self.tracks)

    def evaluation_setting(self) -> Dict[str, object]:
        """What defines its estimates (the key of stored scores)."""
        return {
            "kind": "oracle",
            "instruments": self.instruments,
            "sources": self.sources,
            "ratio_mask": self.ratio_mask,
        }

    def _find(self, waveform: np.ndarray) -> Track:
        fingerprint = _fingerprint(waveform)
        while fingerprint not in self._by_fingerprint and self._unseen:
            track = self._unseen.pop(0)
            self._by_fingerprint[_fingerprint(track.load_mixture())] = track
        if fingerprint not in self._by_fingerprint:
            raise DataError(
                f"oracle separator: a mixture of {len(waveform)} samples is none of its songs"
            )
        return self._by_fingerprint[fingerprint]

    def separate(self, waveform: np.ndarray) -> Dict[str, np.ndarray]:
        """``(n_samples, 2)`` mixture of one of the songs -> ``{instrument: (n_samples, 2) float32}``."""
        track = self._find(waveform)
        wanted = sorted({s for s in self.sources.values() if s in track.targets})
        references = track.load_references(wanted)
        silent = np.zeros((len(waveform), 2), dtype=np.float32)
        stems = {
            name: references[source].astype(np.float32) if source in references else silent
            for name, source in self.sources.items()
        }
        if self.ratio_mask:
            stems = self._masked(np.asarray(waveform, dtype=np.float32), stems)
        return stems

    def _masked(self, mixture: np.ndarray, stems: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        from ..audio.spectrogram import istft, stft
        from ..separation.masks import ratio_masks

        magnitudes = np.stack([np.abs(stft(stem)) for stem in stems.values()])
        masks = ratio_masks(magnitudes, exponent=2.0, axis=0)
        mix_stft = stft(mixture)
        return {name: istft(mask * mix_stft, len(mixture)) for name, mask in zip(stems, masks)}
