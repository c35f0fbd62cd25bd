"""Weights are only run under the configuration they were made for (beyond names and shapes)."""

import copy

import paddle
import pytest

from spleeter_paddle.configuration import load_configuration
from spleeter_paddle.errors import ModelError
from spleeter_paddle.model import build_model
from spleeter_paddle.pretrained.store import save_weights
from spleeter_paddle.pretrained.weights import load_pretrained_model


def _params(**model_params):
    params = copy.deepcopy(dict(load_configuration("spleeter:2stems")))
    params.update(F=64, T=64)
    params["model"] = {"type": "unet.unet", "params": dict(model_params)}
    return params


@pytest.fixture
def trained_dir(tmp_path):
    """A model directory as training exports it: weights + the full configuration."""
    params = _params()
    paddle.seed(0)
    save_weights(build_model(params).state_dict(), tmp_path / "m", {"config": params})
    return tmp_path / "m"


@pytest.mark.parametrize(
    "change",
    [
        {"model": {"type": "unet.unet", "params": {"conv_activation": "ELU"}}},
        {"model": {"type": "unet.softmax_unet", "params": {}}},
        {"frame_length": 2048},
        {"sample_rate": 16000},
        {"instrument_list": ["vocals", "drums"]},
    ],
)
def test_weights_made_for_another_configuration_are_refused(trained_dir, change):
    params = {**_params(), **change}
    with pytest.raises(ModelError, match="made with") as error:
        load_pretrained_model(params, model_dir=trained_dir)
    assert str(trained_dir) in str(error.value)


def test_same_meaning_loads(trained_dir):
    same = _params(conv_activation="LeakyReLU", deconv_activation="ReLU")  # the defaults, spelled
    same["instrument_list"] = ["accompaniment", "vocals"]  # order: outputs follow the config
    same["F"] = 128  # the U-Net is convolutional in F (Spleeter's 16 kHz presets rely on it)
    model = load_pretrained_model(same, model_dir=trained_dir)
    assert model.graph_config["instrument_list"] == ["accompaniment", "vocals"]


def test_trained_weights_run_at_another_f_say_so(trained_dir, caplog):
    """Not refused (the U-Net is convolutional, the 16 kHz presets widen F on purpose) but never
    silent: bins a trained model never saw change its stems."""
    wider = {**_params(), "F": 128}
    with caplog.at_level("WARNING"):
        load_pretrained_model(wider, model_dir=trained_dir)
    assert "trained with F=64; separating with F=128" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        load_pretrained_model(_params(), model_dir=trained_dir)
    assert "trained with F" not in caplog.text


def test_official_weights_under_a_16khz_preset_are_not_warned_about(tmp_path, caplog):
    params = _params()
    paddle.seed(0)
    save_weights(build_model(params).state_dict(), tmp_path / "m", {"config": "spleeter:2stems"})
    official_16k = {**params, "F": 96}
    with caplog.at_level("WARNING"):
        load_pretrained_model(official_16k, model_dir=tmp_path / "m")
    assert "trained with F" not in caplog.text
