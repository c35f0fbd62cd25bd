"""Model structure: Spleeter's parameter counts, activations, init, softmax head, BLSTM shapes."""

import numpy as np
import paddle
import pytest
from paddle import nn

from spleeter_paddle.configuration import load_configuration
from spleeter_paddle.model import build_model

SMALL = {"T": 64, "F": 128}


def _params(name, **overrides):
    return load_configuration({**load_configuration(f"spleeter:{name}"), **overrides})


def test_unet_parameter_counts_match_the_checkpoint():
    model = build_model(_params("2stems"))
    trainable = sum(int(np.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)
    stored = sum(int(np.prod(t.shape)) for t in model.state_dict().values())
    # The official 2stems checkpoint: 9,823,749 trainable and 9,826,759 stored floats per U-Net.
    assert trainable == 2 * 9_823_749
    assert stored == 2 * 9_826_759


def test_activations_follow_model_params():
    two = build_model(_params("2stems", **SMALL)).unets["vocals"]
    assert isinstance(two.encoder[0].activation, nn.LeakyReLU)
    assert isinstance(two.decoder[0].activation, nn.ReLU)
    four = build_model(_params("4stems", **SMALL)).unets["drums"]
    assert isinstance(four.encoder[0].activation, nn.ELU)
    assert isinstance(four.decoder[0].activation, nn.ELU)


def test_batch_norm_is_keras_default_and_uses_stored_statistics():
    unet = build_model(_params("2stems", **SMALL)).unets["vocals"]
    bn = unet.encoder[0].bn
    assert bn._epsilon == pytest.approx(1e-3) and bn._momentum == pytest.approx(0.99)
    unet.train()
    # Stored statistics (mean 0, var 1): BN is gamma * x / sqrt(1.001) + beta, even in training.
    x = paddle.to_tensor(
        np.random.default_rng(0).standard_normal((2, 16, 4, 4)).astype(np.float32) * 5 + 3
    )
    np.testing.assert_allclose(bn(x).numpy(), x.numpy() / np.sqrt(1.001), rtol=1e-5, atol=1e-5)


def test_all_unets_start_identical_like_spleeter():
    model = build_model(_params("4stems", **SMALL))
    first = model.unets["vocals"].state_dict()
    for name in ("drums", "bass", "other"):
        for key, value in model.unets[name].state_dict().items():
            np.testing.assert_array_equal(value.numpy(), first[key].numpy())


@pytest.mark.parametrize("preset", ["2stems", "4stems"])
def test_uninitialised_models_have_every_weight_zero_and_the_same_layout(preset):
    """``initialise=False`` (a loader fills every weight next) draws nothing random; the layout
    is the initialised model's, so weights saved from one load into the other."""
    initialised = build_model(_params(preset, **SMALL)).state_dict()
    blank = build_model(_params(preset, **SMALL), initialise=False).state_dict()
    assert list(blank) == list(initialised)
    for key, value in blank.items():
        assert value.shape == initialised[key].shape and value.dtype == initialised[key].dtype
        if key.endswith(("conv.weight", "deconv.weight", "head.weight")):
            assert not np.any(value.numpy()), key
            assert np.any(initialised[key].numpy()), key


def test_uninitialised_blstm_is_blank_too():
    model = build_model(_params("2stems", model={"type": "blstm.blstm"}, **SMALL), initialise=False)
    for key, value in model.state_dict().items():
        if "weight" in key:
            assert not np.any(value.numpy()), key


def test_he_uniform_bound_for_deconv_uses_output_fan():
    unet = build_model(_params("2stems")).unets["vocals"]
    weight = unet.decoder[0].deconv.weight.numpy()  # [in=512, out=256, 5, 5]
    bound = np.sqrt(6 / (25 * 256))  # Keras fan_in of a transposed kernel is kh*kw*out
    assert np.abs(weight).max() <= bound
    assert np.abs(weight).max() > 0.95 * bound


def test_unet_output_shape_and_masking():
    model = build_model(_params("2stems", **SMALL))
    model.eval()
    magnitude = paddle.rand([2, 2, 64, 128])
    estimates = model(magnitude).numpy()
    assert estimates.shape == (2, 2, 2, 64, 128)
    assert np.all(estimates >= 0) and np.all(estimates <= magnitude.numpy()[:, None] + 1e-6)


def test_softmax_unet_estimates_sum_to_the_mix():
    model = build_model(_params("5stems", **SMALL))
    model.eval()
    magnitude = paddle.rand([1, 2, 64, 128]) * 10
    estimates = model(magnitude).numpy()
    assert estimates.shape == (1, 5, 2, 64, 128)
    np.testing.assert_allclose(estimates.sum(axis=1), magnitude.numpy(), rtol=1e-5)


def test_dilated_head_is_padded_explicitly():
    head = build_model(_params("2stems", **SMALL)).unets["vocals"].head
    assert head._dilation == [2, 2] and head._updated_padding == [3, 3]


def test_blstm_model_shapes():
    params = _params("2stems", **SMALL)
    params["model"] = {"type": "blstm.blstm", "params": {"lstm_units": 16}}
    model = build_model(params)
    estimates = model(paddle.rand([2, 2, 10, 128]))
    assert estimates.shape == [2, 2, 2, 10, 128]
    assert float(estimates.min()) >= 0


class _ShuffleThenNormalise(nn.Layer):
    """The end of the last decoder block: the phases interleaved, then BatchNorm."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2D(2)

    def forward(self, phases):
        from spleeter_paddle.runtime import pixel_shuffle

        return self.bn(pixel_shuffle(phases, 2))


def test_pixel_shuffle_interleaves_the_phases_also_in_a_graph_of_any_height():
    """``runtime.pixel_shuffle`` (the last decoder block's phase form), eager and in a static
    graph with dynamic batch and height: Paddle 2.6's own op declares that height as -2 there,
    which the BatchNorm after it refuses."""
    phases = np.random.default_rng(0).standard_normal((2, 8, 3, 5)).astype(np.float32)
    # out[n, c, 2h + i, 2w + j] = phases[n, 4c + 2i + j, h, w]; BN with mean 0, variance 1
    shuffled = phases.reshape(2, 2, 2, 2, 3, 5).transpose(0, 1, 4, 2, 5, 3).reshape(2, 2, 6, 10)
    expected = shuffled / np.sqrt(1 + 1e-5)
    layer = _ShuffleThenNormalise()
    layer.eval()
    np.testing.assert_allclose(layer(paddle.to_tensor(phases)).numpy(), expected, rtol=1e-6)
    spec = [paddle.static.InputSpec([None, 8, None, 5], "float32", "phases")]
    graph = paddle.jit.to_static(layer, input_spec=spec, full_graph=True)
    np.testing.assert_allclose(graph(paddle.to_tensor(phases)).numpy(), expected, rtol=1e-6)
