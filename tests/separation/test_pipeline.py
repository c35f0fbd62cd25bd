"""Segment-by-segment streaming equals whole-file processing (masks and MWF), on a real model."""

import norbert
import numpy as np
import paddle
import pytest

from spleeter_paddle.audio.spectrogram import istft, stft
from spleeter_paddle.configuration import load_configuration
from spleeter_paddle.graph.runners import EagerRunner
from spleeter_paddle.model import build_model
from spleeter_paddle.separation.masks import extend_masks, ratio_masks
from spleeter_paddle.separation.pipeline import SignalChain, array_blocks, separate_blocks

T, F = 64, 128


@pytest.fixture(scope="module")
def small_model():
    paddle.seed(7)
    params = load_configuration({**load_configuration("spleeter:4stems"), "T": T, "F": F})
    model = build_model(params)
    # Spread the BN affine a little so instruments differ (all U-Nets start identical).
    for index, name in enumerate(params["instrument_list"]):
        head = model.unets[name].head
        head.bias.set_value(np.full(head.bias.shape, index - 1.5, np.float32))
    return params, EagerRunner(model)


def _whole_file(params, runner, waveform, mwf):
    """Spleeter's whole-graph path written out directly: all segments at once."""
    chain = SignalChain.from_params(params)
    spectrum = stft(waveform)
    n_frames = spectrum.shape[0]
    n_segments = -(-n_frames // T)
    padded = np.concatenate(
        [spectrum, np.zeros((n_segments * T - n_frames, 2049, 2), np.complex64)]
    )
    magnitude = np.abs(padded.reshape(n_segments, T, 2049, 2)[:, :, :F]).transpose(0, 3, 1, 2)
    estimates = runner(magnitude)  # [B, N, C, T, F]
    n = len(chain.instruments)
    if mwf:
        v = np.zeros((n_segments * T, 2049, 2, n), np.float32)
        v[:, :F] = estimates.transpose(0, 3, 4, 2, 1).reshape(n_segments * T, F, 2, n)
        filtered = norbert.wiener(v[:n_frames].copy(), spectrum.copy())
        return [istft(filtered[..., i], len(waveform)) for i in range(n)]
    masks = ratio_masks(estimates, 2.0, axis=1).transpose(1, 0, 3, 4, 2)
    masks = extend_masks(masks, 2049, params["mask_extension"], axis=3)
    masks = masks.reshape(n, n_segments * T, 2049, 2)[:, :n_frames]
    return [istft(masks[i] * spectrum, len(waveform)) for i in range(n)]


def _streamed(params, runner, waveform, mwf, block_samples, batch_size, overlap=True):
    chain = SignalChain.from_params(params)
    pieces = {name: [] for name in chain.instruments}

    def sink(blocks):
        for name, block in blocks.items():
            pieces[name].append(block)

    length = separate_blocks(
        chain,
        runner,
        array_blocks(waveform, block_samples),
        sink,
        batch_size=batch_size,
        mwf=mwf,
        overlap=overlap,
    )
    assert length == len(waveform)
    empty = np.zeros((0, 2), np.float32)
    return [np.concatenate(pieces[name] or [empty]) for name in chain.instruments]


@pytest.mark.parametrize("mwf", [False, True])
@pytest.mark.parametrize(
    "n_samples, block_samples, batch_size",
    [(150_000, 999, 1), (150_000, 1 << 18, 3), (3000, 512, 2)],
)
def test_streaming_equals_whole_file(small_model, mwf, n_samples, block_samples, batch_size):
    params, runner = small_model
    rng = np.random.default_rng(n_samples)
    waveform = (rng.standard_normal((n_samples, 2)) * 0.1).astype(np.float32)
    expected = _whole_file(params, runner, waveform, mwf)
    streamed = _streamed(params, runner, waveform, mwf, block_samples, batch_size)
    for ours, reference in zip(streamed, expected):
        assert ours.shape == (n_samples, 2)
        np.testing.assert_allclose(ours, reference, atol=1e-6)


@pytest.mark.parametrize("mwf", [False, True])
def test_overlapped_model_thread_gives_identical_output(small_model, mwf):
    params, runner = small_model
    waveform = (np.random.default_rng(5).standard_normal((120_000, 2)) * 0.1).astype(np.float32)
    threaded = _streamed(params, runner, waveform, mwf, 1 << 15, 1, overlap=True)
    serial = _streamed(params, runner, waveform, mwf, 1 << 15, 1, overlap=False)
    for ours, reference in zip(threaded, serial):
        np.testing.assert_array_equal(ours, reference)


def test_average_extension_keeps_the_mix(small_model):
    params, runner = small_model
    params = {**params, "mask_extension": "average"}
    rng = np.random.default_rng(3)
    waveform = (rng.standard_normal((40_000, 2)) * 0.1).astype(np.float32)
    stems = _streamed(params, runner, waveform, False, 1 << 16, 1)
    np.testing.assert_allclose(sum(stems), waveform, atol=1e-5)
    zeros = _streamed({**params, "mask_extension": "zeros"}, runner, waveform, False, 1 << 16, 1)
    assert np.abs(sum(zeros) - waveform).max() > 1e-2  # content above F is dropped


def test_empty_input_gives_empty_output(small_model):
    params, runner = small_model
    stems = _streamed(params, runner, np.zeros((0, 2), np.float32), False, 1024, 1)
    assert all(stem.shape == (0, 2) for stem in stems)
