"""TF -> Paddle conversion for any instrument count, and the safetensors weight files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest
import soundfile as sf
from tf_bundle_writer import (
    TINY_FILTERS,
    expected_paddle_state,
    tiny_params,
    unet_tf_variables,
    write_bundle,
)

from spleeter_paddle.configuration import load_configuration
from spleeter_paddle.errors import CheckpointError, ModelError
from spleeter_paddle.model import build_model
from spleeter_paddle.pretrained import (
    TFCheckpoint,
    convert_checkpoint,
    load_weights,
    read_metadata,
    save_weights,
    tf_variable_map,
)

REPO = Path(__file__).resolve().parents[2]


def _assert_model_holds(model, expected: dict) -> None:
    state = model.state_dict()
    assert set(state) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(state[key].numpy(), value, err_msg=key)


def test_variable_names_follow_keras_creation_order():
    mapping = {
        key: tf
        for key, tf, _ in tf_variable_map(load_configuration("spleeter:5stems")["instrument_list"])
    }
    assert len(mapping) == 5 * (7 * 2 + 6 * 2 + 12 * 4)
    assert mapping["unets.vocals.encoder.0.conv.weight"] == "conv2d/kernel"
    assert mapping["unets.vocals.head.bias"] == "conv2d_6/bias"
    assert mapping["unets.vocals.decoder.0.bn._mean"] == "batch_normalization_6/moving_mean"
    assert mapping["unets.piano.encoder.0.conv.bias"] == "conv2d_7/bias"
    assert mapping["unets.piano.decoder.5.deconv.weight"] == "conv2d_transpose_11/kernel"
    assert mapping["unets.other.encoder.5.bn.weight"] == "batch_normalization_53/gamma"
    assert mapping["unets.other.decoder.5.bn._variance"] == "batch_normalization_59/moving_variance"
    assert mapping["unets.other.head.weight"] == "conv2d_34/kernel"
    assert mapping["unets.other.decoder.0.deconv.bias"] == "conv2d_transpose_24/bias"


@pytest.mark.parametrize("preset", ["4stems", "5stems"])
def test_random_checkpoint_loads_exactly_and_runs(preset: str, tmp_path: Path):
    params = load_configuration(f"spleeter:{preset}")
    instruments = params["instrument_list"]
    variables = unet_tf_variables(len(instruments), np.random.default_rng(len(instruments)))
    prefix = write_bundle(tmp_path / "model", variables, block_size=4096)
    model = build_model(params)
    model.set_state_dict(convert_checkpoint(TFCheckpoint(prefix), params, model=model))
    _assert_model_holds(model, expected_paddle_state(variables, instruments))
    model.eval()
    mix = paddle.rand([1, 2, 64, 128]) * 5
    with paddle.no_grad():
        estimates = model(mix).numpy()
    assert estimates.shape == (1, len(instruments), 2, 64, 128)
    assert np.isfinite(estimates).all()
    if params["model"]["type"] == "unet.softmax_unet":  # masks sum to one across instruments
        np.testing.assert_allclose(estimates.sum(axis=1), mix.numpy(), rtol=1e-5, atol=1e-5)


def test_official_2stems_conversion(official_2stems_prefix: Path):
    params = load_configuration("spleeter:2stems")
    checkpoint = TFCheckpoint(official_2stems_prefix)
    state = convert_checkpoint(checkpoint, params)
    assert len(state) == 148
    conv = checkpoint.read("conv2d_8/kernel")  # [kh, kw, in, out]
    np.testing.assert_array_equal(
        state["unets.accompaniment.encoder.1.conv.weight"][7, 3, 1, 4], conv[1, 4, 3, 7]
    )
    deconv = checkpoint.read("conv2d_transpose_2/kernel")  # [kh, kw, out, in]
    assert state["unets.vocals.decoder.2.deconv.weight"].shape == (256, 64, 5, 5)
    np.testing.assert_array_equal(
        state["unets.vocals.decoder.2.deconv.weight"][200, 10, 0, 3], deconv[0, 3, 10, 200]
    )
    model = build_model(params)
    model.set_state_dict(state)
    model.eval()
    with paddle.no_grad():
        assert model(paddle.rand([1, 2, 64, 128])).shape == [1, 2, 2, 64, 128]


def test_instrument_count_mismatch_is_explained(tiny_checkpoint, tmp_path: Path):
    prefix, _, params = tiny_checkpoint
    with pytest.raises(CheckpointError, match="lacks .* 4-instrument"):
        convert_checkpoint(prefix, tiny_params(preset="4stems"))
    four = write_bundle(
        tmp_path / "four" / "model", unet_tf_variables(4, np.random.default_rng(0), TINY_FILTERS)
    )
    with pytest.raises(CheckpointError, match="more instruments than 2"):
        convert_checkpoint(four, params)


def test_shape_mismatch_names_the_variable(tmp_path: Path):
    variables = unet_tf_variables(2, np.random.default_rng(0), TINY_FILTERS)
    variables["conv2d_9/kernel"] = np.zeros((5, 5, 4, 3), np.float32)
    prefix = write_bundle(tmp_path / "model", variables)
    with pytest.raises(
        CheckpointError, match=r"conv2d_9/kernel.*\[5, 5, 4, 3\].*unets\.accompaniment\.encoder\.2"
    ):
        convert_checkpoint(prefix, tiny_params())
    with pytest.raises(CheckpointError, match="blstm"):
        convert_checkpoint(
            prefix, {**tiny_params(), "model": {"type": "blstm.blstm", "params": {}}}
        )


def test_optimizer_slots_and_extra_variables_are_ignored(tmp_path: Path):
    variables = unet_tf_variables(2, np.random.default_rng(0), TINY_FILTERS)
    variables["conv2d/kernel/Adam"] = np.zeros((5, 5, 2, 2), np.float32)
    variables["beta1_power"] = np.array(0.9, np.float32)
    prefix = write_bundle(tmp_path / "model", variables)
    params = tiny_params()
    model = build_model(params)
    model.set_state_dict(convert_checkpoint(prefix, params, model=model))
    _assert_model_holds(model, expected_paddle_state(variables, params["instrument_list"]))


# --- weight files -------------------------------------------------------------------------------


@pytest.fixture
def tiny_weights(tmp_path: Path):
    params = tiny_params()
    model = build_model(params)
    directory = tmp_path / "weights"
    save_weights(model.state_dict(), directory, {"config": params, "source": "test", "step": 3})
    return params, model, directory


def test_weights_round_trip_with_metadata(tiny_weights):
    params, model, directory = tiny_weights
    assert sorted(p.name for p in directory.iterdir()) == ["model.json", "model.safetensors"]
    metadata = read_metadata(directory)
    assert metadata["format"] == 1 and metadata["source"] == "test" and metadata["step"] == 3
    assert metadata["config"]["model"]["params"]["conv_n_filters"] == TINY_FILTERS
    assert list(metadata["sha256"]) == ["model.safetensors"]
    assert (directory / "model.safetensors").read_bytes()[8:9] == b"{"  # safetensors, not pickle
    fresh = build_model(params)
    for parameter in fresh.parameters():
        parameter.set_value(np.zeros(parameter.shape, np.float32))
    load_weights(fresh, directory)
    _assert_model_holds(fresh, {k: v.numpy() for k, v in model.state_dict().items()})


def test_corrupted_weights_are_refused(tiny_weights):
    params, model, directory = tiny_weights
    weights = directory / "model.safetensors"
    damaged = bytearray(weights.read_bytes())
    damaged[-3] ^= 1
    weights.write_bytes(bytes(damaged))
    with pytest.raises(ModelError, match=r"model\.safetensors.*corrupted"):
        load_weights(model, directory)
    weights.write_bytes(bytes(damaged[:100]))
    with pytest.raises(ModelError, match=r"model\.safetensors"):
        load_weights(model, directory)
    (directory / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"model\.json"):
        load_weights(model, directory)
    weights.unlink()
    with pytest.raises(ModelError, match="not found"):
        load_weights(model, directory)


def test_weights_for_another_configuration_are_refused(tiny_weights, tmp_path: Path):
    params, model, directory = tiny_weights
    with pytest.raises(ModelError, match="missing unets.drums"):
        load_weights(build_model(tiny_params(preset="4stems")), directory)
    wider = dict(params, model={"type": "unet.unet", "params": {}})
    with pytest.raises(
        ModelError, match=r"unets\.vocals\.encoder\.0\.conv\.weight.*\[2, 2, 5, 5\]"
    ):
        load_weights(build_model(wider), directory)


def test_saving_replaces_files_atomically(tiny_weights):
    params, model, directory = tiny_weights
    before = read_metadata(directory)["sha256"]
    state = {k: v.numpy() * 2 for k, v in model.state_dict().items()}
    save_weights(state, directory, {"config": "custom", "source": "retrained"})
    after = read_metadata(directory)
    assert after["sha256"] != before and after["config"] == "custom"
    assert sorted(p.name for p in directory.iterdir()) == ["model.json", "model.safetensors"]
    assert json.loads((directory / "model.json").read_text())["format"] == 1
    mode = (directory / "model.safetensors").stat().st_mode & 0o777
    assert mode & 0o044 or mode == 0o600  # readable by others unless the umask forbids it


# --- non-finite weights ---------------------------------------------------------------------------

POISONED_KEY = "unets.vocals.decoder.2.bn._variance"


def _poisoned_weights(params, directory: Path, value: float) -> Path:
    """A consistent weights directory (sha256 matches) whose ``POISONED_KEY`` holds one ``value``."""
    state = {k: v.numpy().copy() for k, v in build_model(params).state_dict().items()}
    state[POISONED_KEY].reshape(-1)[1] = value
    save_weights(state, directory, {"config": params, "source": "test"})
    return directory / "model.safetensors"


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_naming_tensor_and_file(tmp_path: Path, value):
    params = tiny_params()
    weights = _poisoned_weights(params, tmp_path / "weights", value)
    kind = "NaN" if np.isnan(value) else "infinite"
    model = build_model(params)
    with pytest.raises(ModelError) as caught:
        load_weights(model, weights.parent)
    message = str(caught.value)
    assert message.startswith(f"{weights}: tensor '{POISONED_KEY}' holds 1 {kind} value")
    assert "first at [1]" in message and "\n" not in message


def test_non_finite_tf_variable_is_refused_at_conversion(tmp_path: Path):
    params = tiny_params()
    variables = unet_tf_variables(2, np.random.default_rng(3), filters=TINY_FILTERS)
    variables["conv2d_transpose_8/kernel"][0, 1, 0, 0] = np.nan
    prefix = write_bundle(tmp_path / "tf" / "model", variables)
    with pytest.raises(CheckpointError) as caught:
        convert_checkpoint(prefix, params)
    message = str(caught.value)
    assert "'conv2d_transpose_8/kernel' holds 1 NaN value(s) (first at [0, 1, 0, 0])" in message
    assert message.startswith(str(prefix.parent / "model.index"))


def test_separating_with_nan_weights_fails_with_one_line(tmp_path: Path):
    params = tiny_params()
    weights = _poisoned_weights(params, tmp_path / "weights", np.nan)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(params))
    rate = 44100
    song = 0.1 * np.sin(np.arange(rate) * 2 * np.pi * 440 / rate)
    sf.write(tmp_path / "song.wav", np.stack([song, song], axis=1), rate)
    result = subprocess.run(
        [sys.executable, "-m", "spleeter_paddle", "separate", "-p", str(config),
         "--model-dir", str(weights.parent), "--backend", "eager", "-o", "out", "song.wav"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == ModelError.exit_code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(weights) in lines[0] and f"'{POISONED_KEY}' holds 1 NaN" in lines[0]
    assert lines[0].startswith("spleeter-paddle: error: ")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.wav"))
