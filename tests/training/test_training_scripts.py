"""The seed's commands end to end, as subprocesses in a fresh working directory:
downloadMusdb.py -> preprocess.py -> run_spleeter.py -m process_data -> -m fast_train (+ resume,
+ separation with the trained model) and ``-npn 2`` data parallel on CPU (gloo)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spleeter_paddle.data.synthetic import generate_musdb_tree

REPO = Path(__file__).resolve().parents[2]
SMALL = ["-T", "64", "-F", "128", "-cd", "4", "-ncps", "3"]
LOSS = re.compile(r"\[Train\] epoch: \d+, step: (\d+)/\d+, loss: ([0-9.]+)")


def _run(cwd: Path, script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    environ = {**os.environ, "GLOG_minloglevel": "2", "OMP_NUM_THREADS": "1", "MODEL_PATH": "model"}
    result = subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A working directory after downloadMusdb (HQ conversion), preprocess and process_data;
    removed with the module (its runs hold full-size checkpoints)."""
    work = tmp_path_factory.mktemp("work")
    generate_musdb_tree(work / "musdb", n_songs=4, duration_s=8.0, seed=1)
    converted = _run(work, "downloadMusdb.py", "--musdb-root", "musdb", "--is-wav", "--quiet")
    assert "converted 8 songs" in converted.stdout
    assert (work / "dataset/train/Synthetic Artist 00 - Train Song 00/accompaniment.wav").is_file()
    stats = _run(work, "preprocess.py", "-T", "64", "--quiet").stdout
    assert "train: 3 songs" in stats and "validation: 1 songs" in stats and "test: 4 songs" in stats
    assert "min 352800, max 352800" in stats  # lengths in samples, like the seed README
    assert (work / "configs/2stems_train.csv").is_file()
    cached = _run(work, "run_scripts/run_spleeter.py", "-m", "process_data", *SMALL, "--quiet")
    assert "3 songs, 9 chunks" in cached.stdout
    yield work
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(autouse=True)
def _runs_removed_after_each_test(prepared: Path):
    """Each test's run folders (hundreds of MB of full-size checkpoints) go when it ends, so the
    module never holds more than one test's runs."""
    before = set((prepared / "model").iterdir()) if (prepared / "model").is_dir() else set()
    yield
    for run in set((prepared / "model").glob("*")) - before:
        shutil.rmtree(run, ignore_errors=True)


@pytest.mark.slow  # 43 training steps through the scripts in two subprocesses, then separation
def test_fast_train_resume_and_separate(prepared: Path, monkeypatch):
    args = ["-m", "fast_train", *SMALL, "-bs", "2", "-lm", "False", "--log-every", "1"]
    args += ["--save-every", "20", "--num-workers", "1", "--device", "cpu"]
    first = _run(prepared, "run_scripts/run_spleeter.py", *args, "--steps", "40")
    losses = [float(loss) for _, loss in LOSS.findall(first.stderr)]
    assert len(losses) == 40
    first5, last5 = np.mean(losses[:5]), np.mean(losses[-5:])
    print(f"loss first 5 steps {first5:.4f}, last 5 steps {last5:.4f}")
    assert last5 < first5
    run = prepared / "model" / "2stems-musdb"
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints == ["step_00000020", "step_00000040"]
    assert (
        "reader_cost" in first.stderr
        and "ips" in first.stderr
        and "[Eval] step: 20" in first.stderr
    )

    second = _run(prepared, "run_scripts/run_spleeter.py", *args, "--steps", "43")
    assert "at step 40" in second.stderr
    assert [int(step) for step, _ in LOSS.findall(second.stderr)] == [41, 42, 43]

    from spleeter_paddle.pretrained.store import find_latest_model, read_metadata
    from spleeter_paddle.separation.separator import Separator

    assert find_latest_model(prepared / "model") == run  # what eval.py picks by default
    config = read_metadata(run)["config"]
    assert config["T"] == 64 and config["F"] == 128 and config["model_dir"] == "2stems-musdb"
    # The config's model_dir names the run under the model home: no --model-dir needed.
    monkeypatch.setenv("MODEL_PATH", str(prepared / "model"))
    separator = Separator(config, device="cpu", backend="eager")
    mixture = np.random.default_rng(0).uniform(-0.3, 0.3, (3 * 44100, 2)).astype(np.float32)
    estimates = separator.separate(mixture)
    assert set(estimates) == {"vocals", "accompaniment"}
    assert all(e.shape == mixture.shape and np.isfinite(e).all() for e in estimates.values())


@pytest.mark.slow  # two launched gloo processes (like test_run_records' -npn 2 check)
def test_two_processes_end_identical(prepared: Path):
    """-npn 2 on CPU: paddle.distributed.launch, DataParallel, DistributedBatchSampler (gloo)."""
    result = _run(
        prepared,
        "run_scripts/run_spleeter.py",
        *["-m", "fast_train", *SMALL, "-bs", "1", "-npn", "2", "-lm", "False", "--device", "cpu"],
        *["--steps", "3", "--log-every", "1", "--num-workers", "0", "-o", "model/ddp"],
        timeout=240,
    )
    assert not (prepared / "log").exists()  # the workers' logs are the run's, not the cwd's
    rank0 = (prepared / "model/ddp/log" / "workerlog.0").read_text()
    assert "cpu x2" in rank0, result.stdout[-2000:]
    digests = re.search(r"identical on all 2 ranks \(sha256 per rank: (\w+), (\w+)\)", rank0)
    assert digests and digests.group(1) == digests.group(2)
    assert len(LOSS.findall(rank0)) == 3
    rank1 = (prepared / "model/ddp/log" / "workerlog.1").read_text()
    assert "[Train]" not in rank1  # only rank 0 logs
    assert (prepared / "model/ddp/checkpoints/step_00000003").is_dir()
    assert (prepared / "model/ddp/model.safetensors").is_file()


def test_a_damaged_cache_stops_training_with_one_line_then_process_data_repairs_it(
    prepared: Path,
):
    """It used to hang with --num-workers 0 (and print three tracebacks with workers), and
    process_data then reused the damaged file."""
    songs = sorted((prepared / "cache/2stems/training/songs").glob("*.bin"))
    intact = songs[0].read_bytes()
    songs[0].write_bytes(intact[: len(intact) // 2])
    args = ["-m", "fast_train", *SMALL, "-bs", "2", "-lm", "False", "--device", "cpu"]
    args += ["--steps", "1", "-o", "model/damaged", "--validate-every", "0"]
    for workers in ("0", "2"):
        failed = subprocess.run(
            [
                sys.executable,
                str(REPO / "run_scripts/run_spleeter.py"),
                *args,
                "--num-workers",
                workers,
            ],
            cwd=prepared,
            env={
                **os.environ,
                "GLOG_minloglevel": "2",
                "OMP_NUM_THREADS": "1",
                "MODEL_PATH": "model",
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert failed.returncode == 5, failed.stderr[-2000:]
        assert "Traceback" not in failed.stderr
        errors = [line for line in failed.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and "run `-m process_data` to rebuild it" in errors[0]
    repaired = _run(
        prepared, "run_scripts/run_spleeter.py", "-m", "process_data", *SMALL, "--quiet"
    )
    assert "1 rebuilt" in repaired.stdout and songs[0].read_bytes() == intact
    _run(prepared, "run_scripts/run_spleeter.py", *args, "--num-workers", "0")
