"""Separation speed and memory: in-process seconds per audio second, whole CLI process wall time,
and peak RSS, on generated 30 s / 180 s / 600 s songs (2stems unless -p says otherwise).

    python benchmarks/bench_separate.py                 # 30 180 600
    python benchmarks/bench_separate.py --durations 30 180 --backends predictor eager
    python benchmarks/bench_separate.py --durations 3600 --cli-only    # 60-minute RSS check
    python benchmarks/bench_separate.py --durations 30 180 --device gpu  # on the first CUDA card

Targets (2-core CPU, 2stems): <= 0.02 s per audio second in-process, <= 8 s whole process for
180 s (official Spleeter 2.4.2: 25.6 s, 0.044 s/s, 4.4 GB peak RSS), RSS flat in length.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

from spleeter_paddle.vocab import DEVICES

RATE = 44100
REPO = Path(__file__).resolve().parents[1]


def write_song(path: Path, duration_s: float) -> None:
    """A generated song of ``duration_s`` (stems summed), written block by block (bounded memory)."""
    from spleeter_paddle.data.synthetic import generate_song

    piece = generate_song(30.0, seed=1)["mixture"]
    n_total = int(duration_s * RATE)
    with sf.SoundFile(path, "w", RATE, 2, subtype="PCM_16") as out:
        written = 0
        while written < n_total:
            block = piece[: n_total - written]
            out.write(block)
            written += len(block)


def in_process(song: Path, params: str, backend: str, mwf: bool, device: str) -> tuple:
    """Seconds per second of audio with the model already loaded (file in, files out), and the
    model's median milliseconds per 512-frame segment."""
    import numpy as np

    from spleeter_paddle.separation.separator import Separator

    separator = Separator(params, backend=backend, mwf=mwf, device=device)
    with tempfile.TemporaryDirectory() as out:
        separator.separate_to_file(song, out, duration=12.0)  # warm-up (oneDNN primitives)
        started = time.perf_counter()
        separator.separate_to_file(song, out, overwrite=True)
        elapsed = time.perf_counter() - started
    segment = np.random.default_rng(0).random((1, 2, 512, separator.params["F"]), np.float32)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        separator.run_model(segment)
        times.append(time.perf_counter() - started)
    return elapsed / sf.info(str(song)).duration, 1e3 * float(np.median(times))


def whole_process(song: Path, params: str, backend: str, mwf: bool, device: str) -> tuple:
    """Wall time and peak RSS (MB) of ``spleeter-paddle separate`` as its own process."""
    probe = (
        "import resource, subprocess, sys, time;"
        "t = time.perf_counter(); code = subprocess.call(sys.argv[1:]);"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)"
    )
    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable, "-c", probe, sys.executable, "-m", "spleeter_paddle", "separate",
            "-p", params, "--backend", backend, "--device", device, "-o", out, str(song),
        ] + (["--mwf"] if mwf else [])  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=True)
    wall_s, rss_kb, code = result.stdout.split()
    if code != "0":
        raise RuntimeError(f"separate failed: {result.stderr[-500:]}")
    return float(wall_s), int(rss_kb) / 1024


def print_process_split(walls: dict, duration: float) -> None:
    """Where a whole ``separate`` process's time goes: the start-up stages (measured in a fresh
    child process, see ``profile_separate.py``) and the rest (read, STFT, model, masks, iSTFT,
    write)."""
    from profile_separate import startup_table  # benchmarks/ is the script's directory

    startup = startup_table()
    startup.pop("model built", None)
    wall = walls[duration, "predictor"]
    print(f"\nWhole process, {duration:.0f} s song, predictor: {wall:.2f} s")
    for name, seconds in startup.items():
        print(f"  {name:30} {seconds:6.2f} s")
    rest = wall - sum(startup.values())
    print(f"  {'the rest: read ... write':30} {rest:6.2f} s ({rest / duration:.4f} s per audio s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--durations", type=float, nargs="+", default=[30, 180, 600])
    parser.add_argument("--backends", nargs="+", default=["predictor", "eager"])
    parser.add_argument("-p", "--params", default="spleeter:2stems")
    parser.add_argument("--mwf", action="store_true")
    parser.add_argument("--cli-only", action="store_true", help="skip the in-process timing")
    parser.add_argument("--device", default="auto", choices=DEVICES)
    args = parser.parse_args()
    from spleeter_paddle.devices import available_device_type

    device = available_device_type(args.device)
    print(f"cpu cores: {os.cpu_count()}  device: {device}  config: {args.params}  mwf: {args.mwf}")
    print(
        f"{'duration':>9} {'backend':>10} {'model ms/seg':>13} {'s/audio s':>10} "
        f"{'CLI wall s':>11} {'peak RSS MB':>12}"
    )
    walls = {}
    with tempfile.TemporaryDirectory() as work:
        for duration in args.durations:
            song = Path(work) / f"song-{int(duration)}s.wav"
            write_song(song, duration)
            for backend in args.backends:
                per_second, model_ms = (
                    (float("nan"), float("nan"))
                    if args.cli_only
                    else in_process(song, args.params, backend, args.mwf, device)
                )
                wall_s, rss_mb = whole_process(song, args.params, backend, args.mwf, device)
                walls[duration, backend] = wall_s
                print(
                    f"{duration:>8.0f}s {backend:>10} {model_ms:>13.1f} {per_second:>10.4f} "
                    f"{wall_s:>11.2f} {rss_mb:>12.0f}",
                    flush=True,
                )
            song.unlink()
    if args.params == "spleeter:2stems" and "predictor" in args.backends and device == "cpu":
        print_process_split(walls, max(args.durations))
    print(
        f"self peak RSS (in-process runs): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
