"""The network as a graph file: saved by ``paddle.jit.save``, converted to ONNX (paddle2onnx) or
OpenVINO IR, and verified: every conversion runs beside the Paddle model on generated inputs and
is refused when they differ by more than a stated tolerance.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Tuple

import numpy as np

from ..errors import ConfigurationError, ModelError
from .runners import INPUT_NAME, OUTPUT_NAME, model_files, open_graph

logger = logging.getLogger(__name__)

EXPORT_FORMATS = ("onnx", "openvino", "paddle")

ONNX_OPSET = 17
# Largest accepted max |exported - Paddle| over the verification inputs, relative to the largest
# |Paddle output|: float32 summation-order noise is ~1e-6 of it; a wrong operator is > 1e-2.
DEFAULT_TOLERANCE = 1e-4
MAX_TOLERANCE = 1e-2  # looser than this would let a wrong operator through
# Verification inputs: two shapes, so a graph that baked in the batch or time size fails.
VERIFICATION_SHAPES = ((1, 128), (2, 64))  # (B, T)
# What each export format / backend needs, and the extra that installs it.
REQUIREMENTS: Dict[str, Tuple[Tuple[str, ...], str]] = {
    "paddle": ((), ""),
    "onnx": (("paddle2onnx", "onnx", "onnxruntime"), "onnx"),
    "openvino": (("paddle2onnx", "onnx", "openvino"), "openvino"),
    "onnxruntime": (("paddle2onnx", "onnx", "onnxruntime"), "onnx"),
}


def require(name: str) -> None:
    """ConfigurationError naming the extra to install when ``name``'s packages are missing (a
    Paddle backend needs none)."""
    packages, extra = REQUIREMENTS.get(name, ((), ""))
    missing = [package for package in packages if not _installed(package)]
    if missing:
        raise ConfigurationError(
            f"{name} needs {', '.join(missing)}: pip install 'spleeter-paddle[{extra}]'"
        )
    if "paddle2onnx" in packages:
        from ..runtime import check_paddle2onnx

        check_paddle2onnx()


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a parent missing, or blocked in sys.modules
        return False


def converter_versions(fmt: str) -> Dict[str, str]:
    """Versions of everything that turns the Paddle graph into ``fmt``."""
    from importlib.metadata import version

    from ..runtime import paddle

    versions = {"paddle": paddle.__version__}
    if fmt in ("onnx", "openvino"):
        versions.update(paddle2onnx=version("paddle2onnx"), onnx=version("onnx"))
        versions["opset"] = str(ONNX_OPSET)
    if fmt == "openvino":
        versions["openvino"] = version("openvino")
    return versions


@contextlib.contextmanager
def _stdout_to_log() -> Iterator[None]:
    """paddle2onnx prints from C++ and Python onto stdout: capture fd 1, log it at DEBUG."""
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(1)
        try:
            with contextlib.redirect_stdout(None):
                os.dup2(capture.fileno(), 1)
                yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                logger.debug("converter: %s", line)


def save_graph(model, n_channels: int, n_bins: int, prefix: Path) -> None:
    """``paddle.jit.save`` to ``prefix`` + ``runtime.PROGRAM_SUFFIX`` (the program) and
    ``.pdiparams``: input ``magnitude`` ``[B, n_channels, T, n_bins]`` float32 with dynamic B
    and T (the eval-mode graph)."""
    from ..runtime import paddle

    model.eval()
    spec = [paddle.static.InputSpec([None, n_channels, None, n_bins], "float32", INPUT_NAME)]
    paddle.jit.save(paddle.jit.to_static(model, input_spec=spec, full_graph=True), str(prefix))


def paddle_to_onnx(prefix: Path, onnx_path: Path) -> None:
    """The program and ``prefix.pdiparams`` (``paddle.jit.save``) -> ``onnx_path``, opset
    :data:`ONNX_OPSET`, input ``magnitude`` and output ``estimates``, both with dynamic B and T."""
    import onnx

    from ..runtime import PROGRAM_SUFFIX, paddle2onnx_export

    program, params = f"{prefix}{PROGRAM_SUFFIX}", f"{prefix}.pdiparams"
    try:
        with _stdout_to_log():
            serialized = paddle2onnx_export(program, params, ONNX_OPSET)
        graph = onnx.load_from_string(serialized)
    except Exception as error:  # paddle2onnx reports failures as assorted exceptions
        raise ModelError(f"paddle2onnx could not convert the model: {error}") from None
    _rename_io(graph)
    _exact_sigmoids(graph)
    onnx.checker.check_model(graph)
    onnx.save(graph, str(onnx_path))


def _rename_io(graph) -> None:
    if len(graph.graph.input) != 1 or len(graph.graph.output) != 1:
        raise ModelError("the converted graph must have one input and one output")
    renames = {graph.graph.input[0].name: INPUT_NAME, graph.graph.output[0].name: OUTPUT_NAME}
    for node in graph.graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    graph.graph.input[0].name = INPUT_NAME
    graph.graph.output[0].name = OUTPUT_NAME


def _exact_sigmoids(graph) -> None:
    """Write each ``Sigmoid`` as ``1 / (1 + exp(-x))``, as Paddle computes it.

    ONNX Runtime's Sigmoid kernel is accurate only in absolute terms: it returns 0 below
    x = -17 and is 0.5 % off at -12. Masks are ratios of the instruments' estimates, so where
    every instrument's logit is that low the ratio was noise (stems 3 % of peak off Paddle on
    barely trained models). Exp and Reciprocal are accurate relative to the value.
    """
    from onnx import TensorProto, helper

    one = "spleeter_paddle_one"
    rewritten = []
    for node in graph.graph.node:
        if node.op_type != "Sigmoid":
            rewritten.append(node)
            continue
        x, y = node.input[0], node.output[0]
        steps = [f"{y}_negated", f"{y}_exp", f"{y}_denominator"]
        rewritten += [
            helper.make_node("Neg", [x], [steps[0]]),
            helper.make_node("Exp", [steps[0]], [steps[1]]),
            helper.make_node("Add", [steps[1], one], [steps[2]]),
            helper.make_node("Reciprocal", [steps[2]], [y]),
        ]
    if len(rewritten) != len(graph.graph.node):
        graph.graph.initializer.append(helper.make_tensor(one, TensorProto.FLOAT, [], [1.0]))
        del graph.graph.node[:]
        graph.graph.node.extend(rewritten)


def onnx_to_openvino(onnx_path: Path, xml_path: Path) -> None:
    """ONNX -> OpenVINO IR (``.xml`` + ``.bin``), weights kept in float32."""
    import openvino as ov

    try:
        ov.save_model(ov.convert_model(str(onnx_path)), str(xml_path), compress_to_fp16=False)
    except Exception as error:
        raise ModelError(f"OpenVINO could not convert the model: {error}") from None


def verification_inputs(n_channels: int, n_bins: int, seed: int = 0):
    """Generated mix magnitudes ``[B, C, T, F]``, log-uniform from 1e-4 to 300 like music's."""
    rng = np.random.default_rng(seed)
    for batch, frames in VERIFICATION_SHAPES:
        exponents = rng.uniform(-4.0, np.log10(300.0), (batch, n_channels, frames, n_bins))
        yield (10.0**exponents).astype(np.float32)


