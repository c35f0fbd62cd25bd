"""Export: ONNX / OpenVINO / Paddle graphs equal to the Paddle model, verified before anything is
written; a failed verification writes nothing and keeps a previous export; exports are checked on read.

Small random-weight U-Nets (F = 64) keep each export to a few seconds.
"""

import copy
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from spleeter_paddle.cli import main
from spleeter_paddle.configuration import load_configuration
from spleeter_paddle.errors import ConfigurationError, ModelError
from spleeter_paddle.graph.convert import REQUIREMENTS
from spleeter_paddle.graph.export import ExportedModel, export_network
from spleeter_paddle.model import build_model

F = 64


def _absent(name):
    import importlib.util

    return importlib.util.find_spec(name) is None


def needs(fmt):
    missing = [name for name in REQUIREMENTS[fmt][0] if _absent(name)]
    return pytest.mark.skipif(bool(missing), reason=f"{fmt} needs {missing}")


FORMATS = [pytest.param(fmt, marks=needs(fmt)) for fmt in ("onnx", "openvino", "paddle")]


def small_params(preset="spleeter:2stems"):
    params = copy.deepcopy(dict(load_configuration(preset)))
    params.update(F=F, T=64)
    return params


def small_model(params, seed=0):
    """Distinct random weights and BN statistics, so every operator shows in the output.

    Initial weights are halved: at full He scale a random 12-layer U-Net on inputs up to 300 is
    so ill-conditioned that eager float32 Paddle itself is 6e-4 (relative) off float64.
    """
    paddle.seed(seed)
    model = build_model(params)
    rng = np.random.default_rng(seed)
    for name, tensor in model.state_dict().items():
        values = tensor.numpy()
        if name.endswith("_variance"):
            values = rng.uniform(0.5, 1.5, values.shape)
        elif name.endswith("_mean"):
            values = rng.normal(0.0, 0.05, values.shape)
        else:
            values = 0.5 * values + rng.normal(0.0, 0.02, values.shape)
        tensor.set_value(values.astype(np.float32))
    model.eval()
    return model


def eager(model, magnitude):
    with paddle.no_grad():
        return model(paddle.to_tensor(magnitude)).numpy()


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory):
    """One small 2stems model exported as ONNX, for tests that only read or replace an export."""
    if _absent("onnxruntime") or _absent("paddle2onnx"):
        pytest.skip("onnx export needs paddle2onnx and onnxruntime")
    params = small_params()
    model = small_model(params)
    out = tmp_path_factory.mktemp("onnx") / "exported"
    export_network(model, params, out, "onnx")
    return model, params, out


def copy_of(export: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(export, tmp_path / "out"))


def leftovers(parent: Path):
    return sorted(path.name for path in parent.iterdir() if path.name.startswith("."))


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_runs_like_paddle_with_any_batch_and_length(tmp_path, fmt):
    params = small_params()
    model = small_model(params)
    out = tmp_path / "exported"
    manifest = export_network(model, params, out, fmt)
    assert manifest["input"]["shape"] == ["B", 2, "T", F]
    assert manifest["output"]["shape"] == ["B", 2, 2, "T", F]
    assert manifest["output"]["instruments"] == ["vocals", "accompaniment"]
    check = manifest["verification"]
    assert check["max_abs_diff"] <= check["tolerance"] * check["max_abs_output"]
    assert json.loads((out / "export.json").read_text()) == manifest
    assert set(manifest["sha256"]) == {path.name for path in out.iterdir()} - {"export.json"}
    assert leftovers(tmp_path) == []
    # Shapes the verification did not use: B and T are dynamic.
    magnitude = np.random.default_rng(5).uniform(0, 50, (3, 2, 192, F)).astype(np.float32)
    expected = eager(model, magnitude)
    exported = ExportedModel(out)
    assert exported.instruments == ["vocals", "accompaniment"]
    actual = exported(magnitude)
    assert actual.shape == (3, 2, 2, 192, F)
    assert np.abs(actual - expected).max() <= 1e-5 * np.abs(expected).max()


@needs("onnx")
def test_elu_and_softmax_models_export_exactly(tmp_path):
    """The 4/5stems operators (ELU both ways, softmax across instruments) on two U-Nets."""
    params = small_params("spleeter:5stems")
    params["instrument_list"] = ["vocals", "other"]
    manifest = export_network(small_model(params), params, tmp_path / "out", "onnx")
    check = manifest["verification"]
    assert check["max_abs_diff"] <= 1e-5 * check["max_abs_output"]


