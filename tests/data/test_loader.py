"""The batch loader: same batches in and out of worker processes, and any loading failure ends
the iteration with one DataError -- never a hang (paddle.io.DataLoader's reader thread hangs
with --num-workers 0), never a traceback."""

from __future__ import annotations

import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import paddle
import pytest
from data_helpers import small_params, two_stem_song, write_song

from spleeter_paddle.data.cache import process_data
from spleeter_paddle.data.cache_files import SpectrogramCache
from spleeter_paddle.data.dataset import ResumableBatchSampler, TrainingDataset
from spleeter_paddle.data.loader import BatchLoader
from spleeter_paddle.data.manifest import build_manifests
from spleeter_paddle.errors import DataError


@contextmanager
def hang_guard(seconds: int):
    """Fail the test (instead of hanging the suite) when the block runs past ``seconds``."""

    def expire(*_):
        raise TimeoutError(f"still running after {seconds} s: the loader hangs")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def dataset(tmp_path: Path) -> TrainingDataset:
    for index in range(2):
        write_song(tmp_path / "dataset" / "train" / f"Song {index}", two_stem_song(6.0, index))
    params = small_params(tmp_path)
    build_manifests(params, tmp_path / "dataset", validation_fraction=0.0, show_progress=False)
    process_data(params, tmp_path / "dataset", workers=1, show_progress=False)
    return TrainingDataset(SpectrogramCache(params["training_cache"]), params, seed=3)


def _batches(dataset, num_workers: int):
    sampler = ResumableBatchSampler(dataset, 2, seed=3, num_replicas=1, rank=0)
    sampler.set_epoch(0)
    return [[t.numpy() for t in batch] for batch in BatchLoader(dataset, sampler, num_workers)]


def test_workers_give_the_same_batches(dataset):
    serial, parallel = _batches(dataset, 0), _batches(dataset, 2)
    assert len(serial) == 2
    for one, other in zip(serial, parallel):
        for a, b in zip(one, other):
            assert a.shape in ((2, 2, 64, 128), (2, 2, 2, 64, 128))
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_file_truncated_during_training_ends_with_one_error(dataset, num_workers, capfd):
    for path in (dataset.cache.directory / "songs").glob("*.bin"):
        path.write_bytes(path.read_bytes()[:1000])
    with hang_guard(60), pytest.raises(DataError, match="truncated; run `-m process_data`"):
        _batches(dataset, num_workers)
    assert "Traceback" not in capfd.readouterr().err


class _Dying(paddle.io.Dataset):
    """A dataset whose worker process dies (as when the OOM killer picks it)."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        os._exit(9)


def test_a_worker_that_dies_ends_with_one_error(capfd):
    with hang_guard(60), pytest.raises(DataError, match="worker process died"):
        list(BatchLoader(_Dying(), [[0, 1], [2, 3]], num_workers=2))
    assert "Traceback" not in capfd.readouterr().err


class _Stuck(paddle.io.Dataset):
    """A dataset whose worker never returns (a stalled network disk, a lock held at fork)."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        time.sleep(3600)


def test_a_stuck_worker_ends_with_one_error_not_a_hang(capfd):
    started = time.monotonic()
    with hang_guard(60), pytest.raises(DataError, match="gave no batch in 2 s"):
        list(BatchLoader(_Stuck(), [[0, 1], [2, 3]], num_workers=2, timeout_s=2.0))
    assert time.monotonic() - started < 30
    assert "Traceback" not in capfd.readouterr().err
