"""Where separation time goes: the exported U-Net layer by layer, the pipeline's stages, start-up.

    python benchmarks/profile_separate.py                  # all three tables, 2stems, 60 s song
    python benchmarks/profile_separate.py --only layers --repeats 10

Layers: each block of one U-Net exported alone (conv, BN and activation, fused as the predictor
fuses them in the whole graph) and run by a ``paddle.inference`` predictor at its real input shape for one 512-frame
segment; GFLOP counts multiply-adds x 2 of the convolution; the 2stems graph runs two U-Nets.
Stages: the library's own functions on the same song, one stage at a time. Start-up: what a
``spleeter-paddle separate`` process does before its first segment.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RATE = 44100


def _median_time(function: Callable[[], object], repeats: int) -> float:
    function()  # warm-up (oneDNN primitive creation)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def _predictor(layer, input_shape, directory: Path):
    """``layer`` exported and loaded as the separator does its graph (``save_graph``,
    ``PredictorRunner``), fed a random input of ``input_shape``; returns its ``run``."""
    from spleeter_paddle.graph.convert import save_graph
    from spleeter_paddle.graph.runners import PredictorRunner

    prefix = directory / "layer"
    save_graph(layer, input_shape[1], input_shape[3], prefix)
    runner = PredictorRunner(prefix)
    data = np.random.default_rng(0).random(input_shape).astype(np.float32)
    runner.input.reshape(list(input_shape))
    runner.input.copy_from_cpu(data)
    return runner.predictor.run


def layer_table(repeats: int) -> List[Dict[str, object]]:
    """One U-Net's blocks at a 512-frame segment's shapes, each as its own exported graph."""
    from spleeter_paddle.configuration import load_configuration
    from spleeter_paddle.model import build_model

    params = load_configuration("spleeter:2stems")
    unet = build_model(dict(params)).unets["vocals"]
    rows, shape = [], (1, 2, 512, 1024)
    with tempfile.TemporaryDirectory() as scratch:
        for index, block in enumerate(unet.encoder):
            conv = block.conv
            out = (1, conv._out_channels, shape[2] // 2, shape[3] // 2)
            flop = 2 * conv._in_channels * conv._out_channels * 25 * out[2] * out[3]
            # The block itself: its raw conv output also feeds the decoder, as in the graph.
            rows.append(_row(f"encoder {index} conv5x5/2", block, shape, flop, scratch, repeats))
            shape = out
        for index, block in enumerate(unet.decoder):
            deconv = block.deconv
            shape = (1, deconv._in_channels, shape[2], shape[3])
            flop = 2 * deconv._in_channels * deconv._out_channels * 25 * shape[2] * shape[3]
            # The block itself: the 1-channel last one runs as a phase conv in eval.
            rows.append(_row(f"decoder {index} deconv5x5/2", block, shape, flop, scratch, repeats))
            shape = (1, deconv._out_channels, shape[2] * 2, shape[3] * 2)
        head = unet.head
        flop = 2 * head._in_channels * head._out_channels * 16 * shape[2] * shape[3]
        rows.append(_row("head conv4x4 dil2", head, shape, flop, scratch, repeats))
    return rows


def _row(name, layer, shape, flop, scratch, repeats) -> Dict[str, object]:
    directory = Path(tempfile.mkdtemp(dir=scratch))
    seconds = _median_time(_predictor(layer, shape, directory), repeats)
    return {
        "layer": name,
        "input": "x".join(map(str, shape[1:])),
        "s": seconds,
        "gflop": flop / 1e9,
    }


def print_layers(rows: List[Dict[str, object]]) -> None:
    total = sum(row["s"] for row in rows)
    print("\nOne U-Net, one 512-frame segment (2stems runs two): predictor per block")
    print(f"{'layer':24} {'input CxTxF':>16} {'ms':>8} {'GFLOP':>7} {'GFLOP/s':>8} {'share':>6}")
    for row in rows:
        rate = row["gflop"] / row["s"]
        print(
            f"{row['layer']:24} {row['input']:>16} {1e3 * row['s']:8.2f} {row['gflop']:7.2f} "
            f"{rate:8.1f} {row['s'] / total:6.1%}"
        )
    gflop = sum(row["gflop"] for row in rows)
    print(f"{'sum':24} {'':>16} {1e3 * total:8.2f} {gflop:7.2f} {gflop / total:8.1f}")


def stage_table(song: Path, repeats: int) -> Dict[str, float]:
    """Seconds per stage for the whole song, each stage run alone on the library's functions."""
    from spleeter_paddle.audio import io as audio_io
    from spleeter_paddle.audio.writer import StreamWriter
    from spleeter_paddle.separation import pipeline
    from spleeter_paddle.separation.separator import READ_BLOCK_SAMPLES, Separator

    separator = Separator("spleeter:2stems", backend="predictor")
    chain = separator.chain
    waveform = np.concatenate(list(audio_io.stream(song, READ_BLOCK_SAMPLES, RATE)))

    def read():
        for _ in audio_io.stream(song, READ_BLOCK_SAMPLES, RATE):
            pass

    def segments():
        signal = pipeline.PaddedSignal(pipeline.array_blocks(waveform)(), 2, chain.frame_length)
        return list(pipeline._stft_segments(chain, signal))

    stfts = segments()
    estimates = [pipeline._model_estimates(chain, separator.run_model, [s])[0] for s in stfts]
    spectra = [pipeline._masked_spectra(chain, e, s) for e, s in zip(estimates, stfts)]

    def model():
        for stft in stfts:
            pipeline._model_estimates(chain, separator.run_model, [stft])

    def masks():
        for estimate, stft in zip(estimates, stfts):
            pipeline._masked_spectra(chain, estimate, stft)

    outputs: List[np.ndarray] = []

    def istft():
        outputs.clear()
        signal = pipeline.PaddedSignal(iter([waveform]), 2, chain.frame_length)
        overlap_add = pipeline._OverlapAdd(chain, signal, outputs.append)
        for index, spectrum in enumerate(spectra):
            overlap_add.add(index, spectrum)

    istft()
    with tempfile.TemporaryDirectory() as scratch:

        def write():
            for name in chain.instruments:
                with StreamWriter(Path(scratch) / f"{name}.wav", RATE, 2) as writer:
                    for block in outputs:
                        writer.write(block[name])

        stages = {
            "read + resample": read,
            "STFT": segments,
            "model (predictor)": model,
            "masks": masks,
            "iSTFT + overlap-add": istft,
            "write (2 x PCM_16 wav)": write,
        }
        seconds = {name: _median_time(function, repeats) for name, function in stages.items()}

        def whole():
            separator.separate_to_file(song, Path(scratch) / "whole")

        seconds["whole separate_to_file"] = _median_time(whole, repeats)
    return seconds


