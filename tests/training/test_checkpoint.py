"""Checkpoints: never unpickled, refused unless every tensor fits the model, saved atomically with
the export, and what a killed save leaves is cleaned on the next start."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from spleeter_paddle.errors import ConfigurationError, ModelError
from spleeter_paddle.pretrained.store import file_sha256, is_complete, read_weights
from spleeter_paddle.training import TrainingOptions, train_model
from spleeter_paddle.training.checkpoint import export_is_current


def _options(run_dir: Path, **changes) -> TrainingOptions:
    defaults = dict(run_dir=str(run_dir), num_workers=0, device="cpu", validate_every=0)
    return TrainingOptions(**{**defaults, **changes})


class _Payload:
    """Unpickling this creates ``marker``: what a crafted checkpoint could do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickled_checkpoint_is_never_loaded(workspace, tmp_path: Path):
    params, _ = workspace
    marker = tmp_path / "code-ran"
    step = tmp_path / "run" / "checkpoints" / "step_00000006"
    step.mkdir(parents=True)
    for name in ("model.pdparams", "model.pdopt"):
        (step / name).write_bytes(pickle.dumps({"weights": _Payload(marker)}))
    (step / "state.json").write_text(json.dumps({"step": 6, "epoch": 0}))
    assert not marker.exists()
    for resume in (None, True):
        with pytest.raises(ConfigurationError, match="pickle, never loaded") as error:
            train_model(params, _options(tmp_path / "run", max_steps=7, resume=resume))
        assert f"-lm {tmp_path / 'run'}" in str(error.value)
        assert "delete" not in str(error.value)
    assert not marker.exists()
    assert (step / "model.pdparams").is_file()  # nothing of the run is removed


def _replace_tensors(checkpoint: Path, name: str, tensors: dict) -> None:
    """Rewrite ``name`` with ``tensors`` and a consistent sha256 in state.json."""
    save_file(tensors, str(checkpoint / name))
    state = json.loads((checkpoint / "state.json").read_text())
    state["sha256"][name] = file_sha256(checkpoint / name)
    (checkpoint / "state.json").write_text(json.dumps(state))


@pytest.fixture
def trained(workspace, tmp_path: Path):
    params, _ = workspace
    run = tmp_path / "run"
    train_model(params, _options(run, max_steps=1))
    return params, run, run / "checkpoints" / "step_00000001"


def test_an_empty_checkpoint_is_refused(trained):
    params, run, checkpoint = trained
    _replace_tensors(checkpoint, "model.safetensors", {})
    with pytest.raises(ModelError, match=r"(\d+) of \1 tensors missing \(unets\.vocals"):
        train_model(params, _options(run, max_steps=2, resume=True))


def test_a_wrong_shape_or_extra_tensor_is_refused(trained):
    params, run, checkpoint = trained
    weights = load_file(str(checkpoint / "model.safetensors"))
    key = "unets.vocals.encoder.0.conv.weight"
    original = weights[key]
    weights[key] = np.zeros((1, *original.shape[1:]), original.dtype)
    _replace_tensors(checkpoint, "model.safetensors", weights)
    with pytest.raises(ModelError, match=rf"'{key}' is float32\[1, "):
        train_model(params, _options(run, max_steps=2, resume=True))
    weights[key] = original
    weights["unets.piano.extra"] = original
    _replace_tensors(checkpoint, "model.safetensors", weights)
    with pytest.raises(ModelError, match=r"1 unexpected \(unets\.piano\.extra\)"):
        train_model(params, _options(run, max_steps=2, resume=True))
    moments = load_file(str(checkpoint / "optimizer.safetensors"))
    moments.pop(next(iter(moments)))
    _replace_tensors(checkpoint, "optimizer.safetensors", moments)
    weights.pop("unets.piano.extra")
    _replace_tensors(checkpoint, "model.safetensors", weights)
    with pytest.raises(ModelError, match="optimizer.safetensors: checkpoint does not fit"):
        train_model(params, _options(run, max_steps=2, resume=True))


