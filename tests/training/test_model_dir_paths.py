"""A config's ``model_dir`` written as a path (``runs/r1``) names one folder for every command:
train writes it under the model home, and separate, evaluate and export read that same folder,
never ``./runs/r1`` in the working directory (``-o``/``--model-dir`` are the flags for those)."""

from __future__ import annotations

import json
from pathlib import Path

from spleeter_paddle.commands.train import main_run_spleeter
from spleeter_paddle.pretrained.store import weights_digest


def _train(config: Path, *flags: str) -> None:
    argv = ["-m", "fast_train", "-p", str(config), "--device", "cpu", "--num-workers", "0"]
    argv += ["--validate-every", "0", "--quiet", "-lm", "False", "--steps", "1", *flags]
    assert main_run_spleeter(argv) == 0


def test_train_then_separate_evaluate_export_use_the_same_folder(workspace, tmp_path, monkeypatch):
    from spleeter_paddle.evaluation.models import load_separator
    from spleeter_paddle.graph.export import export_model
    from spleeter_paddle.pretrained.store import read_weights
    from spleeter_paddle.separation.separator import Separator

    params, _ = workspace
    home = tmp_path / "home"
    monkeypatch.setenv("MODEL_PATH", str(home))
    monkeypatch.setenv("SPLEETER_PADDLE_CACHE", str(tmp_path / "graphs"))
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "mdpath.json"
    config.write_text(json.dumps({**params, "model_dir": "runs/r1"}))
    _train(config, "-o", "runs/r1", "--seed", "1")  # another model at ./runs/r1
    _train(config, "--seed", "5")  # the config's model_dir
    run = home / "runs" / "r1"
    assert (run / "run.json").is_file() and (run / "model.safetensors").is_file()
    ours = weights_digest(read_weights(run))
    assert ours != weights_digest(read_weights(tmp_path / "runs" / "r1"))

    separator = Separator(str(config), device="cpu", backend="eager")  # the folder, not a graph
    assert separator.weights.directory == run
    evaluated, _ = load_separator(str(config), device="cpu")
    assert evaluated.weights.directory == run
    # One step from random weights: the largest tolerance (only the weights' origin matters).
    exported = tmp_path / "exported"
    manifest = export_model(str(config), exported, fmt="paddle", tolerance=1e-2)
    assert manifest["source"]["graph_key"]["weights"] == ours