def verify(
    model,
    runner: Callable[[np.ndarray], np.ndarray],
    n_channels: int,
    n_bins: int,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Dict[str, Any]:
    """Run ``runner`` beside the eager Paddle ``model``; ModelError with the numbers when
    max |diff| > ``tolerance`` x max |Paddle output| (or on a shape mismatch / NaN)."""
    from ..runtime import paddle

    model.eval()
    worst, peak = 0.0, 0.0
    shapes = []
    for magnitude in verification_inputs(n_channels, n_bins):
        with paddle.no_grad():
            expected = model(paddle.to_tensor(magnitude)).numpy()
        actual = np.asarray(runner(magnitude))
        shapes.append(list(magnitude.shape))
        if actual.shape != expected.shape:
            raise ModelError(
                f"verification failed: exported output shape {list(actual.shape)} for input "
                f"{list(magnitude.shape)}, Paddle gives {list(expected.shape)}"
            )
        diff = np.abs(actual.astype(np.float64) - expected)
        worst = max(worst, float(diff.max()) if np.isfinite(diff).all() else float("inf"))
        peak = max(peak, float(np.abs(expected).max()))
    bound = tolerance * max(peak, 1e-30)
    result = {"inputs": shapes, "max_abs_diff": worst, "max_abs_output": peak}
    result.update(tolerance=tolerance, bound=bound)
    if not worst <= bound:
        raise ModelError(
            f"verification failed: exported model differs from Paddle by max |diff| {worst:.3g} "
            f"on outputs up to {peak:.3g} (allowed {bound:.3g} = {tolerance:g} x {peak:.3g}); "
            "nothing written"
        )
    logger.info(
        "verified: max |diff| %.3g on outputs up to %.3g (allowed %.3g)", worst, peak, bound
    )
    return result


def build_graph(
    model,
    n_channels: int,
    n_bins: int,
    fmt: str,
    directory: Path,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Dict[str, Any]:
    """Write ``fmt``'s :func:`model_files` into the empty ``directory``, verified; returns the
    verification numbers. Intermediate files are removed."""
    from ..model import portable_activations

    require(fmt)
    model.eval()
    with tempfile.TemporaryDirectory(prefix=".paddle-", dir=directory) as scratch:
        prefix = Path(scratch) / "inference"
        with portable_activations(model) if fmt != "paddle" else contextlib.nullcontext():
            save_graph(model, n_channels, n_bins, prefix)
        if fmt == "paddle":
            for name in model_files(fmt):
                os.replace(f"{prefix}{Path(name).suffix}", directory / name)
        else:
            paddle_to_onnx(prefix, directory / "model.onnx")
    if fmt == "openvino":
        onnx_to_openvino(directory / "model.onnx", directory / "model.xml")
        os.remove(directory / "model.onnx")
    return verify(model, open_graph(directory, fmt), n_channels, n_bins, tolerance)
