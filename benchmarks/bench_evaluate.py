"""Evaluation speed: BSSEval scoring (museval vs ours) and the whole pipeline per song.

    python benchmarks/bench_evaluate.py                          # both parts, defaults
    python benchmarks/bench_evaluate.py --part scoring --song-duration 30 --sources 4
    python benchmarks/bench_evaluate.py --part pipeline --songs 6 --duration 10 --workers 1 2 4
    python benchmarks/bench_evaluate.py --part pipeline --model spleeter:2stems

Scoring: one generated song (its stems as references, estimates leaking the mixture), scored by
``museval.evaluate`` and by ``spleeter_paddle.evaluation.bsseval.evaluate`` in fresh processes,
once with one thread (OMP/OPENBLAS/MKL = 1, one window thread) and once with all cores; prints
scoring seconds per audio second, the ratio, and the largest score difference (dB).

Pipeline: per worker count, wall seconds per song (what pipelining and workers improve) and the
per-song separation / metrics seconds recorded in the JSON (min/mean/max), the share of the
metrics time spent in the stability check, and checks that every worker count gives the same
scores (to museval's 5 decimals).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["scoring", "pipeline", "all"], default="all")
    parser.add_argument("--song-duration", type=float, default=30.0, help="scoring: seconds")
    parser.add_argument("--sources", type=int, choices=[2, 4], default=4, help="scoring: targets")
    parser.add_argument("--score-one", nargs=3, help=argparse.SUPPRESS)  # child: impl, threads, out
    parser.add_argument("--songs", type=int, default=4)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per song")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--model", default="oracle", help="oracle (ideal ratio masks) or a -p value"
    )
    args = parser.parse_args()
    if args.score_one:
        _score_one(args, *args.score_one)
        return
    if args.part in ("scoring", "all"):
        scoring(args)
    if args.part in ("pipeline", "all"):
        pipeline(args)


def scoring(args: argparse.Namespace) -> None:
    """museval vs ours on one song, one core and all cores, each in a fresh process."""
    cores = os.cpu_count() or 1
    print(
        f"scoring: one song of {args.song_duration:g} s, {args.sources} stereo targets, "
        f"{cores} cores (load average {os.getloadavg()[0]:.1f})"
    )
    seconds, scores = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for threads in (1, cores):
            for implementation in ("museval", "fast"):
                out = Path(scratch) / f"{implementation}{threads}.npy"
                env = dict(os.environ)
                for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                    env[name] = str(threads)
                command = [sys.executable, __file__, "--score-one", implementation, str(threads)]
                command += [str(out), "--song-duration", str(args.song_duration)]
                command += ["--sources", str(args.sources)]
                result = subprocess.run(command, env=env, capture_output=True, text=True)
                if result.returncode:
                    raise SystemExit(result.stderr)
                seconds[implementation, threads] = json.loads(result.stdout)
                scores[implementation, threads] = np.load(out)
            slow, fast = seconds["museval", threads], seconds["fast", threads]
            wall = [t["seconds"] / args.song_duration for t in (slow, fast)]
            cpu = [t["cpu_seconds"] / args.song_duration for t in (slow, fast)]
            print(
                f"  {threads} thread(s): museval {wall[0]:.3f} s per audio s (CPU {cpu[0]:.3f}),"
                f" ours {wall[1]:.4f} (CPU {cpu[1]:.4f}): {wall[0] / wall[1]:.1f}x faster"
            )
    reference = scores["museval", 1]
    for key, values in scores.items():
        both = np.isfinite(reference) & np.isfinite(values)
        same = np.array_equal(np.isfinite(reference), np.isfinite(values))
        gap = np.abs(values[both] - reference[both]).max()
        print(
            f"  {key[0]}, {key[1]} thread(s) vs museval, 1 thread: max |diff| {gap:.1e} dB, "
            f"same non-finite cells: {same}"
        )


def _score_one(args: argparse.Namespace, implementation: str, threads: str, out: str) -> None:
    """Child process: score the generated song once, print the seconds, save the scores."""
    from spleeter_paddle.data.synthetic import generate_song
    from spleeter_paddle.evaluation import bsseval
    from spleeter_paddle.sigsep import import_museval

    song = generate_song(args.song_duration, seed=5)
    names = ["vocals", "drums", "bass", "other"]
    references = np.stack([song[name] for name in names]).astype(np.float64)
    if args.sources == 2:
        references = np.stack([references[0], references[1:].sum(axis=0)])
    mixture = song["mixture"].astype(np.float64)
    estimates = 0.8 * references + 0.2 * np.roll(mixture, 3, axis=0)[None] / len(references)
    estimates += 1e-3 * np.random.default_rng(5).standard_normal(estimates.shape)
    museval = import_museval()
    start, cpu_start = time.perf_counter(), time.process_time()
    if implementation == "museval":
        values = museval.evaluate(references, estimates, mode="v4")
    else:
        values = bsseval.evaluate(references, estimates, workers=int(threads))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    np.save(out, np.stack(values))
    print(json.dumps({"seconds": elapsed, "cpu_seconds": cpu}))


def pipeline(args: argparse.Namespace) -> None:
    """The evaluate pipeline on generated songs, per metrics worker count."""
    from spleeter_paddle.data.synthetic import generate_musdb_tree
    from spleeter_paddle.evaluation import OracleSeparator, evaluate, folder_tracks, load_separator

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "musdb"
        generate_musdb_tree(root, n_songs=args.songs, duration_s=args.duration, seed=11)
        tracks = folder_tracks(root, ["test"])
        if args.model == "oracle":
            separator = OracleSeparator(tracks, ratio_mask=True)
        else:
            separator, _ = load_separator(args.model)
        print(f"{len(tracks)} songs x {args.duration:g} s, {args.model}, {os.cpu_count()} cores")
        reference = None
        for n_workers in args.workers:
            start = time.perf_counter()
            result = evaluate(
                separator, tracks, Path(scratch) / f"w{n_workers}", n_workers, progress=False
            )
            wall_s = time.perf_counter() - start
            seconds = result.summary["seconds_per_song"]
            line = f"workers {n_workers}: wall {wall_s / len(tracks):6.2f} s/song"
            for part in ("separation", "metrics", "total"):
                t = seconds[part]
                line += f" | {part} {t['min']:.2f}/{t['mean']:.2f}/{t['max']:.2f}"
            print(line + "  (min/mean/max s per song)")
            print(f"  stability check: {_stability_share(result):.0%} of the metrics time")
            scores = result.songs["score"].to_numpy()
            if reference is None:
                reference = scores
            else:
                same = np.allclose(scores, reference, rtol=0, atol=2e-5, equal_nan=True)
                print(f"  same scores as workers {args.workers[0]}: {same}")


def _stability_share(result) -> float:
    """Seconds in the stability check over seconds in metrics, summed over the songs."""
    import json

    from spleeter_paddle.evaluation.metrics import EXTRA_KEY

    spent = total = 0.0
    for path in result.output_dir.rglob("*.json"):
        if path.name == "summary.json":
            continue
        extra = json.loads(path.read_text()).get(EXTRA_KEY, {})
        spent += extra.get("stability_s", 0.0)
        total += extra.get("metrics_s", 0.0)
    return spent / total if total else float("nan")


if __name__ == "__main__":
    main()
