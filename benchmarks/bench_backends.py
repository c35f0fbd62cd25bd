"""Network speed per inference backend: milliseconds per 512-frame segment, side by side.

    MODEL_PATH=.cache/tests/models python benchmarks/bench_backends.py      # official 2stems
    python benchmarks/bench_backends.py -p spleeter:4stems --repeat 10 --batch 2

Runs ``[B, 2, 512, F]`` generated magnitudes through eager Paddle, the ``paddle.inference``
predictor, ONNX Runtime and OpenVINO (those installed) on the CPU; prints the median and the
best time per segment, and each backend's max |diff| against eager Paddle on the same input.
Conversions are cached (first run builds them) and not timed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")

PACKAGES = {"onnxruntime": ("paddle2onnx", "onnxruntime"), "openvino": ("paddle2onnx", "openvino")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", "--params_filename", default="spleeter:2stems")
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per backend")
    parser.add_argument("--batch", type=int, default=1, help="segments per call")
    parser.add_argument(
        "--backends", nargs="+", default=["eager", "predictor", "onnxruntime", "openvino"]
    )
    args = parser.parse_args()

    from spleeter_paddle.configuration import load_configuration
    from spleeter_paddle.graph.cache import make_runner
    from spleeter_paddle.pretrained.weights import load_pretrained_model

    params = load_configuration(args.params_filename)
    model = load_pretrained_model(params, model_dir=args.model_dir)
    n_channels, n_bins = params["n_channels"], params["F"]
    rng = np.random.default_rng(0)
    shape = (args.batch, n_channels, 512, n_bins)
    magnitude = (10.0 ** rng.uniform(-4, np.log10(300.0), shape)).astype(np.float32)
    print(f"{args.params_filename}: input {list(shape)}, {os.cpu_count()} CPUs, {args.repeat} runs")
    print(f"{'backend':<12} {'median ms/seg':>14} {'best ms/seg':>12} {'max |diff| vs eager':>20}")
    reference = None
    for backend in args.backends:
        missing = [name for name in PACKAGES.get(backend, ()) if not importlib.util.find_spec(name)]
        if missing:
            print(f"{backend:<12} not installed ({', '.join(missing)})")
            continue
        runner = make_runner(model, n_channels, n_bins, "cpu", backend)
        output = runner(magnitude)  # warm-up (oneDNN / OpenVINO compile their kernels here)
        reference = output if reference is None else reference
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            runner(magnitude)
            times.append((time.perf_counter() - started) * 1e3 / args.batch)
        diff = float(np.abs(output - reference).max())
        print(
            f"{runner.name:<12} {statistics.median(times):>14.1f} {min(times):>12.1f} {diff:>20.3g}"
        )


if __name__ == "__main__":
    main()
