"""Running the network: ``[B, C, T, F]`` float32 mix magnitudes -> ``[B, N, C, T, F]`` estimates.

Eager Paddle, a ``paddle.inference`` predictor (``paddle.jit.save`` files; with oneDNN on CPU
~2-3x faster per U-Net than eager, the same numbers to float noise), ONNX Runtime or OpenVINO.
Every runner serialises calls from several threads. Paddle and the exporters' packages are
imported when a runner is made, so the names here load nothing.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

from ..options import cpu_threads

logger = logging.getLogger(__name__)

INPUT_NAME, OUTPUT_NAME = "magnitude", "estimates"
_EXPORTED_FILES = {"onnx": ("model.onnx",), "openvino": ("model.xml", "model.bin")}


def model_files(fmt: str, program_suffix: Optional[str] = None) -> Tuple[str, ...]:
    """The files of a ``fmt`` graph, in a cache entry or an export directory. A ``paddle`` graph
    is its program and weights; the program is ``model.json`` or ``model.pdmodel``
    (``program_suffix``; by default the kind this Paddle writes, ``runtime.PROGRAM_SUFFIX``)."""
    if fmt != "paddle":
        return _EXPORTED_FILES[fmt]
    if program_suffix is None:
        from ..runtime import PROGRAM_SUFFIX as program_suffix
    return (f"model{program_suffix}", "model.pdiparams")


def known_model_files(fmt: str) -> List[List[str]]:
    """Every list of model files a ``fmt`` export of this tool may hold (any supported Paddle)."""
    if fmt != "paddle":
        return [list(model_files(fmt))]
    from ..runtime import PROGRAM_SUFFIXES

    return [list(model_files(fmt, suffix)) for suffix in PROGRAM_SUFFIXES]


def _gpu_index(device: str) -> int:
    return int(device.split(":")[1]) if ":" in device else 0


class EagerRunner:
    """``model(magnitude)`` under ``paddle.no_grad`` in eval mode."""

    name = "eager"

    def __init__(self, model):
        self.model = model
        self.model.eval()

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        from ..runtime import paddle

        with paddle.no_grad():
            return self.model(paddle.to_tensor(magnitude)).numpy()


class PredictorRunner:
    """The program (``prefix`` + ``runtime.PROGRAM_SUFFIX``) and ``prefix.pdiparams``
    (``paddle.jit.save``) run by a ``paddle.inference`` predictor."""

    name = "predictor"

    def __init__(self, prefix: Path, device: str = "cpu"):
        from ..runtime import PROGRAM_SUFFIX, paddle

        config = paddle.inference.Config(f"{prefix}{PROGRAM_SUFFIX}", f"{prefix}.pdiparams")
        if device.startswith("gpu"):
            config.enable_use_gpu(256, _gpu_index(device))
        elif device == "cpu":
            config.disable_gpu()
            config.enable_mkldnn()
            config.set_cpu_math_library_num_threads(cpu_threads())
        else:
            raise RuntimeError(f"no inference predictor for device {device}")
        config.disable_glog_info()
        config.switch_ir_optim(True)
        self.predictor = paddle.inference.create_predictor(config)
        self.input = self.predictor.get_input_handle(self.predictor.get_input_names()[0])
        self.output = self.predictor.get_output_handle(self.predictor.get_output_names()[0])
        self._lock = threading.Lock()  # one input handle: one call at a time

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        with self._lock:
            self.input.reshape(list(magnitude.shape))
            self.input.copy_from_cpu(np.ascontiguousarray(magnitude, dtype=np.float32))
            self.predictor.run()
            return self.output.copy_to_cpu()


class OnnxRuntimeRunner:
    """An ONNX file run by ONNX Runtime (CUDA when ``device`` is a GPU and it is available)."""

    name = "onnxruntime"

    def __init__(self, onnx_path: Path, device: str = "cpu"):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = cpu_threads()
        providers = ["CPUExecutionProvider"]
        if device.startswith("gpu") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": _gpu_index(device)}))
        elif device != "cpu":
            logger.info("onnxruntime runs on CPU (no %s provider installed)", device)
        self.session = ort.InferenceSession(str(onnx_path), options, providers=providers)

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        feed = {INPUT_NAME: np.ascontiguousarray(magnitude, dtype=np.float32)}
        return self.session.run([OUTPUT_NAME], feed)[0]


class OpenVinoRunner:
    """An OpenVINO IR run on the CPU in float32 (no bf16/fp16 inference precision)."""

    name = "openvino"

    def __init__(self, xml_path: Path, device: str = "cpu"):
        import openvino as ov

        if device != "cpu":
            logger.info("openvino runs on CPU, not %s", device)
        core = ov.Core()
        compiled = core.compile_model(str(xml_path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        self.request = compiled.create_infer_request()
        self._lock = threading.Lock()  # one infer request runs one call at a time

    def __call__(self, magnitude: np.ndarray) -> np.ndarray:
        with self._lock:
            self.request.infer({0: np.ascontiguousarray(magnitude, dtype=np.float32)})
            return self.request.get_output_tensor(0).data.copy()


def open_graph(directory: Path, fmt: str, device: str = "cpu") -> Callable[[np.ndarray], Any]:
    """A runner for the ``fmt`` model files in ``directory`` (names from :func:`model_files`)."""
    if fmt == "onnx":
        return OnnxRuntimeRunner(directory / "model.onnx", device)
    if fmt == "openvino":
        return OpenVinoRunner(directory / "model.xml", device)
    return PredictorRunner(directory / "model", device)
