"""The TensorFlow checkpoint writer: what it writes reads back bit for bit (our reader, CRCs
checked), the official 2stems checkpoint survives TF -> Paddle -> TF unchanged, and replacing a
run's checkpoint removes only the files the last export wrote."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tf_bundle_writer import tiny_params

from spleeter_paddle.configuration import load_configuration
from spleeter_paddle.model import build_model
from spleeter_paddle.pretrained.convert import convert_checkpoint
from spleeter_paddle.pretrained.tf_checkpoint import TFCheckpoint, find_checkpoint_prefix
from spleeter_paddle.pretrained.tf_writer import replace_tf_checkpoint, write_tf_checkpoint


def _state(params: dict) -> dict:
    model = build_model(params)
    return {key: value.numpy() for key, value in model.state_dict().items()}


def test_written_checkpoint_reads_back_bit_for_bit(tmp_path: Path):
    params = tiny_params()
    state = _state(params)
    written = write_tf_checkpoint(state, params, tmp_path, step=10)
    assert set(written) == {
        "model.ckpt-10.index",
        "model.ckpt-10.data-00000-of-00001",
        "checkpoint",
    }
    assert (
        (tmp_path / "checkpoint").read_text().startswith('model_checkpoint_path: "model.ckpt-10"')
    )
    prefix = find_checkpoint_prefix(tmp_path)
    assert prefix == tmp_path / "model.ckpt-10"
    checkpoint = TFCheckpoint(prefix)
    assert int(checkpoint.read("global_step")) == 10
    back = convert_checkpoint(checkpoint, params)  # every tensor's CRC is verified
    assert back.keys() == state.keys()
    for key, value in state.items():
        assert back[key].dtype == value.dtype
        assert np.array_equal(back[key], value), key


def test_official_checkpoint_survives_the_round_trip(official_2stems_prefix: Path, tmp_path: Path):
    params = load_configuration("spleeter:2stems")
    official = TFCheckpoint(official_2stems_prefix)
    state = convert_checkpoint(official, params)
    write_tf_checkpoint(state, params, tmp_path, step=0)
    ours = TFCheckpoint(tmp_path / "model.ckpt-0")
    model_variables = [name for name in ours.names() if name != "global_step"]
    assert len(model_variables) == len(state)
    for name in model_variables:
        expected = official.read(name)
        assert ours.shape(name) == official.shape(name), name
        assert np.array_equal(ours.read(name), expected), name


def test_replacing_removes_only_what_the_last_export_wrote(tmp_path: Path):
    params = tiny_params()
    state = _state(params)
    first = replace_tf_checkpoint(state, params, tmp_path, 10, {})
    second = replace_tf_checkpoint(state, params, tmp_path, 20, first)
    assert not (tmp_path / "model.ckpt-10.index").exists()
    assert find_checkpoint_prefix(tmp_path) == tmp_path / "model.ckpt-20"
    # A file changed since it was written is someone's: it stays.
    data = tmp_path / "model.ckpt-20.data-00000-of-00001"
    data.write_bytes(data.read_bytes() + b"mine")
    replace_tf_checkpoint(state, params, tmp_path, 30, second)
    assert data.exists() and (tmp_path / "model.ckpt-30.index").exists()


def test_a_foreign_checkpoint_state_is_never_replaced(tmp_path: Path):
    params = tiny_params()
    foreign = 'model_checkpoint_path: "model.ckpt-5"\n'
    (tmp_path / "checkpoint").write_text(foreign)
    assert replace_tf_checkpoint(_state(params), params, tmp_path, 10, {}) == {}
    assert (tmp_path / "checkpoint").read_text() == foreign
    assert not (tmp_path / "model.ckpt-10.index").exists()


def test_files_at_this_steps_names_that_the_run_did_not_write_are_kept(tmp_path: Path):
    params = tiny_params()
    state = _state(params)
    first = replace_tf_checkpoint(state, params, tmp_path, 10, {})
    mine = tmp_path / "model.ckpt-20.index"
    mine.write_text("USER")  # put there by someone before the run reached step 20
    assert replace_tf_checkpoint(state, params, tmp_path, 20, first) == {}
    assert mine.read_text() == "USER"
    assert find_checkpoint_prefix(tmp_path) == tmp_path / "model.ckpt-10"  # the last export stays
