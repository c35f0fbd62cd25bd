"""Separation throughput of ``separate -npn N`` (one process per card; here CPU processes with
one thread each): seconds of audio separated per wall-clock second of the whole command
(launch, model loads and writes included), for N = 1 and 2 on generated songs.

    python benchmarks/bench_separate_processes.py                     # 4 songs x 30 s, N = 1 2
    python benchmarks/bench_separate_processes.py --songs 8 --seconds 60 --procs 1 2 4

``-npn 1`` runs in the command's own process (no launcher). The load average is printed before
and after: on a shared machine the numbers move with it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

RATE = 44100


def write_songs(folder: Path, n_songs: int, seconds: float) -> list:
    from spleeter_paddle.data.synthetic import generate_song

    names = []
    for index in range(n_songs):
        mixture = generate_song(seconds, seed=index)["mixture"]
        path = folder / f"song{index:02d}.wav"
        sf.write(path, mixture, RATE, subtype="PCM_16")
        names.append(str(path))
    return names


def run(files: list, out: Path, n_procs: int, params: str) -> float:
    """Wall seconds of ``spleeter-paddle separate -npn n_procs`` (OMP_NUM_THREADS=1)."""
    command = [sys.executable, "-m", "spleeter_paddle", "separate", *files, "-o", str(out)]
    command += ["-p", params, "--device", "cpu", "-npn", str(n_procs)]
    environ = {**os.environ, "OMP_NUM_THREADS": "1", "GLOG_minloglevel": "2"}
    started = time.perf_counter()
    done = subprocess.run(command, env=environ, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"-npn {n_procs} failed:\n{done.stderr[-3000:]}")
    return elapsed


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("-p", "--params", default="spleeter:2stems")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}; load average before: {load_average()}")
    with tempfile.TemporaryDirectory() as work:
        files = write_songs(Path(work), args.songs, args.seconds)
        audio_s = args.songs * args.seconds
        print(f"{args.songs} songs x {args.seconds:g} s = {audio_s:g} s of audio, {args.params}")
        baseline = None
        for n_procs in args.procs:
            elapsed = run(files, Path(work) / f"out{n_procs}", n_procs, args.params)
            baseline = baseline or elapsed
            print(
                f"-npn {n_procs}: {elapsed:6.1f} s wall, {audio_s / elapsed:5.2f} s of audio per s"
                f" (x{baseline / elapsed:.2f} of -npn {args.procs[0]})"
            )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
