"""Where a training step's time goes: per op type (time, share) and the loader / forward /
backward / optimizer split, with ``paddle.profiler`` on the trainer's own step.

Generates a small cache of songs (or reuses ``--cache``), loads batches with the training
``BatchLoader`` and runs ``steps.train_step`` (forward, L1, backward, Adam) at Spleeter's
shapes (2stems, T = 512, F = 1024, batch 4); ``--small`` for a quick run (T = 128, F = 256).
Op times are self times (nested ops subtracted); backward ops are Paddle's grad nodes.

    python benchmarks/profile_train.py [--small] [--steps 2] [--warmup 1] [--top 25]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

os.environ.setdefault("GLOG_minloglevel", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

PHASES = ("loader", "forward", "backward", "optimizer")


def op_self_times(trace_file: str) -> Dict[str, float]:
    """Self time in ms per op type from a chrome trace (``Operator`` events, nesting removed)."""
    with open(trace_file) as handle:
        data = json.load(handle)
    events = data["traceEvents"] if isinstance(data, dict) else data
    by_thread: Dict[str, List[dict]] = defaultdict(list)
    for event in events:
        if event.get("cat") == "Operator" and event.get("ph") == "X":
            by_thread[str(event.get("tid"))].append(event)
    totals: Dict[str, float] = defaultdict(float)
    for thread_events in by_thread.values():
        thread_events.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack: List[Tuple[dict, List[float]]] = []  # (event, [children time])
        for event in thread_events:
            while stack and event["ts"] >= stack[-1][0]["ts"] + stack[-1][0]["dur"]:
                _close(stack, totals)
            if stack:
                stack[-1][1][0] += event["dur"]
            stack.append((event, [0.0]))
        while stack:
            _close(stack, totals)
    return {name: us / 1000.0 for name, us in totals.items()}


def _close(stack: list, totals: Dict[str, float]) -> None:
    event, children = stack.pop()
    name = event["name"].split("[")[0].replace(" dygraph", "").replace("Global_", "")
    totals[name] += event["dur"] - children[0]


def profile(params: dict, args: argparse.Namespace) -> None:
    import numpy as np

    from spleeter_paddle.data.cache_files import SpectrogramCache
    from spleeter_paddle.data.dataset import ResumableBatchSampler, TrainingDataset
    from spleeter_paddle.data.loader import BatchLoader
    from spleeter_paddle.devices import select_device
    from spleeter_paddle.model import build_model
    from spleeter_paddle.runtime import paddle
    from spleeter_paddle.training import trainer
    from spleeter_paddle.training.steps import l1_losses

    profiler = paddle.profiler

    select_device(args.device)
    model = build_model(params)
    model.train()
    if args.per_parameter_adam:  # the trainer's optimiser before the multi-tensor kernel
        optimizer = paddle.optimizer.Adam(params["learning_rate"], parameters=model.parameters())
    else:
        optimizer = trainer.build_optimizer(model, params["learning_rate"])
    dataset = TrainingDataset(SpectrogramCache(params["training_cache"]), params, seed=0)
    # As the trainer: a cache smaller than one batch gives short batches, not empty epochs.
    drop_last = len(dataset) >= args.batch_size
    sampler = ResumableBatchSampler(dataset, args.batch_size, seed=0, drop_last=drop_last)
    loader = BatchLoader(dataset, sampler, args.workers)
    batches = _endless(loader, sampler, dataset)

    def step(timings: Dict[str, List[float]]) -> None:
        marks = [time.perf_counter()]
        with profiler.RecordEvent("loader"):
            mix, targets = next(batches)
        marks.append(time.perf_counter())
        with profiler.RecordEvent("forward"):
            parts = l1_losses(model(mix), targets)
            loss = parts.sum()
        marks.append(time.perf_counter())
        with profiler.RecordEvent("backward"):
            loss.backward()
        marks.append(time.perf_counter())
        with profiler.RecordEvent("optimizer"):
            optimizer.step()
            optimizer.clear_grad()
        marks.append(time.perf_counter())
        for name, start, end in zip(PHASES, marks, marks[1:]):
            timings[name].append(end - start)
        timings["loss"].append(float(loss))

    warm: Dict[str, List[float]] = defaultdict(list)
    for _ in range(args.warmup):
        step(warm)
    steps = [sum(values) for values in zip(*(warm[name] for name in PHASES))]
    print("unprofiled warm-up steps: " + ", ".join(f"{seconds:.2f} s" for seconds in steps))
    trace_dir = tempfile.mkdtemp(prefix="profile_train_")
    timings: Dict[str, List[float]] = defaultdict(list)
    prof = profiler.Profiler(
        targets=[profiler.ProfilerTarget.CPU],
        on_trace_ready=profiler.export_chrome_tracing(trace_dir),
    )
    cpu_start = time.process_time()
    prof.start()
    for _ in range(args.steps):
        step(timings)
        prof.step()
    prof.stop()
    cpu_s = (time.process_time() - cpu_start) / args.steps
    loader.close()
    wall = sum(sum(timings[name]) for name in PHASES) / args.steps
    print(f"\nstep: {wall:.3f} s wall (process CPU {cpu_s:.3f} s) over {args.steps} steps")
    for name in PHASES:
        seconds = float(np.mean(timings[name]))
        print(f"  {name:<10} {seconds:8.3f} s  {100 * seconds / wall:5.1f} %")
    ops = op_self_times(sorted(glob.glob(os.path.join(trace_dir, "*.json")))[-1])
    total_ms = sum(ops.values()) / args.steps
    print(f"\nop types (self time per step; ops cover {total_ms / 1000:.3f} s of the step):")
    print(f"  {'op':<32} {'ms':>10} {'share':>7}")
    for name, ms in sorted(ops.items(), key=lambda item: -item[1])[: args.top]:
        ms /= args.steps
        print(f"  {name:<32} {ms:10.1f} {100 * ms / total_ms:6.1f} %")


def _endless(loader, sampler, dataset):
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        yield from loader
        epoch += 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("-T", type=int, default=512)
    parser.add_argument("-F", type=int, default=1024)
    parser.add_argument("--small", action="store_true", help="T=128, F=256 (quick)")
    parser.add_argument("--steps", type=int, default=2, help="profiled steps")
    parser.add_argument("--warmup", type=int, default=2, help="steps before profiling")
    parser.add_argument("--workers", type=int, default=2, help="loader workers")
    parser.add_argument("--songs", type=int, default=2, help="generated songs (25 s each)")
    parser.add_argument("--top", type=int, default=25, help="op types listed")
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "gpu", "sdaa"))
    parser.add_argument("--cache", default=None, help="existing work dir with a cache (reused)")
    parser.add_argument(
        "--per-parameter-adam",
        action="store_true",
        help="Paddle's per-parameter Adam kernel (the trainer's before), for comparison",
    )
    args = parser.parse_args()
    if args.small:
        args.T, args.F = 128, 256

    from bench_train import workspace

    work, params = workspace(args.cache, args.T, args.F, args.songs, "profile_train_")
    print(
        f"2stems, T={args.T}, F={args.F}, batch {args.batch_size}, {args.workers} loader workers; "
        f"cpu cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}; cache {work}"
    )
    profile(params, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
