"""The U-Net's convolutions add their bias apart on CPU: same outputs and gradients as Paddle's
own layers (the bias gradient to float rounding: the same sum in another order)."""

from __future__ import annotations

import numpy as np
import pytest

from spleeter_paddle.model import unet
from spleeter_paddle.runtime import nn, paddle


def _layers():
    return [
        unet.strided(unet.Conv2D, 3, 8),
        unet.strided(unet.Conv2DTranspose, 8, 4),
        unet.Conv2D(1, 2, unet.HEAD_KERNEL, dilation=unet.HEAD_DILATION, padding=3),
    ]


def _forward_backward(layer, forward, inputs, weight):
    inputs = inputs.detach()
    inputs.stop_gradient = False
    layer.clear_gradients()
    outputs = forward(inputs)
    (outputs * weight).sum().backward()
    grads = (inputs.grad, layer.weight.grad, layer.bias.grad)
    return [outputs.numpy()] + [g.numpy().copy() for g in grads]


@pytest.mark.parametrize("index", range(3))
def test_bias_apart_gives_paddles_results(index):
    paddle.seed(index)
    layer = _layers()[index]
    layer.bias.set_value(paddle.uniform(layer.bias.shape, min=-1.0, max=1.0))
    channels = layer.weight.shape[0 if isinstance(layer, nn.Conv2DTranspose) else 1]
    inputs = paddle.uniform([2, channels, 16, 32], min=0.0, max=3.0)
    paddle_layer = type(layer).__mro__[1]  # nn.Conv2D / nn.Conv2DTranspose
    weight = paddle.uniform(paddle_layer.forward(layer, inputs).shape, min=-1.0, max=1.0)
    expected = _forward_backward(layer, lambda x: paddle_layer.forward(layer, x), inputs, weight)
    got = _forward_backward(layer, layer, inputs, weight)
    for name, want, have in zip(("outputs", "d inputs", "d weight"), expected, got):
        np.testing.assert_array_equal(have, want, err_msg=name)
    np.testing.assert_allclose(
        got[3], expected[3], rtol=1e-5, atol=1e-5 * np.abs(expected[3]).max()
    )
    assert np.abs(expected[3]).max() > 1.0  # a bias gradient that would show a missing term


def test_channel_bias_is_added_per_channel():
    inputs = paddle.zeros([2, 3, 2, 2])
    outputs = unet.add_channel_bias(inputs, paddle.to_tensor([1.0, 2.0, 3.0])).numpy()
    np.testing.assert_array_equal(
        outputs, np.broadcast_to([1.0, 2.0, 3.0], (2, 2, 2, 3)).transpose(0, 3, 1, 2)
    )
