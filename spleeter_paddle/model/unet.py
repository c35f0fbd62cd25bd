"""Spleeter's U-Net (``unet.unet``) and its 5-stem softmax variant (``unet.softmax_unet``), NCHW.

One U-Net per instrument. Input ``[B, C, T, F]`` mix magnitudes (C = stereo channel, T time
frames, F frequency bins); padding reproduces TF ``same`` exactly (1 before / 2 after for the
stride-2 layers, 3 on every side for the dilated head); BatchNorm epsilon 1e-3.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np

from ..runtime import nn, paddle, pixel_shuffle

ENCODER_FILTERS = (16, 32, 64, 128, 256, 512)
KERNEL_SIZE = 5
# TF 'same' for a stride-2 5x5 conv on an even input: pad 1 before and 2 after, on T and F.
STRIDED_PADDING = [1, 2, 1, 2]
HEAD_KERNEL, HEAD_DILATION, HEAD_PADDING = 4, 2, 3
BN_EPSILON, BN_MOMENTUM = 1e-3, 0.99
N_DROPOUT_STEPS = 3


def he_uniform(initialise: bool = True) -> paddle.ParamAttr:
    """Keras ``he_uniform``: U(+-sqrt(6 / fan_in)); Paddle's fan_in of a transposed kernel
    ``[in, out, kh, kw]`` is ``out*kh*kw``, the same as Keras'. Without ``initialise`` (weights
    loaded next) zeros: drawing 9.8 M random numbers is half of a 2stems model's build time."""
    if not initialise:
        return zeros()
    return paddle.ParamAttr(initializer=nn.initializer.KaimingUniform())


def zeros() -> paddle.ParamAttr:
    return paddle.ParamAttr(initializer=nn.initializer.Constant(0.0))


def add_channel_bias(inputs: paddle.Tensor, bias: paddle.Tensor) -> paddle.Tensor:
    """``inputs [N, C, H, W] + bias [C]`` as a 2-D broadcast ``[N*C, H*W] + [N*C, 1]``: the same
    sums, but on CPU Paddle's kernels for this layout are faster than for the ``[1, C, 1, 1]``
    broadcast that ``nn.Conv2D`` uses. Measured on a [4, 16, 256, 512] tensor (2-core EPYC):
    forward + backward 64 ms instead of 321 ms of CPU time; the bias gradient is the same sum
    in another order (float rounding)."""
    n, c = inputs.shape[0], inputs.shape[1]
    flat = inputs.reshape([n * c, -1]) + bias.tile([n]).reshape([n * c, 1])
    return flat.reshape(inputs.shape)


def _bias_apart(inputs: paddle.Tensor, bias: Any) -> bool:
    """Whether a convolution adds its bias with :func:`add_channel_bias`: in eager mode on CPU
    (GPU/SDAA and exported programs keep Paddle's own bias add)."""
    return bias is not None and paddle.in_dynamic_mode() and inputs.place.is_cpu_place()


class Conv2D(nn.Conv2D):
    """``nn.Conv2D`` (same parameters and results) with the CPU bias add of
    :func:`add_channel_bias`; zero padding and NCHW only, as Spleeter's layers."""

    def forward(self, inputs: paddle.Tensor) -> paddle.Tensor:
        if not _bias_apart(inputs, self.bias):
            # super() with its arguments: Paddle 2.6's to_static rewrites forward() into a
            # function without the class cell that a bare super() needs.
            return super(Conv2D, self).forward(inputs)  # noqa: UP008
        outputs = nn.functional.conv2d(
            inputs, self.weight, None, self._stride, self._padding, self._dilation, self._groups
        )
        return add_channel_bias(outputs, self.bias)


class Conv2DTranspose(nn.Conv2DTranspose):
    """``nn.Conv2DTranspose`` with the CPU bias add of :func:`add_channel_bias` (see Conv2D)."""

    def forward(self, inputs: paddle.Tensor) -> paddle.Tensor:
        if not _bias_apart(inputs, self.bias):
            return super(Conv2DTranspose, self).forward(inputs)  # noqa: UP008 (see Conv2D)
        outputs = nn.functional.conv2d_transpose(
            inputs,
            self.weight,
            None,
            padding=self._padding,
            output_padding=self.output_padding,
            stride=self._stride,
            dilation=self._dilation,
            groups=self._groups,
        )
        return add_channel_bias(outputs, self.bias)


def strided(layer_type, in_channels: int, out_channels: int, initialise: bool = True) -> nn.Layer:
    """A 5x5 stride-2 (transposed) convolution with TF-same padding and Keras initialisers."""
    return layer_type(
        in_channels,
        out_channels,
        KERNEL_SIZE,
        stride=2,
        padding=STRIDED_PADDING,
        weight_attr=he_uniform(initialise),
        bias_attr=zeros(),
    )


