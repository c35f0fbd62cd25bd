"""Spleeter's ``spleeter.types``: what an audio descriptor and a loaded signal are."""

from typing import Any, Tuple

import numpy as np

AudioDescriptor = Any  # a file path for file-based adapters
Signal = Tuple[np.ndarray, float]  # (waveform (n_samples, n_channels), sample_rate)
