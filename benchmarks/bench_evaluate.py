"""Evaluation speed: seconds per song with 1, 2, ... metrics workers on generated MUSDB-HQ songs.

    python benchmarks/bench_evaluate.py                          # 4 songs x 3 s, IRM oracle
    python benchmarks/bench_evaluate.py --songs 6 --duration 10 --workers 1 2 4
    python benchmarks/bench_evaluate.py --model spleeter:2stems  # the real separator

Prints, per worker count: wall seconds per song (what pipelining and workers improve) and the
per-song separation / metrics seconds recorded in the JSON (min/mean/max), the share of the
metrics time spent in the stability check, and checks that every worker count gives the same
scores (to museval's 5 decimals).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=4)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per song")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--model", default="oracle", help="oracle (ideal ratio masks) or a -p value"
    )
    args = parser.parse_args()

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
