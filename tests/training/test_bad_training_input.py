"""Bad training input fails early, clearly and locally: configuration values checked like the
flags (exit 2 naming the file and key, before any data is read), a run folder that is a file or
holds what training did not write, damaged checkpoint fields (exit 4), a loss that turns NaN,
and the ``-lm True`` fallback recorded as the model really loaded."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from data_helpers import small_params, two_stem_song, write_song

from spleeter_paddle.cli import main
from spleeter_paddle.commands.train import main_run_spleeter
from spleeter_paddle.errors import ConfigurationError, ModelError
from spleeter_paddle.files import file_sha256
from spleeter_paddle.model import build_model
from spleeter_paddle.pretrained.store import write_model
from spleeter_paddle.training import TrainingOptions
from spleeter_paddle.training.checkpoint import CheckpointManager, export_model
from spleeter_paddle.training.config import default_training_params
from spleeter_paddle.training.folder import resolve_initial_weights
from spleeter_paddle.training.run import plan_run, train_model, write_run_settings
from spleeter_paddle.training.trainer import build_optimizer

SMALL = ["-T", "64", "-F", "128", "--steps", "1", "-lm", "False", "--device", "cpu"]


def _options(run_dir: Path, **changes) -> TrainingOptions:
    defaults = dict(run_dir=str(run_dir), num_workers=0, log_every=1, device="cpu")
    return TrainingOptions(**{**defaults, "validate_every": 0, **changes})


def _cli(capsys, *argv: str):
    capsys.readouterr()
    status = main(list(argv))
    error = capsys.readouterr().err
    assert "Traceback" not in error
    return status, error


CONFIG_CASES = [
    ("learning_rate", math.nan),
    ("learning_rate", math.inf),
    ("learning_rate", -1.0),
    ("learning_rate", "1e-4"),
    ("batch_size", 0),
    ("random_seed", -3),
    ("save_checkpoints_steps", 0),
    ("separation_exponent", math.nan),
    ("n_chunks_per_song", 0),
    ("chunk_duration", math.nan),
]


@pytest.mark.parametrize("key, value", CONFIG_CASES, ids=[f"{k}={v}" for k, v in CONFIG_CASES])
@pytest.mark.parametrize("command", ["train", "process-data"])
def test_bad_config_values_stop_before_anything_is_read(
    tmp_path, monkeypatch, capsys, command, key, value
):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({**default_training_params(), key: value}))
    flags = [*SMALL, "-o", "runs/x"] if command == "train" else SMALL[:4]
    status, error = _cli(capsys, command, "-p", str(config), *flags)
    assert status == 2 and f"error: {config}" in error and f"key '{key}'" in error, error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bad.json"]


def test_a_flag_that_breaks_the_config_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, error = _cli(capsys, "process-data", "-T", "16", "-F", "128")
    assert status == 2 and "<dict>" not in error
    assert "the built-in 2-stem training configuration (with -T 16, -F 128): key 'T'" in error
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "2stems_config.json").write_text(json.dumps(default_training_params()))
    status, error = _cli(capsys, "train", "-T", "16")
    assert status == 2 and "configs/2stems_config.json (with -T 16): key 'T' = 16" in error


@pytest.mark.parametrize("value", ["bogus", "gain,,swap", "gain,gain", ","])
def test_a_bad_augment_is_a_usage_error(tmp_path, monkeypatch, capsys, value):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["train", "--augment", value])
    error = capsys.readouterr().err
    assert stop.value.code == 2 and "argument --augment: must be a comma list of" in error
    assert list(tmp_path.iterdir()) == []


def test_library_options_are_checked_like_the_flags(workspace, tmp_path):
    params, _ = workspace
    for change in (
        {"learning_rate": math.nan},
        {"batch_size": 0},
        {"seed": -1},
        {"augmentation": ["gain", ""]},
        {"augmentation": "gain"},
    ):
        with pytest.raises(ConfigurationError, match=f"TrainingOptions.{next(iter(change))} "):
            train_model(params, _options(tmp_path / "run", max_steps=1, **change))
        assert not (tmp_path / "run").exists()


def test_a_run_folder_that_is_a_file_is_refused_before_the_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    for target in ("afile", "afile/sub"):
        status, error = _cli(capsys, "train", *SMALL, "-o", target)
        assert status == 2 and "afile: exists and is not a directory" in error, error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["afile"]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["-o", ""], "-o/--run-dir is empty"),
        (["--visualdl", "afile"], "the folder of --visualdl must be a folder"),
        (["-npn", "2", "--log-dir", "afile"], "the folder of --log-dir must be a folder"),
        (["-lm", "nowhere"], "-lm nowhere: not a model directory"),
    ],
)
def test_other_training_paths_are_checked_before_the_cache(
    tmp_path, monkeypatch, capsys, flags, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    status, error = _cli(capsys, "train", *SMALL[:-4], "--device", "cpu", *flags)
    assert status in (2, 4) and message in error, error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["afile"]


@pytest.mark.parametrize(
    "flag, value",
    [("--devices", "0,,1"), ("--devices", "gpu"), ("--nnodes", "0"), ("--nnodes", "4:2")]
    + [("--master", "host"), ("--master", "h:70000"), ("--ips", "a,,b"), ("--seed", "-1")]
    + [("--seed", str(2**32))],
)
def test_launcher_flags_are_usage_errors(tmp_path, monkeypatch, capsys, flag, value):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["train", flag, value])
    assert stop.value.code == 2 and f"argument {flag}" in capsys.readouterr().err


def _installed_model(directory: Path) -> str:
    state = {"w": np.ones(3, np.float32)}
    write_model(state, directory, {"config": "spleeter:2stems", "source": "pypi:x==1"})
    return file_sha256(directory / "model.safetensors")


def test_a_new_run_never_writes_over_an_installed_model_or_other_files(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "model"))
    digest = _installed_model(tmp_path / "model" / "2stems")
    config = tmp_path / "mine.json"
    config.write_text(json.dumps({**default_training_params(), "model_dir": "2stems"}))
    status, error = _cli(capsys, "train", "-p", str(config), *SMALL)
    assert status == 2 and "2stems holds an installed model (source 'pypi:x==1')" in error
    assert file_sha256(tmp_path / "model" / "2stems" / "model.safetensors") == digest
    assert not (tmp_path / "model" / "2stems" / "run.json").exists()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "model.json").write_text('{"my": "notes"}')
    status, error = _cli(capsys, "train", *SMALL, "--new-run", "-o", "notes")
    assert status == 2 and "notes is not empty and holds no run of this tool (model.json)" in error
    assert (tmp_path / "notes" / "model.json").read_text() == '{"my": "notes"}'
    assert not (tmp_path / "cache").exists()


def test_a_new_run_may_use_an_empty_folder_or_its_own(tmp_path):
    params = small_params(tmp_path)
    (tmp_path / "empty").mkdir()
    assert not plan_run(tmp_path / "empty", params, TrainingOptions()).resume
    # stopped before a checkpoint
    started = plan_run(tmp_path / "started", params, TrainingOptions())
    (tmp_path / "started").mkdir()
    (tmp_path / "started" / ".lock").touch()
    write_run_settings(tmp_path / "started", started.settings, params)
    assert not plan_run(tmp_path / "started", params, TrainingOptions()).resume


@pytest.fixture
def trained(workspace, tmp_path: Path):
    params, _ = workspace
    run = tmp_path / "run"
    train_model(params, _options(run, max_steps=1))
    return params, run


@pytest.mark.parametrize(
    "field, value",
    [("step", "abc"), ("step", 2), ("optimizer_tensors", None), ("sha256", [])]
    + [("epoch", -1), ("seed", 1.5), ("scaler", "x"), ("batch_size", 0)],
)
def test_a_damaged_state_field_is_a_damaged_checkpoint(trained, field, value):
    params, run = trained
    path = run / "checkpoints" / "step_00000001" / "state.json"
    state = json.loads(path.read_text())
    path.write_text(json.dumps({**state, field: value}))
    with pytest.raises(ModelError, match=f"state.json: damaged checkpoint: '{field}'"):
        train_model(params, _options(run, max_steps=2, resume=True))


def test_damaged_fields_are_one_line_errors_on_the_command_line(trained, capsys):
    params, run = trained
    config = run.parent / "config.json"
    config.write_text(json.dumps({**params, "model_dir": str(run)}))
    base = ["-m", "fast_train", "-p", str(config), "--device", "cpu", "--num-workers", "0"]
    base += ["--validate-every", "0", "--quiet", "-lm", "False", "--steps", "2"]
    path = run / "checkpoints" / "step_00000001" / "state.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "step": "abc"}))
    capsys.readouterr()
    assert main_run_spleeter(base) == 4
    error = capsys.readouterr().err
    assert "damaged checkpoint: 'step' is \"abc\"" in error and "Traceback" not in error
    document = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**document, "identity": 5}))
    assert main_run_spleeter(base) == 2
    assert "run.json: unreadable run settings ('identity' is 5" in capsys.readouterr().err


def test_a_diverging_run_stops_and_saves_nothing(workspace, tmp_path):
    params, _ = workspace
    run = tmp_path / "run"
    with pytest.raises(ModelError, match="diverged: the loss became NaN or infinite by step 2"):
        train_model({**params, "learning_rate": 1e38}, _options(run, max_steps=2))
    assert not (run / "model.safetensors").exists()
    assert not list(run.joinpath("checkpoints").glob("*"))


def test_non_finite_weights_are_never_saved_or_exported(workspace, tmp_path):
    params, _ = workspace
    model = build_model(params)
    optimizer = build_optimizer(model, 1e-4)
    weight = model.state_dict()["unets.vocals.encoder.0.conv.weight"]
    values = weight.numpy()
    values.flat[3] = np.nan
    weight.set_value(values)
    with pytest.raises(ModelError, match=r"step_00000001: not saved, tensor 'unets.vocals.enc"):
        CheckpointManager(tmp_path / "run" / "checkpoints").save(1, model, optimizer, {})
    with pytest.raises(ModelError, match="1 NaN value"):
        export_model(model, params, tmp_path / "run")
    assert [p.name for p in (tmp_path / "run").rglob("*")] == []


def test_an_integer_learning_rate_trains(workspace, tmp_path):
    params, _ = workspace
    result = train_model({**params, "learning_rate": 1}, _options(tmp_path / "run", max_steps=1))
    assert result.step == 1 and np.isfinite(result.losses).all()


def test_the_lm_fallback_records_the_model_it_loaded(workspace, tmp_path, monkeypatch):
    params, _ = workspace
    home = tmp_path / "home"
    monkeypatch.setenv("MODEL_PATH", str(home))
    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "1")  # the official weights are out of reach
    train_model(params, _options(home / "mine", max_steps=1))
    train_model(params, _options(tmp_path / "a", max_steps=1, load_model=True))
    train_model(params, _options(tmp_path / "b", max_steps=1, load_model=True))
    for run in ("a", "b"):
        document = json.loads((tmp_path / run / "run.json").read_text())
        assert document["identity"]["initial_weights"] == str((home / "mine").resolve())
        assert document["initial_weights_path"] == str((home / "mine").resolve())


def test_own_models_with_an_invalid_recorded_config_are_never_picked(
    workspace, tmp_path, monkeypatch
):
    params, _ = workspace
    monkeypatch.setenv("MODEL_PATH", str(tmp_path))
    export_model(build_model(params), {**params, "learning_rate": -1.0}, tmp_path / "ascent")
    with pytest.raises(ModelError, match="no trained model under the model home fits"):
        resolve_initial_weights(params, "latest")
    export_model(build_model(params), params, tmp_path / "fine")
    assert resolve_initial_weights(params, "latest") == tmp_path / "fine"


def test_train_goes_on_without_a_song_it_could_not_cache_and_ends_non_zero(
    tmp_path, monkeypatch, capsys
):
    """One bad song is one ERROR line; the others train; the command still exits 1."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "model"))
    for index in range(3):
        write_song(tmp_path / "dataset" / "train" / f"Song {index}", two_stem_song(6.0, index))
    assert main(["preprocess", "-T", "64", "--validation-fraction", "0"]) == 0
    (tmp_path / "dataset" / "train" / "Song 1" / "mixture.wav").unlink()
    status, error = _cli(
        capsys, "train", *SMALL, "-cd", "3", "-ncps", "2", "-bs", "2", "--num-workers", "0",
        "-o", "runs/r",
    )  # fmt: skip
    assert status == 1, error
    assert "ERROR Song 1: dataset/train/Song 1/mixture.wav: no such file" in error
    assert (tmp_path / "runs" / "r" / "model.safetensors").is_file()  # the others trained
