"""Evaluation speed: BSSEval scoring (museval vs ours) and the whole pipeline per song.

    python benchmarks/bench_evaluate.py                          # both parts, defaults
    python benchmarks/bench_evaluate.py --part scoring --song-duration 30 --sources 4
    python benchmarks/bench_evaluate.py --part pipeline --songs 6 --duration 10 --workers 1 2 4
    python benchmarks/bench_evaluate.py --part pipeline --model spleeter:2stems
    python benchmarks/bench_evaluate.py --references aac --sources 2 --song-duration 120 \
        --part scoring                                          # MUSDB18-like decoded AAC stems
    python benchmarks/bench_evaluate.py --references aac --part pipeline --songs 2 \
        --duration 30 --workers 1 --metrics fast museval        # whole evaluate, both scorers

Scoring: one generated song (its stems as references, estimates leaking the mixture), scored by
``museval.evaluate`` and by ``spleeter_paddle.evaluation.bsseval.evaluate`` in fresh processes,
once with one thread (OMP/OPENBLAS/MKL = 1, one window thread) and once with all cores; prints
scoring seconds per audio second, the ratio, and the largest score difference (dB).

Pipeline: per worker count, wall seconds per song (what pipelining and workers improve) and the
per-song separation / metrics seconds recorded in the JSON (min/mean/max), the share of the
metrics time spent in the stability check, and checks that every worker count gives the same
scores (to museval's 5 decimals). ``--metrics fast museval`` runs the pipeline with both
scorers and prints their ratio. ``--references aac``: every stem through ffmpeg's AAC encoder
(128 kb/s) and back, as MUSDB18's stems (ill-conditioned: museval's own arithmetic is then
reproduced, see ``evaluation/museval_filters.py``).
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
STEMS = ("vocals", "drums", "bass", "other")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["scoring", "pipeline", "all"], default="all")
    parser.add_argument("--song-duration", type=float, default=30.0, help="scoring: seconds")
    parser.add_argument("--sources", type=int, choices=[2, 4], default=4, help="scoring: targets")
    parser.add_argument("--references", choices=["lossless", "aac"], default="lossless")
    parser.add_argument("--score-one", nargs=4, help=argparse.SUPPRESS)  # impl, threads, in, out
    parser.add_argument("--songs", type=int, default=4)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per song")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--metrics", nargs="+", choices=["fast", "museval"], default=["fast"])
    parser.add_argument(
        "--model", default="oracle", help="oracle (ideal ratio masks) or a -p value"
    )
    args = parser.parse_args()
    if args.score_one:
        _score_one(*args.score_one)
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
        f"{args.references} references, {cores} cores (load average {os.getloadavg()[0]:.1f})"
    )
    seconds, scores = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        song = Path(scratch) / "song.npz"
        np.savez(song, **dict(zip(("references", "estimates"), _song(args))))
        for threads in (1, cores):
            for implementation in ("museval", "fast"):
                out = Path(scratch) / f"{implementation}{threads}.npy"
                env = dict(os.environ)
                for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                    env[name] = str(threads)
                command = [sys.executable, __file__, "--score-one", implementation, str(threads)]
                command += [str(song), str(out)]
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


def _song(args: argparse.Namespace):
    """``(references, estimates)``, ``(n_sources, n, 2)`` float64: a generated song's stems
    (through AAC and back with ``--references aac``), estimates leaking the mixture."""
    from spleeter_paddle.data.synthetic import codec_round_trip, generate_song

    song = generate_song(args.song_duration, seed=5)
    names = ["vocals", "drums", "bass", "other"]
    references = np.stack([song[name] for name in names]).astype(np.float64)
    if args.references == "aac":
        references = np.stack([codec_round_trip(stem) for stem in references])
    if args.sources == 2:
        references = np.stack([references[0], references[1:].sum(axis=0)])
    mixture = references.sum(axis=0)
    estimates = 0.8 * references + 0.2 * np.roll(mixture, 3, axis=0)[None] / len(references)
    estimates += 1e-3 * np.random.default_rng(5).standard_normal(estimates.shape)
    return references, estimates


def _score_one(implementation: str, threads: str, song: str, out: str) -> None:
    """Child process: score the song once (museval on this process's BLAS threads, as
    ``evaluate`` does: one), print the seconds, save the scores."""
    from spleeter_paddle.evaluation import bsseval
    from spleeter_paddle.sigsep import import_museval

    loaded = np.load(song)
    references, estimates = loaded["references"], loaded["estimates"]
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
    """The evaluate pipeline on generated songs, per scorer and metrics worker count."""
    from spleeter_paddle.evaluation import OracleSeparator, evaluate, folder_tracks, load_separator

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "musdb"
        _songs(root, args)
        tracks = folder_tracks(root, ["test"])
        if args.model == "oracle":
            separator = OracleSeparator(tracks, ratio_mask=True)
        else:
            separator, _ = load_separator(args.model)
        print(
            f"{len(tracks)} songs x {args.duration:g} s, {args.references} references,"
            f" {args.model}, {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f})"
        )
        reference, walls = None, {}
        for metrics in args.metrics:
            for n_workers in args.workers:
                start = time.perf_counter()
                result = evaluate(separator, tracks, Path(scratch) / f"{metrics}{n_workers}",
                                  n_workers, progress=False, metrics=metrics)  # fmt: skip
                wall_s = walls[metrics, n_workers] = time.perf_counter() - start
                seconds = result.summary["seconds_per_song"]
                line = f"{metrics}, workers {n_workers}: wall {wall_s / len(tracks):6.2f} s/song"
                for part in ("separation", "metrics", "total"):
                    t = seconds[part]
                    line += f" | {part} {t['min']:.2f}/{t['mean']:.2f}/{t['max']:.2f}"
                print(line + "  (min/mean/max s per song)")
                print(f"  stability check: {_stability_share(result):.0%} of the metrics time")
                scores = result.songs["score"].to_numpy()
                if reference is None:
                    reference = scores
                else:
                    gap = np.nanmax(np.abs(scores - reference))
                    print(f"  largest song-score difference from the first: {gap:.1e} dB")
        for n_workers in args.workers:
            if ("fast", n_workers) in walls and ("museval", n_workers) in walls:
                ratio = walls["museval", n_workers] / walls["fast", n_workers]
                print(f"workers {n_workers}: whole evaluate {ratio:.1f}x faster than museval")


def _songs(root: Path, args: argparse.Namespace) -> None:
    """``args.songs`` generated songs under ``root/test``: 16-bit stems, or with
    ``--references aac`` stems through AAC and back (float WAV) and their sum as mixture."""
    import soundfile as sf

    from spleeter_paddle.data.synthetic import codec_round_trip, generate_musdb_tree

    for folder in generate_musdb_tree(root, n_songs=args.songs, duration_s=args.duration, seed=11):
        if args.references == "aac" and folder.parent.name == "test":
            stems = [sf.read(folder / f"{name}.wav")[0] for name in STEMS]
            stems = [codec_round_trip(stem) for stem in stems]
            for name, stem in zip(STEMS, stems):
                sf.write(folder / f"{name}.wav", stem, 44100, subtype="DOUBLE")
            sf.write(folder / "mixture.wav", sum(stems), 44100, subtype="DOUBLE")


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