def _paddle2onnx_major() -> int:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return int(version("paddle2onnx").split(".")[0])
    except PackageNotFoundError:
        return 0


def _paddle_leaky_relu_model(params):
    model = small_model(params)
    for unet in model.unets.values():
        for block in unet.encoder:
            block.activation = paddle.nn.LeakyReLU(0.2)
    return model


@needs("onnx")
@pytest.mark.skipif(
    _paddle2onnx_major() < 2, reason="paddle2onnx 1.3 (for Paddle 2.6) reads the slope right"
)
def test_paddle_leaky_relu_op_is_caught_by_verification(tmp_path):
    """paddle2onnx 2.1 reads Paddle's double ``negative_slope`` as a float: a graph built with
    ``paddle.nn.LeakyReLU`` (the operator the U-Net no longer uses) converts to a wrong ONNX
    model. The export must refuse it, naming the numbers, and write nothing."""
    params = small_params()
    model = _paddle_leaky_relu_model(params)
    with pytest.raises(ModelError, match=r"max \|diff\| .* on outputs up to .*nothing written"):
        export_network(model, params, tmp_path / "out", "onnx")
    assert list(tmp_path.iterdir()) == []


@needs("onnx")
@pytest.mark.skipif(
    _paddle2onnx_major() != 1, reason="paddle2onnx 1.3 is the converter of Paddle 2.6 programs"
)
def test_paddle_leaky_relu_op_converts_exactly_from_a_paddle_2_6_program(tmp_path):
    """paddle2onnx 1.3 reads the slope of a Paddle 2.6 program (``.pdmodel``) as it is: the
    same model that 2.1 gets wrong exports within float noise."""
    params = small_params()
    manifest = export_network(_paddle_leaky_relu_model(params), params, tmp_path / "out", "onnx")
    check = manifest["verification"]
    assert check["max_abs_diff"] <= 1e-5 * check["max_abs_output"]


def test_failed_verification_keeps_the_previous_export(tmp_path, onnx_export):
    _, params, export = onnx_export
    out = copy_of(export, tmp_path)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    with pytest.raises(ModelError, match="verification failed"):
        export_network(small_model(params, 1), params, out, "onnx", overwrite=True, tolerance=1e-12)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    assert leftovers(tmp_path) == []
    # With an honest tolerance the new weights replace the old export completely.
    export_network(small_model(params, 1), params, out, "onnx", overwrite=True)
    assert (out / "model.onnx").read_bytes() != before["model.onnx"]
    assert leftovers(tmp_path) == []


def test_existing_and_foreign_outputs_are_refused_before_work(tmp_path, onnx_export):
    model, params, export = onnx_export
    out = copy_of(export, tmp_path)
    with pytest.raises(ConfigurationError, match="--overwrite"):
        export_network(model, params, out, "onnx")
    foreign = tmp_path / "songs"
    foreign.mkdir()
    (foreign / "song.wav").write_bytes(b"RIFF")
    with pytest.raises(ConfigurationError, match="not an export of this tool"):
        export_network(model, params, foreign, "onnx", overwrite=True)
    assert [path.name for path in foreign.iterdir()] == ["song.wav"]
    with pytest.raises(ConfigurationError, match="not a directory"):
        export_network(model, params, foreign / "song.wav", "onnx", overwrite=True)


def test_overwrite_replaces_only_a_folder_holding_exactly_an_export(tmp_path, onnx_export):
    """``--overwrite`` replaces the whole folder: a file merely named export.json, or a real
    export with the user's own files added, is never taken for a replaceable export."""
    model, params, export = onnx_export
    lookalike = tmp_path / "mystuff"
    (lookalike / "sub").mkdir(parents=True)
    (lookalike / "sub" / "thesis.tex").write_text("precious")
    (lookalike / "export.json").write_text('{"note": "settings of another tool"}')
    with pytest.raises(ConfigurationError, match="is not an export manifest"):
        export_network(model, params, lookalike, "onnx", overwrite=True)
    assert (lookalike / "sub" / "thesis.tex").read_text() == "precious"
    added = copy_of(export, tmp_path)
    (added / "notes.txt").write_text("mine")
    with pytest.raises(ConfigurationError, match="also holds notes.txt"):
        export_network(model, params, added, "onnx", overwrite=True)
    assert (added / "notes.txt").read_text() == "mine"


