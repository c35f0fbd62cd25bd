"""The exported-graph cache: a graph made for other settings is never reused (predictor == eager)."""

import copy
import json
import shutil

import numpy as np
import paddle
import pytest

from spleeter_paddle.configuration import load_configuration
from spleeter_paddle.errors import ModelError
from spleeter_paddle.graph.cache import graph_key, make_runner
from spleeter_paddle.graph.runners import EagerRunner
from spleeter_paddle.model import build_model
from spleeter_paddle.pretrained.store import write_model
from spleeter_paddle.pretrained.weights import PretrainedWeights

F = 64
# The cache's behaviour does not depend on the U-Net's widths: small ones make each exported
# graph smaller and faster to make (the official widths are exported in test_official.py).
FILTERS = [4, 8, 8, 8, 8, 8]


def _params(**changes):
    params = copy.deepcopy(dict(load_configuration("spleeter:2stems")))
    params.update(F=F, T=64)
    model = params["model"] = copy.deepcopy(params["model"])
    model["params"] = dict(model.get("params") or {}, conv_n_filters=FILTERS)
    for key, value in changes.items():
        if key in ("type",):
            model["type"] = value
        elif key in ("instrument_list", "n_channels"):
            params[key] = value
        else:
            model["params"][key] = value
    return params


def _model(params, seed=0):
    """A model with distinct random weights per instrument (Spleeter's initial U-Nets are equal)."""
    paddle.seed(seed)
    model = build_model(params)
    rng = np.random.default_rng(seed)
    for parameter in model.parameters():
        noise = rng.normal(0.0, 0.05, parameter.shape).astype(np.float32)
        parameter.set_value(parameter.numpy() + noise)
    model.eval()
    return model


def _shared_weights(reference, params):
    """A model for ``params`` holding exactly ``reference``'s weights (same names and shapes)."""
    model = _model(params, seed=1)
    model.set_state_dict(reference.state_dict())
    return model


VARIANTS = {
    "instrument order": {"instrument_list": ["accompaniment", "vocals"]},
    "model type": {"type": "unet.softmax_unet"},
    "conv activation": {"conv_activation": "ELU"},
    "deconv activation": {"deconv_activation": "LeakyReLU"},
}


@pytest.fixture(scope="module")
def base_cache(tmp_path_factory):
    """A cache holding the base model's graph (built once: each variant gets a copy of it), the
    model, an input and the graph's output on it."""
    folder = tmp_path_factory.mktemp("base-cache")
    base = _model(_params())
    magnitude = np.random.default_rng(0).random((1, 2, 64, F)).astype(np.float32)
    first = make_runner(base, 2, F, "cpu", "predictor", folder)(magnitude)
    np.testing.assert_allclose(first, EagerRunner(base)(magnitude), rtol=1e-4, atol=1e-4)
    return folder, base, magnitude, first


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cached_graph_is_never_reused_for_another_config(tmp_path, base_cache, variant):
    _, base, magnitude, first = base_cache
    cache = tmp_path / "cache"
    _copy(base_cache, cache)
    assert len(_entries(cache)) == 1
    other = _shared_weights(base, _params(**VARIANTS[variant]))
    eager = EagerRunner(other)(magnitude)
    assert np.abs(eager - first).max() > 1e-3, "the variant must change the output"
    predicted = make_runner(other, 2, F, "cpu", "predictor", cache)(magnitude)
    np.testing.assert_allclose(predicted, eager, rtol=1e-4, atol=1e-4)
    assert len(_entries(cache)) == 2


def test_weights_channels_and_bins_change_the_key():
    params = _params()
    key = graph_key(_model(params), 2, F)
    assert key == graph_key(_model(params), 2, F)  # same seed, same weights
    assert key != graph_key(_model(params, seed=3), 2, F)
    assert key != graph_key(_model(params), 2, 2 * F)
    assert key["paddle"] == paddle.__version__ and len(key["code"]) == 64


