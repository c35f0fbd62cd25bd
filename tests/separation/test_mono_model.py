"""A 1-channel model (``n_channels: 1``) separates end to end: the input's first channel goes in,
as the spectrogram cache trains on it, and the stems come out stereo (the mono estimate in both
channels) from ``separate``, ``stream``, ``separate_to_file`` and with the Wiener filter; a model
of more than 2 channels is refused by the configuration check."""

import copy

import numpy as np
import paddle
import pytest
import soundfile as sf

from spleeter_paddle.configuration import load_configuration
from spleeter_paddle.errors import ConfigurationError
from spleeter_paddle.model import build_model
from spleeter_paddle.separation.separator import Separator
from spleeter_paddle.training.checkpoint import export_model as save_trained

RATE = 44100


@pytest.fixture(scope="module")
def mono_model(tmp_path_factory):
    params = copy.deepcopy(dict(load_configuration("spleeter:2stems")))
    params.update(F=64, T=64, n_channels=1, model_dir="mono")
    paddle.seed(0)
    model = build_model(params)
    model.eval()
    folder = tmp_path_factory.mktemp("mono")
    save_trained(model, params, folder)
    return params, folder


def _noise(seconds, seed=0):
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((int(seconds * RATE), 2))).astype(np.float32)


@pytest.mark.parametrize("backend", ["eager", "predictor"])
def test_mono_model_separates_stereo_and_mono_input(mono_model, backend):
    params, folder = mono_model
    separator = Separator(params, model_dir=folder, backend=backend)
    waveform = _noise(3)
    stems = separator.separate(waveform)
    for stem in stems.values():
        assert stem.shape == waveform.shape
        np.testing.assert_array_equal(stem[:, 0], stem[:, 1])
    left = separator.separate(waveform[:, 0])  # the first channel is what the model sees
    for name, stem in stems.items():
        np.testing.assert_allclose(left[name], stem, rtol=0, atol=1e-6)
    streamed = list(separator.stream([waveform[:50_000], waveform[50_000:]]))
    for name, stem in stems.items():
        joined = np.concatenate([block[name] for block in streamed])
        np.testing.assert_allclose(joined, stem, rtol=0, atol=1e-6)


def test_mono_model_writes_files_and_takes_the_wiener_filter(mono_model, tmp_path):
    params, folder = mono_model
    song = tmp_path / "song.wav"
    sf.write(song, _noise(2, seed=1), RATE)
    paths = Separator(params, model_dir=folder).separate_to_file(song, tmp_path / "out")
    for path in paths.values():
        info = sf.info(path)
        assert (info.frames, info.channels) == (2 * RATE, 2)
    stems = Separator(params, model_dir=folder, mwf=True).separate(_noise(2, seed=1))
    assert all(np.isfinite(stem).all() and stem.shape == (2 * RATE, 2) for stem in stems.values())


def test_more_than_two_channels_is_refused_by_the_configuration():
    params = copy.deepcopy(dict(load_configuration("spleeter:2stems")))
    params["n_channels"] = 3
    with pytest.raises(ConfigurationError, match="key 'n_channels' must be at most 2"):
        load_configuration(params)
