"""A full disk under train, export and the data commands: one ``error:`` line naming what could
not be written, the documented exit code, never a traceback (a tmpfs of a few KiB mounted in a
private user namespace, so nothing outside the test is touched)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))

from data_helpers import small_params, two_stem_song, write_song  # noqa: E402


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _namespaces_work(), reason="needs user namespaces (unshare)")


def _on_small_disk(cwd: Path, size: str, *commands: list) -> subprocess.CompletedProcess:
    """Run ``spleeter-paddle <command>`` in turn with ``small/`` a tmpfs of ``size``; the files
    left in ``small/`` then are listed on stdout after a ``LEFT:`` line (the tmpfs goes with the
    namespace)."""
    runs = " ; ".join(
        " ".join([sys.executable, "-m", "spleeter_paddle", *map(str, command)])
        for command in commands
    )
    script = f"mount -t tmpfs -o size={size} tmpfs small && {runs} ; status=$? ; echo LEFT: ; find small -type f ; exit $status"
    (cwd / "small").mkdir(exist_ok=True)
    return subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _error_lines(stderr: str) -> list:
    return [line for line in stderr.splitlines() if "error" in line.lower()]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A folder with 3 two-stem songs and a training configuration whose manifests and caches
    all lie under ``small/``."""
    root = tmp_path_factory.mktemp("faults")
    for index in range(3):
        write_song(root / "dataset" / "train" / f"Song {index}", two_stem_song(6.0, index))
    params = small_params(Path("small"))
    params["model_dir"] = "run"
    (root / "config.json").write_text(json.dumps(params))
    return root


def test_preprocess_and_process_data_on_a_full_disk(dataset):
    result = _on_small_disk(dataset, "1k", ["preprocess", "-p", "config.json", "-d", "dataset"])
    assert result.returncode == 5, result.stderr
    assert "Traceback" not in result.stderr
    errors = _error_lines(result.stderr)
    assert len(errors) == 1 and "small/configs/" in errors[0], result.stderr
    assert "no space left on the device" in errors[0]

    result = _on_small_disk(
        dataset,
        "300k",
        ["preprocess", "-p", "config.json", "-d", "dataset", "--quiet"],
        ["process-data", "-p", "config.json", "-d", "dataset", "--workers", "1", "--quiet"],
    )
    assert "Traceback" not in result.stderr
    songs = [line for line in result.stderr.splitlines() if "ERROR Song" in line]
    assert songs and all("no space left on the device" in line for line in songs), result.stderr
    assert all("small/cache/" in line for line in songs)


def test_train_on_a_full_disk_names_the_run_folder(dataset):
    preprocess = ["preprocess", "-p", "config.json", "-d", "dataset", "--quiet"]
    train = ["train", "-p", "config.json", "-d", "dataset", "-lm", "False", "--steps", "2"]
    train += ["--save-every", "1", "-o", "small/run", "--quiet"]
    cache = ["process-data", "-p", "config.json", "-d", "dataset", "--workers", "1", "--quiet"]
    # Manifests and caches fit in 2 MiB; the first checkpoint does not.
    result = _on_small_disk(dataset, "2m", preprocess, cache, train)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    assert "small/run: cannot save step 1: no space left on the device" in errors[0]


@pytest.mark.parametrize("fmt", ["paddle", "onnx"])
def test_export_on_a_full_disk_leaves_nothing(tmp_path, fmt):
    from spleeter_paddle.configuration import load_configuration
    from spleeter_paddle.model import build_model
    from spleeter_paddle.training.checkpoint import export_model as save_trained

    if fmt == "onnx":
        pytest.importorskip("paddle2onnx")
    params = load_configuration("spleeter:2stems")
    params["model_dir"] = str(tmp_path / "unused")
    (tmp_path / "config.json").write_text(json.dumps(params))
    save_trained(build_model(params), params, tmp_path / "trained")
    command = ["export", "-p", "config.json", "--model-dir", "trained", "--format", fmt]
    result = _on_small_disk(tmp_path, "48k", [*command, "-o", "small/exported"])
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    errors = _error_lines(result.stderr)
    assert len(errors) == 1 and "small/exported: cannot write the export" in errors[0]
    assert "no space left on the device" in errors[0]
    assert result.stdout.split("LEFT:")[-1].split() == []  # no staging, no export, no journal


def test_download_musdb_on_a_full_disk_fails_each_song_by_name(tmp_path):
    from spleeter_paddle.data.synthetic import generate_musdb_tree

    generate_musdb_tree(tmp_path / "musdb", n_songs=2, duration_s=1.0, seed=5)
    command = ["download-musdb", "--musdb-root", "musdb", "--is-wav", "-o", "small/ds", "--quiet"]
    result = _on_small_disk(tmp_path, "100k", command)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    songs = [line for line in result.stderr.splitlines() if "ERROR " in line]
    assert len(songs) == 4 and all("no space left on the device" in line for line in songs)
    assert result.stdout.split("LEFT:")[-1].split() == []  # no half-written stem, no temporary
