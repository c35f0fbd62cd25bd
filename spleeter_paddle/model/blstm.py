"""Spleeter's BLSTM model (``blstm.blstm``): three bidirectional LSTMs per instrument.

No pretrained BLSTM is released; it is here so that configs naming it train and separate.
Input ``[B, C, T, F]`` magnitudes; each instrument predicts its magnitude directly (no mask).
"""

from __future__ import annotations

from typing import Any, Dict, Sequence

from ..runtime import nn, paddle
from .unet import he_uniform, zeros

DEFAULT_LSTM_UNITS = 250
N_LSTM_LAYERS = 3


class BLSTM(nn.Layer):
    """One instrument: per frame flatten ``(F, C)`` -> 3 x BiLSTM -> Dense(F*C) + ReLU."""

    def __init__(self, n_channels: int, n_bins: int, units: int, initialise: bool = True):
        super().__init__()
        # Keras defaults of Spleeter's layers: he_uniform kernels, orthogonal recurrent kernels.
        recurrent = nn.initializer.Orthogonal() if initialise else nn.initializer.Constant(0.0)
        self.lstm = nn.LSTM(
            n_bins * n_channels,
            units,
            num_layers=N_LSTM_LAYERS,
            direction="bidirect",
            weight_ih_attr=he_uniform(initialise),
            weight_hh_attr=paddle.ParamAttr(initializer=recurrent),
        )
        self.dense = nn.Linear(
            2 * units, n_bins * n_channels, weight_attr=he_uniform(initialise), bias_attr=zeros()
        )

    def forward(self, magnitude: paddle.Tensor) -> paddle.Tensor:
        batch, channels, frames, bins = magnitude.shape
        # TF flattens each time step's (F, C) with C fastest.
        features = magnitude.transpose([0, 2, 3, 1]).reshape([batch, frames, bins * channels])
        hidden, _ = self.lstm(features)
        estimate = nn.functional.relu(self.dense(hidden))
        return estimate.reshape([batch, frames, bins, channels]).transpose([0, 3, 1, 2])


class SpleeterBLSTM(nn.Layer):
    """All instruments: ``[B, C, T, F]`` -> ``[B, N, C, T, F]`` estimated magnitudes."""

    def __init__(
        self,
        instrument_list: Sequence[str],
        n_channels: int,
        n_bins: int,
        params: Dict[str, Any] | None = None,
        initialise: bool = True,
    ):
        super().__init__()
        units = int((params or {}).get("lstm_units", DEFAULT_LSTM_UNITS))
        self.instrument_list = list(instrument_list)
        self.blstms = nn.LayerDict(
            {name: BLSTM(n_channels, n_bins, units, initialise) for name in self.instrument_list}
        )

    def forward(self, mix_magnitude: paddle.Tensor) -> paddle.Tensor:
        return paddle.stack(
            [self.blstms[name](mix_magnitude) for name in self.instrument_list], axis=1
        )
