"""process-data and preprocess replace only files they wrote: a foreign index.json in the
configured cache folder, or a hand-made manifest at a manifest path, is refused and kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from data_helpers import small_params

from spleeter_paddle.cli import main
from spleeter_paddle.data.cache import process_data
from spleeter_paddle.data.manifest import build_manifests
from spleeter_paddle.errors import DataError


@pytest.fixture
def prepared(tmp_path: Path, song_writer):
    for index in range(2):
        song_writer("train", f"Song {index}", 5.0, index)
    params = small_params(tmp_path, n_chunks_per_song=1)
    build_manifests(params, tmp_path / "dataset", validation_fraction=0.0, show_progress=False)
    return params, tmp_path


def test_a_foreign_index_json_is_never_replaced(prepared, capsys):
    params, root = prepared
    user = root / "userdir"
    user.mkdir()
    (user / "index.json").write_text('{"my": "precious index"}')
    params["training_cache"] = str(user)
    with pytest.raises(DataError, match=r"index.json: exists and is not a spleeter-paddle cache"):
        process_data(params, root / "dataset", workers=1, show_progress=False)
    assert (user / "index.json").read_text() == '{"my": "precious index"}'
    assert sorted(p.name for p in user.iterdir()) == ["index.json"]  # nothing computed
    (root / "config.json").write_text(json.dumps(params))
    argv = ["process-data", "-p", str(root / "config.json"), "-d", str(root / "dataset")]
    assert main([*argv, "--quiet"]) == 5
    assert f"{user / 'index.json'}: exists and is not" in capsys.readouterr().err
    # The validation folder is checked before the training songs are computed.
    params["training_cache"] = str(root / "cache" / "training")
    params["validation_cache"] = str(user)
    with pytest.raises(DataError, match="not a spleeter-paddle cache index"):
        process_data(params, root / "dataset", workers=1, show_progress=False)
    assert not (root / "cache" / "training").exists()


def test_own_index_damaged_or_not_is_rewritten(prepared):
    params, root = prepared
    process_data(params, root / "dataset", workers=1, show_progress=False)
    index = Path(params["training_cache"]) / "index.json"
    good = index.read_text()
    index.write_text(good[:50])
    process_data(params, root / "dataset", workers=1, show_progress=False)
    assert index.read_text() == good


def test_a_hand_made_manifest_is_never_replaced(prepared):
    params, root = prepared
    manifest = Path(params["validation_csv"])
    mine = "mix_path,vocals_path,accompaniment_path,duration\nmy/mix.wav,my/v.wav,my/a.wav,3.0\n"
    manifest.write_text(mine)
    before = Path(params["train_csv"]).read_text()
    with pytest.raises(DataError, match="validation.csv: exists and was not written by preprocess"):
        build_manifests(params, root / "dataset", validation_fraction=0.5, show_progress=False)
    assert manifest.read_text() == mine and Path(params["train_csv"]).read_text() == before
