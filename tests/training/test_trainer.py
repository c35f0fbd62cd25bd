"""The training loop in-process: checkpoints, export, exact resume, -lm, bad data, AMP, BN flag."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from data_helpers import small_params, two_stem_song, write_song
from safetensors.numpy import load_file

from spleeter_paddle.data.cache import process_data
from spleeter_paddle.data.manifest import build_manifests
from spleeter_paddle.errors import ModelError
from spleeter_paddle.model import build_model
from spleeter_paddle.pretrained.store import load_weights, read_metadata, read_weights
from spleeter_paddle.training import TrainingOptions, train_model
from spleeter_paddle.training.folder import resolve_initial_weights


def _options(run_dir: Path, **changes) -> TrainingOptions:
    defaults = dict(run_dir=str(run_dir), num_workers=0, log_every=1, device="cpu")
    return TrainingOptions(**{**defaults, **changes})


def test_checkpoints_keep_the_last_and_export(workspace, tmp_path: Path):
    params, _ = workspace
    run = tmp_path / "run"
    result = train_model(
        params, _options(run, max_steps=3, save_every=1, keep_checkpoints=2, validate_every=2)
    )
    # Validation at step 0 (before any update: a fine-tune's starting point) and every 2 steps.
    assert result.step == 3 and len(result.losses) == 3 and set(result.validation) == {0, 2}
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step_00000002",
        "step_00000003",
    ]
    metadata = read_metadata(run)
    assert metadata["source"] == "training" and metadata["step"] == 3
    assert metadata["config"]["T"] == 64 and metadata["config"]["instrument_list"] == [
        "vocals",
        "accompaniment",
    ]
    exported = load_weights(build_model(params), run)
    saved = load_file(str(run / "checkpoints" / "step_00000003" / "model.safetensors"))
    for key, value in exported.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), saved[key])


def test_resume_mid_epoch_continues_exactly(workspace, tmp_path: Path):
    """2 steps + resume for 2 more = 4 straight steps (batch 1: 4 steps per epoch)."""
    params, _ = workspace
    straight = train_model(
        params, _options(tmp_path / "a", max_steps=4, batch_size=1, save_every=100)
    )
    first = train_model(params, _options(tmp_path / "b", max_steps=2, batch_size=1, save_every=100))
    second = train_model(
        params, _options(tmp_path / "b", max_steps=4, batch_size=1, save_every=100)
    )
    assert (second.start_step, second.step) == (2, 4)
    np.testing.assert_allclose(first.losses + second.losses, straight.losses, rtol=1e-5)
    resumed = read_weights(tmp_path / "b")
    for key, value in read_weights(tmp_path / "a").items():
        np.testing.assert_allclose(resumed[key], value, rtol=1e-4, atol=1e-6)


def test_lm_loads_the_official_2stems_weights(
    workspace, tmp_path, pretrained_model_home, monkeypatch
):
    params, _ = workspace
    monkeypatch.setenv("MODEL_PATH", str(pretrained_model_home))
    result = train_model(
        params, _options(tmp_path / "run", max_steps=1, load_model=True, validate_every=0)
    )
    assert result.initial_weights == pretrained_model_home / "2stems"
    official, trained = (
        read_weights(pretrained_model_home / "2stems"),
        read_weights(tmp_path / "run"),
    )
    moved = 0.0
    for key, value in official.items():
        difference = np.abs(trained[key] - value).max()
        if key.endswith(("_mean", "_variance")):
            assert difference == 0  # stored BN statistics are not trained
        assert difference <= 1.5e-4, key  # one Adam step moves a weight by about lr = 1e-4
        moved = max(moved, difference)
    assert moved > 5e-5


def test_load_model_choices(workspace, tmp_path: Path, monkeypatch, caplog):
    params, _ = workspace
    home = tmp_path / "home"
    monkeypatch.setenv("MODEL_PATH", str(home))
    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "1")
    assert resolve_initial_weights(params, False) is None
    assert resolve_initial_weights(params, "False") is None
    with pytest.raises(ModelError, match="latest"):
        resolve_initial_weights(params, "latest")
    with pytest.raises(ModelError, match="use -lm False"):
        resolve_initial_weights(params, True)
    train_model(params, _options(home / "mine", max_steps=1, validate_every=0))
    assert resolve_initial_weights(params, "latest") == home / "mine"
    with pytest.raises(ModelError, match="latest"):  # the run itself does not count
        resolve_initial_weights(params, "latest", run_dir=home / "mine")
    with caplog.at_level(logging.WARNING):
        assert resolve_initial_weights(params, True) == home / "mine"  # offline: newest own model
    assert "newest own model" in caplog.text
    assert resolve_initial_weights(params, str(home / "mine")) == home / "mine"
    with pytest.raises(ModelError, match="not a model directory"):
        resolve_initial_weights(params, str(tmp_path))
    four_stems = {**params, "instrument_list": ["vocals", "piano"]}
    with pytest.raises(ModelError, match="no official pretrained"):
        resolve_initial_weights(four_stems, True)


def test_bad_songs_are_skipped_and_training_runs(tmp_path: Path, caplog):
    for index in range(2):
        write_song(tmp_path / "dataset" / "train" / f"Good {index}", two_stem_song(6.0, index))
    missing = write_song(tmp_path / "dataset/train/Missing Stem", two_stem_song(6.0, 5))
    (missing / "accompaniment.wav").unlink()
    write_song(tmp_path / "dataset/train/Too Short", two_stem_song(0.05, 6))  # < one frame
    rates = write_song(tmp_path / "dataset/train/Mixed Rates", two_stem_song(6.0, 7))
    sf.write(rates / "vocals.wav", np.zeros((22050 * 6, 2), np.float32), 22050)
    corrupt = write_song(tmp_path / "dataset/train/Corrupt", two_stem_song(6.0, 8))
    (corrupt / "vocals.wav").write_bytes(b"\x00\x01garbage" * 100)
    params = small_params(tmp_path)
    with caplog.at_level(logging.WARNING, logger="spleeter_paddle"):
        report = build_manifests(params, tmp_path / "dataset", 0.0, show_progress=False)
        caches = process_data(params, tmp_path / "dataset", workers=1, show_progress=False)
    assert len(report.skipped) == 4 and len(caches["training"].computed) == 2
    for song in ("Missing Stem", "Too Short", "Mixed Rates", "Corrupt"):
        assert sum(song in record.getMessage() for record in caplog.records) == 1
    result = train_model(params, _options(tmp_path / "run", max_steps=2, validate_every=0))
    assert result.step == 2 and all(np.isfinite(result.losses))


def test_amp_and_batch_statistics_flags(workspace, tmp_path: Path, caplog):
    params, _ = workspace
    with caplog.at_level(logging.WARNING):
        amp = train_model(
            params, _options(tmp_path / "amp", max_steps=2, amp=True, validate_every=0)
        )
    assert all(np.isfinite(amp.losses)) and "AMP needs a GPU" in caplog.text
    train_model(
        params, _options(tmp_path / "bn", max_steps=1, batch_statistics=True, validate_every=0)
    )
    weights = read_weights(tmp_path / "bn")
    assert np.abs(weights["unets.vocals.encoder.0.bn._mean"]).max() > 0  # batch stats tracked
    assert np.abs(read_weights(tmp_path / "amp")["unets.vocals.encoder.0.bn._mean"]).max() == 0
