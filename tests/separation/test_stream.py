"""``Separator.stream``: stem blocks come out while input blocks go in, equal to ``separate``."""

import numpy as np
import pytest

RATE = 44100


def _song(seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    voice = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 0.5 * t))
    noise = 0.05 * rng.standard_normal(t.size)
    return np.stack([voice + noise, 0.5 * voice + noise], axis=1).astype(np.float32)


def test_stream_equals_separate_and_yields_before_the_input_ends(official_separator):
    waveform = _song(14)  # two 512-frame segments (11.9 s each): a boundary, a partial last one
    consumed = []

    def blocks():
        for start in range(0, len(waveform), 10_000):  # any block size
            consumed.append(start)
            yield waveform[start : start + 10_000]

    outputs = []
    first_output_after = None
    for stems in official_separator.stream(blocks()):
        if first_output_after is None:
            first_output_after = consumed[-1] + 10_000
        outputs.append(stems)
    streamed = {name: np.concatenate([block[name] for block in outputs]) for name in outputs[0]}
    expected = official_separator.separate(waveform)
    segment = official_separator.segment_frames * 1024
    assert first_output_after <= segment + 4096 + 10_000 < len(waveform)
    for name, stem in expected.items():
        assert streamed[name].shape == stem.shape == (len(waveform), 2)
        np.testing.assert_allclose(streamed[name], stem, rtol=0, atol=1e-6)


def test_stream_refuses_nan_blocks_and_mwf(official_separator):
    bad = _song(1)
    bad[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        list(official_separator.stream([bad]))
    official_separator.mwf = True
    try:
        with pytest.raises(ValueError, match="mwf"):
            list(official_separator.stream([_song(1)]))
    finally:
        official_separator.mwf = False