def _copy(base_cache, tmp_path):
    """A cache folder of the test's own holding the base model's graph, and that model."""
    shutil.copytree(
        base_cache[0], tmp_path, ignore=shutil.ignore_patterns(".*"), dirs_exist_ok=True
    )
    return base_cache[1]


def test_tampered_cache_entry_is_replaced(tmp_path, base_cache):
    model = _copy(base_cache, tmp_path)
    magnitude = np.random.default_rng(1).random((1, 2, 64, F)).astype(np.float32)
    (entry,) = [path for path in tmp_path.iterdir() if not path.name.startswith(".")]
    key_file = entry / "graph-key.json"
    stored = json.loads(key_file.read_text())
    key_file.write_text(json.dumps({**stored, "weights": "0" * 64}))
    predicted = make_runner(model, 2, F, "cpu", "predictor", tmp_path)(magnitude)
    np.testing.assert_allclose(predicted, EagerRunner(model)(magnitude), rtol=1e-4, atol=1e-4)
    assert json.loads(key_file.read_text()) == stored
    assert sorted(path.name for path in tmp_path.iterdir()) == [entry.name]


def test_cache_keeps_the_most_recently_used_graphs(tmp_path):
    import os

    from spleeter_paddle.graph.cache import MAX_CACHE_ENTRIES

    for index in range(MAX_CACHE_ENTRIES + 1):
        old = tmp_path / f"SpleeterUNet-{index:032x}"
        old.mkdir()
        (old / "graph-key.json").write_text("{}")
        os.utime(old / "graph-key.json", (1000 + index, 1000 + index))
    (tmp_path / "not-an-entry").mkdir()
    make_runner(_model(_params()), 2, F, "cpu", "predictor", tmp_path)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert len(names) == MAX_CACHE_ENTRIES + 1 and "not-an-entry" in names
    assert f"SpleeterUNet-{0:032x}" not in names and f"SpleeterUNet-{1:032x}" not in names


def _install(model, params, directory):
    state = {key: value.numpy() for key, value in model.state_dict().items()}
    write_model(state, directory, {"config": params, "source": "test"})
    return directory


def _entries(cache):
    return [entry for entry in cache.iterdir() if not entry.name.startswith(".")]


def test_weights_on_disk_reuse_their_graph_without_building_the_model(tmp_path):
    params = _params()
    model = _model(params)
    directory = _install(model, params, tmp_path / "model")
    magnitude = np.random.default_rng(4).random((1, 2, 64, F)).astype(np.float32)
    expected = EagerRunner(model)(magnitude)
    first = PretrainedWeights(params, directory)
    np.testing.assert_allclose(
        make_runner(first, 2, F, "cpu", "predictor", tmp_path / "cache")(magnitude),
        expected,
        1e-4,
        1e-4,
    )
    again = PretrainedWeights(params, directory)
    predicted = make_runner(again, 2, F, "cpu", "predictor", tmp_path / "cache")(magnitude)
    assert again._model is None, "a cached graph of the same bytes must serve without a build"
    np.testing.assert_allclose(predicted, expected, rtol=1e-4, atol=1e-4)
    assert len(_entries(tmp_path / "cache")) == 1


@pytest.mark.parametrize("change", ["weights", "instrument order"])
def test_weights_on_disk_never_reuse_a_graph_of_other_bytes_or_config(tmp_path, change):
    params = _params()
    directory = _install(_model(params), params, tmp_path / "model")
    magnitude = np.random.default_rng(5).random((1, 2, 64, F)).astype(np.float32)
    first = make_runner(
        PretrainedWeights(params, directory), 2, F, "cpu", "predictor", tmp_path / "c"
    )
    if change == "weights":  # the same folder, other weights (a model re-installed there)
        other_params, other = params, _model(params, seed=7)
        _install(other, params, directory)
    else:
        other_params = _params(**VARIANTS["instrument order"])
        other = _shared_weights(PretrainedWeights(params, directory).model(), other_params)
    eager = EagerRunner(other)(magnitude)
    assert np.abs(eager - first(magnitude)).max() > 1e-3, "the change must change the output"
    weights = PretrainedWeights(other_params, directory)
    predicted = make_runner(weights, 2, F, "cpu", "predictor", tmp_path / "c")(magnitude)
    np.testing.assert_allclose(predicted, eager, rtol=1e-4, atol=1e-4)
    assert len(_entries(tmp_path / "c")) == 2


