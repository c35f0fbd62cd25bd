"""Presets load with Spleeter's values; invalid configurations fail naming the key."""

import json

import pytest

from spleeter_paddle.configuration import PRESETS, load_configuration
from spleeter_paddle.errors import ConfigurationError


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads(name):
    params = load_configuration(f"spleeter:{name}")
    assert params["sample_rate"] == 44100
    assert params["frame_length"] == 4096 and params["frame_step"] == 1024 and params["T"] == 512
    assert params["F"] == (1536 if name.endswith("16kHz") else 1024)
    assert params["mask_extension"] == "zeros"


def test_preset_values_match_spleeter():
    two = load_configuration("spleeter:2stems")
    assert two["instrument_list"] == ["vocals", "accompaniment"]
    assert two["model"] == {"type": "unet.unet", "params": {}}
    five = load_configuration("spleeter:5stems")
    assert five["instrument_list"] == ["vocals", "piano", "drums", "bass", "other"]
    assert five["model"]["type"] == "unet.softmax_unet"
    assert five["model"]["params"] == {"conv_activation": "ELU", "deconv_activation": "ELU"}
    four16 = load_configuration("spleeter:4stems-16kHz")
    assert four16["model_dir"] == "4stems" and four16["random_seed"] == 3
    assert load_configuration("spleeter:musdb")["n_chunks_per_song"] == 1


def test_json_path_and_defaults(tmp_path):
    params = load_configuration("spleeter:2stems")
    del params["n_chunks_per_song"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(params))
    loaded = load_configuration(str(path))
    assert loaded["n_chunks_per_song"] == 2 and loaded["chunk_duration"] == 20.0


@pytest.mark.parametrize(
    "change, key",
    [
        ({"model": {"type": "unet.nope"}}, "model.type"),
        ({"F": 2050}, "'F'"),
        ({"T": 500}, "'T'"),
        ({"F": 1000}, "'F'"),
        ({"mask_extension": "mirror"}, "mask_extension"),
        ({"instrument_list": []}, "instrument_list"),
        ({"sample_rate": "44100"}, "sample_rate"),
    ],
)
def test_invalid_values_name_the_key(change, key):
    params = {**load_configuration("spleeter:2stems"), **change}
    with pytest.raises(ConfigurationError) as error:
        load_configuration(params)
    assert key in str(error.value)


def test_missing_key_is_named():
    params = load_configuration("spleeter:2stems")
    del params["frame_step"]
    with pytest.raises(ConfigurationError, match="missing required key 'frame_step'"):
        load_configuration(params)


def test_unknown_preset_and_missing_file(tmp_path):
    with pytest.raises(ConfigurationError, match="unknown preset"):
        load_configuration("spleeter:3stems")
    with pytest.raises(ConfigurationError, match="not found"):
        load_configuration(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigurationError, match="bad.json"):
        load_configuration(str(bad))
