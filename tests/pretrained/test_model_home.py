"""Where models live and what installing may touch: the model home, a config's model_dir (one
rule for every command), what ``models import`` records, and the files it never writes over."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from tf_bundle_writer import tiny_params

from spleeter_paddle.cli import main
from spleeter_paddle.configuration import load_configuration
from spleeter_paddle.errors import ConfigurationError, ModelError
from spleeter_paddle.pretrained import (
    get_model_directory,
    import_model,
    is_complete,
    model_directory,
    read_metadata,
)
from spleeter_paddle.pretrained.weights import check_made_for


def _elu_params(model_dir: str = "2stems") -> dict:
    params = tiny_params(model_dir)
    params["model"]["params"].update(conv_activation="ELU", deconv_activation="ELU")
    return params


def _archive(prefix: Path, path: Path, folder: str) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for file in prefix.parent.iterdir():
            tar.add(file, arcname=f"{folder}/{file.name}")
    return path


# --- W1: the configuration given with -p is what model.json records --------------------------


def test_import_under_a_preset_name_records_the_configuration_it_was_given(
    tiny_checkpoint, tmp_path, monkeypatch, capsys
):
    prefix, _, _ = tiny_checkpoint
    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "1")
    home = tmp_path / "home"
    elu = _elu_params()  # trained with ELU; the folder name (its model_dir) is a preset's
    config = tmp_path / "elu.json"
    config.write_text(json.dumps(elu))
    archive = _archive(prefix, tmp_path / "2stems.tar.gz", "2stems")
    argv = ["models", "import", str(archive), "-p", str(config), "--model-home", str(home)]
    assert main(argv) == 0
    directory = home / "2stems"
    assert capsys.readouterr().out.strip() == str(directory)
    recorded = read_metadata(directory)["config"]
    assert isinstance(recorded, dict)
    assert recorded["model"]["params"]["conv_activation"] == "ELU"
    # The configuration it was made with runs it; the preset's activations are refused.
    check_made_for(load_configuration(str(config)), directory)
    with pytest.raises(ModelError, match="made with model.params"):
        check_made_for(tiny_params("2stems"), directory)


def test_import_records_a_configuration_other_than_a_preset_as_given(tiny_checkpoint, tmp_path):
    prefix, _, params = tiny_checkpoint
    home = tmp_path / "home"
    directory = import_model(prefix.parent, "mine", home, params)
    assert read_metadata(directory)["config"] == load_configuration(params)
    with pytest.raises(ModelError, match="not a preset model"):
        import_model(prefix.parent, "mine2", home)


# --- W2: a config's model_dir means the same folder for every command --------------------------


def test_model_dir_is_resolved_under_the_model_home_by_one_rule(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("MODEL_PATH", str(home))
    monkeypatch.chdir(tmp_path)
    assert model_directory("2stems") == home / "2stems"
    assert model_directory("runs/r1") == home / "runs" / "r1"
    assert model_directory(str(tmp_path / "abs")) == tmp_path / "abs"
    assert model_directory("runs/r1", tmp_path / "other") == tmp_path / "other" / "runs" / "r1"
    for bad in ("..", "../escape", "runs/../../x", ".", ""):
        with pytest.raises(ConfigurationError, match="under the model home"):
            model_directory(bad)


def test_import_with_a_path_model_dir_installs_where_separate_reads(
    tiny_checkpoint, tmp_path, monkeypatch
):
    prefix, _, _ = tiny_checkpoint
    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "1")
    home = tmp_path / "home"
    monkeypatch.setenv("MODEL_PATH", str(home))
    monkeypatch.chdir(tmp_path)
    params = tiny_params("runs/r2")
    # Another model at ./runs/r2 in the working directory is never the config's.
    decoy = import_model(prefix.parent, "decoy", tmp_path / "elsewhere", params)
    (tmp_path / "runs").mkdir()
    decoy.rename(tmp_path / "runs" / "r2")
    installed = import_model(prefix.parent, None, None, params)
    assert installed == home / "runs" / "r2" and is_complete(installed)
    assert get_model_directory(params) == installed
    # Missing under the home: the error names the home's folder and the flag for ./runs/r3.
    (tmp_path / "runs" / "r2").rename(tmp_path / "runs" / "r3")
    with pytest.raises(ModelError, match="--model-dir runs/r3") as caught:
        get_model_directory(tiny_params("runs/r3"))
    assert str(home / "runs" / "r3") in str(caught.value)


# --- D4: an install never writes over files it did not write -----------------------------------


@pytest.mark.parametrize(
    "files",
    [
        {"model.json": '{"my": "own notes"}', "model.safetensors": "weights of another tool"},
        {"model.json": '{"my": "own notes"}'},
        {"model.safetensors": "weights of another tool"},
        {".complete": "x"},
    ],
)
def test_import_never_writes_over_model_files_it_did_not_write(
    tiny_checkpoint, tmp_path, capsys, files
):
    prefix, _, params = tiny_checkpoint
    home = tmp_path / "home"
    folder = home / "mine"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(params))
    argv = ["models", "import", str(prefix.parent), "-n", "mine", "-p", str(config)]
    assert main([*argv, "--model-home", str(home)]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and "--overwrite" in error
    assert {p.name: p.read_text() for p in folder.iterdir()} == files
    # --overwrite replaces them with a complete model.
    assert main([*argv, "--model-home", str(home), "--overwrite"]) == 0
    assert is_complete(folder) and read_metadata(folder)["config"]["model_dir"] == "testmodel"


def test_fetching_a_missing_model_never_writes_over_files_it_did_not_write(
    tiny_checkpoint, tmp_path, monkeypatch
):
    prefix, _, params = tiny_checkpoint
    monkeypatch.setenv("SPLEETER_PADDLE_OFFLINE", "1")
    home = tmp_path / "home"
    folder = home / "testmodel"
    folder.mkdir(parents=True)
    for file in prefix.parent.iterdir():  # a TF checkpoint placed by hand, beside other files
        (folder / file.name).write_bytes(file.read_bytes())
    (folder / "model.json").write_text('{"my": "own notes"}')
    with pytest.raises(ModelError, match="no complete installed model"):
        get_model_directory(params, home)
    assert (folder / "model.json").read_text() == '{"my": "own notes"}'
    assert not (folder / "model.safetensors").exists()
    (folder / "model.json").unlink()
    assert is_complete(get_model_directory(params, home))


# --- U4: a model home that is not a folder ------------------------------------------------------


def test_a_model_home_that_is_a_file_is_refused_before_any_fetch(
    release_server, tmp_path, monkeypatch, capsys
):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for home in (afile, afile / "below"):
        monkeypatch.setenv("MODEL_PATH", str(home))
        with pytest.raises(ConfigurationError, match=r"\(MODEL_PATH\).* is not a directory"):
            get_model_directory(load_configuration("spleeter:2stems"))
        assert main(["models", "download"]) == 2
        error = capsys.readouterr().err
        assert len(error.strip().splitlines()) == 1 and str(home) in error, error
    monkeypatch.delenv("MODEL_PATH")
    with pytest.raises(ConfigurationError, match="model home given"):
        get_model_directory(load_configuration("spleeter:2stems"), model_home=afile)
    assert release_server.requests == [] and afile.read_text() == "x"


# --- the default model home: one per user, an existing ./model or Spleeter's folder kept -------


def _place_weights(folder: Path, name: str = "model.safetensors") -> None:
    folder.mkdir(parents=True)
    (folder / name).write_bytes(b"weights")


@pytest.fixture
def bare_environment(tmp_path, monkeypatch) -> Path:
    """A working directory ``work/`` with no model home set: ``XDG_CACHE_HOME`` in ``tmp_path``."""
    monkeypatch.delenv("MODEL_PATH", raising=False)
    monkeypatch.delenv("SPLEETER_PADDLE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_the_model_home_is_resolved_in_order(bare_environment, tmp_path, monkeypatch):
    from spleeter_paddle.model.provider import ModelProvider
    from spleeter_paddle.pretrained import resolve_model_home

    work = bare_environment
    user_home = tmp_path / "xdg" / "spleeter-paddle" / "models"
    assert resolve_model_home() == user_home  # nothing here: the per-user home
    assert str(user_home) == ModelProvider.DEFAULT_MODEL_PATH
    (work / "model").mkdir()
    (work / "model" / "README.md").write_text("a model/ folder holding no model")
    assert resolve_model_home() == user_home
    (work / "pretrained_models").mkdir()  # Spleeter's model home, even empty
    assert resolve_model_home().absolute() == work / "pretrained_models"
    for held in ("2stems/model.index", "runs/mine/model.safetensors", "2stems/model.safetensors"):
        shutil.rmtree(work / "model")
        _place_weights(work / "model" / Path(held).parent, Path(held).name)
        assert resolve_model_home().absolute() == work / "model", held  # no second download
    assert ModelProvider.DEFAULT_MODEL_PATH == "model"
    monkeypatch.setenv("SPLEETER_PADDLE_CACHE", str(tmp_path / "own"))
    shutil.rmtree(work / "model")
    shutil.rmtree(work / "pretrained_models")
    assert resolve_model_home() == tmp_path / "own" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored (XDG): not the cwd's
    monkeypatch.delenv("SPLEETER_PADDLE_CACHE")
    assert resolve_model_home() == Path("~/.cache/spleeter-paddle/models").expanduser()
    _place_weights(work / "model" / "2stems")
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "mine"))  # MODEL_PATH before any of them
    assert resolve_model_home() == tmp_path / "mine"
    assert resolve_model_home(tmp_path / "given") == tmp_path / "given"  # an explicit home first


def test_a_second_working_directory_uses_the_models_of_the_first(
    bare_environment, tiny_checkpoint, tmp_path, monkeypatch, release_server
):
    prefix, _, params = tiny_checkpoint
    installed = import_model(prefix.parent, None, None, params)
    assert installed == tmp_path / "xdg" / "spleeter-paddle" / "models" / "testmodel"
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    assert get_model_directory(params) == installed and is_complete(installed)
    assert release_server.requests == []  # nothing fetched again
    assert not (other / "model").exists() and not (bare_environment / "model").exists()


def test_a_spleeter_users_checkpoint_in_pretrained_models_is_converted_in_place(
    bare_environment, tiny_checkpoint, release_server
):
    prefix, _, params = tiny_checkpoint
    spleeter_folder = bare_environment / "pretrained_models" / "testmodel"
    spleeter_folder.mkdir(parents=True)
    for file in prefix.parent.iterdir():  # what official Spleeter downloaded there
        (spleeter_folder / file.name).write_bytes(file.read_bytes())
    (spleeter_folder / ".probe").write_text("OK")
    spleeters_files = {p.name: p.read_bytes() for p in spleeter_folder.iterdir()}
    directory = get_model_directory(params)
    assert directory == spleeter_folder and is_complete(directory)
    assert read_metadata(directory)["source"].startswith("local:")
    assert release_server.requests == []  # converted, not downloaded
    for name, content in spleeters_files.items():  # Spleeter still finds its own files
        assert (spleeter_folder / name).read_bytes() == content


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _namespaces_work(), reason="needs user namespaces (unshare)")
def test_import_on_a_full_disk_is_one_line_and_leaves_nothing(tiny_checkpoint, tmp_path):
    """safetensors reports a full disk with its own error type: still one ``ERROR``-free line
    naming the file and the problem, exit 4, and no file left in the model home."""
    prefix, _, params = tiny_checkpoint
    (tmp_path / "tiny.json").write_text(json.dumps(params))
    (tmp_path / "small").mkdir()
    command = [sys.executable, "-m", "spleeter_paddle", "models", "import", str(prefix.parent)]
    command += ["-n", "mine", "-p", "tiny.json", "--model-home", "small/home"]
    script = f"mount -t tmpfs -o size=12k tmpfs small && {' '.join(command)}; status=$?"
    script += (
        " ; echo LEFT: ; find small -type f ! -name .spleeter-paddle-temporaries ; exit $status"
    )
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], cwd=tmp_path, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(lines) == 1 and "no space left on the device" in lines[0], result.stderr
    assert result.stdout.split("LEFT:")[1].split() == []
