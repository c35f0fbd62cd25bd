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


@pytest.mark.parametrize(
    "change, key, bound",
    [
        ({"sample_rate": 44_100_000}, "sample_rate", "384000"),
        ({"sample_rate": 1}, "sample_rate", "8000"),
        ({"frame_length": 1 << 24}, "frame_length", "65536"),
        ({"T": 64 * 1024}, "'T'", "8192"),
        ({"n_chunks_per_song": 5000}, "n_chunks_per_song", "1000"),
        ({"chunk_duration": 86_400.0}, "chunk_duration", "600"),
        ({"batch_size": 10**6}, "batch_size", "4096"),
        ({"instrument_list": [f"stem{i}" for i in range(17)]}, "instrument_list", "16"),
    ],
)
def test_implausible_sizes_are_refused_before_any_work(change, key, bound):
    """Type-correct values no model can use (a 5 GiB STFT from 44.1 MHz, 17 stems) are refused
    when the configuration loads, naming the key and the bound."""
    params = {**load_configuration("spleeter:2stems"), **change}
    with pytest.raises(ConfigurationError) as error:
        load_configuration(params)
    assert key in str(error.value) and bound in str(error.value)


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


# Every key of Spleeter's configuration reference (and chunk_duration, loss_type), with values
# the flags would refuse: each is a ConfigurationError naming the key, whatever the JSON type.
BAD_VALUES = [
    ("learning_rate", float("nan"), "finite number > 0"),
    ("learning_rate", float("inf"), "finite number > 0"),
    ("learning_rate", -1.0, "must be > 0"),
    ("learning_rate", 0, "must be > 0"),
    ("learning_rate", "1e-4", "must be a number"),
    ("batch_size", 0, "must be positive"),
    ("batch_size", 2.5, "must be a whole number"),
    ("random_seed", -3, "must be >= 0"),
    ("random_seed", 2**32, "at most 4294967295"),
    ("save_checkpoints_steps", 0, "must be positive"),
    ("save_summary_steps", 0, "must be positive"),
    ("train_max_steps", 0, "must be positive"),
    ("throttle_secs", -1, "must be in [0, 1e+09]"),
    ("separation_exponent", float("nan"), "finite number > 0"),
    ("separation_exponent", float("inf"), "finite number > 0"),
    ("n_chunks_per_song", 0, "must be positive"),
    ("chunk_duration", float("nan"), "finite number in (0, 600]"),
    ("chunk_duration", 0, "must be in (0, 600]"),
    ("sample_rate", 0, "must be >= 8000"),
    ("frame_length", 4096.0, "must be a whole number"),
    ("frame_step", True, "must be a whole number"),
    ("frame_step", 8192, "exceeds frame_length"),
    ("T", -64, "must be positive"),
    ("F", None, "must be a whole number"),
    ("n_channels", 0, "must be positive"),
    ("MWF", "yes", "must be true or false"),
    ("mix_name", "", "non-empty string"),
    ("model_dir", 3, "non-empty string"),
    ("train_csv", "", "non-empty string"),
    ("validation_csv", [], "non-empty string"),
    ("training_cache", None, "non-empty string"),
    ("validation_cache", "", "non-empty string"),
    ("loss_type", "weighted_L1_mask", "not implemented"),
    ("instrument_list", "vocals", "must be a list"),
    ("instrument_list", ["vocals", "../x"], "not usable as a file name"),
    ("instrument_list", ["vocals", "mix"], "the mix_name of the mixture"),
    ("model", [], "must be an object"),
    ("mask_extension", "mirror", "unknown"),
]


@pytest.mark.parametrize(
    "key, value, problem", BAD_VALUES, ids=[f"{k}={v!r}" for k, v, _ in BAD_VALUES]
)
def test_every_reference_key_is_checked_in_a_file(tmp_path, key, value, problem):
    params = {**load_configuration("spleeter:2stems"), key: value}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(params))  # NaN and Infinity as Python's json writes them
    with pytest.raises(ConfigurationError) as error:
        load_configuration(str(path))
    message = str(error.value)
    assert message.startswith(f"{path}: key '{key}'") and problem in message, message


def test_the_checked_keys_cover_spleeters_reference():
    reference = [
        "instrument_list",
        "mix_name",
        "model_dir",
        "model",
        "sample_rate",
        "frame_length",
        "frame_step",
        "T",
        "F",
        "n_channels",
        "n_chunks_per_song",
        "separation_exponent",
        "mask_extension",
        "MWF",
        "train_csv",
        "validation_csv",
        "learning_rate",
        "random_seed",
        "batch_size",
        "training_cache",
        "validation_cache",
        "train_max_steps",
        "throttle_secs",
        "save_checkpoints_steps",
        "save_summary_steps",
    ]
    assert set(reference) <= {key for key, _, _ in BAD_VALUES}


def test_good_values_of_every_type_pass_and_are_kept_as_written():
    params = {**load_configuration("spleeter:2stems"), "learning_rate": 1, "MWF": True}
    params.update(throttle_secs=0, separation_exponent=1.5, random_seed=2**32 - 1)
    loaded = load_configuration(params)
    assert loaded["learning_rate"] == 1 and isinstance(loaded["learning_rate"], int)
    assert loaded["separation_exponent"] == 1.5 and loaded["random_seed"] == 2**32 - 1


def test_a_dict_is_named_as_the_caller_says():
    params = {**load_configuration("spleeter:2stems"), "T": 16}
    with pytest.raises(ConfigurationError, match=r"^my settings: key 'T' = 16 must be"):
        load_configuration(params, "my settings")
    with pytest.raises(ConfigurationError) as error:
        load_configuration(params)
    assert "<dict>" not in str(error.value)


@pytest.mark.parametrize(
    "model, problem",
    [
        ({"type": "unet.unet", "params": {"conv_activation": "relu"}}, "must be one of"),
        ({"type": "unet.unet", "params": {"deconv_activation": None}}, "must be one of"),
        ({"type": "unet.unet", "params": {"conv_n_filters": [16, 32]}}, "list of 6 positive"),
        ({"type": "unet.unet", "params": {"conv_activaton": "ELU"}}, "would be ignored"),
        ({"type": "blstm.blstm", "params": {"lstm_units": 0}}, "must be positive"),
        ({"type": "blstm.blstm", "params": {"conv_activation": "ELU"}}, "would be ignored"),
    ],
)
def test_model_params_that_would_be_ignored_or_misread_are_refused(model, problem):
    params = {**load_configuration("spleeter:2stems"), "model": model}
    with pytest.raises(ConfigurationError, match=f"key 'model.params.[a-z_]+' .*{problem}"):
        load_configuration(params)
