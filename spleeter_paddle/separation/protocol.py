"""What "anything that separates" means to its users (evaluation, scripts): a typing Protocol.

``Separator`` and ``evaluation.OracleSeparator`` have this shape; so can any wrapper or model.
"""

from __future__ import annotations

from typing import Dict, Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Separating(Protocol):
    """``separate((n_samples, 2) float32 at sample_rate) -> {instrument: (n_samples, 2)}``."""

    @property
    def instruments(self) -> Sequence[str]:
        """The stem names ``separate`` returns, in order."""
        ...

    @property
    def sample_rate(self) -> int:
        """The rate ``separate`` expects and returns, in Hz."""
        ...

    def separate(self, waveform: np.ndarray) -> Dict[str, np.ndarray]: ...
