"""Training speed: step time of the 2-stem U-Net and throughput of the cache DataLoader.

Builds a small cache of generated songs (or uses ``--cache``), then measures at Spleeter's
shapes (T = 512, F = 1024, batch 4 by default):
  * loader throughput: batches/s of the training ``BatchLoader`` over the cache (random crops,
    uint8 dB decoding) with N workers, no model;
  * step time: forward + L1 + backward + Adam (the trainer's optimiser) on the current
    device, median over the timed steps, and its split (``profile_train.py`` for per-op times).
The loader must deliver at least 5x the step rate so that it never limits training.

    python benchmarks/bench_train.py [--batch-size 4] [--steps 3] [--workers 2] [--device auto]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

os.environ.setdefault("GLOG_minloglevel", "2")


def build_cache(root: Path, n_songs: int, duration_s: float, params: dict) -> None:
    from spleeter_paddle.audio.writer import save
    from spleeter_paddle.data.cache import process_data
    from spleeter_paddle.data.manifest import build_manifests
    from spleeter_paddle.data.synthetic import generate_song

    for index in range(n_songs):
        song = generate_song(duration_s, seed=index)
        folder = root / "dataset" / "train" / f"Song {index:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        save(folder / "mixture.wav", song["mixture"], 44100)
        save(folder / "vocals.wav", song["vocals"], 44100)
        save(folder / "accompaniment.wav", song["drums"] + song["bass"] + song["other"], 44100)
    build_manifests(params, root / "dataset", validation_fraction=0.0, show_progress=False)
    process_data(params, root / "dataset", show_progress=False)


def workspace(cache: Optional[str], T: int, F: int, n_songs: int, prefix: str) -> tuple:
    """``(work dir, params)`` for the benchmarks: a cache of ``n_songs`` generated 25 s songs,
    built in ``cache`` (or a new temporary folder) unless it is already there."""
    from spleeter_paddle.training.config import default_training_params

    work = Path(cache or tempfile.mkdtemp(prefix=prefix))
    params = default_training_params()
    params.update(
        T=T,
        F=F,
        n_chunks_per_song=2,
        train_csv=str(work / "train.csv"),
        validation_csv=str(work / "validation.csv"),
        training_cache=str(work / "cache" / "training"),
        validation_cache=str(work / "cache" / "validation"),
    )
    if not (Path(params["training_cache"]) / "index.json").is_file():
        started = time.perf_counter()
        build_cache(work, n_songs, 25.0, params)
        print(f"cache: {n_songs} songs built in {time.perf_counter() - started:.1f} s ({work})")
    return work, params


def loader_throughput(params: dict, batch_size: int, workers: int, n_batches: int) -> float:
    """Batches per second delivered by the training loader (after one warm-up batch)."""
    from spleeter_paddle.data.cache_files import SpectrogramCache
    from spleeter_paddle.data.dataset import ResumableBatchSampler, TrainingDataset
    from spleeter_paddle.data.loader import BatchLoader

    dataset = TrainingDataset(SpectrogramCache(params["training_cache"]), params, seed=0)
    sampler = ResumableBatchSampler(dataset, batch_size, seed=0, drop_last=False)
    loader = BatchLoader(dataset, sampler, workers)
    delivered, start, epoch = 0, None, 0
    while delivered < n_batches + 1:
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        for _mix, targets in loader:
            assert tuple(targets.shape[2:]) == (2, params["T"], params["F"])
            delivered += 1
            if delivered == 1:
                start = time.perf_counter()
            if delivered == n_batches + 1:
                break
        epoch += 1
    return n_batches / (time.perf_counter() - start)


def step_time(params: dict, batch_size: int, n_steps: int, device: str) -> dict:
    """Median seconds per training step and per phase (forward + L1, backward, Adam) after
    one warm-up step, with the trainer's optimiser."""
    import numpy as np

    from spleeter_paddle.devices import select_device
    from spleeter_paddle.model import build_model
    from spleeter_paddle.runtime import paddle
    from spleeter_paddle.training.steps import l1_losses
    from spleeter_paddle.training.trainer import build_optimizer

    select_device(device)
    model = build_model(params)
    model.train()
    optimizer = build_optimizer(model, params["learning_rate"])
    rng = np.random.default_rng(0)
    shape = (batch_size, 2, params["T"], params["F"])
    mix = paddle.to_tensor(rng.uniform(0, 10, shape).astype(np.float32))
    targets = paddle.to_tensor(rng.uniform(0, 5, (batch_size, 2, *shape[1:])).astype(np.float32))
    phases = {"forward": [], "backward": [], "optimizer": [], "step": []}
    for _ in range(n_steps + 1):
        marks = [time.perf_counter()]
        loss = l1_losses(model(mix), targets).sum()
        float(loss)  # synchronise with the device (a no-op on CPU)
        marks.append(time.perf_counter())
        loss.backward()
        marks.append(time.perf_counter())
        optimizer.step()
        optimizer.clear_grad()
        float(loss)
        marks.append(time.perf_counter())
        for name, start, end in zip(("forward", "backward", "optimizer"), marks, marks[1:]):
            phases[name].append(end - start)
        phases["step"].append(marks[-1] - marks[0])
    return {name: float(np.median(values[1:])) for name, values in phases.items()}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("-T", type=int, default=512)
    parser.add_argument("-F", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--batches", type=int, default=40, help="timed loader batches")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    parser.add_argument("--songs", type=int, default=4, help="generated songs (25 s each)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu", "sdaa"))
    parser.add_argument("--cache", default=None, help="existing work dir with a cache (reused)")
    args = parser.parse_args()

    work, params = workspace(args.cache, args.T, args.F, args.songs, "bench_train_")

    print(f"shapes: T={args.T}, F={args.F}, batch {args.batch_size}; cpu cores {os.cpu_count()}")
    rates = {}
    for workers in sorted({0, args.workers}):
        rates[workers] = loader_throughput(params, args.batch_size, workers, args.batches)
        print(f"loader ({workers} workers): {rates[workers]:.2f} batches/s")
    timing = step_time(params, args.batch_size, args.steps, args.device)
    seconds = timing["step"]
    print(
        f"training step: {seconds:.3f} s/step median ({1 / seconds:.3f} steps/s, "
        f"{args.batch_size / seconds:.2f} samples/s; load {os.getloadavg()[0]:.2f})"
    )
    print(
        "  split: "
        + ", ".join(f"{name} {timing[name]:.3f} s" for name in ("forward", "backward", "optimizer"))
        + f", loader {1 / rates[args.workers]:.3f} s/batch (in parallel with the step)"
    )
    ratio = rates[args.workers] * seconds
    verdict = "OK" if ratio >= 5 else "LOADER TOO SLOW"
    print(f"loader / step rate: {ratio:.1f}x ({verdict}: needs >= 5x)")
    return 0 if ratio >= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