def test_weights_replaced_after_opening_are_not_built(tmp_path):
    params = _params()
    directory = _install(_model(params), params, tmp_path / "model")
    weights = PretrainedWeights(params, directory)
    _install(_model(params, seed=9), params, directory)
    with pytest.raises(ModelError, match="replaced while in use"):
        weights.model()


def test_damaged_graph_files_are_rebuilt_not_run(tmp_path, base_cache, caplog):
    """A cached graph whose files changed after the build (same size: a disk error, an
    interrupted copy) would give wrong stems with exit 0: it is rebuilt instead."""
    model = _copy(base_cache, tmp_path)
    magnitude = np.random.default_rng(6).random((1, 2, 64, F)).astype(np.float32)
    (entry,) = _entries(tmp_path)
    params_file = entry / "model.pdiparams"
    data = bytearray(params_file.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = bytes(4096)
    params_file.write_bytes(bytes(data))
    predicted = make_runner(model, 2, F, "cpu", "predictor", tmp_path)(magnitude)
    np.testing.assert_allclose(predicted, EagerRunner(model)(magnitude), rtol=1e-4, atol=1e-4)
    assert "damaged" in caplog.text
    assert params_file.read_bytes() != bytes(data)  # rebuilt in place of the damaged entry


def test_an_unusable_graph_cache_is_one_clear_error_or_the_eager_fallback(tmp_path, caplog):
    from spleeter_paddle.errors import ConfigurationError

    model = _model(_params())
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigurationError, match="cannot create it .*SPLEETER_PADDLE_CACHE"):
        make_runner(model, 2, F, "cpu", "predictor", cache_dir=blocker / "inference")
    runner = make_runner(model, 2, F, "cpu", "auto", cache_dir=blocker / "inference")
    assert runner.name == "eager" and "using eager mode" in caplog.text


KILLED_BUILD = """
import os, sys
from pathlib import Path
from spleeter_paddle.files import hold_folder, new_temporary
cache = Path(sys.argv[1])
with hold_folder(cache):
    staging = new_temporary(cache / "SpleeterUNet-0123", ".building", directory=True)
    (staging / "model.pdiparams").write_bytes(b"half a graph")
    print(staging, flush=True)
    os._exit(9)  # killed mid-build: no cleanup runs
"""


def test_a_killed_build_is_reclaimed_by_the_next_and_look_alikes_are_kept(tmp_path):
    """The cache folder is held while a graph is built: what a killed build staged is in the
    folder's journal and removed by the next build; a folder merely named like a staging one
    (not in the journal) is never touched, however old."""
    import os
    import subprocess
    import sys

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BUILD, str(tmp_path)], capture_output=True, text=True
    )
    assert killed.returncode == 9, killed.stderr
    staged = tmp_path / os.path.basename(killed.stdout.strip())
    assert staged.is_dir()
    look_alike = tmp_path / ".SpleeterUNet-0123.0badc0de.building"
    look_alike.mkdir()
    (look_alike / "a user's file").write_text("kept")
    os.utime(look_alike, (1000, 1000))  # "old": age is no proof of whose it is
    make_runner(_model(_params()), 2, F, "cpu", "predictor", tmp_path)
    assert not staged.exists()
    assert (look_alike / "a user's file").read_text() == "kept"
    assert len(_entries(tmp_path)) == 1
