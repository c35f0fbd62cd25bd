"""Datasets over the cache: synchronised crops, determinism, augmentation, samplers, loaders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_helpers import small_params, two_stem_song, write_song

from spleeter_paddle.data.cache import process_data
from spleeter_paddle.data.cache_files import SpectrogramCache
from spleeter_paddle.data.dataset import (
    ResumableBatchSampler,
    TrainingDataset,
    ValidationDataset,
)
from spleeter_paddle.data.manifest import build_manifests
from spleeter_paddle.errors import DataError


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    root = tmp_path_factory.mktemp("cached")
    for index in range(3):
        write_song(root / "dataset" / "train" / f"Song {index}", two_stem_song(6.0, index))
    params = small_params(root)
    build_manifests(params, root / "dataset", validation_fraction=0.34, show_progress=False)
    process_data(params, root / "dataset", workers=1, show_progress=False)
    return params


def _locate(crop: np.ndarray, full: np.ndarray) -> int:
    """The frame offset at which ``crop`` [C, T, F] sits inside ``full`` [C, n, F]."""
    T = crop.shape[1]
    matches = [t for t in range(full.shape[1] - T + 1) if np.array_equal(full[:, t : t + T], crop)]
    assert len(matches) == 1
    return matches[0]


def test_crops_are_synchronised_across_instruments(cached):
    dataset = TrainingDataset(SpectrogramCache(cached["training_cache"]), cached, seed=1)
    assert len(dataset) == 4  # 2 songs x 2 chunks
    offsets = set()
    for index in range(len(dataset)):
        mix, targets = dataset[index]
        assert mix.shape == (2, 64, 128) and targets.shape == (2, 2, 64, 128)
        assert mix.dtype == targets.dtype == np.float32
        full = dataset.cache.read(index, 0, dataset.cache.chunks[index].n_frames, 128)
        offset = _locate(mix, full[0])
        offsets.add(offset)
        for instrument in range(2):
            np.testing.assert_array_equal(
                targets[instrument], full[1 + instrument, :, offset : offset + 64]
            )
    assert len(offsets) > 1


def test_crops_depend_on_seed_epoch_and_index_only(cached):
    cache = SpectrogramCache(cached["training_cache"])
    first, second = TrainingDataset(cache, cached, seed=1), TrainingDataset(cache, cached, seed=1)
    np.testing.assert_array_equal(first[2][0], second[2][0])
    second.set_epoch(1)
    assert not np.array_equal(first[2][0], second[2][0])


def test_augmentations(cached):
    cache = SpectrogramCache(cached["training_cache"])
    plain = TrainingDataset(cache, cached, seed=3)
    mix, targets = plain[0]
    gained_mix, gained_targets = TrainingDataset(cache, cached, 3, ["gain"])[0]
    gain = gained_mix.max() / mix.max()
    assert 0.25 <= gain <= 1.25
    np.testing.assert_allclose(gained_targets, targets * gain, rtol=1e-5)
    swapping = TrainingDataset(cache, cached, 3, ["swap"])
    flips = []
    for epoch in range(4):
        plain.set_epoch(epoch)
        swapping.set_epoch(epoch)
        for index in range(len(plain)):
            (o_mix, o_targets), (s_mix, s_targets) = plain[index], swapping[index]
            flip = not np.array_equal(s_mix, o_mix)
            np.testing.assert_array_equal(s_mix, o_mix[::-1] if flip else o_mix)
            np.testing.assert_array_equal(s_targets, o_targets[:, ::-1] if flip else o_targets)
            flips.append(flip)
    assert any(flips) and not all(flips)
    remix_mix, remix_targets = TrainingDataset(cache, cached, 3, ["remix", "gain"])[1]
    np.testing.assert_allclose(remix_mix, np.sqrt((remix_targets**2).sum(axis=0)), rtol=1e-5)
    with pytest.raises(DataError, match="unknown augmentation pitch"):
        TrainingDataset(cache, cached, 3, ["pitch"])


def test_validation_takes_the_central_frames(cached):
    cache = SpectrogramCache(cached["validation_cache"])
    dataset = ValidationDataset(cache, cached)
    assert len(dataset) == 1
    n_frames = cache.chunks[0].n_frames  # a 6 s song: 255 frames in the 12 s window
    start = int(max(n_frames / 2 - 32, 0))
    mix, targets = dataset[0]
    np.testing.assert_array_equal(mix, cache.read(0, start, 64, 128)[0])


def test_cache_mismatch_is_reported(cached):
    cache = SpectrogramCache(cached["training_cache"])
    with pytest.raises(DataError, match="F = 256"):
        TrainingDataset(cache, {**cached, "F": 256})
    with pytest.raises(DataError, match="process_data"):
        SpectrogramCache(Path(cached["training_cache"]) / "nothing")


def test_chunks_shorter_than_t_are_zero_padded_not_dropped(cached, caplog):
    """Spleeter (and the old code) dropped chunks shorter than T; they are padded now."""
    cache = SpectrogramCache(cached["training_cache"])
    n_frames = cache.chunks[0].n_frames  # 4 s chunks: 169 frames
    with caplog.at_level("INFO", logger="spleeter_paddle"):
        dataset = TrainingDataset(cache, {**cached, "T": 256}, seed=0)
    assert len(dataset) == len(cache.chunks) == 4
    assert "4 of 4 chunks are shorter than T = 256 frames: zero-padded" in caplog.text
    mix, targets = dataset[0]
    assert mix.shape == (2, 256, 128) and targets.shape == (2, 2, 256, 128)
    np.testing.assert_array_equal(mix[:, :n_frames], cache.read(0, 0, n_frames, 128)[0])
    assert not mix[:, n_frames:].any() and not targets[:, :, n_frames:].any()
    assert mix[:, :n_frames].any()
    validation = ValidationDataset(
        SpectrogramCache(cached["validation_cache"]), {**cached, "T": 512}
    )
    assert len(validation) == 1 and validation[0][0].shape == (2, 512, 128)


def test_sampler_seed_resume_and_ranks():
    data = list(range(10))
    sampler = ResumableBatchSampler(data, 2, seed=7, num_replicas=1, rank=0)
    sampler.set_epoch(0)
    epoch0 = list(sampler)
    assert sorted(sum(epoch0, [])) == data and len(epoch0) == len(sampler) == 10 // 2
    sampler.set_epoch(0)
    sampler.skip_batches = 3
    assert list(sampler) == epoch0[3:]
    sampler.set_epoch(0)
    assert list(sampler) == epoch0  # the skip applies once
    other_seed = ResumableBatchSampler(data, 2, seed=8, num_replicas=1, rank=0)
    other_seed.set_epoch(0)
    assert list(other_seed) != epoch0
    shards = []
    for rank in range(2):
        ranked = ResumableBatchSampler(data, 2, 7, False, num_replicas=2, rank=rank)
        ranked.set_epoch(0)
        shards.append(sum(list(ranked), []))
    assert sorted(shards[0] + shards[1]) == data and not set(shards[0]) & set(shards[1])