class LeakyReLU(nn.LeakyReLU):
    """Paddle's ``leaky_relu`` (fused into the convolutions by oneDNN), or with ``portable``
    the same numbers written as ``max(x, slope * x)`` (0 < slope < 1) for exporters: Paddle
    stores ``leaky_relu``'s slope as a double, which paddle2onnx 2.1 reads as a float, giving a
    garbage ONNX alpha. See ``model.portable_activations``."""

    def __init__(self, negative_slope: float = 0.2):
        if not 0.0 < negative_slope < 1.0:
            raise ValueError(f"negative_slope must be in (0, 1), got {negative_slope}")
        super().__init__(negative_slope)
        self.portable = False

    def forward(self, inputs: paddle.Tensor) -> paddle.Tensor:
        if self.portable:
            return paddle.maximum(inputs, inputs * self._negative_slope)
        return nn.functional.leaky_relu(inputs, self._negative_slope)


_ACTIVATIONS = {"ReLU": nn.ReLU, "ELU": nn.ELU, "LeakyReLU": lambda: LeakyReLU(0.2)}


# Spleeter's defaults: the encoder's LeakyReLU 0.2, the decoder's ReLU.
ACTIVATION_DEFAULTS = {"conv_activation": "LeakyReLU", "deconv_activation": "ReLU"}


def activation_name(params: Dict[str, Any], key: str) -> str:
    """The activation ``model.params[key]`` gives the network (its default when unnamed)."""
    name = str(params.get(key))
    return name if name in _ACTIVATIONS else ACTIVATION_DEFAULTS[key]


def batch_norm(n_channels: int, batch_statistics: bool) -> nn.BatchNorm2D:
    """Keras-default BN (momentum 0.99, eps 1e-3); stored statistics unless ``batch_statistics``."""
    return nn.BatchNorm2D(
        n_channels,
        momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON,
        use_global_stats=None if batch_statistics else True,
    )


class EncoderBlock(nn.Layer):
    """Conv 5x5 stride 2 -> (BN -> activation); returns both the raw conv and the activated output."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        activation: str,
        batch_statistics: bool,
        initialise: bool = True,
    ):
        super().__init__()
        self.conv = strided(Conv2D, in_channels, out_channels, initialise)
        self.bn = batch_norm(out_channels, batch_statistics)
        self.activation = _ACTIVATIONS[activation]()

    def forward(self, inputs: paddle.Tensor):
        raw = self.conv(inputs)
        return raw, self.activation(self.bn(raw))


# Output phase r (row or column parity) of the stride-2 5x5 transposed conv with TF-same padding
# gathers inputs m-1, m, m+1 with these kernel taps (None: no tap): its 4 phases are one 3x3 conv.
_PHASE_TAPS = ((3, 1, None), (4, 2, 0))


def phase_indices(in_channels: int, out_channels: int) -> np.ndarray:
    """Indices into ``concat(deconv.weight.flatten(), [0])`` giving the 3x3 conv weight
    ``[out*4, in, 3, 3]`` (channel ``(out, row phase, column phase)``) of the 4 output phases."""
    zero = in_channels * out_channels * KERNEL_SIZE * KERNEL_SIZE
    weight = np.arange(zero).reshape(in_channels, out_channels, KERNEL_SIZE, KERNEL_SIZE)
    index = np.full((out_channels, 2, 2, in_channels, 3, 3), zero, dtype=np.int64)
    for row_phase, row_taps in enumerate(_PHASE_TAPS):
        for col_phase, col_taps in enumerate(_PHASE_TAPS):
            for j, ky in enumerate(row_taps):
                for i, kx in enumerate(col_taps):
                    if ky is not None and kx is not None:
                        index[:, row_phase, col_phase, :, j, i] = weight[:, :, ky, kx].T
    return index.reshape(-1)


class DecoderBlock(nn.Layer):
    """Transposed conv 5x5 stride 2 -> activation -> BN (-> dropout when enabled).

    With ``phase_inference`` the transposed conv runs, in eval mode, as one 3x3 conv giving its
    4 output phases, interleaved by ``pixel_shuffle``: the same sums (to float rounding) in a
    form oneDNN computes faster when there are few output channels (the last block: 1). The
    weights stay the transposed conv's; training uses the transposed conv itself.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        activation: str,
        batch_statistics: bool,
        dropout: bool,
        phase_inference: bool = False,
        initialise: bool = True,
    ):
        super().__init__()
        self.deconv = strided(Conv2DTranspose, in_channels, out_channels, initialise)
        self.activation = _ACTIVATIONS[activation]()
        self.bn = batch_norm(out_channels, batch_statistics)
        self.dropout = nn.Dropout(0.5) if dropout else None
        self.phase_inference = phase_inference
        if phase_inference:
            indices = paddle.to_tensor(phase_indices(in_channels, out_channels))
            self.register_buffer("_phase_index", indices, persistable=False)

    def _transposed_conv(self, inputs: paddle.Tensor) -> paddle.Tensor:
        if self.training or not self.phase_inference:
            return self.deconv(inputs)
        weight = paddle.concat([self.deconv.weight.flatten(), paddle.zeros([1], "float32")])
        weight = paddle.gather(weight, self._phase_index)
        weight = weight.reshape([-1, self.deconv.weight.shape[0], 3, 3])
        bias = paddle.repeat_interleave(self.deconv.bias, 4)
        phases = nn.functional.conv2d(inputs, weight, bias, padding=1)
        return pixel_shuffle(phases, 2)

    def forward(self, inputs: paddle.Tensor) -> paddle.Tensor:
        outputs = self.bn(self.activation(self._transposed_conv(inputs)))
        return self.dropout(outputs) if self.dropout is not None else outputs


