"""Official Spleeter 2.4.2 (TensorFlow) separates with a model trained here: the cross-check.

Trains a 2-stem U-Net for a few steps on generated songs with ``spleeter-paddle train`` (which
writes ``model.ckpt-<step>.*`` + ``checkpoint`` beside the safetensors), then separates the same
song with our ``Separator`` and with official Spleeter's, pointed at the same folder, and prints
the largest difference (the claim: within 1e-4).

    bash ../shared/bench/peer_setup.sh            # official Spleeter in ~/.cache/spleeter-official
    python benchmarks/official_loads_our_checkpoint.py [--peer-python PATH] [--steps 5]
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

REPOSITORY = Path(__file__).resolve().parents[1]
PEER_PYTHON = Path.home() / ".cache" / "spleeter-official" / "bin" / "python"
OFFICIAL_SEPARATE = """
import sys, numpy as np
from spleeter.audio.adapter import AudioAdapter
from spleeter.separator import Separator
config, song, out = sys.argv[1:4]
waveform, _ = AudioAdapter.default().load(song, sample_rate=44100)
stems = Separator(config, multiprocess=False).separate(waveform)
np.savez(out, **stems)
"""


def _dataset(root: Path) -> Path:
    """Two generated songs and Spleeter's training CSV (paths relative to ``root``)."""
    from spleeter_paddle.data.synthetic import generate_musdb_tree

    rows = ["mix_path,vocals_path,accompaniment_path,duration"]
    for song in generate_musdb_tree(root, n_songs=2, duration_s=14.0, seed=3):
        if song.parent.name != "train":
            continue
        import soundfile as sf

        stems = {
            name: sf.read(song / f"{name}.wav", dtype="float32")[0]
            for name in ("vocals", "bass", "drums", "other")
        }
        accompaniment = stems["bass"] + stems["drums"] + stems["other"]
        sf.write(song / "accompaniment.wav", accompaniment, 44100, subtype="FLOAT")
        relative = song.relative_to(root)
        rows.append(f"{relative}/mixture.wav,{relative}/vocals.wav,{relative}/accompaniment.wav,14")
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    return root / "train.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", default=str(PEER_PYTHON))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--song", default=str(REPOSITORY / "audio_example.mp3"))
    args = parser.parse_args()
    if not Path(args.peer_python).is_file():
        print(
            f"official Spleeter not found at {args.peer_python}: run ../shared/bench/peer_setup.sh"
        )
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        csv = _dataset(work / "data")
        params = json.loads(
            (REPOSITORY / "spleeter_paddle" / "resources" / "2stems.json").read_text()
        )
        params.update(
            train_csv=str(csv), validation_csv=str(csv), model_dir=str(work / "model"),
            training_cache=str(work / "cache" / "train"), validation_cache=str(work / "cache" / "valid"),
            train_max_steps=args.steps, batch_size=2, n_chunks_per_song=1, chunk_duration=12.5,
        )  # fmt: skip
        config = work / "config.json"
        config.write_text(json.dumps(params))
        began = time.perf_counter()
        command = [
            sys.executable,
            "-m",
            "spleeter_paddle",
            "train",
            "-p",
            str(config),
            "-d",
            str(work / "data"),
        ]
        subprocess.run(command + ["--validate-every", "0", "--quiet"], check=True, cwd=work)
        print(f"trained {args.steps} steps here in {time.perf_counter() - began:.1f} s")
        print("run folder:", sorted(p.name for p in (work / "model").iterdir()))

        from spleeter_paddle.audio.adapter import AudioAdapter
        from spleeter_paddle.separator import Separator

        waveform, _ = AudioAdapter.default().load(args.song, sample_rate=44100)
        ours = Separator(str(config), multiprocess=False).separate(waveform)
        began = time.perf_counter()
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
        official_out = work / "official.npz"
        subprocess.run(
            [args.peer_python, "-c", OFFICIAL_SEPARATE, str(config), args.song, str(official_out)],
            check=True, cwd=work, env=env,
        )  # fmt: skip
        print(
            f"official Spleeter separated in {time.perf_counter() - began:.1f} s (incl. TF start)"
        )
        official = np.load(official_out)
        worst = 0.0
        for name, stem in ours.items():
            theirs = official[name]
            n = min(len(stem), len(theirs))
            difference = float(np.abs(stem[:n] - theirs[:n]).max())
            peak = float(np.abs(theirs).max())
            worst = max(worst, difference)
            print(
                f"{name:14s} shapes ours {stem.shape} official {theirs.shape}  max |diff| {difference:.2e}  (peak {peak:.3f})"
            )
        verdict = "PASS" if worst <= 1e-4 else "FAIL"
        print(
            f"{verdict}: official Spleeter on our checkpoint equals our stems within {worst:.2e} (claim 1e-4)"
        )
        return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