def print_stages(seconds: Dict[str, float], duration_s: float) -> None:
    whole = seconds["whole separate_to_file"]
    print(f"\nPipeline stages, 2stems, a {duration_s:.0f} s song (each stage alone)")
    print(f"{'stage':26} {'s':>8} {'s per audio s':>14} {'share of whole':>15}")
    for name, value in seconds.items():
        print(f"{name:26} {value:8.3f} {value / duration_s:14.4f} {value / whole:15.1%}")


def startup_table() -> Dict[str, float]:
    """What a fresh process spends before its first segment (run in a child process)."""
    import json
    import subprocess
    import sys

    code = r"""
import json, time
t0 = time.perf_counter()
from spleeter_paddle.separation.separator import Separator
t1 = time.perf_counter()
from spleeter_paddle.configuration import load_configuration
from spleeter_paddle.pretrained.weights import pretrained_weights
params = load_configuration("spleeter:2stems")
weights = pretrained_weights(params)
t2 = time.perf_counter()
from spleeter_paddle.graph.cache import make_runner
runner = make_runner(weights, 2, 1024, "cpu", "predictor")
t3 = time.perf_counter()
import numpy as np
runner(np.zeros((1, 2, 512, 1024), np.float32))
t4 = time.perf_counter()
print(json.dumps({"imports (Paddle included)": t1 - t0, "weights read + sha256": t2 - t1,
                  "predictor (cached graph)": t3 - t2, "first segment (warm-up)": t4 - t3,
                  "model built": weights._model is not None}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("layers", "stages", "startup"), default=None)
    parser.add_argument("--duration", type=float, default=60.0, help="song seconds (stages)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"CPU cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    if args.only in (None, "startup"):
        startup = startup_table()  # first: it also installs the cached graph
        print("\nStart-up of a fresh process (cached graph)")
        built = startup.pop("model built")
        for name, value in startup.items():
            print(f"{name:28} {value:7.2f} s")
        print(f"{'Paddle model built':28} {'yes' if built else 'no (graph cache hit)':>7}")
    if args.only in (None, "layers"):
        print_layers(layer_table(args.repeats))
    if args.only in (None, "stages"):
        import soundfile as sf

        from spleeter_paddle.data.synthetic import generate_song

        with tempfile.TemporaryDirectory() as scratch:
            song = Path(scratch) / "song.wav"
            piece = generate_song(min(args.duration, 30.0), seed=1)["mixture"]
            repeats = int(np.ceil(args.duration / 30.0))
            sf.write(song, np.concatenate([piece] * repeats)[: int(args.duration * RATE)], RATE)
            print_stages(stage_table(song, max(1, args.repeats // 2)), args.duration)


if __name__ == "__main__":
    main()