KILLED_SAVE = """
import os, sys
from pathlib import Path
from spleeter_paddle.files import new_temporary
from spleeter_paddle.training.folder import run_lock
run = Path(sys.argv[1])
with run_lock(run):
    made = [new_temporary(run / "checkpoints" / "step_00000002", "", directory=True),
            new_temporary(run / "model.safetensors", ".tmp"),
            new_temporary(run / "model.json", ".tmp")]
    (made[0] / "model.safetensors").write_bytes(b"0" * 1000)
    for path in made[1:]:
        path.write_bytes(b"partial")
    print("\\n".join(str(path) for path in made), flush=True)
    os._exit(9)  # killed: no cleanup runs
"""


def test_leftovers_of_a_killed_save_are_cleaned_and_the_export_repaired(trained, caplog):
    params, run, checkpoint = trained
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_SAVE, str(run)], capture_output=True, text=True, timeout=120
    )
    assert killed.returncode == 9, killed.stderr
    stale = [Path(line) for line in killed.stdout.split()]
    assert len(stale) == 3 and all(path.exists() for path in stale)
    # Named like temporaries, but not made by a save of this tool (the journal does not list
    # them): never removed.
    lookalikes = [run / "checkpoints" / ".step_00000003.abc12345", run / ".model.json.0badc0de.tmp"]
    lookalikes[0].mkdir()
    lookalikes[1].write_text("a user's file")
    # Killed between writing the weights and model.json: the pair is out of sync.
    (run / ".complete").unlink()
    (run / "model.safetensors").write_bytes(b"not the weights of model.json")
    assert not export_is_current(run, 1) and not is_complete(run)
    with caplog.at_level("INFO", logger="spleeter_paddle"):
        result = train_model(params, _options(run, max_steps=1))  # nothing to train: repairs only
    assert result.step == 1
    assert not any(path.exists() for path in stale)
    assert caplog.text.count("left by an interrupted run") == 3 and "re-exported" in caplog.text
    assert all(path.exists() for path in lookalikes)
    assert lookalikes[1].read_text() == "a user's file"
    assert "delete" not in caplog.text.lower()
    assert export_is_current(run, 1) and is_complete(run)
    exported = read_weights(run)
    for key, value in load_file(str(checkpoint / "model.safetensors")).items():
        np.testing.assert_array_equal(exported[key], value)


KILL_SCRIPT = """
import json, sys
from spleeter_paddle.training import TrainingOptions, train_model
params = json.loads(open(sys.argv[1]).read())
train_model(params, TrainingOptions(run_dir=sys.argv[2], num_workers=0, device="cpu",
      validate_every=0, save_every=1, max_steps=1000, keep_checkpoints=1))
"""


def test_kill_9_during_training_then_start_again(workspace, tmp_path: Path):
    """A real SIGKILL while checkpoints are written every step; the next start resumes from a
    complete checkpoint, with no temporaries left and a consistent export."""
    params, _ = workspace
    run = tmp_path / "run"
    (tmp_path / "params.json").write_text(json.dumps(params))
    environ = {**os.environ, "OMP_NUM_THREADS": "1", "GLOG_minloglevel": "3"}
    process = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(tmp_path / "params.json"), str(run)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Killed once the run is into its later steps and saves (a checkpoint after the first
        # made), whatever the machine's load: waited for, not slept for.
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            if any(path.name != "step_00000001" for path in (run / "checkpoints").glob("step_*")):
                break
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    steps = sorted((run / "checkpoints").glob("step_*"))
    assert steps, "no checkpoint was written before the kill"
    last = int(steps[-1].name.split("_")[1])
    result = train_model(params, _options(run, max_steps=last + 1))
    assert (result.start_step, result.step) == (last, last + 1)
    assert not list(run.glob("checkpoints/.step_*")) and not list(run.glob(".*.tmp"))
    assert export_is_current(run, last + 1) and is_complete(run)


def test_a_checkpoint_holding_nan_is_refused(trained):
    params, run, checkpoint = trained
    tensors = load_file(str(checkpoint / "model.safetensors"))
    name = sorted(key for key, value in tensors.items() if value.dtype == np.float32)[0]
    tensors[name] = tensors[name].copy()
    tensors[name].reshape(-1)[0] = np.nan
    _replace_tensors(checkpoint, "model.safetensors", tensors)
    with pytest.raises(ModelError, match=f"'{name}' holds 1 NaN"):
        train_model(params, _options(run, max_steps=2, resume=True))