def test_tampered_export_is_refused_on_read(tmp_path, onnx_export):
    _, _, export = onnx_export
    for victim in ("model.onnx", "config.json"):
        out = copy_of(export, tmp_path)
        path = out / victim
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 1
        path.write_bytes(bytes(data))
        with pytest.raises(ModelError, match=f"{victim}: missing or its sha256 differs"):
            ExportedModel(out)
        shutil.rmtree(out)


def test_a_paddle_export_of_the_other_paddle_release_is_named_not_run(tmp_path):
    """Paddle 3 writes its program as ``model.json``, Paddle 2.6 as ``model.pdmodel``: an export
    made with the other release (made here by renaming, its manifest rewritten to match) is
    refused on read with both versions named, and ``--overwrite`` may still replace it."""
    from spleeter_paddle.runtime import PROGRAM_SUFFIX, PROGRAM_SUFFIXES

    params = small_params()
    model = small_model(params)
    out = tmp_path / "exported"
    manifest = export_network(model, params, out, "paddle")
    ours = f"model{PROGRAM_SUFFIX}"
    assert manifest["model_files"] == [ours, "model.pdiparams"] and (out / ours).is_file()
    other = next(f"model{suffix}" for suffix in PROGRAM_SUFFIXES if suffix != PROGRAM_SUFFIX)
    (out / ours).rename(out / other)
    manifest["model_files"][0] = other
    manifest["sha256"][other] = manifest["sha256"].pop(ours)
    manifest["converters"]["paddle"] = "9.9.9"
    (out / "export.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=rf"Paddle 9\.9\.9 .*{paddle.__version__} reads {ours}"):
        ExportedModel(out)
    export_network(model, params, out, "paddle", overwrite=True)
    assert sorted(path.name for path in out.iterdir()) == sorted(
        ["config.json", "export.json", ours, "model.pdiparams"]
    )
    magnitude = np.random.default_rng(3).uniform(0, 50, (1, 2, 64, F)).astype(np.float32)
    expected = eager(model, magnitude)
    assert np.abs(ExportedModel(out)(magnitude) - expected).max() <= 1e-5 * expected.max()


@needs("onnx")
def test_cli_exports_a_trained_model_directory(tmp_path, capsys):
    from spleeter_paddle.training.checkpoint import export_model as save_trained

    params = small_params()
    params["model_dir"] = str(tmp_path / "unused")
    config = tmp_path / "small.json"
    config.write_text(json.dumps(params))
    model = small_model(params)
    trained = tmp_path / "trained"
    trained.mkdir()
    save_trained(model, params, trained)
    out = tmp_path / "exported"
    argv = ["export", "-p", str(config), "--model-dir", str(trained), "-o", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str(out)
    magnitude = np.random.default_rng(2).uniform(0, 50, (1, 2, 64, F)).astype(np.float32)
    expected = eager(model, magnitude)
    assert np.abs(ExportedModel(out)(magnitude) - expected).max() <= 1e-5 * expected.max()
    assert main(argv) == 2  # exists: refused, one line, no traceback
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--format", "tflite"], "invalid choice"),
        (["--tolerance", "0"], "tolerance must be"),
        (["--tolerance", "0.5"], "tolerance must be"),
        (["--tolerance", "nan"], "tolerance must be"),
    ],
)
def test_usage_errors_exit_2(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as stop:
        main(["export", "-o", str(tmp_path / "out"), *argv])
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_missing_package_names_the_extra_before_loading(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # as if it were not installed
    out = tmp_path / "out"
    argv = ["export", "-p", "spleeter:2stems", "--model-dir", str(tmp_path / "none")]
    assert main([*argv, "--format", "openvino", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'spleeter-paddle[openvino]'" in err[0]
    assert not out.exists()


def test_overwrite_checks_every_listed_file_against_the_manifest(tmp_path, onnx_export):
    """A manifest with only ``manifest_version`` and a ``sha256`` dict, listed names that are
    folders, or listed files the user edited: none is an export ``--overwrite`` may replace."""
    model, params, export = onnx_export
    lookalike = tmp_path / "lookalike"
    (lookalike / "data").mkdir(parents=True)
    (lookalike / "data" / "thesis.tex").write_text("precious")
    (lookalike / "notes.txt").write_text("my notes")
    manifest = {"manifest_version": 1, "sha256": {"data": "-", "notes.txt": "-"}}
    (lookalike / "export.json").write_text(json.dumps(manifest))
    with pytest.raises(ConfigurationError, match="is not an export manifest"):
        export_network(model, params, lookalike, "onnx", overwrite=True)
    # This tool's keys, but a listed name that is a folder.
    real = json.loads((export / "export.json").read_text())
    real["sha256"] = {**real["sha256"], "data": "-"}
    (lookalike / "export.json").write_text(json.dumps(real))
    (lookalike / "notes.txt").unlink()
    with pytest.raises(ConfigurationError, match="data is not a plain file"):
        export_network(model, params, lookalike, "onnx", overwrite=True)
    assert (lookalike / "data" / "thesis.tex").read_text() == "precious"
    edited = copy_of(export, tmp_path)
    (edited / "config.json").write_text('{"my": "edits"}')
    with pytest.raises(ConfigurationError, match="config.json differs from what export.json"):
        export_network(model, params, edited, "onnx", overwrite=True)
    assert (edited / "config.json").read_text() == '{"my": "edits"}'


def test_an_export_installed_meanwhile_is_not_replaced(tmp_path, onnx_export):
    """Two exports to one -o: the one that finishes second fails clearly and replaces nothing
    (the check before loading found -o absent for both)."""
    from spleeter_paddle.graph.export import _install

    _, _, export = onnx_export
    staging = Path(shutil.copytree(export, tmp_path / ".staging"))
    (staging / "config.json").write_text("{}")  # tell the two apart
    out = copy_of(export, tmp_path)  # the other run's export, installed meanwhile
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    with pytest.raises(ConfigurationError, match="written while this export ran"):
        _install(staging, out, overwrite=False)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "song.wav").write_bytes(b"RIFF")
    with pytest.raises(ConfigurationError, match="not an export of this tool"):
        _install(staging, foreign, overwrite=True)
    assert [path.name for path in foreign.iterdir()] == ["song.wav"]
    _install(staging, out, overwrite=True)  # asked for: replaced, nothing left beside it
    assert (out / "config.json").read_text() == "{}"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"overwrite": "False"}, "overwrite must be True or False"),
        ({"overwrite": 1}, "overwrite must be True or False"),
        ({"output": None}, "output must be a path"),
        ({"output": 123}, "output must be a path"),
        ({"fmt": ["onnx"]}, "format must be one of"),
        ({"tolerance": "x"}, "tolerance must be"),
        ({"model_dir": 123}, "model_dir must be a path"),
    ],
)
def test_export_model_arguments_are_checked_before_loading(tmp_path, kwargs, message):
    from spleeter_paddle.graph.export import export_model

    arguments = {"output": tmp_path / "out", "model_dir": tmp_path / "absent", **kwargs}
    with pytest.raises(ConfigurationError, match=message):
        export_model("spleeter:2stems", **arguments)
    assert list(tmp_path.iterdir()) == []