class UNet(nn.Layer):
    """One instrument's U-Net: ``[B, C, T, F]`` magnitudes -> ``[B, C, T, F]`` mask logits.

    ``initialise=False`` leaves the weights at zero, for a caller that loads them next.
    """

    def __init__(
        self,
        n_channels: int = 2,
        params: Dict[str, Any] | None = None,
        batch_statistics: bool = False,
        dropout: bool = False,
        initialise: bool = True,
    ):
        super().__init__()
        params = params or {}
        filters: Sequence[int] = params.get("conv_n_filters", ENCODER_FILTERS)
        conv_act = activation_name(params, "conv_activation")
        deconv_act = activation_name(params, "deconv_activation")
        in_channels = [n_channels, *filters[:-1]]
        self.encoder = nn.LayerList(
            [
                EncoderBlock(c_in, c_out, conv_act, batch_statistics, initialise)
                for c_in, c_out in zip(in_channels, filters)
            ]
        )
        decoder_out = [*reversed(filters[:-1]), 1]
        decoder_in = [filters[-1]] + [2 * c for c in decoder_out[:-1]]
        self.decoder = nn.LayerList(
            [
                DecoderBlock(
                    c_in,
                    c_out,
                    deconv_act,
                    batch_statistics,
                    dropout and i < N_DROPOUT_STEPS,
                    phase_inference=c_out == 1,  # measured: only the 1-channel block gains
                    initialise=initialise,
                )
                for i, (c_in, c_out) in enumerate(zip(decoder_in, decoder_out))
            ]
        )
        self.head = Conv2D(
            1,
            n_channels,
            HEAD_KERNEL,
            dilation=HEAD_DILATION,
            padding=HEAD_PADDING,
            weight_attr=he_uniform(initialise),
            bias_attr=zeros(),
        )

    def forward(self, magnitude: paddle.Tensor) -> paddle.Tensor:
        skips: List[paddle.Tensor] = []
        hidden = magnitude
        for block in self.encoder:
            raw, hidden = block(hidden)
            skips.append(raw)
        # The first deconv reads the raw last conv; its BN + activation branch is dead in Spleeter.
        hidden = skips.pop()
        for index, block in enumerate(self.decoder):
            hidden = block(hidden)
            if index < len(skips):
                hidden = paddle.concat([skips[-1 - index], hidden], axis=1)
        return self.head(hidden)


class SpleeterUNet(nn.Layer):
    """All instruments' U-Nets: ``[B, C, T, F]`` mix magnitude -> ``[B, N, C, T, F]`` estimates.

    ``unet.unet``: each estimate is ``sigmoid(logits_i) * mix``. ``unet.softmax_unet`` (5stems):
    ``softmax over instruments(logits) * mix``.
    """

    def __init__(
        self,
        instrument_list: Sequence[str],
        n_channels: int = 2,
        params: Dict[str, Any] | None = None,
        softmax: bool = False,
        batch_statistics: bool = False,
        dropout: bool = False,
        initialise: bool = True,
    ):
        super().__init__()
        self.instrument_list = list(instrument_list)
        self.softmax = softmax
        self.unets = nn.LayerDict(
            {
                name: UNet(n_channels, params, batch_statistics, dropout, initialise)
                for name in self.instrument_list
            }
        )
        if initialise:  # Spleeter's he_uniform(seed=50) gives every U-Net the same initial weights.
            first = self.unets[self.instrument_list[0]].state_dict()
            for name in self.instrument_list[1:]:
                self.unets[name].set_state_dict(first)

    def forward(self, mix_magnitude: paddle.Tensor) -> paddle.Tensor:
        # Multiply same-shaped tensors per instrument: oneDNN's broadcast multiply over the
        # stacked [B, N, C, T, F] tensor costs more than a quarter of the whole network on CPU.
        if not self.softmax:
            estimates = [self.estimate(name, mix_magnitude) for name in self.instrument_list]
            return paddle.stack(estimates, axis=1)
        logits = [self.unets[name](mix_magnitude) for name in self.instrument_list]
        masks = nn.functional.softmax(paddle.stack(logits, axis=1), axis=1)
        return paddle.stack([mask * mix_magnitude for mask in paddle.unbind(masks, axis=1)], axis=1)

    def estimate(self, name: str, mix_magnitude: paddle.Tensor) -> paddle.Tensor:
        """One instrument's estimate ``[B, C, T, F]`` of ``unet.unet`` (sigmoid mask): it needs
        only that instrument's U-Net (see ``training.steps``)."""
        if self.softmax:
            raise ValueError("softmax_unet's estimates depend on every instrument's U-Net")
        return nn.functional.sigmoid(self.unets[name](mix_magnitude)) * mix_magnitude
