"""The stem pictures: a fixed dB scale, so a quiet stem looks quiet and a silent one black."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from spleeter_paddle.web.pictures import (
    FLOOR_DB,
    MAX_COLUMNS,
    N_FFT,
    render_stem_picture,
    spectrogram_db,
)

RATE = 44100


def test_a_full_scale_sine_peaks_at_0_db_at_its_frequency_and_silence_sits_on_the_floor():
    t = np.arange(3 * RATE) / RATE
    frequency = 46 * RATE / N_FFT  # on a bin: no scalloping loss (990.5 Hz)
    image = spectrogram_db(np.sin(2 * np.pi * frequency * t).astype(np.float32))
    assert image.shape == (N_FFT // 2 + 1, 1 + (t.size - N_FFT) // (N_FFT // 4))
    peak_bin = np.argmax(image.mean(axis=1))
    assert peak_bin == 46
    assert image.max() == pytest.approx(0.0, abs=0.05)  # not normalised to each stem's maximum
    quiet = spectrogram_db(0.01 * np.sin(2 * np.pi * frequency * t).astype(np.float32))
    assert quiet.max() == pytest.approx(-40.0, abs=0.05)
    assert np.all(spectrogram_db(np.zeros(RATE, np.float32)) == FLOOR_DB)
    assert spectrogram_db(np.zeros(100 * RATE, np.float32)).shape[1] == MAX_COLUMNS
    assert spectrogram_db(np.zeros(10, np.float32)).shape == (N_FFT // 2 + 1, 1)


def test_the_picture_is_written_atomically_as_png(tmp_path):
    stem = tmp_path / "vocals.wav"
    sf.write(stem, np.zeros((RATE // 2, 2), np.float32), RATE)
    picture = render_stem_picture(stem, tmp_path / "vocals.png", "vocals", RATE)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vocals.png", "vocals.wav"]
