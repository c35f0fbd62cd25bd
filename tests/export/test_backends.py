"""The onnxruntime/openvino backends' cache: built once per full key, verified, checked on read."""

import importlib.util
import json

import numpy as np
import pytest
from test_export import F, eager, small_model, small_params

from spleeter_paddle.graph.cache import make_runner

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("paddle2onnx", "onnxruntime")),
    reason="the onnxruntime backend needs paddle2onnx and onnxruntime",
)


# The cache and the runners' threading do not depend on the U-Net's widths: small ones make each
# conversion cheaper (the official widths are converted and compared in test_export.py).
FILTERS = [4, 8, 8, 8, 8, 8]


def backend_params():
    params = small_params()
    params["model"] = dict(params["model"])
    params["model"]["params"] = dict(params["model"].get("params") or {}, conv_n_filters=FILTERS)
    return params


def entries(cache):
    return sorted(path for path in cache.iterdir() if not path.name.startswith("."))


def test_cache_is_keyed_on_weights_and_checked_on_read(tmp_path):
    params = backend_params()
    model = small_model(params)
    magnitude = np.random.default_rng(3).uniform(0, 50, (2, 2, 128, F)).astype(np.float32)
    runner = make_runner(model, 2, F, "cpu", "onnxruntime", cache_dir=tmp_path)
    assert runner.name == "onnxruntime"
    expected = eager(model, magnitude)
    assert np.abs(runner(magnitude) - expected).max() <= 1e-5 * expected.max()
    (entry,) = entries(tmp_path)
    key = json.loads((entry / "graph-key.json").read_text())
    assert key["format"] == "onnx" and key["converters"]["opset"] == "17"
    assert set(key["converters"]) >= {"paddle", "paddle2onnx", "onnx"}

    # Other weights, same configuration: a new entry, never the old graph.
    other = small_model(params, seed=4)
    other_runner = make_runner(other, 2, F, "cpu", "onnxruntime", cache_dir=tmp_path)
    other_expected = eager(other, magnitude)
    assert np.abs(other_expected - expected).max() > 1e-2
    assert np.abs(other_runner(magnitude) - other_expected).max() <= 1e-5 * other_expected.max()
    assert len(entries(tmp_path)) == 2

    # A corrupted graph file fails its recorded sha256: rebuilt, never run.
    onnx_file = entry / "model.onnx"
    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2] ^= 0x40
    onnx_file.write_bytes(bytes(data))
    rebuilt = make_runner(model, 2, F, "cpu", "onnxruntime", cache_dir=tmp_path)
    assert np.abs(rebuilt(magnitude) - expected).max() <= 1e-5 * expected.max()
    assert onnx_file.read_bytes() != bytes(data)
    assert len(entries(tmp_path)) == 2
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime", "predictor"])
def test_a_runner_called_from_several_threads_gives_each_its_own_answer(tmp_path, backend):
    """A Separator shared by threads (the web page's worker beside a script) calls one runner
    concurrently: every call returns its own input's estimate, never another's or an error."""
    from concurrent.futures import ThreadPoolExecutor

    if backend == "openvino":
        pytest.importorskip("openvino")
    params = backend_params()
    model = small_model(params)
    runner = make_runner(model, 2, F, "cpu", backend, cache_dir=tmp_path)
    rng = np.random.default_rng(5)
    inputs = [rng.uniform(0, 50, (1, 2, 64 * (1 + i % 3), F)).astype(np.float32) for i in range(12)]
    expected = [eager(model, magnitude) for magnitude in inputs]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(runner, inputs))
    for result, reference in zip(results, expected):
        assert result.shape == reference.shape
        assert np.abs(result - reference).max() <= 1e-4 * reference.max()


@pytest.mark.parametrize("backend", ["onnx", "ONNXRUNTIME", "paddle"])
def test_a_backend_name_not_known_is_refused_not_run_as_another(tmp_path, backend):
    # A library caller's misspelt backend must not fall through to the predictor or eager Paddle.
    with pytest.raises(ValueError, match=f"backend must be one of .*got '{backend}'"):
        make_runner(small_model(backend_params()), 2, F, "cpu", backend, cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())