@needs("onnx")
def test_onnx_masks_match_paddle_where_every_logit_is_very_low(tmp_path):
    """Masks are ratios of the estimates: where every instrument's logit is below about -17,
    ONNX Runtime's own Sigmoid kernel returns 0 (and is 0.5 % off at -12), which made the
    ratio noise. The exported graph computes 1 / (1 + exp(-x)) as Paddle does."""
    params = small_params()
    model = small_model(params)
    for name, tensor in model.state_dict().items():
        if name.endswith("head.bias"):  # logits from about -30 to -10
            shift = -20.0 if "vocals" in name else -22.0
            tensor.set_value((tensor.numpy() + shift).astype(np.float32))
    out = tmp_path / "exported"
    export_network(model, params, out, "onnx")
    magnitude = np.random.default_rng(3).uniform(0.01, 5, (1, 2, 64, F)).astype(np.float32)
    expected, actual = eager(model, magnitude), ExportedModel(out)(magnitude)
    assert expected.max() < 1e-3 * magnitude.max()  # the sigmoids are deep in their tail

    def masks(estimates):
        power = estimates.astype(np.float64) ** 2
        return power / (power.sum(axis=1, keepdims=True) + 1e-30)

    assert np.abs(masks(actual) - masks(expected)).max() < 1e-4
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=0)
